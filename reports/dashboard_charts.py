"""What the dashboard's template and charts show, from ``reports.dashboard.Dashboard``: labels
in the language of the request (the cached figures hold codes, never translated text) and the
charts' data, passed to static/js/reports-dashboard.js with ``json_script``.

Each chart's data is also the data of the table next to it (the charts' text alternative), so
what a screen reader reads and what the chart draws are the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _

from citizens.models import Channel

from .dashboard import Dashboard


def number(value: int | float | Decimal | None, decimals: int = 0) -> str:
    if value is None:
        return "—"
    return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)


def percent(share: float | None) -> str:
    if share is None:
        return "—"
    return f"{number(share * 100, 1)} %"


@dataclass(frozen=True)
class Indicator:
    label: str
    value: str
    note: str = ""


def channel_label(code: str) -> str:
    labels = dict(Channel.choices)
    return str(labels.get(code, code))


def week_label(monday) -> str:
    return _("Week of %(date)s") % {"date": formats.date_format(monday, "SHORT_DATE_FORMAT")}


def case_indicators(dashboard: Dashboard) -> list[Indicator]:
    flow, open_cases = dashboard.case_flow, dashboard.open_cases
    answers = flow.answers
    return [
        Indicator(_("Cases received"), number(flow.received)),
        Indicator(_("Cases answered"), number(answers.answered)),
        Indicator(
            _("Answered within the legal term"),
            percent(answers.share_on_time),
            _("%(on_time)s of %(answered)s answers")
            % {"on_time": number(answers.on_time), "answered": number(answers.answered)},
        ),
        Indicator(
            _("Median time to answer"),
            _("%(days)s business days") % {"days": number(answers.median_days, 1)}
            if answers.median_days is not None
            else "—",
        ),
        Indicator(
            _("90th percentile of the time to answer"),
            _("%(days)s business days") % {"days": number(answers.p90_days, 1)}
            if answers.p90_days is not None
            else "—",
        ),
        Indicator(_("Open cases today"), number(open_cases.total)),
        Indicator(_("Overdue today"), number(open_cases.overdue)),
    ]


def pipeline_indicators(dashboard: Dashboard) -> list[Indicator]:
    pipeline = dashboard.pipeline
    return [
        Indicator(_("Open opportunities"), number(pipeline.count)),
        Indicator(_("Pipeline value"), f"{number(pipeline.value, 2)} {pipeline.currency}"),
        Indicator(
            _("Forecast"),
            f"{number(pipeline.forecast, 2)} {pipeline.currency}",
            _("Each stage's value times its probability"),
        ),
    ]


def _money(value: Decimal) -> float:
    return float(value)


def charts(dashboard: Dashboard) -> dict[str, dict[str, Any]]:
    """Every chart of the page: ``{"labels": [...], "datasets": [{"label", "data"}], ...}``."""
    found: dict[str, dict[str, Any]] = {}
    if dashboard.case_flow is not None:
        weeks = dashboard.case_flow.weeks
        found["cases_weekly"] = {
            "title": _("Cases received and answered per week"),
            "heading": _("Week"),
            "type": "line",
            "labels": [week_label(week.start) for week in weeks],
            "datasets": [
                {"label": _("Received"), "data": [week.received for week in weeks]},
                {"label": _("Answered"), "data": [week.answered for week in weeks]},
                {"label": _("Answered within the term"), "data": [week.on_time for week in weeks]},
            ],
            "yTitle": _("Cases"),
        }
        channels = dashboard.case_flow.channels
        found["cases_channels"] = {
            "title": _("Channels used by the cases received"),
            "heading": _("Channel"),
            "type": "bar",
            "horizontal": True,
            "labels": [channel_label(code) for code, _count in channels],
            "datasets": [{"label": _("Cases received"), "data": [n for _code, n in channels]}],
        }
    if dashboard.open_cases is not None:
        units = dashboard.open_cases.units
        found["cases_open"] = {
            "title": _("Open cases by unit and deadline"),
            "heading": _("Unit"),
            "type": "bar",
            "horizontal": True,
            "stacked": True,
            "labels": [unit.unit_name or _("No unit") for unit in units],
            "datasets": [
                {"label": _("On time"), "data": [unit.on_time for unit in units]},
                {"label": _("Due soon"), "data": [unit.due_soon for unit in units]},
                {"label": _("Overdue"), "data": [unit.overdue for unit in units]},
                {"label": _("Waiting for the citizen"), "data": [u.suspended for u in units]},
            ],
        }
    if dashboard.campaigns:
        campaigns = dashboard.campaigns
        found["campaigns_reach"] = {
            "title": _("Reach of the campaigns"),
            "heading": _("Campaign"),
            "type": "bar",
            "horizontal": True,
            "labels": [campaign.name for campaign in campaigns],
            "datasets": [
                {"label": _("Messages sent"), "data": [c.sent for c in campaigns]},
                {"label": _("People reached"), "data": [c.reached for c in campaigns]},
                {"label": _("Cases linked"), "data": [c.cases for c in campaigns]},
            ],
        }
    if dashboard.pipeline is not None and dashboard.pipeline.stages:
        stages = dashboard.pipeline.stages
        found["pipeline_stages"] = {
            "title": _("Open opportunities' value and forecast by stage (%(currency)s)")
            % {"currency": dashboard.pipeline.currency},
            "heading": _("Pipeline and stage"),
            "decimals": 2,
            "type": "bar",
            "labels": [f"{stage.pipeline} · {stage.stage}" for stage in stages],
            "datasets": [
                {"label": _("Value"), "data": [_money(stage.value) for stage in stages]},
                {"label": _("Forecast"), "data": [_money(stage.forecast) for stage in stages]},
            ],
            "yTitle": dashboard.pipeline.currency,
        }
    if dashboard.people is not None:
        people = dashboard.people
        labels = [name for name, _count in people.municipalities]
        data = [count for _name, count in people.municipalities]
        if people.others:
            labels.append(_("Other municipalities"))
            data.append(people.others)
        found["people_municipalities"] = {
            "title": _("People by municipality"),
            "heading": _("Municipality"),
            "type": "bar",
            "horizontal": True,
            "labels": labels,
            "datasets": [{"label": _("People"), "data": data}],
        }
    return found


@dataclass(frozen=True)
class Table:
    """A chart's data as a table: its text alternative."""

    key: str
    title: str
    heading: str  # of the first column (what the rows are)
    columns: list[str]
    rows: list[tuple[str, list[str]]]


def tables(found: dict[str, dict[str, Any]]) -> dict[str, Table]:
    """The tables of ``charts(...)``: one row per label, one column per dataset."""
    result = {}
    for key, chart in found.items():
        decimals = chart.get("decimals", 0)
        rows = []
        for index, label in enumerate(chart["labels"]):
            values = [number(dataset["data"][index], decimals) for dataset in chart["datasets"]]
            rows.append((label, values))
        result[key] = Table(
            key=key,
            title=chart["title"],
            heading=chart["heading"],
            columns=[dataset["label"] for dataset in chart["datasets"]],
            rows=rows,
        )
    return result
