"""The calendar of a user: month, week and agenda views of a known data set (their own visits,
meetings, events and tasks, never a colleague's), one query for the entries whatever their
number, promotion staff looking at a colleague's, and the keyboard's way between periods."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sales.models.fieldwork import calendar_entries
from tests.sales.fieldwork_helpers import add_meeting, add_task, at, plan, team

pytestmark = pytest.mark.django_db
__all__ = ["team"]


@pytest.fixture
def month(team):
    """November 2026 of Inés: a visit on the 10th, an event from 30 October to 1 November, a
    meeting Pilar called her to on the 11th, a task on the 12th, a cancelled visit on the
    20th; and Óscar's own visit on the 10th, which is not hers."""
    ines, oscar = team["inspector"], team["other"]
    visit = plan(ines, starts_at=at(2026, 11, 10, 9, 30), place_address="Calle Mayor 1")
    fair = add_meeting(
        ines,
        kind="event",
        title="Feria de comercio",
        starts_at=at(2026, 10, 30, 10),
        ends_at=at(2026, 11, 1, 18),
    )
    meeting = add_meeting(
        team["promoter"], title="Coordinación", starts_at=at(2026, 11, 11, 12), attendees=[ines]
    )
    task = add_task(ines, title="Enviar el acta", due_at=at(2026, 11, 12, 9))
    cancelled = plan(ines, starts_at=at(2026, 11, 20, 9), purpose="Anulada")
    from sales.fieldwork import visit_cancel

    visit_cancel(visit=cancelled, actor=ines, reason="Cerrado")
    other = plan(oscar, starts_at=at(2026, 11, 10, 12), place_address="Calle de Óscar")
    return {
        "visit": visit,
        "fair": fair,
        "meeting": meeting,
        "task": task,
        "cancelled": cancelled,
        "other": other,
    }


def test_the_entries_of_a_period_come_in_one_query(team, month):
    with CaptureQueriesContext(connection) as queries:
        entries = calendar_entries(team["inspector"], at(2026, 11, 1, 0), at(2026, 12, 1, 0))
    assert len(queries) == 1
    assert [(entry.kind, entry.pk) for entry in entries] == [
        ("event", month["fair"].pk),
        ("visit", month["visit"].pk),
        ("meeting", month["meeting"].pk),
        ("task", month["task"].pk),
        ("visit", month["cancelled"].pk),
    ]


def cells(html: str) -> dict[str, str]:
    """The month's cells by their date: {"2026-11-10": "<cell html>"}."""
    pattern = r'<td[^>]*>\s*<div class="crm-day-number"><time datetime="([\d-]+)">(.*?)</td>'
    found = re.findall(pattern, html, re.S)
    return dict(found)


def test_the_month_shows_each_entry_on_its_days(client, team, month):
    client.force_login(team["inspector"])
    response = client.get("/sales/calendar/?view=month&date=2026-11-15")
    assert response.status_code == 200
    html = response.text
    assert "<table" in html
    assert '<th scope="col">' in html
    days = cells(html)
    assert len(days) == 42  # Monday 26 October to Sunday 6 December: six whole weeks
    assert f"/sales/visits/{month['visit'].pk}/" in days["2026-11-10"]
    assert "09:30" in days["2026-11-10"]
    assert f"/sales/meetings/{month['meeting'].pk}/" in days["2026-11-11"]
    assert f"/sales/tasks/{month['task'].pk}/" in days["2026-11-12"]
    # The event runs over three days, two of them before the month: shown on each.
    for day in ("2026-10-30", "2026-10-31", "2026-11-01"):
        assert f"/sales/meetings/{month['fair'].pk}/" in days[day]
    assert "crm-entry-inactive" in days["2026-11-20"]
    # Óscar's own visit is not in Inés's calendar.
    assert f"/sales/visits/{month['other'].pk}/" not in html
    # The periods: previous and next month, for links and keys.
    assert 'id="calendar-previous" href="/sales/calendar/?view=month&amp;date=2026-10-01"' in html
    assert 'id="calendar-next" href="/sales/calendar/?view=month&amp;date=2026-12-01"' in html
    assert "js/fieldwork.js" in html


def test_the_week_lists_its_seven_days(client, team, month):
    client.force_login(team["inspector"])
    html = client.get("/sales/calendar/?view=week&date=2026-11-11").text
    rows = re.findall(r'<th scope="row"><time datetime="([\d-]+)">', html)
    assert rows == [f"2026-11-{day:02d}" for day in range(9, 16)]
    assert f"/sales/visits/{month['visit'].pk}/" in html
    assert "Calle Mayor 1" in html
    assert f"/sales/meetings/{month['fair'].pk}/" not in html
    assert 'date=2026-11-04"' in html
    assert 'date=2026-11-18"' in html


def test_the_agenda_shows_the_days_with_something_planned(client, team, month):
    client.force_login(team["inspector"])
    html = client.get("/sales/calendar/?view=agenda&date=2026-11-10").text
    days = re.findall(r'<h3 class="h5 mt-3"><time datetime="([\d-]+)">', html)
    assert days == ["2026-11-10", "2026-11-11", "2026-11-12", "2026-11-20"]


def test_nothing_planned_says_so(client, team):
    client.force_login(team["inspector"])
    html = client.get("/sales/calendar/?view=agenda&date=2030-01-01").text
    assert "Nothing planned in these days." in html or "No hay nada previsto" in html


def test_a_bad_date_falls_back_to_today(client, team):
    client.force_login(team["inspector"])
    assert client.get("/sales/calendar/?view=month&date=2026-13-45").status_code == 200
    assert client.get("/sales/calendar/?view=nonsense").status_code == 200


def test_promotion_staff_see_a_colleague_of_their_units(client, team, month):
    client.force_login(team["promoter"])
    url = f"/sales/calendar/?view=month&date=2026-11-10&user={team['inspector'].pk}"
    html = client.get(url).text
    assert f"/sales/visits/{month['visit'].pk}/" in html
    assert f"user={team['inspector'].pk}" in html  # the period links stay on her calendar
    picker = html[html.index('id="calendar-user"') :]
    assert f'<option value="{team["inspector"].pk}" selected>Inés</option>' in picker
    assert f'value="{team["elsewhere"].pk}"' not in picker  # not of her units
    elsewhere = f"/sales/calendar/?user={team['elsewhere'].pk}"
    assert client.get(elsewhere).status_code == 404


def test_an_inspector_may_not_see_a_colleague_calendar(client, team, month):
    client.force_login(team["inspector"])
    assert 'id="calendar-user"' not in client.get("/sales/calendar/").text
    assert client.get(f"/sales/calendar/?user={team['other'].pk}").status_code == 404


def test_the_home_page_shows_today(client, team):
    from django.utils import timezone

    now = timezone.localtime()
    start = now.replace(hour=0, minute=5) if now.hour >= 23 else now + timedelta(minutes=5)
    visit = plan(team["inspector"], starts_at=start, place_address="Plaza Hoy")
    client.force_login(team["inspector"])
    html = client.get("/").text
    assert f"/sales/visits/{visit.pk}/" in html
    assert "Plaza Hoy" in html
