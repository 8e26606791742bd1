"""Administrators keep the catalogues here (case types, subject areas, public hearings) and the
knowledge base's answer templates; every change is audited. Cases are only looked at: they are
filed and changed through the services (registry numbers, clock, history, audit trail)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from cases.models import Case, CaseType, Hearing, KnowledgeArticle, SubjectArea
from crm.admin import AuditedAdminMixin, ReadOnlyAdminMixin
from crm.registry import RegistryNumber


@admin.register(CaseType)
class CaseTypeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "kind", "series", "deadline_days", "public", "default_unit"]
    list_filter = ["kind", "public"]
    list_editable = ["public"]
    search_fields = ["name", "code", "series"]
    list_select_related = ["default_unit"]
    autocomplete_fields = ["default_unit"]


@admin.register(SubjectArea)
class SubjectAreaAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "unit", "active", "order"]
    list_filter = ["active"]
    list_editable = ["active", "order"]
    search_fields = ["name"]
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]


@admin.register(Hearing)
class HearingAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "opens_on", "closes_on", "unit"]
    search_fields = ["title", "summary"]
    date_hierarchy = "closes_on"
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]


@admin.register(KnowledgeArticle)
class KnowledgeArticleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "subject_area", "language", "active", "updated_at"]
    list_filter = ["active", "language", "subject_area"]
    search_fields = ["title", "body"]
    list_select_related = ["subject_area"]
    readonly_fields = ["updated_at"]

    def save_model(self, request, obj, form, change):
        from django.utils import timezone

        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: found by registry number; worked on in the CRM's case page."""

    list_display = ["registry_number", "case_type", "subject", "status", "unit", "filed_at"]
    list_filter = ["status", "case_type", "channel"]
    search_fields = ["registry_number"]
    search_help_text = _("The registry number, e.g. QS-2026-000123.")
    list_select_related = ["case_type", "unit"]
    show_full_result_count = False
    ordering = ["-filed_at", "-id"]
    fields = [
        "registry_number",
        "filed_at",
        "official_filed_at",
        "channel",
        "case_type",
        "subject_area",
        "subject",
        "status",
        "unit",
        "assignee",
        "due_date",
        "answered_at",
        "closed_at",
    ]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        # A registry number as typed (any case, spaces around): one exact, indexed lookup.
        try:
            number = RegistryNumber.parse(search_term)
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(registry_number=number.formatted), False
