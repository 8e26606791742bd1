from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from crm.audit import diff, log_event
from crm.models import AuditAction, AuditEvent, Membership, Unit, User
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
    model = Membership
    extra = 1
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
