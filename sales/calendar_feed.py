"""Each user's iCalendar feed: a secret URL that Outlook, Thunderbird and phones subscribe to.

- The URL holds a random secret (32 bytes, URL-safe); the database keeps only its SHA-256
  (``CalendarFeed.token_hash``), so a copy of the database opens no feed. The user makes a new
  one (the old URL stops working) or revokes it on the calendar's "Subscribe" page.
- Fetching needs no login (calendar clients cannot log in); an unknown secret is a 404.
  Answers carry ``Cache-Control: no-store``.
- Only the user's own items: visits assigned to them, meetings and events they attend, and
  their open tasks, from 90 days back to a year ahead.
- Minimal personal data: a visit shows its type and place (no person's or organisation's name),
  a meeting its title and place, a task its title, plus a link to the item in the CRM (which
  asks for a login). Staff should not type personal data into titles of tasks and meetings.
- Built with the ``icalendar`` library: VEVENT for everything (tasks too, at their due time,
  because most clients ignore VTODO in subscribed calendars), UIDs stable per item
  (``visit-42@host``), times in Europe/Madrid with its VTIMEZONE.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event

from .fieldwork import feed_token_hash
from .models import CalendarFeed
from .models.fieldwork import CalendarEntry, calendar_entries

PAST = timedelta(days=90)
FUTURE = timedelta(days=365)
TIME_ZONE = "Europe/Madrid"
PRODUCT_ID = "-//CRM público//Promoción//ES"


def _host() -> str:
    return urlsplit(settings.PUBLIC_BASE_URL).hostname or "crm.invalid"


def uid(entry: CalendarEntry) -> str:
    return f"{entry.kind}-{entry.pk}@{_host()}"


def _summary(entry: CalendarEntry) -> str:
    if entry.kind == "visit":
        return _("Visit: %(type)s") % {"type": entry.title}
    if entry.kind == "task":
        return _("Task: %(title)s") % {"title": entry.title}
    return entry.title


def build_calendar(user, *, now=None) -> bytes:
    """The user's feed as iCalendar bytes."""
    now = now or timezone.now()
    zone = ZoneInfo(TIME_ZONE)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("CRM: my visits and tasks"))
    calendar.add("x-wr-timezone", TIME_ZONE)
    for entry in calendar_entries(user, now - PAST, now + FUTURE):
        if entry.kind == "task" and entry.status == "done":
            continue
        event = Event()
        event.add("uid", uid(entry))
        event.add("dtstamp", now)
        event.add("dtstart", entry.starts_at.astimezone(zone))
        event.add("dtend", entry.ends_at.astimezone(zone))
        event.add("summary", _summary(entry))
        if entry.place:
            event.add("location", entry.place)
        event.add("url", settings.PUBLIC_BASE_URL + entry.url)
        event.add("categories", [entry.kind])
        if entry.status == "cancelled":
            event.add("status", "CANCELLED")
        else:
            event.add("status", "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


@require_GET
def ical_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed of the user whose secret this is; 404 for any other."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=feed_token_hash(token), user__is_active=True)
        .first()
    )
    if feed is None:
        raise Http404
    CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=timezone.now())
    response = HttpResponse(build_calendar(feed.user), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "no-store"
    response["Content-Disposition"] = 'inline; filename="calendar.ics"'
    return response
