"""The dashboard's figures ("cuadro de mandos"), each section computed by a few aggregate queries
and cached for at most ``REPORTS_DASHBOARD_CACHE_SECONDS`` (docs/reports.md, "Dashboard").

Every figure starts from ``reports.scope.visible(user, subject)``: a section whose subject the
user may not see is absent (``None``), and the rest count only the rows the modules show them.

Sections, and the queries each runs when it is not in the cache:

- ``case_flow`` (cases, the period): cases received per week and channel (one query, index
  ``case_filed_order``), answered per week (one, partial index ``case_answered``) and the answer
  figures of ``reports.case_stats.answer_summary`` (one, the same index).
- ``case_open`` (cases, today): open cases by unit and deadline state, one ``UNION ALL`` of the
  four ``CaseQuerySet.deadline_state`` ranges (indexes ``case_status_due``/``_due_soon``).
- ``campaigns`` (the period): the campaigns running in it (at most ``CAMPAIGNS_SHOWN``), their
  reach and objectives as ``campaigns.results.compute`` gives them, batched: six queries for all
  of them rather than five per campaign.
- ``pipeline`` (now): open opportunities by stage, their value in the base currency and the
  forecast (value times the stage's probability), from the ``StageTotal`` rows the database keeps
  when the user counts every opportunity, from one aggregate otherwise (a unit chosen).
- ``people`` (now): people by municipality (top ``MUNICIPALITIES_SHOWN`` and the rest), one
  pass over the register plus one short query for how the municipalities are spelt.

The cache key of a section is made of what decides its figures: the section, the filters that
apply to it, the day for the figures that depend on it, and the SQL of the QuerySet the user may
count (``visible``). Two users share an entry only when they may count exactly the same rows (all
the holders of ``reports.all_units`` do); any other difference in scope (units, assignments,
module permissions) gives another key.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncWeek
from django.utils import timezone

from crm.calendar import DeadlineState

from .case_stats import AnswerSummary, answer_aggregates, answer_summary
from .filters import DashboardFilters
from .scope import SUBJECTS, may_see, visible

CACHE_VERSION = 1
CACHE_PREFIX = "reports:dashboard"
CAMPAIGNS_SHOWN = 8
MUNICIPALITIES_SHOWN = 10
CENT = Decimal("0.01")

# --- Cache -------------------------------------------------------------------------------------


def cache_seconds() -> int:
    return settings.REPORTS_DASHBOARD_CACHE_SECONDS


def scope_fingerprint(queryset: QuerySet) -> str:
    """What decides which rows a QuerySet counts: its SQL and parameters."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return "none"
    return f"{sql}|{params!r}"


def cache_key(section: str, *parts: Any) -> str:
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:40]
    return f"{CACHE_PREFIX}:{CACHE_VERSION}:{section}:{digest}"


@dataclass(frozen=True)
class Cached:
    computed_at: datetime
    data: Any


def cached[T](section: str, parts: tuple, compute: Callable[[], T]) -> Cached:
    """The section's figures from the cache, or computed now and kept for the configured time
    (never more than five minutes; 0 turns the cache off)."""
    seconds = cache_seconds()
    key = cache_key(section, *parts)
    if seconds > 0:
        found = cache.get(key)
        if found is not None:
            return found
    entry = Cached(computed_at=timezone.now(), data=compute())
    if seconds > 0:
        cache.set(key, entry, timeout=seconds)
    return entry


# --- Periods -----------------------------------------------------------------------------------


def _zone():
    return timezone.get_default_timezone()


def _moment(day: date) -> datetime:
    """00:00 of ``day`` in the body's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min), _zone())


def week_starts(start: date, end: date) -> list[date]:
    """The Mondays of the weeks that meet the period."""
    monday = start - timedelta(days=start.weekday())
    weeks = []
    while monday <= end:
        weeks.append(monday)
        monday += timedelta(weeks=1)
    return weeks


def _week(value: datetime) -> date:
    return timezone.localtime(value, _zone()).date() if timezone.is_aware(value) else value.date()


# --- Cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    start: date
    received: int = 0
    answered: int = 0
    on_time: int = 0


@dataclass(frozen=True)
class CaseFlow:
    """What came in and what was answered in the period."""

    weeks: list[Week]
    channels: list[tuple[str, int]]  # (channel code, cases received), most used first
    answers: AnswerSummary  # of the cases answered in the period

    @property
    def received(self) -> int:
        return sum(week.received for week in self.weeks)

    @property
    def answered(self) -> int:
        return sum(week.answered for week in self.weeks)


@dataclass(frozen=True)
class UnitOpen:
    unit_id: int | None
    unit_name: str
    on_time: int = 0
    due_soon: int = 0
    overdue: int = 0
    suspended: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.due_soon + self.overdue + self.suspended


@dataclass(frozen=True)
class OpenCases:
    """Open cases today, by responsible unit and deadline state (the queue's traffic light)."""

    units: list[UnitOpen]

    def _sum(self, name: str) -> int:
        return sum(getattr(unit, name) for unit in self.units)

    @property
    def total(self) -> int:
        return self._sum("total")

    @property
    def on_time(self) -> int:
        return self._sum("on_time")

    @property
    def due_soon(self) -> int:
        return self._sum("due_soon")

    @property
    def overdue(self) -> int:
        return self._sum("overdue")

    @property
    def suspended(self) -> int:
        return self._sum("suspended")


def _cases(user, filters: DashboardFilters | None) -> QuerySet:
    cases = visible(user, "cases")
    if filters is not None and filters.unit_ids is not None:
        cases = cases.filter(unit_id__in=filters.unit_ids)
    return cases


def compute_case_flow(cases: QuerySet, start: date, end: date) -> CaseFlow:
    since, until = _moment(start), _moment(end + timedelta(days=1))
    weeks = {monday: Week(monday) for monday in week_starts(start, end)}
    channels: Counter[str] = Counter()
    received = (
        cases.filter(filed_at__gte=since, filed_at__lt=until)
        .annotate(week=TruncWeek("filed_at", tzinfo=_zone()))
        .values_list("week", "channel")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for week, channel, count in received:
        monday = _week(week)
        weeks[monday] = Week(monday, received=weeks[monday].received + count)
        channels[channel] += count
    answered_in_period = cases.filter(answered_at__gte=since, answered_at__lt=until)
    aggregates = answer_aggregates()
    answered = (
        answered_in_period.annotate(week=TruncWeek("answered_at", tzinfo=_zone()))
        .values_list("week")
        .annotate(answered=aggregates["answered"], on_time=aggregates["on_time"])
        .order_by()
    )
    for week, count, on_time in answered:
        monday = _week(week)
        weeks[monday] = Week(monday, weeks[monday].received, answered=count, on_time=on_time)
    return CaseFlow(
        weeks=[weeks[monday] for monday in sorted(weeks)],
        channels=sorted(channels.items(), key=lambda item: (-item[1], item[0])),
        answers=answer_summary(answered_in_period),
    )


STATE_FIELDS = {
    DeadlineState.ON_TIME: "on_time",
    DeadlineState.DUE_SOON: "due_soon",
    DeadlineState.OVERDUE: "overdue",
    DeadlineState.SUSPENDED: "suspended",
}


def compute_open_cases(cases: QuerySet, today: date) -> OpenCases:
    first, *others = (
        cases.deadline_state(state, today)
        .values_list("unit_id", "unit__name")
        .annotate(state=Value(str(state)), count=Count("pk"))
        .order_by()
        for state in STATE_FIELDS
    )
    units: dict[int | None, dict[str, Any]] = {}
    for unit_id, unit_name, state, count in first.union(*others, all=True):
        row = units.setdefault(unit_id, {"unit_id": unit_id, "unit_name": unit_name or ""})
        row[STATE_FIELDS[DeadlineState(state)]] = count
    rows = [UnitOpen(**row) for row in units.values()]
    rows.sort(key=lambda unit: (-unit.total, unit.unit_id is None, unit.unit_name))
    return OpenCases(units=rows)


# --- Campaigns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveFigure:
    name: str
    indicator: str  # campaigns.Objective.Indicator
    target: Decimal
    value: Decimal | None
    percent: int
    met: bool


@dataclass(frozen=True)
class CampaignFigure:
    id: int
    name: str
    status: str
    starts_on: date
    ends_on: date
    sent: int
    reached: int  # sent and not bounced: the "reach" indicator of campaigns.results
    cases: int
    objectives: list[ObjectiveFigure] = field(default_factory=list)


def _rate(part: int, whole: int) -> Decimal | None:
    # As campaigns.results: a percentage to one decimal, None before any message.
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def compute_campaigns(campaigns: QuerySet) -> list[CampaignFigure]:
    """The campaigns' reach and objectives, the values of ``campaigns.results.compute`` for
    each, in six queries whatever their number."""
    from campaigns.models import BudgetLine, Campaign, Delivery, Objective
    from campaigns.results import CurrencyTotal, progress_of
    from cases.models import Case
    from citizens.models import Interaction
    from crm.audit import object_label

    rows = list(
        campaigns.exclude(status=Campaign.Status.DRAFT)
        .order_by("-starts_on", "-id")
        .values("id", "name", "status", "starts_on", "ends_on")[:CAMPAIGNS_SHOWN]
    )
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    deliveries = {
        row.pop("campaign_id"): row
        for row in Delivery.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(
            sent=Count("id", filter=Q(status=Delivery.Status.SENT)),
            bounced=Count("id", filter=~Q(bounce="")),
            unsubscribed=Count("id", filter=Q(unsubscribed_at__isnull=False)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by()
    }
    cases = dict(
        Case.objects.filter(campaign_id__in=ids)
        .values_list("campaign_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    interactions = dict(
        Interaction.objects.filter(related_type=object_label(Campaign()), related_id__in=ids)
        .values_list("related_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    budgets: dict[int, list[CurrencyTotal]] = {}
    for campaign_id, currency, planned, actual in (
        BudgetLine.objects.filter(campaign_id__in=ids)
        .values_list("campaign_id", "currency")
        .annotate(planned=Sum("planned"), actual=Sum("actual"))
        .order_by("campaign_id", "currency")
    ):
        budgets.setdefault(campaign_id, []).append(CurrencyTotal(currency, planned, actual))
    objectives: dict[int, list[Objective]] = {}
    for objective in Objective.objects.filter(campaign_id__in=ids).order_by("id"):
        objectives.setdefault(objective.campaign_id, []).append(objective)

    figures = []
    for row in rows:
        pk = row["id"]
        sent = deliveries.get(pk, {}).get("sent", 0)
        counts = deliveries.get(pk, {})
        budget = budgets.get(pk, [])
        values = {
            Objective.Indicator.REACH: Decimal(sent - counts.get("bounced", 0)),
            Objective.Indicator.SENT: Decimal(sent),
            Objective.Indicator.CASES: Decimal(cases.get(pk, 0)),
            Objective.Indicator.INTERACTIONS: Decimal(interactions.get(pk, 0)),
            Objective.Indicator.OPEN_RATE: _rate(counts.get("opened", 0), sent),
            Objective.Indicator.CLICK_RATE: _rate(counts.get("clicked", 0), sent),
            Objective.Indicator.UNSUBSCRIBE_RATE: _rate(counts.get("unsubscribed", 0), sent),
            Objective.Indicator.BUDGET_SPENT: budget[0].spent_percent if len(budget) == 1 else None,
        }
        progress = [
            progress_of(objective, values[objective.indicator])
            for objective in objectives.get(pk, [])
        ]
        figures.append(
            CampaignFigure(
                id=pk,
                name=row["name"],
                status=row["status"],
                starts_on=row["starts_on"],
                ends_on=row["ends_on"],
                sent=sent,
                reached=int(values[Objective.Indicator.REACH]),
                cases=cases.get(pk, 0),
                objectives=[
                    ObjectiveFigure(
                        name=item.objective.name,
                        indicator=item.objective.indicator,
                        target=item.objective.target,
                        value=item.value,
                        percent=item.percent,
                        met=item.met,
                    )
                    for item in progress
                ],
            )
        )
    return figures


# --- Pipeline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageFigure:
    pipeline: str
    stage: str
    probability: int
    count: int
    value: Decimal  # open opportunities' amounts in the base currency
    forecast: Decimal  # value times the stage's probability


@dataclass(frozen=True)
class PipelineFigures:
    currency: str
    stages: list[StageFigure]
    missing_rates: list[str]  # currencies without an exchange rate today: left out of the sums

    @property
    def count(self) -> int:
        return sum(stage.count for stage in self.stages)

    @property
    def value(self) -> Decimal:
        return sum((stage.value for stage in self.stages), start=Decimal("0.00"))

    @property
    def forecast(self) -> Decimal:
        return sum((stage.forecast for stage in self.stages), start=Decimal("0.00"))


def compute_pipeline(opportunities: QuerySet, today: date) -> PipelineFigures:
    """Open opportunities by stage of the active pipelines that have any. When
    ``opportunities`` is every opportunity, the sums come from the few ``StageTotal`` rows the
    database keeps; when it is narrowed (a unit chosen, a scoped user), from one aggregate over
    the open ones."""
    from sales.currency import MissingRate, RateBook, base_currency
    from sales.models import Stage, StageTotal

    stages = list(
        Stage.objects.filter(pipeline__is_active=True)
        .order_by("pipeline__order", "pipeline__name", "pipeline_id", "order", "id")
        .values_list("id", "pipeline__name", "name", "probability")
    )
    if opportunities.query.has_filters():
        totals = (
            opportunities.open()
            .values_list("stage_id", "currency")
            .annotate(count=Count("pk"), amount=Sum("amount"))
            .order_by()
        )
    else:
        totals = StageTotal.objects.filter(open_count__gt=0).values_list(
            "stage_id", "currency", "open_count", "open_amount"
        )
    rates = RateBook(today)
    counts: Counter[int] = Counter()
    values: dict[int, Decimal] = {}
    missing: set[str] = set()
    for stage_id, currency, count, amount in totals:
        counts[stage_id] += count
        try:
            values[stage_id] = values.get(stage_id, Decimal("0.00")) + rates.to_base(
                amount, currency
            )
        except MissingRate:
            missing.add(currency)
    # Pipelines without any open opportunity are left out (their stages would all be zero).
    busy = {pipeline for stage_id, pipeline, _name, _p in stages if counts[stage_id]}
    figures = []
    for stage_id, pipeline, name, probability in stages:
        if pipeline not in busy:
            continue
        value = values.get(stage_id, Decimal("0.00"))
        figures.append(
            StageFigure(
                pipeline=pipeline,
                stage=name,
                probability=probability,
                count=counts[stage_id],
                value=value,
                forecast=(value * probability / 100).quantize(CENT, ROUND_HALF_UP),
            )
        )
    return PipelineFigures(currency=base_currency(), stages=figures, missing_rates=sorted(missing))


# --- People ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    """People by the municipalities of their addresses: someone with addresses in two
    municipalities counts in both."""

    total: int
    municipalities: list[tuple[str, int]]  # (name, people), the most populated first
    others: int  # people counted in the other municipalities
    other_municipalities: int  # how many those are
    without_address: int


_MUNICIPALITIES_SQL = """
SELECT GROUPING(u.municipality), u.municipality, COUNT(*),
       COUNT(*) FILTER (WHERE u.position IS NULL OR u.position = 1)
FROM ({people}) AS p
LEFT JOIN LATERAL unnest(p.municipalities) WITH ORDINALITY AS u(municipality, position) ON true
GROUP BY GROUPING SETS ((u.municipality), ())
"""


def compute_people(people: QuerySet) -> People:
    sql, params = people.values("municipalities").order_by().query.sql_with_params()
    total = without = 0
    counts: list[tuple[str, int]] = []
    with connection.cursor() as cursor:
        cursor.execute(_MUNICIPALITIES_SQL.format(people=sql), params)
        for grouping, municipality, count, first in cursor.fetchall():
            if grouping:
                total = first  # the whole register: each person once
            elif municipality is None:
                without = count
            else:
                counts.append((municipality, count))
    counts.sort(key=lambda item: (-item[1], item[0]))
    top, rest = counts[:MUNICIPALITIES_SHOWN], counts[MUNICIPALITIES_SHOWN:]
    names = municipality_names([key for key, _count in top])
    return People(
        total=total,
        municipalities=[(names.get(key, key), count) for key, count in top],
        others=sum(count for _key, count in rest),
        other_municipalities=len(rest),
        without_address=without,
    )


def municipality_names(keys: list[str], sample: int = 5) -> dict[str, str]:
    """How the municipalities of ``keys`` (citizens.text.municipality_key: lower case, no
    accents) are spelt in the addresses of a few of their people, in one query."""
    from citizens.models import Person, PostalAddress
    from citizens.text import municipality_key

    if not keys:
        return {}
    first, *others = (
        PostalAddress.objects.filter(
            person__in=Person.objects.filter(municipalities__contains=[key])
            .order_by()
            .values("pk")[:sample]
        )
        .order_by()
        .values_list("municipality", flat=True)
        for key in keys
    )
    spellings: dict[str, Counter[str]] = {}
    for name in first.union(*others, all=True) if others else first:
        key = municipality_key(name)
        if key in keys:
            spellings.setdefault(key, Counter())[name.strip()] += 1
    return {key: found.most_common(1)[0][0] for key, found in spellings.items()}


def _people_parts(people: QuerySet) -> tuple:
    return (scope_fingerprint(people),)


def refresh_people() -> int:
    """Compute the people by municipality now and put them in the cache under the key every
    user who may see people reads (they all count the same rows: ``visible`` gives each of them
    the whole register in use), so that no page load pays for the pass over the register.
    Called by beat (reports.dashboard_tasks); returns the people counted."""
    seconds = cache_seconds()
    if seconds <= 0:
        return 0
    people = SUBJECTS["people"].everything()
    entry = Cached(computed_at=timezone.now(), data=compute_people(people))
    cache.set(cache_key("people", *_people_parts(people)), entry, timeout=seconds)
    return entry.data.total


# --- The dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """The sections the user may see (None: absent) and when their figures were computed."""

    filters: DashboardFilters
    case_flow: CaseFlow | None = None
    open_cases: OpenCases | None = None
    campaigns: list[CampaignFigure] | None = None
    pipeline: PipelineFigures | None = None
    people: People | None = None
    as_of: datetime | None = None  # the oldest section's computation time

    @property
    def is_empty(self) -> bool:
        return all(
            section is None
            for section in (
                self.case_flow,
                self.open_cases,
                self.campaigns,
                self.pipeline,
                self.people,
            )
        )


def open_cases_for(user, today: date, filters: DashboardFilters | None = None) -> Cached | None:
    """Today's open cases of the user's scope (the dashboard and the home page's panel)."""
    if not may_see(user, "cases"):
        return None
    cases = _cases(user, filters)
    units = filters.cache_key_parts()[2] if filters is not None else None
    return cached(
        "case_open",
        (scope_fingerprint(cases), units, today.isoformat()),
        lambda: compute_open_cases(cases, today),
    )


def build(user, filters: DashboardFilters, *, today: date | None = None) -> Dashboard:
    today = today or timezone.localdate()
    parts = filters.cache_key_parts()
    sections: dict[str, Cached] = {}
    if may_see(user, "cases"):
        cases = _cases(user, filters)
        sections["case_flow"] = cached(
            "case_flow",
            (scope_fingerprint(cases), parts),
            lambda: compute_case_flow(cases, filters.start, filters.end),
        )
        sections["open_cases"] = open_cases_for(user, today, filters)
    if may_see(user, "campaigns"):
        campaigns = visible(user, "campaigns").filter(
            starts_on__lte=filters.end, ends_on__gte=filters.start
        )
        if filters.unit_ids is not None:
            campaigns = campaigns.filter(unit_id__in=filters.unit_ids)
        sections["campaigns"] = cached(
            "campaigns", (scope_fingerprint(campaigns),), lambda: compute_campaigns(campaigns)
        )
    if may_see(user, "opportunities"):
        opportunities = visible(user, "opportunities")
        if filters.unit_ids is not None:
            opportunities = opportunities.filter(unit_id__in=filters.unit_ids)
        sections["pipeline"] = cached(
            "pipeline",
            (scope_fingerprint(opportunities), today.isoformat()),
            lambda: compute_pipeline(opportunities, today),
        )
    if may_see(user, "people"):
        people = visible(user, "people")
        sections["people"] = cached("people", _people_parts(people), lambda: compute_people(people))
    as_of = min((entry.computed_at for entry in sections.values()), default=None)
    return Dashboard(
        filters=filters, as_of=as_of, **{name: entry.data for name, entry in sections.items()}
    )
