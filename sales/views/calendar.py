"""A user's calendar (month, week, agenda) of their visits, meetings, events and tasks, and the
management of their iCalendar feed.

A page is one query for the entries (sales.models.calendar_entries: a UNION ALL of three index
ranges), whatever the number of entries. Promotion staff (``sales.manage``) may look at the
calendar of a colleague of their units (``?user=``); anyone else asking for another's is a 404.
"""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from html import escape
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from crm.models import Membership, User, unit_ids_for_user
from crm.permissions import module_required

from ..fieldwork import (
    calendar_feed_regenerate,
    calendar_feed_revoke,
    can_plan,
    colleagues,
    manages,
)
from ..models import CalendarFeed
from ..models.fieldwork import CalendarEntry, calendar_entries

AGENDA_DAYS = 30
VIEWS = (
    ("month", gettext_lazy("Month")),
    ("week", gettext_lazy("Week")),
    ("agenda", gettext_lazy("Agenda")),
)
FEED_SESSION_KEY = "sales_calendar_feed_token"


class CalendarQuery(forms.Form):
    view = forms.ChoiceField(choices=VIEWS, required=False)
    date = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    user = forms.IntegerField(required=False, min_value=1)


@dataclass
class Day:
    day: date
    entries: list[SafeString] = field(default_factory=list)  # rendered by EntryRenderer
    in_period: bool = True
    is_today: bool = False
    iso: str = ""  # 2026-11-10
    weekday: str = ""  # "martes"
    month: str = ""  # "noviembre"

    @property
    def html(self) -> SafeString:
        """The day's entries as one string: one variable for the template, not one per entry."""
        return mark_safe("".join(self.entries))  # noqa: S308 (each entry is escaped)


KINDS = {
    "visit": ("geo-alt", gettext_lazy("Visit")),
    "meeting": ("people", gettext_lazy("Meeting")),
    "event": ("calendar-event", gettext_lazy("Event")),
    "task": ("check2-square", gettext_lazy("Task")),
}
STATES = {"cancelled": gettext_lazy("cancelled"), "done": gettext_lazy("done")}
_PK = 987654321


class EntryRenderer:
    """An entry as a list item, built here rather than by a template included per entry (a busy
    month has hundreds: an include each would cost more than the page's query)."""

    def __init__(self, *, show_place: bool) -> None:
        self.show_place = show_place
        names = {"visit": "visit_detail", "task": "task_edit"}
        self.urls = {
            kind: reverse(f"sales:{names.get(kind, 'meeting_detail')}", args=[_PK]).replace(
                str(_PK), "{}"
            )
            for kind in KINDS
        }
        self.kinds = {kind: (icon, str(label)) for kind, (icon, label) in KINDS.items()}
        self.states = {state: f" ({label})" for state, label in STATES.items()}

    def __call__(self, entry: CalendarEntry) -> SafeString:
        # Plain string building with the standard library's escape: Django's format_html and
        # escape go through lazy-string wrappers that cost more than the rest of the page.
        start = timezone.localtime(entry.starts_at)
        when = f"{start:%H:%M}"
        if not entry.is_task:
            when += f"\u2013{timezone.localtime(entry.ends_at):%H:%M}"  # an en dash
        icon, label = self.kinds[entry.kind]
        place = (
            f'<div class="small text-body-secondary">{escape(entry.place)}</div>'
            if self.show_place and entry.place
            else ""
        )
        inactive = " crm-entry-inactive" if entry.inactive else ""
        return mark_safe(  # noqa: S308 (every value is escaped or ours)
            f'<li class="crm-entry crm-entry-{entry.kind}{inactive}">'
            f'<a href="{self.urls[entry.kind].format(entry.pk)}">'
            f'<span class="crm-entry-time">{when}</span> '
            f'<i class="bi bi-{icon}" aria-hidden="true"></i>'
            f'<span class="visually-hidden">{escape(label)}:</span> '
            f"{escape(entry.title)}{escape(self.states.get(entry.status, ''))}</a>{place}</li>"
        )


def _local_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _period(view: str, anchor: date) -> tuple[date, date]:
    """The first and last day shown: whole weeks (Monday first) around the month; the week of
    the day; AGENDA_DAYS from the day."""
    if view == "month":
        first = anchor.replace(day=1)
        last = first.replace(day=pycalendar.monthrange(first.year, first.month)[1])
        return first - timedelta(days=first.weekday()), last + timedelta(days=6 - last.weekday())
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return monday, monday + timedelta(days=6)
    return anchor, anchor + timedelta(days=AGENDA_DAYS - 1)


def _neighbours(view: str, anchor: date) -> tuple[date, date]:
    if view == "month":
        first = anchor.replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return previous, following
    step = timedelta(days=7 if view == "week" else AGENDA_DAYS)
    return anchor - step, anchor + step


def _target(request: HttpRequest, wanted: int | None) -> User:
    """The user whose calendar is shown: oneself, or a colleague of one's units for promotion
    staff (an administrator: anyone)."""
    user = request.user
    if not wanted or wanted == user.pk:
        return user
    if not manages(user):
        raise Http404
    found = User.objects.filter(pk=wanted, is_active=True)
    if not user.is_superuser:
        members = Membership.objects.filter(unit_id__in=unit_ids_for_user(user)).values("user_id")
        found = found.filter(pk__in=members)
    target = found.first()
    if target is None:
        raise Http404
    return target


def _days(view: str, first: date, last: date, anchor: date, entries) -> list[Day]:
    today = timezone.localdate()
    render = EntryRenderer(show_place=view != "month")
    # Names of weekdays and months formatted once each, not once per cell.
    weekdays = {number: date_format(first + timedelta(days=number), "l") for number in range(7)}
    months: dict[int, str] = {}
    days = []
    by_day: dict[date, Day] = {}
    current = first
    while current <= last:
        in_period = current.month == anchor.month if view == "month" else True
        if current.month not in months:
            months[current.month] = date_format(current, "F")
        item = Day(
            day=current,
            in_period=in_period,
            is_today=current == today,
            iso=current.isoformat(),
            weekday=weekdays[(current - first).days % 7],
            month=months[current.month],
        )
        days.append(item)
        by_day[current] = item
        current += timedelta(days=1)
    for entry in entries:
        start = max(timezone.localdate(entry.starts_at), first)
        end = min(timezone.localdate(entry.ends_at), last)
        current = start
        html = render(entry)
        while current <= end:
            by_day[current].entries.append(html)
            current += timedelta(days=1)
    return days


@require_GET
@module_required("sales")
def calendar_view(request: HttpRequest) -> HttpResponse:
    query = CalendarQuery(request.GET)
    data = query.cleaned_data if query.is_valid() else {}
    view = data.get("view") or "month"
    anchor = data.get("date") or timezone.localdate()
    target = _target(request, data.get("user"))
    first, last = _period(view, anchor)
    entries = calendar_entries(target, _local_start(first), _local_start(last + timedelta(days=1)))
    days = _days(view, first, last, anchor, entries)
    previous, following = _neighbours(view, anchor)

    def link(**changes) -> str:
        params = {"view": view, "date": anchor.isoformat()}
        if target.pk != request.user.pk:
            params["user"] = target.pk
        params.update({key: value for key, value in changes.items() if value is not None})
        return f"{reverse('sales:calendar')}?{urlencode(params)}"

    context = {
        "view": view,
        "views": [(key, label, link(view=key)) for key, label in VIEWS],
        "anchor": anchor,
        "first": first,
        "last": last,
        "days": days,
        "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
        "agenda": [day for day in days if day.entries],
        "weekdays": days[:7],
        "previous_url": link(date=previous.isoformat()),
        "next_url": link(date=following.isoformat()),
        "today_url": link(date=timezone.localdate().isoformat()),
        "target": target,
        "own": target.pk == request.user.pk,
        "can_plan": can_plan(request.user),
        "count": len(entries),
        # Promotion staff pick a colleague of their units whose calendar to look at.
        "colleagues": colleagues(request.user) if manages(request.user) else [],
    }
    return render(request, "sales/fieldwork/calendar.html", context)


@require_GET
@module_required("sales")
def feed_page(request: HttpRequest) -> HttpResponse:
    """The user's iCalendar subscription: whether there is one, the URL right after it is
    made (only then: it is stored hashed), buttons to make a new one or revoke it."""
    feed = CalendarFeed.objects.filter(user=request.user).first()
    token = request.session.pop(FEED_SESSION_KEY, None)
    url = request.build_absolute_uri(reverse("sales:ical", args=[token])) if token and feed else ""
    return render(request, "sales/fieldwork/calendar_feed.html", {"feed": feed, "feed_url": url})


@require_POST
@module_required("sales")
def feed_regenerate(request: HttpRequest) -> HttpResponse:
    token = calendar_feed_regenerate(user=request.user)
    request.session[FEED_SESSION_KEY] = token
    messages.success(
        request,
        _("Your calendar has a new address: copy it now, it is not shown again."),
    )
    return redirect("sales:calendar_feed")


@require_POST
@module_required("sales")
def feed_revoke(request: HttpRequest) -> HttpResponse:
    if calendar_feed_revoke(user=request.user):
        messages.success(request, _("The address of your calendar no longer works."))
    return redirect("sales:calendar_feed")
