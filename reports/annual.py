"""The annual complaints and suggestions report (RD 951/2005): what the units received in a
year and how they answered it, for the body's own use (page, PDF, CSV) and as open data (CSV and
JSON, docs/open-data/annual-complaints-report.schema.json; docs/reports.md describes it).

Which cases: those of kind complaint or suggestion (``CaseKind``) filed in the year (their
registry entry's ``filed_at``, in the body's time zone: the year of their registry number), among
those the user may see (``reports.scope.visible(user, "cases")``), of the units asked for (each
with its sub-units; none asked: every unit the user may see, or every case for
``reports.all_units``).

The figures, each computed in SQL (one aggregate query per table, about ten queries in all,
whatever the number of cases):

- counts by type, subject area, unit, channel and month of filing;
- answered cases, those answered within their term (the legal term stored on the case,
  ``Case.deadline_days``: 20 business days for complaints and suggestions unless the case type
  says otherwise), median and 90th percentile of the business days taken
  (``reports.case_stats``: stored on the case when it is answered, suspended days left out),
  whenever the answer came (a case filed in December and answered in January counts);
- suspensions: cases whose clock was stopped to ask the citizen for information, and the total of
  calendar days it was stopped (to the reply, or to today while still waiting);
- cases still open at the end of the year: neither answered nor ended (rejected, duplicate,
  forwarded) by 31 December at midnight;
- the same counts for the year before, for the comparison in the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import formats, timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cases.models import Case, CaseKind, CaseSuspension, SubjectArea
from citizens.models import Channel
from crm.models import Unit, unit_ids_for_user, with_descendants
from reports.case_stats import AnswerSummary, answer_aggregates, summary_from
from reports.scope import sees_everything, visible

KINDS = (CaseKind.COMPLAINT, CaseKind.SUGGESTION)
FIRST_YEAR = 2000

DIMENSIONS = {
    "type": gettext_lazy("Type"),
    "subject_area": gettext_lazy("Subject area"),
    "unit": gettext_lazy("Unit"),
    "channel": gettext_lazy("Channel"),
    "month": gettext_lazy("Month"),
}


@dataclass(frozen=True)
class Row:
    """The figures of one group (a subject area, a unit, a month...) or of the whole year."""

    code: str
    label: str
    complaints: int
    suggestions: int
    answers: AnswerSummary
    open_at_year_end: int

    @property
    def total(self) -> int:
        return self.complaints + self.suggestions


@dataclass(frozen=True)
class Table:
    dimension: str  # a key of DIMENSIONS
    rows: list[Row]

    @property
    def title(self) -> str:
        return str(DIMENSIONS[self.dimension])


@dataclass(frozen=True)
class AnnualReport:
    year: int
    units: list[Unit]  # asked for; empty: every unit the user may see
    everything: bool  # the user sees every unit (``reports.all_units``)
    total: Row
    previous_complaints: int
    previous_suggestions: int
    suspended_cases: int
    suspended_days: int
    tables: list[Table] = field(default_factory=list)
    generated_at: datetime = field(default_factory=timezone.now)

    @property
    def previous_total(self) -> int:
        return self.previous_complaints + self.previous_suggestions

    @property
    def change(self) -> float | None:
        """Change of the total against the year before (0.12: 12 % more); None without cases
        the year before."""
        if not self.previous_total:
            return None
        return (self.total.total - self.previous_total) / self.previous_total

    @property
    def units_label(self) -> str:
        if self.units:
            return ", ".join(unit.name for unit in self.units)
        return _("All units") if self.everything else _("All my units")

    def table(self, dimension: str) -> Table:
        return next(table for table in self.tables if table.dimension == dimension)

    @property
    def summary(self) -> list[str]:
        return summary_sentences(self)


# --- Which units, which cases ------------------------------------------------------------------


def every_unit(user) -> bool:
    """Whether the user counts the cases of every unit: ``reports.all_units``, or
    ``cases.all_units`` (citizen service, who see every case in the cases module)."""
    return sees_everything(user) or user.has_perm("cases.all_units")


def unit_choices(user) -> QuerySet[Unit]:
    """The units the user may pick: every unit for ``every_unit`` users, else their units and
    sub-units."""
    if every_unit(user):
        return Unit.objects.all()
    return Unit.objects.filter(pk__in=unit_ids_for_user(user))


def zone_today(zone: ZoneInfo) -> date:
    return timezone.now().astimezone(zone).date()


def year_bounds(year: int) -> tuple[datetime, datetime]:
    zone = ZoneInfo(settings.TIME_ZONE)
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


def report_cases(user, year: int, units: Sequence[Unit] = ()) -> QuerySet[Case]:
    """Complaints and suggestions filed in ``year`` that ``user`` may count, of ``units`` (with
    their sub-units; none: every unit the user may pick, or every case for ``every_unit``
    users)."""
    start, end = year_bounds(year)
    cases = visible(user, "cases").filter(
        case_type__kind__in=KINDS, filed_at__gte=start, filed_at__lt=end
    )
    if units:
        allowed = set(unit_choices(user).values_list("pk", flat=True))
        wanted = with_descendants(unit.pk for unit in units) & allowed
        return cases.filter(unit_id__in=wanted)
    if every_unit(user):
        return cases
    return cases.filter(unit_id__in=unit_ids_for_user(user))


# --- Figures -----------------------------------------------------------------------------------


def _aggregates(year_end: datetime) -> dict:
    still_open = (Q(answered_at__isnull=True) | Q(answered_at__gte=year_end)) & (
        Q(closed_at__isnull=True) | Q(closed_at__gte=year_end)
    )
    return {
        "complaints": Count("pk", filter=Q(case_type__kind=CaseKind.COMPLAINT)),
        "suggestions": Count("pk", filter=Q(case_type__kind=CaseKind.SUGGESTION)),
        "open_at_year_end": Count("pk", filter=still_open),
        **answer_aggregates(),
    }


def _row(code: str, label: str, values: dict) -> Row:
    return Row(
        code=code,
        label=label,
        complaints=values.get("complaints") or 0,
        suggestions=values.get("suggestions") or 0,
        answers=summary_from(
            {key: values.get(key) for key in ("answered", "on_time", "median_days", "p90_days")}
        ),
        open_at_year_end=values.get("open_at_year_end") or 0,
    )


def _grouped(cases: QuerySet[Case], key, aggregates: dict) -> dict:
    rows = cases.order_by().annotate(group=key).values("group").annotate(**aggregates)
    return {row["group"]: row for row in rows}


def build_report(user, year: int, units: Sequence[Unit] = ()) -> AnnualReport:
    """The report of ``year`` over what ``user`` may see (see the module's docstring)."""
    cases = report_cases(user, year, units)
    zone = ZoneInfo(settings.TIME_ZONE)
    _start, year_end = year_bounds(year)
    aggregates = _aggregates(year_end)
    total = _row("total", _("Total"), cases.order_by().aggregate(**aggregates))

    previous = (
        report_cases(user, year - 1, units)
        .order_by()
        .aggregate(complaints=aggregates["complaints"], suggestions=aggregates["suggestions"])
    )
    suspensions = CaseSuspension.objects.filter(case__in=cases.values("pk")).aggregate(
        cases=Count("case", distinct=True),
        days=Sum(
            ExpressionWrapper(
                Coalesce(F("ended_on"), Value(zone_today(zone), output_field=DateField()))
                - F("started_on"),
                output_field=DurationField(),
            )
        ),
    )
    tables = []

    by_kind = _grouped(cases, F("case_type__kind"), aggregates)
    tables.append(
        Table(
            "type",
            [_row(kind.value, str(kind.label), by_kind.get(kind.value, {})) for kind in KINDS],
        )
    )

    by_area = _grouped(cases, F("subject_area"), aggregates)
    areas = {area.pk: area for area in SubjectArea.objects.filter(pk__in=[k for k in by_area if k])}
    rows = [
        _row(str(pk), areas[pk].label if pk else _("No subject area"), values)
        for pk, values in by_area.items()
    ]
    tables.append(Table("subject_area", _sorted(rows)))

    by_unit = _grouped(cases, F("unit"), aggregates)
    unit_names = {unit.pk: unit for unit in Unit.objects.filter(pk__in=[k for k in by_unit if k])}
    rows = [
        _row(unit_names[pk].code if pk else "", unit_names[pk].name if pk else _("No unit"), values)
        for pk, values in by_unit.items()
    ]
    tables.append(Table("unit", _sorted(rows)))

    by_channel = _grouped(cases, F("channel"), aggregates)
    labels = dict(Channel.choices)
    rows = [_row(code, str(labels.get(code, code)), values) for code, values in by_channel.items()]
    tables.append(Table("channel", _sorted(rows)))

    by_month = _grouped(cases, TruncMonth("filed_at", tzinfo=zone), aggregates)
    months = {(moment.astimezone(zone) if isinstance(moment, datetime) else moment).month: values
              for moment, values in by_month.items()}  # fmt: skip
    tables.append(
        Table(
            "month",
            [
                _row(f"{year}-{month:02d}", str(MONTHS[month]), months.get(month, {}))
                for month in range(1, 13)
            ],
        )
    )
    days = suspensions["days"]
    return AnnualReport(
        year=year,
        units=list(units),
        everything=every_unit(user),
        total=total,
        previous_complaints=previous["complaints"] or 0,
        previous_suggestions=previous["suggestions"] or 0,
        suspended_cases=suspensions["cases"] or 0,
        suspended_days=days.days if days is not None else 0,
        tables=tables,
    )


def _sorted(rows: Iterable[Row]) -> list[Row]:
    """Most cases first, then by name."""
    return sorted(rows, key=lambda row: (-row.total, row.label.casefold()))


# --- The summary in plain language ---------------------------------------------------------------


def number(value: int | float, decimals: int = 0) -> str:
    return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)


def percent(share: float) -> str:
    return _("%(value)s %%") % {"value": number(round(share * 100))}


def summary_sentences(report: AnnualReport) -> list[str]:
    """A few sentences that say what the figures say, in the active language."""
    total = report.total
    sentences = []
    received = _("In %(year)s the body received %(complaints)s and %(suggestions)s") % {
        "year": report.year,
        "complaints": ngettext("%(count)s complaint", "%(count)s complaints", total.complaints)
        % {"count": number(total.complaints)},
        "suggestions": ngettext("%(count)s suggestion", "%(count)s suggestions", total.suggestions)
        % {"count": number(total.suggestions)},
    }
    change = report.change
    if change is None:
        sentences.append(
            _("%(received)s (none in %(previous)s).")
            % {"received": received, "previous": report.year - 1}
        )
    elif change > 0:
        sentences.append(
            _("%(received)s, %(change)s more than in %(previous)s.")
            % {"received": received, "change": percent(change), "previous": report.year - 1}
        )
    elif change < 0:
        sentences.append(
            _("%(received)s, %(change)s fewer than in %(previous)s.")
            % {"received": received, "change": percent(-change), "previous": report.year - 1}
        )
    else:
        sentences.append(
            _("%(received)s, as many as in %(previous)s.")
            % {"received": received, "previous": report.year - 1}
        )
    answers = total.answers
    if answers.answered:
        sentences.append(
            ngettext(
                "%(answered)s case was answered; %(share)s within the legal term.",
                "%(answered)s cases were answered; %(share)s within the legal term.",
                answers.answered,
            )
            % {"answered": number(answers.answered), "share": percent(answers.share_on_time)}
        )
        sentences.append(
            _(
                "Half of the answers took %(median)s business days or fewer, and nine in ten "
                "%(p90)s or fewer."
            )
            % {"median": number(answers.median_days, 1), "p90": number(answers.p90_days, 1)}
        )
    elif total.total:
        sentences.append(_("None of them has been answered yet."))
    if report.suspended_cases:
        sentences.append(
            ngettext(
                "In %(count)s case the clock was stopped to ask the citizen for more "
                "information (%(days)s days in all).",
                "In %(count)s cases the clock was stopped to ask the citizen for more "
                "information (%(days)s days in all).",
                report.suspended_cases,
            )
            % {"count": number(report.suspended_cases), "days": number(report.suspended_days)}
        )
    if total.open_at_year_end:
        sentences.append(
            ngettext(
                "%(count)s case was still open at the end of the year.",
                "%(count)s cases were still open at the end of the year.",
                total.open_at_year_end,
            )
            % {"count": number(total.open_at_year_end)}
        )
    return sentences


# --- Exports -------------------------------------------------------------------------------------


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _days(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


OPEN_DATA_COLUMNS = (
    "year",
    "dimension",
    "code",
    "label",
    "complaints",
    "suggestions",
    "total",
    "answered",
    "answered_on_time",
    "share_answered_on_time",
    "median_business_days",
    "p90_business_days",
    "open_at_year_end",
)


def open_data_rows(report: AnnualReport) -> list[dict]:
    """One row per group of each table, and one for the whole year (dimension ``total``): the
    open data CSV's rows, with the columns of ``OPEN_DATA_COLUMNS``."""
    rows = []
    for dimension, row in [("total", report.total)] + [
        (table.dimension, row) for table in report.tables for row in table.rows
    ]:
        rows.append(
            {
                "year": report.year,
                "dimension": dimension,
                "code": row.code,
                "label": row.label,
                "complaints": row.complaints,
                "suggestions": row.suggestions,
                "total": row.total,
                "answered": row.answers.answered,
                "answered_on_time": row.answers.on_time,
                "share_answered_on_time": _share(row.answers.share_on_time),
                "median_business_days": _days(row.answers.median_days),
                "p90_business_days": _days(row.answers.p90_days),
                "open_at_year_end": row.open_at_year_end,
            }
        )
    return rows


SCHEMA_URL = "https://example.org/open-data/annual-complaints-report.schema.json"


def open_data_document(report: AnnualReport) -> dict:
    """The open data JSON (docs/open-data/annual-complaints-report.schema.json): aggregates only,
    no personal data."""
    rows = open_data_rows(report)
    total = rows[0]
    return {
        "schema": "annual-complaints-report/1",
        "title": _("Annual complaints and suggestions report %(year)s") % {"year": report.year},
        "publisher": settings.BODY_NAME,
        "year": report.year,
        "units": [{"code": unit.code, "name": unit.name} for unit in report.units],
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "legal_basis": "Real Decreto 951/2005, de 29 de julio",
        "totals": {key: total[key] for key in OPEN_DATA_COLUMNS[4:]},
        "previous_year": {
            "year": report.year - 1,
            "complaints": report.previous_complaints,
            "suggestions": report.previous_suggestions,
            "total": report.previous_total,
        },
        "suspensions": {
            "cases_suspended": report.suspended_cases,
            "calendar_days_suspended": report.suspended_days,
        },
        "summary": report.summary,
        "tables": {
            table.dimension: [
                {key: row[key] for key in OPEN_DATA_COLUMNS[2:]}
                for row in rows
                if row["dimension"] == table.dimension
            ]
            for table in report.tables
        },
    }


def years_with_data() -> list[int]:
    """The years a user can ask for: from FIRST_YEAR to this one (newest first)."""
    this_year = zone_today(ZoneInfo(settings.TIME_ZONE)).year
    return list(range(this_year, FIRST_YEAR - 1, -1))
