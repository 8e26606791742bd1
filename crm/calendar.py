"""Business days and legal deadlines: Ley 39/2015, arts. 30 and 31; RD 951/2005.

``BusinessCalendar`` answers which days count (art. 30.2: Saturdays, Sundays and holidays do
not; art. 30.6: a holiday where the citizen lives *or* where the body sits does not count), when
a filing counts as made (art. 31.2: a filing on a non-business day counts as made at 00:00 of
the next business day, in the body's time zone) and when a deadline in business days falls,
with the clock stopped while the citizen is asked for more information (RD 951/2005; Ley
39/2015, art. 22.1.a). docs/deadlines.md describes the rules and this API.

National and regional holidays come from the ``holidays`` library; local ones
(``crm.models.LocalHoliday``) are entered by administrators. Both are kept in process memory:
the library's per (community, year), the local ones per year in one query, and their union per
(communities, municipalities, year). A change of local holidays is published through the shared
cache (a version token in Redis), so that every process (web, worker, beat) stops using what it
had remembered.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
import uuid
import weakref
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import LocalHoliday

COUNTRY = "ES"
# The traffic light turns amber when this many business days or fewer are left.
DUE_SOON_DAYS = 5
LOCAL_HOLIDAYS_VERSION_KEY = "crm:local-holidays:version"
ONE_DAY = timedelta(days=1)

# (S, R): the clock stops on the days after S up to and including R (R None: not resumed yet).
Suspension = tuple[date, date | None]


class DeadlineState(models.TextChoices):
    """The traffic light of a deadline."""

    ON_TIME = "on_time", _("on time")
    DUE_SOON = "due_soon", _("due soon")
    OVERDUE = "overdue", _("overdue")
    SUSPENDED = "suspended", _("suspended")


def state_for_days_left(left: int, due_soon_days: int = DUE_SOON_DAYS) -> DeadlineState:
    """The traffic light of a running deadline with ``left`` business days left (negative once
    it has passed): what ``BusinessCalendar.deadline_state`` says."""
    if left < 0:
        return DeadlineState.OVERDUE
    if left <= due_soon_days:
        return DeadlineState.DUE_SOON
    return DeadlineState.ON_TIME


@functools.cache
def spanish_subdivisions() -> tuple[str, ...]:
    """The codes the ``holidays`` library knows for Spain (autonomous communities, and cities)."""
    return tuple(holidays.country_holidays(COUNTRY).subdivisions)


_WORD = re.compile(r"\w+")


def normalise_municipality(name: str) -> str:
    """``"Alcalá de  Henares"`` → ``"alcala de henares"``: no case, accents or punctuation, so
    that a local holiday entered for one spelling applies to the other."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_WORD.findall(bare.casefold()))


# --- Holiday sets, remembered in process memory ---------------------------------------------


@functools.lru_cache(maxsize=512)
def regional_holidays(subdivision: str, year: int) -> frozenset[date]:
    """National and regional holidays of one community (or city the library knows) in a year."""
    return frozenset(holidays.country_holidays(COUNTRY, subdiv=subdivision, years=year))


def _load_local_holidays(year: int) -> dict[str, frozenset[date]]:
    """Every municipality's local holidays of a year, in one query, by normalised name."""
    days: dict[str, set[date]] = {}
    rows = LocalHoliday.objects.filter(date__year=year).values_list("municipality", "date")
    for municipality, day in rows:
        days.setdefault(normalise_municipality(municipality), set()).add(day)
    return {place: frozenset(dates) for place, dates in days.items()}


@functools.lru_cache(maxsize=64)
def _local_holidays(year: int, version: str) -> Mapping[str, frozenset[date]]:
    return _load_local_holidays(year)


def _union(
    subdivisions: frozenset[str],
    municipalities: frozenset[str],
    year: int,
    local: Mapping[str, frozenset[date]],
) -> frozenset[date]:
    days: set[date] = set()
    for subdivision in subdivisions:
        days |= regional_holidays(subdivision, year)
    for municipality in municipalities:
        days |= local.get(municipality, frozenset())
    return frozenset(days)


@functools.lru_cache(maxsize=1024)
def _holidays(
    subdivisions: frozenset[str], municipalities: frozenset[str], year: int, version: str
) -> frozenset[date]:
    return _union(subdivisions, municipalities, year, _local_holidays(year, version))


# --- Publishing changes of local holidays -----------------------------------------------------

# Set while this thread's open transaction has changed local holidays: what it reads then is
# nobody else's view, and must not be remembered.
_uncommitted = threading.local()


def local_holidays_changed(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Called on every save and deletion of a LocalHoliday (receivers in crm.models)."""
    if connections[using].in_atomic_block:
        _uncommitted.changed = True
    transaction.on_commit(_publish_local_holidays, using=using)


# The version read during the request being served (a weak reference to the request, and the
# version): a page that makes a calendar per citizen's municipality (the queue: one per row's
# municipality) reads the shared cache once, not once per calendar.
_request_version = threading.local()


def _publish_local_holidays() -> None:
    _uncommitted.changed = False
    _request_version.value = None
    cache.set(LOCAL_HOLIDAYS_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def _local_holidays_version() -> str | None:
    """The version of the committed local holidays, read once per request served; None while
    this thread's transaction has changed some (read them afresh and remember nothing)."""
    from crm.audit import current_request

    if getattr(_uncommitted, "changed", False):
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        _uncommitted.changed = False  # that transaction ended without committing
    request = current_request()
    remembered = getattr(_request_version, "value", None)
    if request is not None and remembered is not None and remembered[0]() is request:
        return remembered[1]
    version = cache.get_or_set(LOCAL_HOLIDAYS_VERSION_KEY, lambda: uuid.uuid4().hex, timeout=None)
    _request_version.value = (weakref.ref(request), version) if request is not None else None
    return version


def forget_holiday_caches() -> None:
    """Forget every remembered holiday set, here and (through the version) in every process."""
    _holidays.cache_clear()
    _local_holidays.cache_clear()
    regional_holidays.cache_clear()
    _uncommitted.changed = False
    _request_version.value = None
    cache.set(LOCAL_HOLIDAYS_VERSION_KEY, uuid.uuid4().hex, timeout=None)


# --- The calendar ---------------------------------------------------------------------------


class BusinessCalendar:
    """The business days for the body and, optionally, one citizen.

    ``BusinessCalendar()`` is the body's: its community (``HOLIDAYS_SUBDIVISION``), its
    municipality (``BODY_MUNICIPALITY``) and its time zone (``TIME_ZONE``). Pass
    ``citizen_municipality`` (as written in the citizen's address) and ``citizen_subdivision``
    to add the holidays where the citizen lives (art. 30.6). ``subdivision``,
    ``municipalities`` and ``time_zone`` replace the body's settings.

    A calendar reads the local holidays' version once: make one per request or task, not one
    per process.
    """

    def __init__(
        self,
        subdivision: str | None = None,
        municipalities: Iterable[str] | None = None,
        *,
        citizen_subdivision: str | None = None,
        citizen_municipality: str | None = None,
        time_zone: str | None = None,
    ) -> None:
        subdivisions = {subdivision or settings.HOLIDAYS_SUBDIVISION}
        if citizen_subdivision:
            subdivisions.add(citizen_subdivision)
        unknown = subdivisions - set(spanish_subdivisions())
        if unknown:
            raise ValueError(
                f"Unknown Spanish subdivisions {sorted(unknown)}; "
                f"expected one of {list(spanish_subdivisions())}."
            )
        places = [settings.BODY_MUNICIPALITY] if municipalities is None else list(municipalities)
        if citizen_municipality:
            places.append(citizen_municipality)
        self.subdivisions = frozenset(subdivisions)
        self.municipalities = frozenset(filter(None, map(normalise_municipality, places)))
        self.time_zone = ZoneInfo(time_zone or settings.TIME_ZONE)
        self._years: dict[int, frozenset[date]] = {}
        self._version: str | None = None
        self._version_read = False

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(subdivisions={sorted(self.subdivisions)}, "
            f"municipalities={sorted(self.municipalities)}, time_zone={self.time_zone.key!r})"
        )

    # --- Days -------------------------------------------------------------------------------

    def holidays_in(self, year: int) -> frozenset[date]:
        """National, regional and local holidays of the year (weekends aside)."""
        days = self._years.get(year)
        if days is None:
            if not self.municipalities:
                days = _union(self.subdivisions, self.municipalities, year, {})
            elif (version := self._local_version()) is None:
                local = _load_local_holidays(year)
                days = _union(self.subdivisions, self.municipalities, year, local)
            else:
                days = _holidays(self.subdivisions, self.municipalities, year, version)
            self._years[year] = days
        return days

    def _local_version(self) -> str | None:
        if not self._version_read:
            self._version = _local_holidays_version()
            self._version_read = True
        return self._version

    def is_business_day(self, day: date) -> bool:
        """Art. 30.2: Saturdays, Sundays and holidays are not business days."""
        return day.weekday() < 5 and day not in self.holidays_in(day.year)

    def next_business_day(self, day: date) -> date:
        """The first business day *after* ``day``."""
        day += ONE_DAY
        while not self.is_business_day(day):
            day += ONE_DAY
        return day

    def add_business_days(self, start: date, days: int) -> date:
        """The ``days``-th business day after ``start``: counting starts the day after the
        notification or filing (art. 30.3). ``days=0`` gives ``start``."""
        if days < 0:
            raise ValueError(f"days must be 0 or more, got {days}.")
        for _count in range(days):
            start = self.next_business_day(start)
        return start

    def business_days_between(self, start: date, end: date) -> int:
        """Business days after ``start`` up to and including ``end`` (negative when ``end`` is
        before ``start``): ``business_days_between(d, add_business_days(d, n)) == n``."""
        if end < start:
            return -self.business_days_between(end, start)
        # Weekdays by whole weeks, then the days left over; then the holidays on weekdays in
        # between. A count over years (an old overdue case in the queue) costs what a week's does.
        weeks, extra = divmod((end - start).days, 7)
        count = 5 * weeks + sum(
            (start + timedelta(days=7 * weeks + offset)).weekday() < 5
            for offset in range(1, extra + 1)
        )
        for year in range(start.year, end.year + 1):
            count -= sum(
                1 for day in self.holidays_in(year) if start < day <= end and day.weekday() < 5
            )
        return count

    # --- Registry time (art. 31) ------------------------------------------------------------

    def today(self) -> date:
        """Today in the body's official time."""
        return timezone.now().astimezone(self.time_zone).date()

    def official_filing_time(self, moment: datetime) -> datetime:
        """When a filing made at ``moment`` counts as made, in the body's time zone: the same
        moment on a business day, 00:00 of the next business day otherwise (art. 31.2.b)."""
        if timezone.is_naive(moment):
            raise ValueError("official_filing_time needs an aware datetime (with its time zone).")
        local = moment.astimezone(self.time_zone)
        if self.is_business_day(local.date()):
            return local
        return datetime.combine(self.next_business_day(local.date()), time.min, self.time_zone)

    def official_filing_date(self, moment: datetime) -> date:
        """The day a filing counts as made: its deadlines count from the day after."""
        return self.official_filing_time(moment).date()

    # --- Deadlines --------------------------------------------------------------------------

    def deadline(
        self, start: date, days: int, suspensions: Iterable[Suspension] = ()
    ) -> date | None:
        """The last day of a term of ``days`` business days counted from the day after
        ``start``, the clock stopped during ``suspensions``.

        A suspension ``(S, R)`` stops the clock on the days after S up to and including R: S
        still counts (the clock ran until the request was made), and counting resumes the day
        after R, as it starts the day after a notification (art. 30.3). ``R=None`` is a
        suspension still open: the result is None (no due date while the clock is stopped),
        unless the term had run out by S.
        """
        if days < 0:
            raise ValueError(f"days must be 0 or more, got {days}.")
        periods = _checked(start, suspensions)
        day, counted = start, 0
        while counted < days:
            day = self.next_business_day(day)
            period = _covering(day, periods)
            if period is None:
                counted += 1
            elif period[1] is None:
                return None
        return day

    def business_days_counted(
        self, start: date, until: date, suspensions: Iterable[Suspension] = ()
    ) -> int:
        """Business days of a term used up from the day after ``start`` to ``until``
        (included), suspended days left out: ``deadline()``'s inverse. The days a suspended
        term has left are ``days - business_days_counted(start, S, suspensions)``."""
        periods = _checked(start, suspensions)
        count = 0
        day = start + ONE_DAY
        while day <= until:
            count += self.is_business_day(day) and _covering(day, periods) is None
            day += ONE_DAY
        return count

    def deadline_from_filing(
        self, moment: datetime, days: int, suspensions: Iterable[Suspension] = ()
    ) -> date | None:
        """``deadline()`` of a term that starts with a filing made at ``moment`` (art. 31)."""
        return self.deadline(self.official_filing_date(moment), days, suspensions)

    def business_days_left(self, deadline: date, today: date | None = None) -> int:
        """Business days after ``today`` up to the deadline: 0 on the last day, negative once
        it has passed (-1 from the day after the deadline, even on a weekend)."""
        today = today or self.today()
        if today <= deadline:
            return self.business_days_between(today, deadline)
        return -max(1, self.business_days_between(deadline, today))

    def deadline_state(
        self,
        deadline: date | None,
        today: date | None = None,
        *,
        due_soon_days: int = DUE_SOON_DAYS,
    ) -> DeadlineState:
        """The traffic light: overdue after the deadline, due soon when ``due_soon_days`` or
        fewer business days are left, on time before; suspended without a deadline."""
        if deadline is None:
            return DeadlineState.SUSPENDED
        return state_for_days_left(self.business_days_left(deadline, today), due_soon_days)


def _checked(start: date, suspensions: Iterable[Suspension]) -> list[Suspension]:
    periods = []
    for begin, end in suspensions:
        if begin < start:
            raise ValueError(f"A suspension cannot begin ({begin}) before the term ({start}).")
        if end is not None and end < begin:
            raise ValueError(f"A suspension cannot end ({end}) before it begins ({begin}).")
        periods.append((begin, end))
    return periods


def _covering(day: date, periods: list[Suspension]) -> Suspension | None:
    """The suspension that stops the clock on ``day``; an open one first."""
    found = None
    for begin, end in periods:
        if begin < day and (end is None or day <= end):
            if end is None:
                return begin, end
            found = begin, end
    return found
