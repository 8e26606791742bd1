"""What the staff pages of cases share: the traffic light of a deadline, and the filer's name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from cases.models import Case
from crm.calendar import BusinessCalendar, DeadlineState, state_for_days_left

# How each state of the traffic light looks: never colour alone, always an icon and a word.
LIGHTS = {
    DeadlineState.ON_TIME: ("check-circle-fill", "text-bg-success", _("On time")),
    DeadlineState.DUE_SOON: ("exclamation-triangle-fill", "text-bg-warning", _("Due soon")),
    DeadlineState.OVERDUE: ("x-octagon-fill", "text-bg-danger", _("Overdue")),
    DeadlineState.SUSPENDED: ("pause-circle-fill", "text-bg-secondary", _("Suspended")),
}


@dataclass(frozen=True)
class Deadline:
    """A case's traffic light and business days left (on ``today``)."""

    state: str  # a DeadlineState, or "" once the case owes no answer
    days_left: int | None

    @property
    def icon(self) -> str:
        return LIGHTS[self.state][0] if self.state else ""

    @property
    def css(self) -> str:
        return LIGHTS[self.state][1] if self.state else ""

    @property
    def label(self) -> str:
        return str(LIGHTS[self.state][2]) if self.state else ""

    @property
    def days_text(self) -> str:
        if self.days_left is None:
            return ""
        if self.days_left < 0:
            late = -self.days_left
            return ngettext("%(days)d business day late", "%(days)d business days late", late) % {
                "days": late
            }
        return ngettext(
            "%(days)d business day left", "%(days)d business days left", self.days_left
        ) % {"days": self.days_left}

    @property
    def badge(self) -> SafeString:
        """The traffic light as HTML: an icon and a word on a coloured badge (never colour
        alone), and the business days left. Built here rather than by an included template:
        the queue shows fifty of them a page."""
        if not self.state:
            return format_html(
                '<span class="text-body-secondary">{}</span>', gettext("No deadline running")
            )
        badge = format_html(
            '<span class="badge {} crm-deadline" data-state="{}">'
            '<i class="bi bi-{}" aria-hidden="true"></i> {}</span>',
            self.css,
            self.state,
            self.icon,
            self.label,
        )
        days = self.days_text
        if not days:
            return badge
        return format_html('{} <span class="small text-nowrap">{}</span>', badge, days)


class Calendars:
    """The calendars of a page's cases, one per citizen's municipality (a calendar reads the
    local holidays' version once: a page of 50 cases makes a handful, not 50)."""

    def __init__(self, today: date | None = None) -> None:
        self._calendars: dict[str, BusinessCalendar] = {}
        # A page's cases share few due dates: each (municipality, due date) is counted once.
        self._deadlines: dict[tuple[str, date], Deadline] = {}
        self.today = today or self.body().today()

    def body(self) -> BusinessCalendar:
        return self.for_municipality("")

    def for_municipality(self, municipality: str) -> BusinessCalendar:
        calendar = self._calendars.get(municipality)
        if calendar is None:
            calendar = BusinessCalendar(citizen_municipality=municipality or None)
            self._calendars[municipality] = calendar
        return calendar

    def deadline(self, case: Case) -> Deadline:
        """What cases.clock.deadline_state and business_days_left say, with shared calendars."""
        if not case.is_open:
            return Deadline(state="", days_left=None)
        if not case.clock_running or case.due_date is None:
            return Deadline(state=DeadlineState.SUSPENDED, days_left=None)
        municipality = (case.filer or {}).get("municipality") or ""
        key = (municipality, case.due_date)
        deadline = self._deadlines.get(key)
        if deadline is None:
            left = self.for_municipality(municipality).business_days_left(case.due_date, self.today)
            deadline = Deadline(state=state_for_days_left(left), days_left=left)
            self._deadlines[key] = deadline
        return deadline


def filer_name(case: Case) -> str:
    """The filer's name as identified when filing (the registry's record)."""
    filer = case.filer or {}
    return " ".join(
        part
        for part in (
            filer.get("given_name", ""),
            filer.get("first_surname", ""),
            filer.get("second_surname", ""),
        )
        if part
    )
