"""Campaigns, segments and static lists are looked at here; they change through the staff pages
and their services (status transitions, template checks, audit trail)."""

from __future__ import annotations

from django.contrib import admin

from crm.admin import ReadOnlyAdminMixin

from .models import Campaign, EmailTemplate, Segment, StaticList


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "kind", "status", "starts_on", "ends_on", "unit"]
    list_filter = ["status", "kind"]
    search_fields = ["name", "code"]
    list_select_related = ["unit"]
    date_hierarchy = "starts_on"


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "created_by", "updated_at"]
    search_fields = ["name"]


@admin.register(StaticList)
class StaticListAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "source", "size", "created_at"]
    list_filter = ["source"]
    search_fields = ["name"]
    exclude = ["rejected"]


@admin.register(EmailTemplate)
class EmailTemplateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "subject", "language", "updated_at"]
    search_fields = ["name", "subject"]
