"""What field work adds to other pages: the visits and tasks panels of the 360° pages of people
and organisations, the links of the timeline's "visit done" entries to their visit, and the
staff home page's "Today's visits and tasks" (registered in SalesConfig)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from django.db.models import Case, CharField, F, Value, When
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from citizens.models import Organization, Person
from crm.models import User
from crm.modules import Panel

from .fieldwork import can_plan
from .models import Task, Visit, VisitStatus
from .models.fieldwork import calendar_entries, may_use_field_work

RECORD_PANEL_ROWS = 10


def _record_panel(user: User, *, key: str, party) -> Panel | None:
    """The party's visits and tasks the user may see, newest first: one query (a UNION ALL of
    two index ranges), the 360° page's budget being small."""
    if not may_use_field_work(user):
        return None
    filters = {key: party}
    text = CharField()
    columns = ("c_kind", "c_pk", "c_title", "c_when", "c_status")
    visits = (
        Visit.objects.for_user(user)
        .filter(**filters)
        .annotate(
            c_kind=Value("visit", output_field=text),
            c_pk=F("id"),
            c_title=F("visit_type__name"),
            c_when=F("starts_at"),
            c_status=F("status"),
        )
        .values_list(*columns)
    )
    tasks = (
        Task.objects.for_user(user)
        .filter(**filters)
        .annotate(
            c_kind=Value("task", output_field=text),
            c_pk=F("id"),
            c_title=F("title"),
            c_when=F("due_at"),
            c_status=Case(
                When(done_at__isnull=False, then=Value("done")),
                default=Value("open"),
                output_field=text,
            ),
        )
        .values_list(*columns)
    )
    rows = list(visits.union(tasks, all=True).order_by("-c_when", "-c_pk")[: RECORD_PANEL_ROWS + 1])
    statuses = dict(VisitStatus.choices) | {"open": _("open"), "done": _("done")}
    items = [
        {
            "kind": kind,
            "url": reverse(
                "sales:visit_detail" if kind == "visit" else "sales:task_edit", args=[pk]
            ),
            "title": title,
            "when": when,
            "status": statuses.get(status, status),
        }
        for kind, pk, title, when, status in rows[:RECORD_PANEL_ROWS]
    ]
    query = f"?{key}={party.pk}"
    return Panel(
        title=_("Visits and tasks"),
        template_name="sales/fieldwork/_record_panel.html",
        context={
            "items": items,
            "more": len(rows) > RECORD_PANEL_ROWS,
            "plan_url": reverse("sales:visit_new") + query if can_plan(user) else "",
            "task_url": reverse("sales:task_new") + query if can_plan(user) else "",
        },
        empty_text=_("No visits or tasks you may see."),
    )


def person_fieldwork(person: Person, user: User) -> Panel | None:
    return _record_panel(user, key="person", party=person)


def organization_fieldwork(organization: Organization, user: User) -> Panel | None:
    return _record_panel(user, key="organization", party=organization)


def visit_links(ids: Iterable[int], user: User) -> dict[int, tuple[str, str]]:
    """For the timeline: each visit the user may see, named by its type and day."""
    found = Visit.objects.for_user(user).filter(pk__in=list(ids)).select_related("visit_type")
    return {
        visit.pk: (
            str(
                _("Visit: %(type)s, %(day)s")
                % {
                    "type": visit.visit_type.name,
                    "day": timezone.localdate(visit.starts_at).isoformat(),
                }
            ),
            reverse("sales:visit_detail", args=[visit.pk]),
        )
        for visit in found
    }


def today_panel(request: HttpRequest) -> Panel | None:
    """The user's visits, meetings and tasks of today (one query), for the home page."""
    user = request.user
    from .views.calendar import EntryRenderer

    if not may_use_field_work(user):
        return None
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today, time.min))
    render = EntryRenderer(show_place=True)
    entries = [render(entry) for entry in calendar_entries(user, start, start + timedelta(days=1))]
    return Panel(
        title=_("Today's visits and tasks"),
        template_name="sales/fieldwork/_home_panel.html",
        context={"entries": entries, "calendar_url": reverse("sales:calendar") + "?view=week"},
        empty_text=_("Nothing planned for today."),
    )
