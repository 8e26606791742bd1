"""Business days to answer, stored on the case by the answer service and by the backfill of
migration cases/0006, and ``reports.case_stats.answer_summary`` over them.

Every expected count was made by hand on the 2026 calendar of Madrid (the comments show it).
"""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case
from crm.models import LocalHoliday
from reports.case_stats import AnswerSummary, answer_summary
from tests.cases.test_bench_data import data  # noqa: F401 (the bench data fixture)

from .helpers_annual import answer, file, madrid, suspend

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_documents(monkeypatch):
    """The receipt and answer documents are not what these tests look at."""
    from cases import tasks

    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)
    monkeypatch.setattr(tasks.issue_answer, "delay", lambda case_id: None)


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",))


@pytest.fixture
def answered(handler):
    """Five answered complaints (20 business days each) and one still open."""
    cases = {}
    # Mon 2 Feb: Feb 3-6 (4), 9-13 (9), 16-20 (14), 23-27 (19). Due Mon 2 Mar: on time.
    cases["19 days"] = answer(file(madrid(2026, 2, 2, 10)), handler, madrid(2026, 2, 27, 12))
    # ... Mar 2 (20), Tue 3 Mar (21): late.
    cases["21 days"] = answer(file(madrid(2026, 2, 2, 10)), handler, madrid(2026, 3, 3, 9))
    # Wed 1 Apr; Thu 2 and Fri 3 Apr are Easter holidays in Madrid, 4-5 a weekend: Mon 6 is 1.
    cases["Easter"] = answer(file(madrid(2026, 4, 1, 9)), handler, madrid(2026, 4, 6, 9))
    # Mon 2 Feb, asked Wed 4 (Feb 3, 4 count: 2), replied Wed 11 (Feb 5, 6, 9, 10, 11 stopped),
    # then 12, 13 (4), 16-20 (9), 23-27 (14), Mar 2-6 (19): answered Fri 6 Mar with 19 days
    # taken; the due date moved from Mon 2 to Mon 9 Mar: on time.
    suspended = file(madrid(2026, 2, 2, 10))
    suspend(suspended, handler, date(2026, 2, 4), date(2026, 2, 11))
    cases["suspended"] = answer(suspended, handler, madrid(2026, 3, 6, 13))
    # Fri 30 Jan: Feb 2-6 (5), 9-13 (10), 16-20 (15), 23-27 (20): due Fri 27 Feb. Answered Sat
    # 28 Feb: no business day more (20), but after the last day of the term: late.
    cases["Saturday"] = answer(file(madrid(2026, 1, 30, 10)), handler, madrid(2026, 2, 28, 10))
    cases["open"] = file(madrid(2026, 2, 2, 10))
    return cases


def test_the_answer_service_stores_the_business_days_and_the_term(answered):
    got = {name: (case.answer_days, case.answered_on_time) for name, case in answered.items()}
    assert got == {
        "19 days": (19, True),
        "21 days": (21, False),
        "Easter": (1, True),
        "suspended": (19, True),
        "Saturday": (20, False),
        "open": (None, None),
    }
    assert answered["suspended"].due_date == date(2026, 3, 9)


def test_a_local_holiday_of_the_citizen_does_not_count(handler):
    """Mon 24 Aug is a holiday in Alcalá (art. 30.6): from Fri 21 Aug to Fri 28 Aug, 4 days."""
    LocalHoliday.objects.create(municipality="Alcalá de Henares", date=date(2026, 8, 24), name="x")
    here = answer(
        file(madrid(2026, 8, 21, 10), municipality="Alcalá de Henares"),
        handler,
        madrid(2026, 8, 28, 10),
    )
    elsewhere = answer(file(madrid(2026, 8, 21, 10)), handler, madrid(2026, 8, 28, 10))
    assert (here.answer_days, elsewhere.answer_days) == (4, 5)


def test_answer_summary_exact_figures_in_one_query(answered):
    with CaptureQueriesContext(connection) as queries:
        summary = answer_summary(Case.objects.all())
    assert len(queries) == 1
    # Days 1, 19, 19, 20, 21: median 19; p90 at position 0.9 * 4 = 3.6: 20 + 0.6 * (21 - 20).
    assert summary == AnswerSummary(
        answered=5, on_time=3, share_on_time=0.6, median_days=19.0, p90_days=pytest.approx(20.6)
    )
    # Over a narrower QuerySet: only February's filings that were answered (19, 21, 19).
    february = answer_summary(Case.objects.filter(filed_at__month=2))
    assert february == AnswerSummary(
        answered=3,
        on_time=2,
        share_on_time=pytest.approx(2 / 3),
        median_days=19.0,
        p90_days=pytest.approx(20.6),
    )


def test_answer_summary_of_nothing_answered(answered):
    assert answer_summary(Case.objects.filter(pk=answered["open"].pk)) == AnswerSummary(
        answered=0, on_time=0, share_on_time=None, median_days=None, p90_days=None
    )
    assert answer_summary(Case.objects.none()) == AnswerSummary(0, 0, None, None, None)


def test_the_migration_backfills_what_the_service_stores(answered):
    """Cases answered before migration 0006 get the same figures the service gives."""
    migration = importlib.import_module("cases.migrations.0006_case_answer_days")
    expected = dict(Case.objects.values_list("pk", "answer_days"))
    on_time = dict(Case.objects.values_list("pk", "answered_on_time"))
    Case.objects.update(answer_days=None, answered_on_time=None)

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.backfill_answer_days(apps, editor)
    assert dict(Case.objects.values_list("pk", "answer_days")) == expected
    assert dict(Case.objects.values_list("pk", "answered_on_time")) == on_time
    assert expected[answered["suspended"].pk] == 19


@pytest.mark.usefixtures("data")
def test_the_bench_data_stores_what_the_service_would():
    """The bench generator writes cases in SQL, bypassing the services: its answered cases get
    the business days and term the service would give them."""
    from cases.clock import case_calendar, filing_date
    from cases.services import answer_timing

    answered = list(Case.objects.filter(answered_at__isnull=False).prefetch_related("suspensions"))
    assert len(answered) > 100
    late = 0
    for case in answered:
        calendar = case_calendar(case)
        expected = answer_timing(
            calendar,
            filed_on=filing_date(case, calendar),
            answered_on=case.answered_at.astimezone(calendar.time_zone).date(),
            deadline_days=case.deadline_days,
            suspensions=[(s.started_on, s.ended_on) for s in case.suspensions.all()],
        )
        assert (case.answer_days, case.answered_on_time) == expected, case.registry_number
        late += not case.answered_on_time
    assert Case.objects.filter(answered_at__isnull=True, answer_days__isnull=False).count() == 0
    assert 0 <= late < len(answered)
