"""The legal clock of cases (cases.clock over crm.calendar), through the services that file and
suspend them: deadlines across weekends, national, regional (Madrid, Catalonia) and local
holidays, a year change and suspensions; the official time of a filing on a non-business day;
the traffic light, where the queue's SQL (``CaseQuerySet.deadline_state``) and the case page's
Python (``cases.clock.deadline_state``) must always agree.

Every expected date below was counted by hand on a calendar (the comments show the count), not
computed with the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from cases.clock import business_days_left, deadline_state, refresh_clock
from cases.models import Case, CaseStatus, CaseType
from cases.services import (
    Filer,
    case_answer,
    case_assign,
    case_citizen_reply,
    case_file,
    case_request_information,
    case_resume_unanswered,
)
from crm.calendar import BusinessCalendar, DeadlineState
from crm.models import LocalHoliday, Unit

pytestmark = pytest.mark.django_db

MADRID = ZoneInfo("Europe/Madrid")
UTC = ZoneInfo("UTC")


def madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


@pytest.fixture(autouse=True)
def no_receipts(monkeypatch):
    """The receipts' task is not what these tests look at: nothing is queued."""
    from cases import tasks

    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)


def file_case(
    filed_at: datetime,
    *,
    days: int = 20,
    municipality: str = "",
    unit: Unit | None = None,
    email: str = "ana@example.org",
) -> Case:
    case_type = CaseType.objects.get(code="queja")
    if case_type.deadline_days != days:
        CaseType.objects.filter(pk=case_type.pk).update(deadline_days=days)
        case_type.refresh_from_db()
    filer = Filer(
        given_name="Ana",
        first_surname="Ruiz",
        email=email,
        street="Calle Mayor",
        street_number="1",
        postcode="28801",
        municipality=municipality,
    )
    return case_file(
        case_type=case_type,
        filer=filer,
        subject="Farola apagada",
        text="La farola de la calle Mayor lleva una semana apagada.",
        unit=unit,
        filed_at=filed_at,
    ).case


@dataclass(frozen=True)
class Row:
    """One case of the table: where the body sits, the citizen's municipality, the local
    holidays entered, when it was filed and its term; the official time and due date."""

    name: str
    filed_at: datetime
    official: datetime
    due: date
    days: int = 20
    subdivision: str = "MD"
    body_municipality: str = ""
    citizen_municipality: str = ""
    local_holidays: tuple[tuple[str, date], ...] = field(default=())


TABLE = [
    # Mon 2 Feb 2026: counting starts Tue 3; Feb 3-6 (4), 9-13 (9), 16-20 (14), 23-27 (19), Mar 2.
    Row("weekdays only", madrid(2026, 2, 2, 10), madrid(2026, 2, 2, 10), date(2026, 3, 2)),
    # Sat 7 Feb counts as Mon 9 at 00:00; Feb 10-13 (4), 16-20 (9), 23-27 (14), Mar 2-6 (19), 9.
    Row("filed on a Saturday", madrid(2026, 2, 7, 12), madrid(2026, 2, 9), date(2026, 3, 9)),
    # Fri 6 Feb 23:30 UTC is Sat 00:30 in Madrid: the body's time decides.
    Row(
        "Friday night UTC is Saturday in Madrid",
        datetime(2026, 2, 6, 23, 30, tzinfo=UTC),
        madrid(2026, 2, 9),
        date(2026, 3, 9),
    ),
    # Easter in Madrid: Thu 2 and Fri 3 Apr, then Labour Day Fri 1 May. From Thu 2 Apr: 2, 3
    # holidays; Apr 6-10 (5), 13-17 (10), 20-24 (15), 27-30 (19), May 1 holiday, Mon 4 (20).
    Row("Easter and Labour Day, Madrid", madrid(2026, 4, 1, 9), madrid(2026, 4, 1, 9),
        date(2026, 5, 4)),
    # Catalonia: Thu 2 counts (1), Fri 3 and Easter Monday 6 do not; Apr 7-10 (5), 13-17 (10),
    # 20-24 (15), 27-30 (19), May 1 holiday, Mon 4 (20).
    Row("Easter and Labour Day, Catalonia", madrid(2026, 4, 1, 9), madrid(2026, 4, 1, 9),
        date(2026, 5, 4), subdivision="CT"),
    # Mon 15 Jun: Jun 16-19 (4), 22-26 (9), Jun 29-Jul 3 (14), Jul 6-10 (19), Mon 13 Jul (20).
    Row("June, Madrid", madrid(2026, 6, 15, 10), madrid(2026, 6, 15, 10), date(2026, 7, 13)),
    # ... and in Catalonia Sant Joan (Wed 24 Jun) does not count: Tue 14 Jul.
    Row("Sant Joan, Catalonia", madrid(2026, 6, 15, 10), madrid(2026, 6, 15, 10),
        date(2026, 7, 14), subdivision="CT"),
    # 5 days from Mon 7 Sep: 8, 9, 10 (3), Fri 11 Diada in Catalonia only, 14 (4), 15 (5).
    Row("Diada, Catalonia", madrid(2026, 9, 7, 10), madrid(2026, 9, 7, 10), date(2026, 9, 15),
        days=5, subdivision="CT"),
    Row("no Diada in Madrid", madrid(2026, 9, 7, 10), madrid(2026, 9, 7, 10), date(2026, 9, 14),
        days=5),
    # All Saints' 2026 is a Sunday: Madrid moves it to Mon 2 Nov, Catalonia does not. 3 days
    # from Fri 30 Oct: Madrid 3, 4, 5; Catalonia 2, 3, 4.
    Row("All Saints' moved, Madrid", madrid(2026, 10, 30, 10), madrid(2026, 10, 30, 10),
        date(2026, 11, 5), days=3),
    Row("All Saints' not moved, Catalonia", madrid(2026, 10, 30, 10), madrid(2026, 10, 30, 10),
        date(2026, 11, 4), days=3, subdivision="CT"),
    # San Isidro (Fri 15 May), a local holiday where the body sits. 5 days from Mon 11 May:
    # 12, 13, 14 (3), 15 holiday, 18 (4), 19 (5).
    Row("local holiday of the body", madrid(2026, 5, 11, 10), madrid(2026, 5, 11, 10),
        date(2026, 5, 19), days=5, body_municipality="Madrid",
        local_holidays=(("Madrid", date(2026, 5, 15)),)),
    # A local holiday where the citizen lives (art. 30.6), matched without case or accents:
    # from Fri 21 Aug, Mon 24 is a holiday in Alcalá; 25-28 (4), 31 (5).
    Row("local holiday of the citizen", madrid(2026, 8, 21, 10), madrid(2026, 8, 21, 10),
        date(2026, 8, 31), days=5, citizen_municipality="ALCALA DE HENARES",
        local_holidays=(("Alcalá de Henares", date(2026, 8, 24)),)),
    # ... and one of a third municipality changes nothing: 24-28 Aug, due Fri 28.
    Row("local holiday elsewhere", madrid(2026, 8, 21, 10), madrid(2026, 8, 21, 10),
        date(2026, 8, 28), days=5, citizen_municipality="Getafe",
        local_holidays=(("Alcalá de Henares", date(2026, 8, 24)),)),
    # The body's local holiday makes a filing on it count from the next business day.
    Row("filed on the body's local holiday", madrid(2026, 5, 15, 11), madrid(2026, 5, 18),
        date(2026, 5, 25), days=5, body_municipality="Madrid",
        local_holidays=(("Madrid", date(2026, 5, 15)),)),
    # Year change: from Mon 21 Dec 2026, Dec 22-24 (3), 25 holiday, 28-31 (7), Jan 1 holiday,
    # Jan 4-5 (9), 6 holiday, 7-8 (11), 11-15 (16), 18-21 (20).
    Row("year change, Madrid", madrid(2026, 12, 21, 10), madrid(2026, 12, 21, 10),
        date(2027, 1, 21)),
    Row("year change, Catalonia", madrid(2026, 12, 21, 10), madrid(2026, 12, 21, 10),
        date(2027, 1, 21), subdivision="CT"),
    # New Year's Eve at 23:30 in Madrid is still a business day of 2026 ...: Jan 1 holiday,
    # Jan 4, 5 (2), 6 holiday, 7, 8 (4), 11 (5).
    Row("New Year's Eve, late", madrid(2026, 12, 31, 23, 30), madrid(2026, 12, 31, 23, 30),
        date(2027, 1, 11), days=5),
    # ... and half an hour later it is New Year's Day: counts as Mon 4 Jan 2027 at 00:00;
    # 5 (1), 6 holiday, 7, 8 (3), 11, 12 (5).
    Row("New Year's Day", datetime(2026, 12, 31, 23, 30, tzinfo=UTC), madrid(2027, 1, 4),
        date(2027, 1, 12), days=5),
]  # fmt: skip


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.name)
def test_deadlines_table(row, units):
    for municipality, day in row.local_holidays:
        LocalHoliday.objects.create(municipality=municipality, date=day, name="Fiesta local")
    with override_settings(
        HOLIDAYS_SUBDIVISION=row.subdivision, BODY_MUNICIPALITY=row.body_municipality
    ):
        case = file_case(row.filed_at, days=row.days, municipality=row.citizen_municipality)
        case.refresh_from_db()
        assert case.filed_at == row.filed_at
        assert case.official_filed_at == row.official
        assert case.due_date == row.due
        assert case.deadline_days == row.days
        # Recomputed from what was stored, the clock gives the same.
        refresh_clock(case)
        assert case.due_date == row.due


def test_filing_on_a_sunday_counts_from_monday_at_midnight(units):
    """Sun 8 Feb 2026 at 23:30 in Madrid (22:30 UTC): the registry keeps the real time; the
    official time is Mon 9 Feb at 00:00 and the 20 days count from Tue 10."""
    sunday = datetime(2026, 2, 8, 22, 30, tzinfo=UTC)
    case = file_case(sunday)
    case.refresh_from_db()
    assert case.filed_at == sunday
    assert case.official_filed_at == madrid(2026, 2, 9, 0, 0)
    assert case.official_filed_at.astimezone(MADRID).strftime("%a %H:%M") == "Mon 00:00"
    # Feb 10-13 (4), 16-20 (9), 23-27 (14), Mar 2-6 (19), Mon 9 Mar (20).
    assert case.due_date == date(2026, 3, 9)
    # The same filing on Monday at 09:00 counts from the same day.
    monday = file_case(madrid(2026, 2, 9, 9))
    assert monday.due_date == case.due_date
    # And the Friday before, at noon, a week earlier.
    friday = file_case(madrid(2026, 2, 6, 12))
    assert friday.official_filed_at == madrid(2026, 2, 6, 12)
    assert friday.due_date == date(2026, 3, 6)
    assert case.entries.get().created_at == sunday  # the history shows the real time


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",))


def routed_case(units, handler, filed_at=None) -> Case:
    """Filed Mon 2 Feb 2026 (due Mon 2 Mar in Madrid) and assigned to ``handler``."""
    case = file_case(filed_at or madrid(2026, 2, 2, 10), unit=units["urbanismo"])
    return case_assign(case=case, actor=handler, unit=units["urbanismo"], assignee=handler)


@pytest.mark.parametrize(
    ("asked", "replied", "stopped", "due"),
    [
        # Asked Wed 11, replied Fri 13 Feb: Thu 12 and Fri 13 do not count; two days later.
        (date(2026, 2, 11), date(2026, 2, 13), 2, date(2026, 3, 4)),
        # Asked Fri 13, replied Mon 16: only Monday stopped the clock.
        (date(2026, 2, 13), date(2026, 2, 16), 1, date(2026, 3, 3)),
        # Asked and answered the same day: nothing stopped.
        (date(2026, 2, 11), date(2026, 2, 11), 0, date(2026, 3, 2)),
        # Asked Fri 13, replied Sun 15: a suspension over the weekend stops nothing.
        (date(2026, 2, 13), date(2026, 2, 15), 0, date(2026, 3, 2)),
    ],
)
def test_a_reply_resumes_the_clock_with_the_days_that_were_left(
    units, handler, asked, replied, stopped, due
):
    case = routed_case(units, handler)
    assert case.due_date == date(2026, 3, 2)
    case_request_information(case=case, actor=handler, text="¿Qué farola?", today=asked)
    case.refresh_from_db()
    assert case.status == CaseStatus.WAITING
    assert case.due_date is None
    assert case.due_soon_from is None
    assert deadline_state(case) == DeadlineState.SUSPENDED
    assert business_days_left(case) is None
    assert Case.objects.deadline_state(DeadlineState.SUSPENDED, asked).filter(pk=case.pk).exists()

    case_citizen_reply(case=case, text="La del número 3", today=replied)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.due_date == due
    calendar = BusinessCalendar()
    assert calendar.business_days_between(date(2026, 3, 2), due) == stopped


def test_an_unanswered_request_gives_the_citizen_ten_days_then_runs_again(units, handler):
    case = routed_case(units, handler)
    case_request_information(
        case=case, actor=handler, text="Falta el lugar", today=date(2026, 2, 11)
    )
    case.refresh_from_db()
    # 10 business days from Wed 11 Feb: 12, 13, 16-20, 23, 24, 25.
    assert case.reply_due_date == date(2026, 2, 25)
    assert not case_resume_unanswered(case=case, today=date(2026, 2, 25))  # still their day
    assert case_resume_unanswered(case=case, today=date(2026, 2, 26))
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.reply_due_date is None
    # The ten days 12-25 Feb did not count: Mar 2 + 10 business days = Mon 16 Mar.
    assert case.due_date == date(2026, 3, 16)
    assert (case.suspensions.get().started_on, case.suspensions.get().ended_on) == (
        date(2026, 2, 11),
        date(2026, 2, 25),
    )


def test_two_suspensions_add_up(units, handler):
    case = routed_case(units, handler)
    case_request_information(case=case, actor=handler, text="Uno", today=date(2026, 2, 4))
    case_citizen_reply(case=case, text="Respuesta uno", today=date(2026, 2, 6))  # Thu 5, Fri 6
    case_request_information(case=case, actor=handler, text="Dos", today=date(2026, 2, 16))
    case_citizen_reply(case=case, text="Respuesta dos", today=date(2026, 2, 19))  # 17, 18, 19
    case.refresh_from_db()
    # Mar 2 + 5 business days: 3, 4, 5, 6, 9.
    assert case.due_date == date(2026, 3, 9)
    assert case.suspensions.count() == 2


@pytest.mark.parametrize(
    ("today", "left", "state"),
    [
        # Due Mon 2 Mar 2026. Fri 20 Feb: Feb 23-27 and Mar 2 are left (6): on time.
        (date(2026, 2, 20), 6, DeadlineState.ON_TIME),
        # Sun 22 Feb: the same six.
        (date(2026, 2, 22), 6, DeadlineState.ON_TIME),
        # Mon 23 Feb: five left, amber.
        (date(2026, 2, 23), 5, DeadlineState.DUE_SOON),
        (date(2026, 2, 27), 1, DeadlineState.DUE_SOON),
        (date(2026, 2, 28), 1, DeadlineState.DUE_SOON),  # Saturday: Monday is still left
        (date(2026, 3, 2), 0, DeadlineState.DUE_SOON),  # the last day
        (date(2026, 3, 3), -1, DeadlineState.OVERDUE),
        (date(2026, 3, 9), -5, DeadlineState.OVERDUE),
    ],
)
def test_the_traffic_light(units, today, left, state):
    case = file_case(madrid(2026, 2, 2, 10))
    assert case.due_date == date(2026, 3, 2)
    assert case.due_soon_from == date(2026, 2, 23)
    assert business_days_left(case, today) == left
    assert deadline_state(case, today) == state
    assert list(Case.objects.deadline_state(state, today)) == [case]


def test_due_soon_from_is_five_business_days_before_the_due_date(units):
    # Due Mon 4 May 2026 (Easter, Labour Day): back over Fri 1 May, Apr 30 (1), 29, 28, 27 (4),
    # Fri 24 Apr (5).
    case = file_case(madrid(2026, 4, 1, 9))
    assert (case.due_date, case.due_soon_from) == (date(2026, 5, 4), date(2026, 4, 24))
    # Due Thu 21 Jan 2027: back 20, 19, 18 (3), over the weekend, 15, 14 (5).
    case = file_case(madrid(2026, 12, 21, 10))
    assert (case.due_date, case.due_soon_from) == (date(2027, 1, 21), date(2027, 1, 14))
    # Due Tue 12 Jan 2027 with 5 days: back 11 (1), 8, 7 (3), over Epiphany (Wed 6), 5, 4 (5).
    case = file_case(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), days=5)
    assert (case.due_date, case.due_soon_from) == (date(2027, 1, 12), date(2027, 1, 4))


def test_every_due_soon_from_is_a_business_day_five_before(units):
    calendar = BusinessCalendar()
    start = madrid(2026, 11, 23, 10)
    for offset in range(0, 45, 2):
        case = file_case(start + timedelta(days=offset), days=5 + offset % 11)
        assert calendar.is_business_day(case.due_soon_from)
        assert calendar.business_days_between(case.due_soon_from, case.due_date) == 5


def test_sql_and_python_agree_on_every_day(units, make_user):
    """Cases filed on every day of six weeks around Christmas (weekends, holidays, the year
    change), with terms of 3 to 20 days, some suspended, answered or closed; on each of 70 days
    the queue's four filters hold exactly the cases the case page gives that state."""
    handler = make_user("case_handler", unit_codes=("urbanismo",))
    cases = []
    start = madrid(2026, 11, 20, 9)
    for offset in range(42):
        case = file_case(
            start + timedelta(days=offset, hours=offset % 15),
            days=(3, 5, 8, 20)[offset % 4],
            unit=units["urbanismo"],
        )
        cases.append(case)
    # A few that owe no answer any more, a few waiting for the citizen.
    for case in cases[::7]:
        case_answer(case=case, actor=handler, text="Respuesta")
    for case in cases[4::9]:
        asked = case.official_filed_at.astimezone(MADRID).date() + timedelta(days=1)
        case_request_information(case=case, actor=handler, text="¿Dónde?", today=asked)
    cases = list(Case.objects.select_related("case_type").order_by("pk"))
    statuses = {case.status for case in cases}
    assert {CaseStatus.RECEIVED, CaseStatus.ANSWERED, CaseStatus.WAITING} <= statuses

    seen: set[str] = set()
    for day in range(70):
        today = date(2026, 11, 20) + timedelta(days=day)
        python = {case.pk: deadline_state(case, today) for case in cases}
        for state in DeadlineState:
            in_sql = set(Case.objects.deadline_state(state, today).values_list("pk", flat=True))
            in_python = {pk for pk, light in python.items() if light == state}
            assert in_sql == in_python, (today, state)
            if in_sql:
                seen.add(state)
    assert seen == set(DeadlineState)  # every colour of the light was tried


def test_the_state_of_a_case_that_owes_no_answer(units, make_user):
    handler = make_user("case_handler", unit_codes=("urbanismo",))
    case = file_case(madrid(2026, 2, 2, 10), unit=units["urbanismo"])
    case_answer(case=case, actor=handler, text="Respuesta")
    case.refresh_from_db()
    assert deadline_state(case, date(2026, 3, 10)) is None
    assert business_days_left(case, date(2026, 3, 10)) is None
    for state in DeadlineState:
        assert not Case.objects.deadline_state(state, date(2026, 3, 10)).exists()


def test_the_queue_counts_each_citizens_days_left_in_their_own_calendar(units):
    """The queue's calendars (cases.views.common.Calendars) count a due date once per
    municipality: two cases due the same day, one of a citizen whose town has a holiday before
    it, have different business days left."""
    from cases.views.common import Calendars

    here = file_case(madrid(2026, 2, 2, 10))
    getafe = file_case(madrid(2026, 2, 2, 11), municipality="Getafe")
    assert here.due_date == getafe.due_date == date(2026, 3, 2)
    LocalHoliday.objects.create(municipality="Getafe", date=date(2026, 2, 25), name="Fiesta")

    calendars = Calendars(today=date(2026, 2, 23))
    assert calendars.deadline(here).days_left == 5
    assert calendars.deadline(getafe).days_left == 4
    assert calendars.deadline(here).state == DeadlineState.DUE_SOON
