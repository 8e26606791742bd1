"""Field work in the Django admin (imported by sales.admin): administrators keep the visit
types and their checklists here (audited); visits, tasks and meetings are only looked at, as
they are written through sales.fieldwork."""

from __future__ import annotations

from django.contrib import admin

from crm.admin import AuditedAdminMixin, ReadOnlyAdminMixin

from .models import ChecklistItem, Meeting, Task, Visit, VisitType


class ChecklistItemInline(admin.TabularInline):
    model = ChecklistItem
    extra = 1
    fields = ["order", "text", "help_text"]


@admin.register(VisitType)
class VisitTypeAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "code", "active", "order"]
    list_filter = ["active"]
    list_editable = ["active", "order"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    inlines = [ChecklistItemInline]


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["visit_type", "starts_at", "place_address", "status", "unit"]
    list_filter = ["status", "visit_type"]
    date_hierarchy = "starts_at"
    list_select_related = ["visit_type", "unit"]
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["title", "due_at", "assignee", "remind_at", "reminded_at", "done_at"]
    date_hierarchy = "due_at"
    list_select_related = ["assignee"]
    show_full_result_count = False


@admin.register(Meeting)
class MeetingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["title", "kind", "starts_at", "place", "organizer", "cancelled_at"]
    list_filter = ["kind"]
    date_hierarchy = "starts_at"
    list_select_related = ["organizer"]
