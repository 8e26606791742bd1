"""Legal deadlines (crm.calendar): business days, registry time, suspensions, traffic light.

The rules: Ley 39/2015, art. 30 (deadlines in days are business days: Saturdays, Sundays and
holidays do not count; counting starts the day after the notification or filing; a holiday
where the citizen lives or where the body sits does not count), art. 31 (a filing on a
non-business day counts as made at 00:00 of the next business day, official time of the body)
and RD 951/2005 (complaints: 20 business days to answer; the clock stops while the citizen is
asked for more information, who has 10 business days to reply). docs/deadlines.md.

Expected dates are written by hand; the holiday tables are also checked against the ``holidays``
library, so that a change in either shows here.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.urls import reverse

from crm.calendar import (
    LOCAL_HOLIDAYS_VERSION_KEY,
    BusinessCalendar,
    DeadlineState,
    forget_holiday_caches,
    normalise_municipality,
    regional_holidays,
    spanish_subdivisions,
)
from crm.models import AuditEvent, LocalHoliday
from tests.crm.test_settings import django_setup, settings_value
from tests.fixtures.services import database_url

BASE_DIR = Path(__file__).resolve().parents[2]
MADRID = ZoneInfo("Europe/Madrid")
CANARY = ZoneInfo("Atlantic/Canary")
# The autonomous communities and the two autonomous cities (Ceuta CE, Melilla ML).
COMMUNITIES = ("AN", "AR", "AS", "CB", "CE", "CL", "CM", "CN", "CT", "EX", "GA", "IB", "MC", "MD",
               "ML", "NC", "PV", "RI", "VC")  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_holiday_caches(settings):
    """Tests commit (and roll back) holidays the process remembers: start and end afresh, with
    the version key in a Redis namespace of this test session's own."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-calendar-{os.getpid()}"}
    }
    forget_holiday_caches()
    yield
    forget_holiday_caches()


def calendar(subdivision: str = "MD", *municipalities: str, **kwargs) -> BusinessCalendar:
    return BusinessCalendar(subdivision, municipalities, **kwargs)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- Holidays: national and regional, 2025-2027 -----------------------------------------------

# Holidays that fall Monday to Friday (weekends do not count anyway, and the library leaves out
# some that fall on a Sunday), written by hand from the official calendars: BOE (national),
# BOCM (Comunidad de Madrid), DOGC (Catalunya), BOC (Canarias). The 2027 regional calendars are
# published in the autumn of 2026: their rows follow the rules the library projects.
WEEKDAY_HOLIDAYS = {
    ("MD", 2025): [
        "2025-01-01",  # Año Nuevo (Wed)
        "2025-01-06",  # Epifanía (Mon)
        "2025-04-17",  # Jueves Santo: Madrid (Maundy Thursday)
        "2025-04-18",  # Viernes Santo (Good Friday)
        "2025-05-01",  # Fiesta del Trabajo (Thu)
        "2025-05-02",  # Fiesta de la Comunidad de Madrid (Fri)
        "2025-07-25",  # Santiago Apóstol: Madrid 2025
        "2025-08-15",  # Asunción (Fri)
        "2025-12-08",  # Inmaculada (Mon); 1 Nov and 6 Dec fall on Saturdays
        "2025-12-25",  # Navidad (Thu); 12 Oct falls on a Sunday
    ],
    ("MD", 2026): [
        "2026-01-01",  # Año Nuevo (Thu)
        "2026-01-06",  # Epifanía (Tue)
        "2026-04-02",  # Jueves Santo: Madrid
        "2026-04-03",  # Viernes Santo
        "2026-05-01",  # Fiesta del Trabajo (Fri); 2 May is a Saturday
        "2026-10-12",  # Fiesta Nacional (Mon); 15 Aug is a Saturday
        "2026-11-02",  # Madrid moves Todos los Santos (Sunday 1 Nov) to Monday
        "2026-12-07",  # Madrid moves the Constitución (Sunday 6 Dec) to Monday
        "2026-12-08",  # Inmaculada (Tue)
        "2026-12-25",  # Navidad (Fri)
    ],
    ("MD", 2027): [
        "2027-01-01",  # Año Nuevo (Fri)
        "2027-01-06",  # Epifanía (Wed)
        "2027-03-19",  # San José: Madrid adds it when 15 Aug falls on a Sunday (projected)
        "2027-03-25",  # Jueves Santo: Madrid
        "2027-03-26",  # Viernes Santo
        "2027-05-03",  # Fiesta de la Comunidad (Sunday 2 May) moved to Monday (projected)
        "2027-10-12",  # Fiesta Nacional (Tue)
        "2027-11-01",  # Todos los Santos (Mon)
        "2027-12-06",  # Constitución (Mon)
        "2027-12-08",  # Inmaculada (Wed); 1 May and 25 Dec are Saturdays
    ],
    ("CT", 2025): [
        "2025-01-01",
        "2025-01-06",
        "2025-04-18",  # Divendres Sant; Maundy Thursday is NOT a holiday in Catalunya
        "2025-04-21",  # Dilluns de Pasqua (Easter Monday): Catalunya
        "2025-05-01",  # 2 May is an ordinary day in Catalunya
        "2025-06-24",  # Sant Joan: Catalunya
        "2025-08-15",
        "2025-09-11",  # Diada Nacional de Catalunya (Thu)
        "2025-12-08",
        "2025-12-25",
        "2025-12-26",  # Sant Esteve: Catalunya (Fri)
    ],
    ("CT", 2026): [
        "2026-01-01",
        "2026-01-06",
        "2026-04-03",  # Divendres Sant
        "2026-04-06",  # Dilluns de Pasqua
        "2026-05-01",
        "2026-06-24",  # Sant Joan (Wed)
        "2026-09-11",  # Diada (Fri)
        "2026-10-12",
        "2026-12-08",  # Catalunya does not move the Sunday holidays of November and December
        "2026-12-25",  # 26 Dec (Sant Esteve) is a Saturday
    ],
    ("CT", 2027): [
        "2027-01-01",
        "2027-01-06",
        "2027-03-26",  # Divendres Sant
        "2027-03-29",  # Dilluns de Pasqua
        "2027-06-24",  # Sant Joan (Thu); 11 Sep is a Saturday
        "2027-10-12",
        "2027-11-01",
        "2027-12-06",
        "2027-12-08",
    ],
    ("CN", 2025): [
        "2025-01-01",
        "2025-01-06",
        "2025-04-17",  # Jueves Santo: Canarias
        "2025-04-18",
        "2025-05-01",
        "2025-05-30",  # Día de Canarias (Fri)
        "2025-08-15",
        "2025-12-08",
        "2025-12-25",
    ],
}


@pytest.mark.parametrize(("subdivision", "year"), list(WEEKDAY_HOLIDAYS), ids=str)
def test_weekday_holidays_match_the_library_and_the_official_calendar(subdivision, year):
    expected = {d(text) for text in WEEKDAY_HOLIDAYS[subdivision, year]}
    assert all(day.weekday() < 5 for day in expected), "the table lists weekdays only"
    from_library = {day for day in regional_holidays(subdivision, year) if day.weekday() < 5}
    assert from_library == expected

    business = calendar(subdivision)
    assert {day for day in expected if business.is_business_day(day)} == set()
    # Every other weekday of the year is a business day.
    day, others = date(year, 1, 1), set()
    while day.year == year:
        if day.weekday() < 5 and day not in expected:
            others.add(day)
        day += timedelta(days=1)
    assert all(business.is_business_day(day) for day in others)


# Every national holiday of 2025-2027, in every community. Weekend ones are non-business days
# anyway; the weekday ones must also be holidays for the library in every community.
NATIONAL_HOLIDAYS = [
    # 2025
    ("2025-01-01", "Año Nuevo"),
    ("2025-01-06", "Epifanía del Señor"),
    ("2025-04-18", "Viernes Santo (Good Friday)"),
    ("2025-05-01", "Fiesta del Trabajo"),
    ("2025-08-15", "Asunción de la Virgen"),
    ("2025-10-12", "Fiesta Nacional de España (Sunday)"),
    ("2025-11-01", "Todos los Santos (Saturday)"),
    ("2025-12-06", "Día de la Constitución (Saturday)"),
    ("2025-12-08", "Inmaculada Concepción"),
    ("2025-12-25", "Natividad del Señor"),
    # 2026
    ("2026-01-01", "Año Nuevo"),
    ("2026-01-06", "Epifanía del Señor"),
    ("2026-04-03", "Viernes Santo"),
    ("2026-05-01", "Fiesta del Trabajo"),
    ("2026-08-15", "Asunción de la Virgen (Saturday)"),
    ("2026-10-12", "Fiesta Nacional de España"),
    ("2026-11-01", "Todos los Santos (Sunday)"),
    ("2026-12-06", "Día de la Constitución (Sunday)"),
    ("2026-12-08", "Inmaculada Concepción"),
    ("2026-12-25", "Natividad del Señor"),
    # 2027
    ("2027-01-01", "Año Nuevo"),
    ("2027-01-06", "Epifanía del Señor"),
    ("2027-03-26", "Viernes Santo"),
    ("2027-05-01", "Fiesta del Trabajo (Saturday)"),
    ("2027-08-15", "Asunción de la Virgen (Sunday)"),
    ("2027-10-12", "Fiesta Nacional de España"),
    ("2027-11-01", "Todos los Santos"),
    ("2027-12-06", "Día de la Constitución"),
    ("2027-12-08", "Inmaculada Concepción"),
    ("2027-12-25", "Natividad del Señor (Saturday)"),
]


@pytest.mark.parametrize(
    ("day", "why"), NATIONAL_HOLIDAYS, ids=[row[0] for row in NATIONAL_HOLIDAYS]
)
def test_national_holidays_are_not_business_days_in_any_community(day, why):
    day = d(day)
    for subdivision in COMMUNITIES:
        assert not calendar(subdivision).is_business_day(day), (subdivision, why)
        if day.weekday() < 5:
            assert day in regional_holidays(subdivision, day.year), (subdivision, why)


def test_the_library_knows_the_nineteen_communities():
    assert set(COMMUNITIES) <= set(spanish_subdivisions())
    assert set(spanish_subdivisions()) == set(holidays.country_holidays("ES").subdivisions)


# --- Adding business days: the table ---------------------------------------------------------

# (community, start, business days, expected last day, why). The start is the day of the
# notification or (official) filing; counting starts the day after (art. 30.3).
ADD_BUSINESS_DAYS = [
    # Weekends
    ("MD", "2026-03-05", 1, "2026-03-06", "Thursday + 1 = Friday"),
    ("MD", "2026-03-06", 1, "2026-03-09", "Friday + 1: Saturday and Sunday do not count"),
    ("MD", "2026-03-07", 1, "2026-03-09", "a Saturday start: Sunday does not count"),
    ("MD", "2026-03-08", 1, "2026-03-09", "a Sunday start: Monday is the first day"),
    ("MD", "2026-03-06", 5, "2026-03-13", "five business days are a calendar week"),
    ("MD", "2026-03-06", 0, "2026-03-06", "no days: the start itself"),
    # National holidays
    ("MD", "2025-08-14", 1, "2025-08-18", "15 Aug 2025 (Fri), then the weekend"),
    ("MD", "2026-10-09", 1, "2026-10-13", "12 Oct 2026 is a Monday"),
    ("MD", "2027-10-29", 1, "2027-11-02", "1 Nov 2027 is a Monday"),
    ("MD", "2027-12-03", 3, "2027-12-10", "6 Dec (Mon) and 8 Dec (Wed) 2027: 7, 9, 10 Dec"),
    ("CT", "2026-12-04", 1, "2026-12-07", "Catalunya: 7 Dec 2026 is an ordinary Monday"),
    ("MD", "2026-12-04", 1, "2026-12-09", "Madrid: 7 Dec 2026 (moved Constitución), 8 Dec"),
    ("MD", "2026-04-30", 1, "2026-05-04", "1 May 2026 (Fri)"),
    # Easter
    ("MD", "2026-04-01", 1, "2026-04-06", "Madrid: Jueves Santo 2 Apr and Viernes Santo 3 Apr"),
    ("CT", "2026-04-01", 1, "2026-04-02", "Catalunya: Maundy Thursday is a business day"),
    ("CT", "2026-04-01", 2, "2026-04-07", "Catalunya: Good Friday and Easter Monday 6 Apr"),
    ("MD", "2026-04-01", 2, "2026-04-07", "Madrid: Easter Monday is a business day"),
    ("MD", "2027-03-24", 1, "2027-03-29", "Madrid: Jueves Santo 25 Mar, Viernes Santo 26 Mar"),
    ("CT", "2027-03-24", 2, "2027-03-30", "Catalunya: 25 Mar, then 26 and 29 Mar off"),
    # Madrid: 2 May; Catalunya: Diada, Sant Joan, Sant Esteve
    ("MD", "2025-04-30", 1, "2025-05-05", "Madrid: 1 May (Thu) and 2 May (Fri) 2025"),
    ("CT", "2025-04-30", 1, "2025-05-02", "Catalunya: 2 May is a business day"),
    ("MD", "2027-04-30", 1, "2027-05-04", "Madrid 2027: 2 May (Sunday) moved to Monday 3 May"),
    ("CT", "2025-09-10", 1, "2025-09-12", "Catalunya: Diada, 11 Sep 2025 (Thu)"),
    ("MD", "2025-09-10", 1, "2025-09-11", "Madrid: 11 Sep is a business day"),
    ("CT", "2026-06-23", 1, "2026-06-25", "Catalunya: Sant Joan, 24 Jun 2026 (Wed)"),
    ("MD", "2026-06-23", 1, "2026-06-24", "Madrid: 24 Jun is a business day"),
    ("CT", "2025-12-24", 1, "2025-12-29", "Catalunya: Navidad (Thu) and Sant Esteve (Fri)"),
    ("MD", "2025-12-24", 1, "2025-12-26", "Madrid: 26 Dec is a business day"),
    ("CT", "2026-04-22", 1, "2026-04-23", "Sant Jordi (23 Apr) is not a public holiday"),
    # Canarias
    ("CN", "2025-05-29", 1, "2025-06-02", "Canarias: Día de Canarias, 30 May 2025 (Fri)"),
    ("MD", "2025-05-29", 1, "2025-05-30", "Madrid: 30 May is a business day"),
    # The change of year: 20 business days from late December skip 1 and 6 January
    ("MD", "2026-12-28", 20, "2027-01-27", "29-31 Dec (3), 4-5 Jan, 7-8 Jan, ... 27 Jan"),
    ("MD", "2025-12-29", 20, "2026-01-28", "30-31 Dec (2), 2 Jan, 5 Jan, 7 Jan ... 28 Jan"),
    ("CT", "2025-12-23", 3, "2025-12-30", "Catalunya: 24 Dec, 25 and 26 off, 29, 30 Dec"),
    # A complaint: 20 business days (RD 951/2005)
    ("MD", "2026-03-02", 20, "2026-03-30", "four plain weeks"),
    ("MD", "2026-03-16", 20, "2026-04-15", "over Easter in Madrid: 2 and 3 Apr"),
    ("CT", "2026-03-16", 20, "2026-04-15", "over Easter in Catalunya: 3 and 6 Apr"),
]


@pytest.mark.parametrize(
    ("subdivision", "start", "days", "expected", "why"),
    ADD_BUSINESS_DAYS,
    ids=[f"{row[0]}-{row[1]}+{row[2]}" for row in ADD_BUSINESS_DAYS],
)
def test_add_business_days(subdivision, start, days, expected, why):
    business = calendar(subdivision)
    assert business.add_business_days(d(start), days) == d(expected), why
    assert business.business_days_between(d(start), d(expected)) == days, why
    assert business.deadline(d(start), days) == d(expected), why


def test_negative_days_are_refused():
    with pytest.raises(ValueError, match="days must be 0 or more"):
        calendar().add_business_days(d("2026-03-02"), -1)
    with pytest.raises(ValueError, match="days must be 0 or more"):
        calendar().deadline(d("2026-03-02"), -1)


def test_next_business_day_is_strictly_after():
    business = calendar("MD")
    assert business.next_business_day(d("2026-03-09")) == d("2026-03-10")  # Monday → Tuesday
    assert business.next_business_day(d("2026-03-06")) == d("2026-03-09")  # Friday → Monday
    assert business.next_business_day(d("2026-04-01")) == d("2026-04-06")  # over Easter
    assert business.next_business_day(d("2025-12-31")) == d("2026-01-02")  # over New Year


def test_business_days_between_counts_after_the_start_up_to_the_end():
    business = calendar("MD")
    assert business.business_days_between(d("2026-03-06"), d("2026-03-06")) == 0
    assert business.business_days_between(d("2026-03-06"), d("2026-03-08")) == 0  # weekend
    assert business.business_days_between(d("2026-03-06"), d("2026-03-09")) == 1
    assert business.business_days_between(d("2026-03-09"), d("2026-03-06")) == -1
    # 2026: 261 weekdays, 10 of them holidays in Madrid.
    assert business.business_days_between(d("2025-12-31"), d("2026-12-31")) == 251


# --- Local holidays --------------------------------------------------------------------------


@pytest.fixture
def san_isidro(db):
    """Madrid city's local holiday, San Isidro: Friday 15 May 2026."""
    return LocalHoliday.objects.create(
        municipality="Madrid", date=d("2026-05-15"), name="San Isidro"
    )


# (body's municipalities, citizen's municipality, is 15 May 2026 a business day?, why)
LOCAL_CASES = [
    (["Madrid"], None, False, "the body sits in Madrid (art. 30.6)"),
    (["MADRID"], None, False, "names compare without case"),
    ([" madrid "], None, False, "... and without surrounding spaces"),
    ([], "Madrid", False, "the citizen lives in Madrid (art. 30.6)"),
    (["Getafe"], "madrid", False, "body elsewhere, citizen in Madrid"),
    (["Getafe"], None, True, "neither the body nor the citizen is in Madrid"),
    ([], None, True, "no municipality: national and regional holidays only"),
    (["Madrid de los Caballeros"], None, True, "another municipality, not a prefix match"),
]


@pytest.mark.parametrize(
    ("municipalities", "citizen", "expected", "why"),
    LOCAL_CASES,
    ids=[row[3] for row in LOCAL_CASES],
)
def test_local_holidays_where_the_body_sits_or_the_citizen_lives(
    san_isidro, municipalities, citizen, expected, why
):
    business = BusinessCalendar("MD", municipalities, citizen_municipality=citizen)
    assert business.is_business_day(d("2026-05-15")) is expected, why
    assert business.is_business_day(d("2026-05-14"))  # the day before is an ordinary Thursday


def test_a_local_holiday_pushes_a_deadline(san_isidro):
    assert calendar("MD").add_business_days(d("2026-05-14"), 1) == d("2026-05-15")
    assert calendar("MD", "Madrid").add_business_days(d("2026-05-14"), 1) == d("2026-05-18")
    assert calendar("MD", "Madrid").add_business_days(d("2026-05-13"), 20) == d("2026-06-11")
    assert calendar("MD").add_business_days(d("2026-05-13"), 20) == d("2026-06-10")


@pytest.mark.django_db
def test_accents_and_case_do_not_matter():
    LocalHoliday.objects.create(
        municipality="Alcalá de Henares", date=d("2026-08-06"), name="Santos Niños"
    )
    body_in_madrid = BusinessCalendar("MD", ["Madrid"], citizen_municipality="ALCALA DE HENARES")
    assert not body_in_madrid.is_business_day(d("2026-08-06"))
    assert BusinessCalendar("MD", ["Madrid"]).is_business_day(d("2026-08-06"))
    assert (
        normalise_municipality("  L\u2019Hospitalet  de Llobregat") == "l hospitalet de llobregat"
    )
    assert normalise_municipality("A Coruña") == normalise_municipality("a coruna")


def test_the_body_municipality_and_community_come_from_the_settings(san_isidro, settings):
    settings.HOLIDAYS_SUBDIVISION = "CT"
    settings.BODY_MUNICIPALITY = "Madrid"
    body = BusinessCalendar()
    assert body.subdivisions == {"CT"}
    assert not body.is_business_day(d("2026-05-15"))  # the local holiday
    assert not body.is_business_day(d("2026-06-24"))  # Sant Joan: Catalunya
    assert body.is_business_day(d("2026-04-02"))  # Jueves Santo: not in Catalunya
    settings.BODY_MUNICIPALITY = ""
    assert BusinessCalendar().is_business_day(d("2026-05-15"))


def test_the_citizen_community_adds_its_holidays():
    # A body in Madrid, a citizen in Catalunya: 24 Jun (Sant Joan) does not count (art. 30.6).
    both = BusinessCalendar("MD", [], citizen_subdivision="CT")
    assert not both.is_business_day(d("2026-06-24"))
    assert not both.is_business_day(d("2026-04-02"))  # Jueves Santo: Madrid
    assert calendar("MD").is_business_day(d("2026-06-24"))


def test_an_unknown_community_is_refused():
    with pytest.raises(ValueError, match="Unknown Spanish subdivisions"):
        BusinessCalendar("XX", [])
    with pytest.raises(ValueError, match="Unknown Spanish subdivisions"):
        BusinessCalendar("MD", [], citizen_subdivision="Madrid")


# --- Caching of holiday sets --------------------------------------------------------------------


def commit(django_capture_on_commit_callbacks, **fields) -> LocalHoliday:
    """Create a holiday and run what its commit would run (the test's transaction never
    commits)."""
    with django_capture_on_commit_callbacks(execute=True):
        return LocalHoliday.objects.create(**fields)


@pytest.mark.django_db
def test_local_holidays_take_one_query_per_year_and_are_then_remembered(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    commit(
        django_capture_on_commit_callbacks,
        municipality="Madrid",
        date=d("2026-05-15"),
        name="San Isidro",
    )
    with django_assert_num_queries(1):
        first = calendar("MD", "Madrid")
        assert first.add_business_days(d("2026-05-01"), 20) == d("2026-06-01")
    with django_assert_num_queries(1):  # over the change of year: 2026 was read, now 2027
        assert calendar("MD", "Toledo").add_business_days(d("2026-12-28"), 20) == d("2027-01-27")
    with django_assert_num_queries(0):  # another calendar: remembered in process memory
        assert not calendar("MD", "Madrid").is_business_day(d("2026-05-15"))
        assert calendar("MD", "Madrid", "Toledo").is_business_day(d("2026-05-14"))
    with django_assert_num_queries(0):  # no municipality: no local holidays to read
        assert calendar("CT").add_business_days(d("2025-12-28"), 20) == d("2026-01-27")


@pytest.mark.django_db
def test_a_holiday_of_the_open_transaction_is_seen_at_once():
    assert calendar("MD", "Madrid").is_business_day(d("2026-05-15"))  # remembered: no holiday
    LocalHoliday.objects.create(municipality="Madrid", date=d("2026-05-15"), name="San Isidro")
    assert not calendar("MD", "Madrid").is_business_day(d("2026-05-15"))


@pytest.mark.django_db
def test_a_rolled_back_holiday_is_forgotten():
    seen_inside = None
    try:
        with transaction.atomic():
            LocalHoliday.objects.create(municipality="Madrid", date=d("2026-05-15"), name="x")
            seen_inside = not calendar("MD", "Madrid").is_business_day(d("2026-05-15"))
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    assert seen_inside is True
    assert calendar("MD", "Madrid").is_business_day(d("2026-05-15"))


@pytest.mark.django_db
def test_a_deleted_holiday_is_forgotten(django_capture_on_commit_callbacks):
    holiday = commit(
        django_capture_on_commit_callbacks, municipality="Madrid", date=d("2026-05-15"), name="x"
    )
    assert not calendar("MD", "Madrid").is_business_day(d("2026-05-15"))
    with django_capture_on_commit_callbacks(execute=True):
        holiday.delete()
    assert calendar("MD", "Madrid").is_business_day(d("2026-05-15"))


@pytest.mark.django_db(transaction=True)
def test_a_holiday_committed_by_another_process_is_seen_here():
    """The web process that saves a holiday is not the worker that computes deadlines: the
    change reaches every process through the version kept in Redis."""
    before = calendar("MD", "Madrid")
    assert before.is_business_day(d("2026-05-15"))  # and remembered, under this version
    version = cache.get(LOCAL_HOLIDAYS_VERSION_KEY)
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost",
        "HTTPS": "false",
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "LOG_LEVEL": "WARNING",
    }
    code = (
        "import django; django.setup(); from datetime import date; "
        "from crm.models import LocalHoliday; LocalHoliday.objects.create("
        "municipality='madrid', date=date(2026, 5, 15), name='San Isidro')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert cache.get(LOCAL_HOLIDAYS_VERSION_KEY) != version
    assert not calendar("MD", "Madrid").is_business_day(d("2026-05-15"))
    # A calendar reads the version once: one per request or task.
    assert before.is_business_day(d("2026-05-15"))


# --- Registry time (art. 31) -------------------------------------------------------------------

# (community, time zone, moment, official filing time in the body's zone, why)
FILING_TIMES = [
    ("MD", MADRID, datetime(2026, 3, 6, 23, 59, tzinfo=MADRID), datetime(2026, 3, 6, 23, 59),
     "Friday 23:59 in Madrid: a business day, the moment itself"),
    ("MD", MADRID, datetime(2026, 3, 7, 23, 59, tzinfo=MADRID), datetime(2026, 3, 9, 0, 0),
     "Saturday 23:59: Monday 00:00"),
    ("MD", MADRID, datetime(2026, 3, 8, 10, 0, tzinfo=MADRID), datetime(2026, 3, 9, 0, 0),
     "Sunday: Monday 00:00"),
    ("MD", MADRID, datetime(2026, 3, 6, 22, 30, tzinfo=UTC), datetime(2026, 3, 6, 23, 30),
     "22:30 UTC on Friday is 23:30 in Madrid (CET, UTC+1): still Friday"),
    ("MD", MADRID, datetime(2026, 3, 6, 23, 30, tzinfo=UTC), datetime(2026, 3, 9, 0, 0),
     "23:30 UTC on Friday is already Saturday 00:30 in Madrid: Monday 00:00"),
    ("MD", MADRID, datetime(2026, 7, 3, 22, 30, tzinfo=UTC), datetime(2026, 7, 6, 0, 0),
     "summer (CEST, UTC+2): 22:30 UTC on Friday is Saturday 00:30 in Madrid"),
    ("MD", MADRID, datetime(2026, 5, 1, 12, 0, tzinfo=MADRID), datetime(2026, 5, 4, 0, 0),
     "1 May (Fri): the next business day is Monday 4 May"),
    ("MD", MADRID, datetime(2026, 4, 2, 9, 0, tzinfo=MADRID), datetime(2026, 4, 6, 0, 0),
     "Jueves Santo in Madrid: Monday 6 Apr 00:00"),
    ("CT", MADRID, datetime(2026, 4, 2, 9, 0, tzinfo=MADRID), datetime(2026, 4, 2, 9, 0),
     "Maundy Thursday in Catalunya is a business day"),
    ("CT", MADRID, datetime(2026, 4, 3, 9, 0, tzinfo=MADRID), datetime(2026, 4, 7, 0, 0),
     "Good Friday in Catalunya: after Easter Monday, Tuesday 00:00"),
    ("MD", MADRID, datetime(2025, 12, 31, 23, 30, tzinfo=UTC), datetime(2026, 1, 2, 0, 0),
     "New Year's Eve 23:30 UTC is New Year's Day in Madrid: Friday 2 Jan 00:00"),
    ("CN", CANARY, datetime(2026, 3, 6, 23, 30, tzinfo=UTC), datetime(2026, 3, 6, 23, 30),
     "Canarias (WET, UTC+0): 23:30 UTC on Friday is still Friday"),
    ("CN", CANARY, datetime(2026, 3, 7, 0, 30, tzinfo=UTC), datetime(2026, 3, 9, 0, 0),
     "Canarias: 00:30 UTC on Saturday is Saturday there too"),
    ("CN", CANARY, datetime(2026, 7, 3, 22, 30, tzinfo=UTC), datetime(2026, 7, 3, 23, 30),
     "Canarias in summer (WEST, UTC+1): 22:30 UTC on Friday is Friday 23:30"),
    ("CN", CANARY, datetime(2026, 7, 3, 23, 30, tzinfo=UTC), datetime(2026, 7, 6, 0, 0),
     "Canarias in summer: 23:30 UTC on Friday is Saturday 00:30 there"),
    ("CN", CANARY, datetime(2025, 5, 30, 10, 0, tzinfo=CANARY), datetime(2025, 6, 2, 0, 0),
     "Día de Canarias (Fri 30 May 2025): Monday 00:00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subdivision", "zone", "moment", "expected", "why"),
    FILING_TIMES,
    ids=[row[4] for row in FILING_TIMES],
)
def test_official_filing_time(subdivision, zone, moment, expected, why):
    business = BusinessCalendar(subdivision, [], time_zone=zone.key)
    official = business.official_filing_time(moment)
    assert official == expected.replace(tzinfo=zone), why
    assert official.tzinfo == zone
    assert official.replace(tzinfo=None) == expected  # the wall-clock time in the body's zone
    assert business.is_business_day(official.date())


def test_the_filing_time_is_in_the_settings_time_zone(settings):
    friday_late_utc = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)
    settings.TIME_ZONE = "Atlantic/Canary"
    assert BusinessCalendar("CN", []).official_filing_date(friday_late_utc) == d("2026-03-06")
    settings.TIME_ZONE = "Europe/Madrid"
    assert BusinessCalendar("CN", []).official_filing_date(friday_late_utc) == d("2026-03-09")


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware datetime"):
        calendar().official_filing_time(datetime(2026, 3, 6, 12, 0))


# (community, zone, filing moment, business days, deadline, why)
FILING_DEADLINES = [
    ("MD", MADRID, datetime(2026, 3, 8, 12, 0, tzinfo=MADRID), 1, "2026-03-10",
     "filed on Sunday: counts as Monday 00:00, so the first day counted is Tuesday"),
    ("MD", MADRID, datetime(2026, 3, 6, 23, 59, tzinfo=MADRID), 1, "2026-03-09",
     "filed on Friday 23:59: the first day counted is Monday"),
    ("MD", MADRID, datetime(2026, 3, 7, 23, 59, tzinfo=MADRID), 1, "2026-03-10",
     "filed on Saturday 23:59: made on Monday, first day counted Tuesday"),
    ("MD", MADRID, datetime(2026, 3, 6, 23, 59, tzinfo=MADRID), 20, "2026-04-07",
     "a complaint filed Friday 23:59: 20 days, over Easter in Madrid"),
    ("MD", MADRID, datetime(2026, 3, 7, 23, 59, tzinfo=MADRID), 20, "2026-04-08",
     "the same complaint one minute past Saturday: one business day later"),
    ("MD", MADRID, datetime(2026, 3, 6, 23, 30, tzinfo=UTC), 20, "2026-04-08",
     "23:30 UTC on Friday is Saturday in Madrid"),
    ("CN", CANARY, datetime(2026, 3, 6, 23, 30, tzinfo=UTC), 20, "2026-04-07",
     "the same moment is still Friday in the Canaries"),
    ("MD", MADRID, datetime(2025, 12, 28, 18, 0, tzinfo=MADRID), 20, "2026-01-28",
     "filed on Sunday 28 Dec 2025: made 29 Dec, skips 1 and 6 Jan"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subdivision", "zone", "moment", "days", "expected", "why"),
    FILING_DEADLINES,
    ids=[row[5] for row in FILING_DEADLINES],
)
def test_deadline_from_filing(subdivision, zone, moment, days, expected, why):
    business = BusinessCalendar(subdivision, [], time_zone=zone.key)
    assert business.deadline_from_filing(moment, days) == d(expected), why


# --- Suspensions -----------------------------------------------------------------------------

# A complaint registered on Monday 2 Mar 2026 in Madrid: 20 business days, 30 Mar without
# suspensions. A suspension (S, R) stops the clock on the days after S up to and including R.
START, DAYS = d("2026-03-02"), 20
SUSPENSIONS = [
    ([], "2026-03-30", "no suspension"),
    ([("2026-03-10", "2026-03-17")], "2026-04-08",
     "info asked Tue 10 Mar, answer Tue 17 Mar: 11-13 and 16-17 Mar (5 days) do not count; "
     "the 5 days left run over Easter (2, 3 Apr)"),
    ([("2026-03-10", "2026-03-17"), ("2026-03-25", "2026-03-27")], "2026-04-10",
     "two suspensions: 5 days, then 26-27 Mar (2 days)"),
    ([("2026-03-10", "2026-03-24")], "2026-04-15",
     "no answer: the suspension ends when the citizen's 10 business days run out (24 Mar)"),
    ([("2026-03-10", "2026-03-17"), ("2026-03-12", "2026-03-19")], "2026-04-10",
     "overlapping suspensions count once: 11-13, 16-19 Mar (7 days)"),
    ([("2026-03-10", "2026-03-10")], "2026-03-30", "asked and answered the same day: no days"),
    ([("2026-03-06", "2026-03-08")], "2026-03-30", "over a weekend only: no business days"),
    ([("2026-03-02", "2026-03-03")], "2026-03-31", "asked on the start day: 3 Mar does not count"),
    ([("2026-03-27", "2026-03-31")], "2026-04-01",
     "asked on the 19th day (27 Mar counts), answered 31 Mar: the 20th is 1 Apr"),
    ([("2026-03-30", "2026-04-07")], "2026-03-30", "asked on the last day: the term had run"),
    ([("2026-03-31", "2026-04-02")], "2026-03-30", "asked after the deadline: nothing changes"),
    ([("2026-03-10", None)], None, "an open suspension: no deadline while the clock is stopped"),
    ([("2026-03-05", "2026-03-06"), ("2026-03-20", None)], None, "a closed and an open one"),
    ([("2026-03-31", None)], "2026-03-30", "opened after the deadline: the term had run"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("periods", "expected", "why"), SUSPENSIONS, ids=[row[2] for row in SUSPENSIONS]
)
def test_deadline_with_suspensions(periods, expected, why):
    suspensions = [(d(begin), d(end) if end else None) for begin, end in periods]
    due = calendar("MD").deadline(START, DAYS, suspensions)
    assert due == (d(expected) if expected else None), why
    if due is not None:
        assert calendar("MD").business_days_counted(START, due, suspensions) == DAYS


def test_the_day_a_suspension_begins_counts_and_the_day_it_ends_does_not():
    business = calendar("MD")
    asked, answered = d("2026-03-10"), d("2026-03-17")  # Tuesday to Tuesday
    suspension = [(asked, answered)]
    counted_on_asking = business.business_days_counted(START, asked, suspension)
    assert counted_on_asking == 6  # 3, 4, 5, 6, 9 and 10 Mar: the day of the request counts
    assert business.business_days_counted(START, answered, suspension) == 6  # 11-17 Mar do not
    assert business.business_days_counted(START, d("2026-03-18"), suspension) == 7  # resumes
    # While suspended, the term has 14 business days left.
    assert DAYS - business.business_days_counted(START, asked, [(asked, None)]) == 14


def test_the_citizen_has_ten_business_days_to_answer():
    # RD 951/2005: asked on Tue 10 Mar 2026, the citizen may answer up to Tue 24 Mar.
    assert calendar("MD").add_business_days(d("2026-03-10"), 10) == d("2026-03-24")
    # ... and over Easter in Madrid, from Fri 27 Mar: 30, 31 Mar, 1, 6-10, 13, 14 Apr.
    assert calendar("MD").add_business_days(d("2026-03-27"), 10) == d("2026-04-14")


def test_impossible_suspensions_are_refused():
    with pytest.raises(ValueError, match="before it begins"):
        calendar().deadline(START, DAYS, [(d("2026-03-10"), d("2026-03-09"))])
    with pytest.raises(ValueError, match="before the term"):
        calendar().deadline(START, DAYS, [(d("2026-03-01"), d("2026-03-05"))])


# --- Business days left and the traffic light ------------------------------------------------

# (community, deadline, today, business days left, state, why)
TRAFFIC_LIGHT = [
    ("MD", "2026-03-20", "2026-03-09", 9, DeadlineState.ON_TIME, "10-13 and 16-20 Mar"),
    ("MD", "2026-03-20", "2026-03-12", 6, DeadlineState.ON_TIME, "six left: still green"),
    ("MD", "2026-03-20", "2026-03-13", 5, DeadlineState.DUE_SOON, "five left: amber"),
    ("MD", "2026-03-20", "2026-03-15", 5, DeadlineState.DUE_SOON, "on Sunday, still five"),
    ("MD", "2026-03-20", "2026-03-19", 1, DeadlineState.DUE_SOON, "tomorrow is the last day"),
    ("MD", "2026-03-20", "2026-03-20", 0, DeadlineState.DUE_SOON, "today is the last day"),
    ("MD", "2026-03-20", "2026-03-21", -1, DeadlineState.OVERDUE, "Saturday after: overdue"),
    ("MD", "2026-03-20", "2026-03-23", -1, DeadlineState.OVERDUE, "Monday after: 1 day late"),
    ("MD", "2026-03-20", "2026-03-24", -2, DeadlineState.OVERDUE, "Tuesday after: 2 days late"),
    ("MD", "2025-05-07", "2025-04-28", 5, DeadlineState.DUE_SOON,
     "Madrid: 1 and 2 May do not count (29, 30 Apr, 5, 6, 7 May)"),
    ("CT", "2025-05-07", "2025-04-28", 6, DeadlineState.ON_TIME,
     "Catalunya: 2 May counts (29, 30 Apr, 2, 5, 6, 7 May)"),
    ("MD", "2026-04-08", "2026-04-03", 3, DeadlineState.DUE_SOON,
     "counting from a holiday: 6, 7, 8 Apr"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("subdivision", "deadline", "today", "left", "state", "why"),
    TRAFFIC_LIGHT,
    ids=[f"{row[0]}-{row[1]}-on-{row[2]}" for row in TRAFFIC_LIGHT],
)
def test_business_days_left_and_traffic_light(subdivision, deadline, today, left, state, why):
    business = calendar(subdivision)
    assert business.business_days_left(d(deadline), d(today)) == left, why
    assert business.deadline_state(d(deadline), d(today)) == state, why


def test_traffic_light_without_a_deadline_and_with_another_threshold():
    business = calendar("MD")
    assert business.deadline_state(None, d("2026-03-10")) == DeadlineState.SUSPENDED
    assert business.deadline_state(d("2026-03-20"), d("2026-03-12"), due_soon_days=6) == (
        DeadlineState.DUE_SOON
    )
    assert business.deadline_state(d("2026-03-20"), d("2026-03-12")) == DeadlineState.ON_TIME


def test_today_is_the_date_in_the_body_time_zone():
    business = calendar("CN", time_zone="Atlantic/Canary")
    before = datetime.now(CANARY).date()
    today = business.today()
    assert today in {before, datetime.now(CANARY).date()}  # (unless midnight passed between)


# --- Properties, checked over three years -------------------------------------------------------


@pytest.mark.django_db
def test_add_business_days_always_lands_on_a_business_day_and_agrees_with_between():
    LocalHoliday.objects.create(municipality="Madrid", date=d("2026-05-15"), name="San Isidro")
    LocalHoliday.objects.create(municipality="Barcelona", date=d("2026-09-24"), name="La Mercè")
    calendars = [
        calendar("MD", "Madrid"),
        calendar("CT", "Barcelona"),
        calendar("CN", time_zone="Atlantic/Canary"),
    ]
    for business in calendars:
        start = d("2025-01-01")
        while start <= d("2027-11-30"):
            for days in (1, 2, 5, 10, 20):
                end = business.add_business_days(start, days)
                assert business.is_business_day(end), (business, start, days)
                assert business.business_days_between(start, end) == days
                # ... and it is the first such day: the day before has one day fewer.
                assert business.business_days_between(start, end - timedelta(days=1)) == days - 1
                assert business.business_days_between(end, start) == -days
            start += timedelta(days=1)


def test_deadlines_with_random_suspensions_agree_with_the_days_counted():
    business = calendar("MD")
    chance = random.Random(20151001)  # Ley 39/2015 came into force on 2 Oct 2016: any seed
    for _ in range(400):
        start = d("2025-01-01") + timedelta(days=chance.randrange(900))
        days = chance.choice((1, 5, 10, 20, 30))
        suspensions = []
        for _ in range(chance.randrange(3)):
            begin = start + timedelta(days=chance.randrange(40))
            suspensions.append((begin, begin + timedelta(days=chance.randrange(20))))
        due = business.deadline(start, days, suspensions)
        assert business.is_business_day(due)
        assert not any(begin < due <= end for begin, end in suspensions)
        assert business.business_days_counted(start, due, suspensions) == days
        assert business.business_days_counted(start, due - timedelta(days=1), suspensions) == (
            days - 1
        )
        suspended = sum(
            business.is_business_day(day) and any(b < day <= e for b, e in suspensions)
            for day in (start + timedelta(days=n) for n in range(1, (due - start).days + 1))
        )
        # The suspensions push the deadline by exactly the business days they covered.
        assert business.add_business_days(start, days + suspended) == due


# --- Settings ----------------------------------------------------------------------------------


def test_holidays_subdivision_is_validated_at_start_up():
    result = django_setup({"HOLIDAYS_SUBDIVISION": "Madrid"})
    assert result.returncode != 0
    assert "ImproperlyConfigured: HOLIDAYS_SUBDIVISION must be one of [" in result.stderr
    assert "'MD'" in result.stderr


def test_holidays_settings_are_read():
    assert settings_value(
        {"HOLIDAYS_SUBDIVISION": "CN", "BODY_MUNICIPALITY": "Santa Cruz de Tenerife"},
        "[settings.HOLIDAYS_SUBDIVISION, settings.BODY_MUNICIPALITY]",
    ) == ["CN", "Santa Cruz de Tenerife"]


# --- The administration ------------------------------------------------------------------------


@pytest.mark.django_db
def test_administrators_enter_local_holidays_and_it_is_audited(client_for):
    client = client_for("administrator")
    url = reverse("admin:crm_localholiday_add")
    data = {"municipality": "Madrid", "date": "2026-05-15", "name": "San Isidro"}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    holiday = LocalHoliday.objects.get()
    assert (holiday.municipality, holiday.date, holiday.name) == (
        "Madrid",
        d("2026-05-15"),
        "San Isidro",
    )
    event = AuditEvent.objects.get(object_type="crm.localholiday", object_id=str(holiday.pk))
    assert event.action == "create"
    assert event.changes["municipality"]["new"] == "Madrid"
    assert not calendar("MD", "Madrid").is_business_day(d("2026-05-15"))

    # The same municipality, written otherwise, on the same day: refused.
    response = client.post(url, {**data, "municipality": "MADRID", "name": "Otra"})
    assert response.status_code == 200
    assert LocalHoliday.objects.count() == 1
    assert response.context["adminform"].form.errors["municipality"]

    listing = client.get(reverse("admin:crm_localholiday_changelist"))
    assert listing.status_code == 200
    assert "San Isidro" in listing.content.decode()


@pytest.mark.django_db
def test_staff_without_the_administrator_role_cannot_enter_holidays(client_for):
    client = client_for("case_handler")
    response = client.get(reverse("admin:crm_localholiday_add"))
    assert response.status_code in {302, 403}
    assert LocalHoliday.objects.count() == 0


def test_business_days_between_is_a_count_of_business_days_over_any_span():
    """The count by whole weeks and holidays agrees with walking the days one by one, for spans
    of nothing to three years, starting on every day of a week around New Year."""
    calendar = BusinessCalendar("CT", municipalities=(), time_zone="Europe/Madrid")

    def walked(start, end):
        return sum(
            calendar.is_business_day(start + timedelta(days=offset))
            for offset in range(1, (end - start).days + 1)
        )

    start = date(2025, 12, 20)
    for first in range(9):
        for length in (*range(0, 30), 45, 100, 365, 366, 700, 1100):
            a = start + timedelta(days=first)
            b = a + timedelta(days=length)
            assert calendar.business_days_between(a, b) == walked(a, b), (a, b)
            assert calendar.business_days_between(b, a) == -walked(a, b), (a, b)


@pytest.mark.django_db
def test_calendars_of_one_request_read_the_version_once(monkeypatch, rf):
    """A page with a calendar per citizen's municipality (the queue) asks the shared cache for
    the local holidays' version once per request; the next request asks again."""
    from crm import calendar as calendar_module
    from crm.audit import AuditContextMiddleware

    reads = []

    class CountingCache:
        def __getattr__(self, name):
            return getattr(cache, name)

        def get_or_set(self, key, *args, **kwargs):
            reads.append(key)
            return cache.get_or_set(key, *args, **kwargs)

    monkeypatch.setattr(calendar_module, "cache", CountingCache())

    def page(request):
        for place in ("Madrid", "Getafe", "Alcalá de Henares", "Toledo"):
            assert not calendar("MD", place).is_business_day(d("2026-05-01"))
        return None

    middleware = AuditContextMiddleware(page)
    middleware(rf.get("/cases/"))
    assert len(reads) == 1
    middleware(rf.get("/cases/"))
    assert len(reads) == 2
    # Outside a request (a task), every calendar reads it.
    calendar("MD", "Madrid").is_business_day(d("2026-05-04"))
    calendar("MD", "Getafe").is_business_day(d("2026-05-04"))
    assert len(reads) == 4


@pytest.mark.django_db(transaction=True)
def test_a_holiday_saved_during_a_request_is_seen_by_its_next_calendars(rf):
    from crm.audit import AuditContextMiddleware

    seen = []

    def page(request):
        seen.append(calendar("MD", "Madrid").is_business_day(d("2026-05-15")))
        LocalHoliday.objects.create(municipality="Madrid", date=d("2026-05-15"), name="San Isidro")
        seen.append(calendar("MD", "Madrid").is_business_day(d("2026-05-15")))

    AuditContextMiddleware(page)(rf.get("/admin/"))
    assert seen == [True, False]
