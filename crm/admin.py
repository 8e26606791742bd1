from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from crm.audit import diff, log_event
from crm.documents import normalise_code
from crm.models import (
    AuditAction,
    AuditEvent,
    IssuedDocument,
    LocalHoliday,
    Membership,
    RegistryCounter,
    Unit,
    User,
)
from crm.roles import role_label


class AuditedAdminMixin:
    """Admin saves and deletions write the audit trail like services do."""

    audit_masked_fields: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change):
        before = {name: form.initial.get(name) for name in form.changed_data}
        super().save_model(request, obj, form, change)
        after = {name: form.cleaned_data.get(name) for name in form.changed_data}
        log_event(
            actor=request.user,
            action=AuditAction.UPDATE if change else AuditAction.CREATE,
            obj=obj,
            changes=diff(before, after, masked=self.audit_masked_fields),
            request=request,
        )

    def delete_model(self, request, obj):
        log_event(actor=request.user, action=AuditAction.DELETE, obj=obj, request=request)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            log_event(actor=request.user, action=AuditAction.DELETE, obj=obj, request=request)
        super().delete_queryset(request, queryset)


class MembershipInline(admin.TabularInline):
    """The user's units; a head of unit also gets the unit's deadline reminders (cases)."""

    model = Membership
    extra = 1
    fields = ["unit", "is_head", "from_directory"]
    autocomplete_fields = ["unit"]
    readonly_fields = ["from_directory"]


@admin.register(User)
class UserAdmin(AuditedAdminMixin, DjangoUserAdmin):
    audit_masked_fields = ("password", "password1", "password2")
    list_display = ["username", "get_full_name", "email", "roles", "is_active", "from_directory"]
    list_filter = ["is_active", "from_directory", "groups", "memberships__unit"]
    readonly_fields = ["from_directory", "last_login", "date_joined"]
    inlines = [MembershipInline]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Directory"), {"fields": ["from_directory"]}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def roles(self, user: User) -> str:
        return ", ".join(str(role_label(group.name)) for group in user.groups.all())


@admin.register(Unit)
class UnitAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "parent", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["parent"]
    list_select_related = ["parent"]


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(AuditedAdminMixin, DjangoGroupAdmin):
    list_display = ["name", "label"]

    @admin.display(description=_("role"))
    def label(self, group: Group) -> str:
        return str(role_label(group.name))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: nobody edits or deletes events (the database refuses it as well)."""

    list_display = ["id", "occurred_at", "actor_username", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_username", "object_id", "request_id"]
    show_full_result_count = False
    date_hierarchy = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdminMixin:
    """Shown, never added, changed or deleted here: only their services write them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RegistryCounter)
class RegistryCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: a counter changed by hand would leave a gap or repeat a registry number."""

    list_display = ["series", "year", "last_number"]
    list_filter = ["series", "year"]


@admin.register(IssuedDocument)
class IssuedDocumentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: an issued document is what its code proves; it never changes."""

    list_display = ["display_code", "kind", "title", "issued_at", "issued_by", "object_type"]
    list_filter = ["kind", "language"]
    search_fields = ["verification_code", "title", "object_id", "sha256"]
    list_select_related = ["issued_by"]
    date_hierarchy = "issued_at"
    show_full_result_count = False
    # The file is private (no URL): its name is shown, the PDF is on the public verification page.
    fields = [
        "display_code",
        "kind",
        "title",
        "issued_at",
        "issued_by",
        "object_type",
        "object_id",
        "language",
        "sha256",
        "size",
        "file_name",
    ]
    readonly_fields = fields

    @admin.display(description=_("verification code"), ordering="verification_code")
    def display_code(self, document: IssuedDocument) -> str:
        return document.display_code

    @admin.display(description=_("PDF file"))
    def file_name(self, document: IssuedDocument) -> str:
        return document.file.name

    def get_search_results(self, request, queryset, search_term):
        # Codes are typed as printed (ABCD-EFGH-...): search the stored, bare form too.
        code = normalise_code(search_term)
        if code is not None:
            return queryset.filter(verification_code=code), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(LocalHoliday)
class LocalHolidayAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Local holidays (two a year per municipality): not business days for legal deadlines
    where the body sits or the citizen lives (crm.calendar, docs/deadlines.md)."""

    list_display = ["date", "weekday", "municipality", "name"]
    search_fields = ["municipality", "name"]
    date_hierarchy = "date"
    ordering = ["-date", "municipality"]

    @admin.display(description=_("weekday"), ordering="date")
    def weekday(self, holiday: LocalHoliday) -> str:
        return date_format(holiday.date, "l")
