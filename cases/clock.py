"""The legal clock of a case (crm.calendar applied to cases.models.Case).

A case's term (``deadline_days`` business days) counts from the day after its official filing
date (Ley 39/2015, arts. 30.3 and 31.2), in the calendar of the body plus the local holidays of
the citizen's municipality (art. 30.6), and stops while the case waits for the citizen
(``CaseSuspension``). ``refresh_clock`` stores the result on the case: ``due_date`` (None while
stopped) and ``due_soon_from``, the day the traffic light turns amber, so that the queue filters
by deadline state with an index range instead of a computation per row.
"""

from __future__ import annotations

from datetime import date

from crm.calendar import DUE_SOON_DAYS, ONE_DAY, BusinessCalendar, DeadlineState, Suspension

from .models import Case


def case_calendar(case: Case) -> BusinessCalendar:
    """The body's calendar plus the holidays where the citizen lives, as they gave it."""
    return BusinessCalendar(citizen_municipality=(case.filer or {}).get("municipality") or None)


def filing_date(case: Case, calendar: BusinessCalendar) -> date:
    return case.official_filed_at.astimezone(calendar.time_zone).date()


def suspensions(case: Case) -> list[Suspension]:
    if case.pk is None:
        return []
    return [(s.started_on, s.ended_on) for s in case.suspensions.all()]


def business_days_before(calendar: BusinessCalendar, day: date, days: int) -> date:
    """The ``days``-th business day before ``day`` (``day`` itself for 0)."""
    for _count in range(days):
        day -= ONE_DAY
        while not calendar.is_business_day(day):
            day -= ONE_DAY
    return day


def refresh_clock(case: Case, calendar: BusinessCalendar | None = None) -> None:
    """Recompute ``due_date`` and ``due_soon_from`` from the filing date, the term and the
    suspensions (the caller saves the case)."""
    calendar = calendar or case_calendar(case)
    due = calendar.deadline(filing_date(case, calendar), case.deadline_days, suspensions(case))
    case.due_date = due
    case.due_soon_from = business_days_before(calendar, due, DUE_SOON_DAYS) if due else None


def business_days_left(case: Case, today: date | None = None) -> int | None:
    """Business days left to answer (negative once overdue); None while the clock is stopped
    or once the case no longer owes an answer."""
    if not case.clock_running or case.due_date is None:
        return None
    return case_calendar(case).business_days_left(case.due_date, today)


def deadline_state(case: Case, today: date | None = None) -> DeadlineState | None:
    """The traffic light of an open case (None once answered or closed)."""
    if not case.is_open:
        return None
    if not case.clock_running:
        return DeadlineState.SUSPENDED
    return case_calendar(case).deadline_state(case.due_date, today)
