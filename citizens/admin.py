"""Administrators define custom fields and consent purposes here. People and organisations are
only looked at: they are created and changed in the CRM (services keep the search text and the
audit trail), and deleting a person goes through the GDPR flow (blocking), never the admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from citizens.models import (
    ConsentPurpose,
    CustomField,
    DedupeRule,
    DedupeRuleField,
    EmailAddress,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
)
from citizens.services import PERSONAL_FIELDS, record_read
from crm.admin import AuditedAdminMixin


class CustomFieldAdminForm(forms.ModelForm):
    class Meta:
        model = CustomField
        fields = [
            "applies_to",
            "key",
            "label",
            "type",
            "choices",
            "required",
            "help_text",
            "order",
            "is_active",
        ]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("type")
        choices = [choice.strip() for choice in cleaned.get("choices") or [] if choice.strip()]
        if kind == CustomField.Type.CHOICE:
            if not choices:
                self.add_error("choices", _("A 'choice' field needs its allowed values."))
            elif len(set(choices)) != len(choices):
                self.add_error("choices", _("Each value may appear only once."))
        elif choices:
            self.add_error("choices", _("Only fields of the 'choice' type have values to choose."))
        cleaned["choices"] = choices
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = CustomFieldAdminForm
    list_display = ["label", "key", "applies_to", "type", "required", "order", "is_active"]
    list_filter = ["applies_to", "type", "is_active"]
    list_editable = ["order", "is_active"]
    search_fields = ["label", "key"]
    prepopulated_fields = {"key": ["label"]}


@admin.register(ConsentPurpose)
class ConsentPurposeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "version", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class EmailInline(_ReadOnlyInline):
    model = EmailAddress
    fields = ["address", "label", "is_primary"]


class PhoneInline(_ReadOnlyInline):
    model = PhoneNumber
    fields = ["number", "kind", "label", "is_primary"]


class AddressInline(_ReadOnlyInline):
    model = PostalAddress
    fields = ["street", "number", "extra", "postcode", "municipality", "country", "is_notification"]


class _PartyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Look, do not touch: no adding, changing or deleting here, and every look at a record's
    page is a read of personal data in the audit trail (ENS)."""

    inlines = [EmailInline, PhoneInline, AddressInline]
    actions = None  # no bulk actions, above all no "delete selected"
    show_full_result_count = False  # no COUNT(*) over a million people
    list_per_page = 50
    crm_url_name = ""
    audit_masked_fields = PERSONAL_FIELDS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        """Through ``search_text`` (trigram-indexed): names without accents, documents, emails
        and phones in any format, as the CRM's own search."""
        if not search_term.strip():
            return queryset, False
        return queryset.search(search_term), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, object_id) if response.status_code == 200 else None
        if obj is not None:
            record_read(actor=request.user, obj=obj, what="admin")
        return response

    @admin.display(description=_("in the CRM"))
    def crm_link(self, obj) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse(self.crm_url_name, args=[obj.pk]), _("Open")
        )


@admin.register(Person)
class PersonAdmin(_PartyAdmin):
    crm_url_name = "citizens:person_detail"
    list_display = ["__str__", "document_number", "created_at", "blocked_at", "crm_link"]
    list_filter = ["document_type", "preferred_language", "created_at"]
    search_fields = ["search_text"]  # see get_search_results: name, document, email, phone
    ordering = ["first_surname", "second_surname", "given_name", "id"]
    readonly_fields = ["crm_link", "created_at", "updated_at", "created_by", "search_text"]
    fields = [
        "crm_link",
        ("given_name", "first_surname", "second_surname"),
        ("document_type", "document_number"),
        ("birth_date", "sex"),
        ("preferred_channel", "preferred_language"),
        "tags",
        "notes",
        "custom",
        ("restricted_at", "blocked_at"),
        ("created_at", "updated_at", "created_by"),
    ]


@admin.register(Organization)
class OrganizationAdmin(_PartyAdmin):
    crm_url_name = "citizens:organization_detail"
    list_display = ["name", "tax_id", "kind", "created_at", "crm_link"]
    list_filter = ["kind", "created_at"]
    search_fields = ["search_text"]
    ordering = ["name", "id"]
    readonly_fields = ["crm_link", "created_at", "updated_at", "created_by"]
    fields = [
        "crm_link",
        ("name", "kind"),
        ("tax_id", "sector", "website"),
        ("preferred_channel", "preferred_language"),
        "tags",
        "notes",
        "custom",
        ("created_at", "updated_at", "created_by"),
    ]


# --- Duplicate rules (citizens.dedupe) ---------------------------------------------------------


class DedupeRuleFieldInline(admin.TabularInline):
    model = DedupeRuleField
    extra = 1
    fields = ["field", "method", "weight", "cutoff"]


@admin.register(DedupeRule)
class DedupeRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """How the nightly scan decides that two people are probably the same one."""

    list_display = ["name", "threshold", "is_active"]
    list_filter = ["is_active"]
    inlines = [DedupeRuleFieldInline]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "threshold", "is_active"],
                "description": _(
                    "Every night the CRM compares the people who share a document, an email, a "
                    "phone, their surnames and birth date, their given name and birth date, or "
                    "their full name and postcode. For each pair and each active rule it adds "
                    "up the weights of the fields on which the two match; a pair reaching the "
                    "rule's threshold is listed as a possible duplicate for staff to review. "
                    "The two rules installed: 'same identity document' (document number, "
                    "weight 100, threshold 100: the same number is enough), and 'same name "
                    "and email, phone, birth date or postcode' (similar full name 70, and 30 "
                    "each for email, phone, birth date and postcode, threshold 100: a similar "
                    "name and one more coincidence, or all four coincidences without the "
                    "name; a family sharing email, phone and address is not enough)."
                ),
            },
        )
    ]
