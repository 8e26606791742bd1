"""The iCalendar feed: a secret URL that needs no login, parsed here by the ``icalendar``
library as a calendar client would: the user's own visits, meetings and open tasks with stable
UIDs and Madrid times, no names of the people visited, nothing cached, and a 404 for a wrong,
revoked or replaced secret."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from citizens.services import person_create
from sales.fieldwork import calendar_feed_regenerate, calendar_feed_revoke, task_complete
from sales.models import CalendarFeed
from tests.sales.fieldwork_helpers import add_meeting, add_task, plan, team

pytestmark = pytest.mark.django_db
__all__ = ["team"]
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
def data(team, settings):
    settings.PUBLIC_BASE_URL = "https://crm.ayto.example"
    from django.utils import timezone

    soon = timezone.localtime().replace(microsecond=0, second=0)
    ines = team["inspector"]
    person = person_create(actor=None, given_name="Lucía", first_surname="Secreta")
    return {
        "visit": plan(ines, starts_at=soon.replace(hour=9, minute=30), person=person),
        "meeting": add_meeting(ines, title="Reunión de equipo", starts_at=soon.replace(hour=12)),
        "task": add_task(ines, title="Enviar el acta", due_at=soon.replace(hour=18)),
        "done": add_task(ines, title="Ya hecha", due_at=soon.replace(hour=19)),
        "theirs": plan(team["other"], starts_at=soon.replace(hour=10), purpose="De Óscar"),
    }


def feed_path(token: str) -> str:
    return f"/sales/calendar/feed/{token}.ics"


def parse(response) -> Calendar:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def test_the_feed_lists_the_user_own_items(client, team, data):
    ines = team["inspector"]
    task_complete(task=data["done"], actor=ines)
    token = calendar_feed_regenerate(user=ines)
    response = client.get(feed_path(token))  # no login
    assert response["Cache-Control"] == "no-store"
    calendar = parse(response)
    events = {str(event["UID"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {
        f"visit-{data['visit'].pk}@crm.ayto.example",
        f"meeting-{data['meeting'].pk}@crm.ayto.example",
        f"task-{data['task'].pk}@crm.ayto.example",
    }
    visit = events[f"visit-{data['visit'].pk}@crm.ayto.example"]
    start = visit.decoded("DTSTART")
    assert start == data["visit"].starts_at
    assert str(start.tzinfo) == "Europe/Madrid"
    assert visit["DTSTART"].params["TZID"] == "Europe/Madrid"
    assert visit.decoded("DTEND") == data["visit"].ends_at
    assert str(visit["LOCATION"]) == "Calle Mayor 1, Madrid"
    assert str(visit["URL"]) == f"https://crm.ayto.example/sales/visits/{data['visit'].pk}/"
    task = events[f"task-{data['task'].pk}@crm.ayto.example"]
    assert "Enviar el acta" in str(task["SUMMARY"])
    assert task.decoded("DTSTART") == data["task"].due_at
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Madrid"]
    # Minimal personal data: not the name of the person visited, nor the visit's purpose.
    assert b"Secreta" not in response.content
    assert b"Inspecci\xc3\xb3n anual" not in response.content
    # The UIDs stay the same from one fetch to the next.
    again = parse(client.get(feed_path(token)))
    assert {str(event["UID"]) for event in again.walk("VEVENT")} == set(events)
    assert CalendarFeed.objects.get(user=ines).last_fetched_at is not None


def test_a_wrong_token_is_a_404(client, team, data):
    calendar_feed_regenerate(user=team["inspector"])
    assert client.get(feed_path("not-the-secret")).status_code == 404


def test_the_database_keeps_only_a_hash(team):
    token = calendar_feed_regenerate(user=team["inspector"])
    stored = CalendarFeed.objects.get().token_hash
    assert token not in stored
    assert len(stored) == 64


def test_regenerating_and_revoking_close_the_old_address(client, team, data):
    ines = team["inspector"]
    first = calendar_feed_regenerate(user=ines)
    second = calendar_feed_regenerate(user=ines)
    assert client.get(feed_path(first)).status_code == 404
    assert client.get(feed_path(second)).status_code == 200
    assert calendar_feed_revoke(user=ines)
    assert client.get(feed_path(second)).status_code == 404


def test_the_subscribe_page_shows_the_address_once(client, team):
    client.force_login(team["inspector"])
    response = client.post("/sales/calendar/subscribe/new/")
    assert response.status_code == 302
    page = client.get("/sales/calendar/subscribe/").text
    url = re.search(r'id="feed-url" readonly value="([^"]+)"', page).group(1)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert client.get(feed_path(token)).status_code == 200
    assert 'id="feed-url"' not in client.get("/sales/calendar/subscribe/").text
    assert client.post("/sales/calendar/subscribe/revoke/").status_code == 302
    assert not CalendarFeed.objects.exists()
    assert client.get(feed_path(token)).status_code == 404


def test_a_deactivated_user_feed_stops(client, team):
    ines = team["inspector"]
    token = calendar_feed_regenerate(user=ines)
    ines.is_active = False
    ines.save(update_fields=["is_active"])
    assert client.get(feed_path(token)).status_code == 404


def test_a_cancelled_visit_is_marked_cancelled(client, team):
    from sales.fieldwork import visit_cancel

    ines = team["inspector"]
    from django.utils import timezone

    visit = plan(ines, starts_at=timezone.now().replace(microsecond=0))
    visit_cancel(visit=visit, actor=ines, reason="Cerrado")
    calendar = parse(client.get(feed_path(calendar_feed_regenerate(user=ines))))
    [event] = calendar.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"


def test_times_are_those_of_madrid(client, team):
    ines = team["inspector"]
    from datetime import timedelta

    from django.utils import timezone

    start = timezone.localtime() + timedelta(days=2)
    start = start.replace(hour=8, minute=15, second=0, microsecond=0)
    add_task(ines, title="Llamar", due_at=start)
    calendar = parse(client.get(feed_path(calendar_feed_regenerate(user=ines))))
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART").astimezone(MADRID).strftime("%H:%M") == "08:15"
    assert b"DTSTART;TZID=Europe/Madrid:" in event.to_ical()
