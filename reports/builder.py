"""The report builder: a report is a plain JSON definition compiled into a scoped QuerySet.

A definition (what ``SavedReport.definition`` stores, what the builder's form produces)::

    {
        "subject": "cases",
        "columns": ["registry_number", "status", "unit"],
        "filters": [
            {"column": "status", "operator": "in", "value": ["received", "assigned"]},
            {"column": "filed_at", "operator": "between", "value": ["2026-01-01", "2026-03-31"]},
        ],
        "group_by": ["unit", "status"],             # none, one or two columns
        "aggregates": [{"column": "deadline_days", "function": "avg"}],
        "order_by": [{"column": "filed_at", "descending": true}],
        "limit": 100,                                # rows (or groups) of the preview
    }

Every name in it is looked up in a whitelist: ``CATALOGUE[subject]`` lists the columns a report
of that subject may show, filter, group and order by (a field path or an expression of ours,
never text of the user's), with their type, which decides the operators a filter may use and how
its value is read. Columns holding personal data the module shows only with a permission (the
documents and contact details of people: ``citizens.export``) are offered only to users holding
it. ``validate(user, definition)`` checks all of it and raises ``DefinitionError`` with the
errors keyed by the place they belong to (``"columns"``, ``"filters.0.value"``...), which the
builder's form shows next to its fields.

``run(user, report)`` then starts from ``reports.scope.visible(user, subject)``, the rows the
module itself shows the user, so a report never shows a row its reader could not see there. A
report without grouping gives its rows and a total row (the count, and the sums or averages
asked for); a grouped one gives one row per group with its count and aggregates, a subtotal per
first-level group when there are two levels, and the grand total. The preview reads the first
``limit`` rows or groups (no OFFSET paging); exports read everything with
``.iterator(chunk_size=...)``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db.models import Case as CaseWhen
from django.db.models import (
    Count,
    DateTimeField,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Concat, Trim, TruncMonth
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .scope import SUBJECTS, may_see, visible

TEXT = "text"
NUMBER = "number"
MONEY = "money"
DATE = "date"
CHOICE = "choice"

EXPORT_CHUNK = 2000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_COLUMNS = 30
MAX_FILTERS = 20
MAX_TEXT = 200
MAX_GROUPS = 2
MAX_ORDER = 3

# Operators per column type, in the order the builder offers them.
OPERATORS: dict[str, Promise] = {
    "equals": gettext_lazy("is"),
    "not_equals": gettext_lazy("is not"),
    "contains": gettext_lazy("contains"),
    "starts_with": gettext_lazy("starts with"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "gt": gettext_lazy("greater than"),
    "gte": gettext_lazy("greater than or equal to"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("less than or equal to"),
    "before": gettext_lazy("before"),
    "after": gettext_lazy("after"),
    "between": gettext_lazy("between (both included)"),
    "last_days": gettext_lazy("in the last days"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
}
OPERATORS_BY_TYPE: dict[str, tuple[str, ...]] = {
    TEXT: ("equals", "not_equals", "contains", "starts_with", "is_empty", "is_not_empty"),
    NUMBER: (
        "equals",
        "not_equals",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "is_empty",
        "is_not_empty",
    ),
    DATE: ("equals", "before", "after", "between", "last_days", "is_empty", "is_not_empty"),
    CHOICE: ("equals", "not_equals", "in", "not_in", "is_empty", "is_not_empty"),
}
OPERATORS_BY_TYPE[MONEY] = OPERATORS_BY_TYPE[NUMBER]
NO_VALUE = frozenset({"is_empty", "is_not_empty"})
LIST_VALUE = frozenset({"in", "not_in", "between"})
FUNCTIONS: dict[str, Promise] = {"sum": gettext_lazy("Sum"), "avg": gettext_lazy("Average")}


# --- The catalogue of columns ----------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    """A column a report may use: a field path (``unit__name``) or an expression of ours."""

    key: str
    label: str | Promise
    type: str
    path: str = ""
    expression: Callable[[], Expression] | None = None
    choices: tuple[tuple[str, Any], ...] = ()
    permission: str = ""  # needed on top of the subject (personal data the module guards)
    moment: bool = False  # a date and time: filtered by the local date, grouped by month
    summable: bool = True  # number/money columns that may be summed and averaged

    def expr(self) -> Expression:
        return self.expression() if self.expression is not None else F(self.path)

    @property
    def numeric(self) -> bool:
        return self.type in (NUMBER, MONEY)

    @property
    def aggregatable(self) -> bool:
        return self.numeric and self.summable

    def operators(self) -> tuple[str, ...]:
        return OPERATORS_BY_TYPE[self.type]

    def choice_label(self, value: Any) -> str:
        return str(dict(self.choices).get(value, value))


def _full_name(prefix: str) -> Callable[[], Expression]:
    """A person's name: given name and surnames (or a user's first and last name)."""

    def build() -> Expression:
        if prefix.endswith("user__") or prefix in ("assignee__", "owner__"):
            parts = [F(f"{prefix}first_name"), Value(" "), F(f"{prefix}last_name")]
        else:
            parts = [
                F(f"{prefix}given_name"),
                Value(" "),
                F(f"{prefix}first_surname"),
                Value(" "),
                F(f"{prefix}second_surname"),
            ]
        return Trim(Concat(*parts))

    return build


def _primary(model_name: str, attribute: str) -> Callable[[], Expression]:
    """The main email or phone of a person (one subquery, no query per row)."""

    def build() -> Expression:
        from citizens import models

        model = getattr(models, model_name)
        return Subquery(
            model.objects.filter(person=OuterRef("pk"))
            .order_by("-is_primary", "id")
            .values(attribute)[:1]
        )

    return build


def _base_amount() -> Expression:
    from sales.currency import base_amount_expression

    return base_amount_expression(timezone.localdate())


def _choices(model, name: str) -> tuple[tuple[str, Any], ...]:
    return tuple(model._meta.get_field(name).flatchoices)


@functools.cache
def catalogue() -> dict[str, dict[str, ColumnSpec]]:
    """Every subject's columns (built once: it reads the models' choices)."""
    from campaigns.models import Campaign, Delivery
    from cases.models import Case
    from citizens.models import Organization, Person
    from sales.models import Opportunity, Visit

    def col(key, label, type_, path="", **options) -> ColumnSpec:
        return ColumnSpec(key, label, type_, path or key, **options)

    def choice(model, key, label, **options) -> ColumnSpec:
        return ColumnSpec(key, label, CHOICE, key, choices=_choices(model, key), **options)

    def when(key, label, path="", **options) -> ColumnSpec:
        return ColumnSpec(key, label, DATE, path or key, moment=True, **options)

    personal = "citizens.export"
    columns = {
        "people": [
            col("given_name", gettext_lazy("Given name"), TEXT),
            col("first_surname", gettext_lazy("First surname"), TEXT),
            col("second_surname", gettext_lazy("Second surname"), TEXT),
            choice(Person, "document_type", gettext_lazy("Document type"), permission=personal),
            col("document_number", gettext_lazy("Document number"), TEXT, permission=personal),
            col("birth_date", gettext_lazy("Date of birth"), DATE, permission=personal),
            choice(Person, "sex", gettext_lazy("Sex"), permission=personal),
            ColumnSpec(
                "email",
                gettext_lazy("Email"),
                TEXT,
                expression=_primary("EmailAddress", "address"),
                permission=personal,
            ),
            ColumnSpec(
                "phone",
                gettext_lazy("Phone"),
                TEXT,
                expression=_primary("PhoneNumber", "number"),
                permission=personal,
            ),
            col("municipality", gettext_lazy("Municipality"), TEXT, "municipalities__0"),
            choice(Person, "preferred_channel", gettext_lazy("Preferred channel")),
            choice(Person, "preferred_language", gettext_lazy("Preferred language")),
            when("created_at", gettext_lazy("Created")),
        ],
        "organizations": [
            col("name", gettext_lazy("Name"), TEXT),
            choice(Organization, "kind", gettext_lazy("Kind")),
            col("tax_id", gettext_lazy("Tax id"), TEXT),
            col("sector", gettext_lazy("Sector"), TEXT),
            col("municipality", gettext_lazy("Municipality"), TEXT, "municipalities__0"),
            choice(Organization, "preferred_channel", gettext_lazy("Preferred channel")),
            when("created_at", gettext_lazy("Created")),
        ],
        "cases": [
            col("registry_number", gettext_lazy("Registry number"), TEXT),
            when("filed_at", gettext_lazy("Filed")),
            choice(Case, "channel", gettext_lazy("Channel")),
            col("case_type", gettext_lazy("Type"), TEXT, "case_type__name"),
            col("subject_area", gettext_lazy("Subject area"), TEXT, "subject_area__name"),
            col("subject", gettext_lazy("Subject"), TEXT),
            choice(Case, "status", gettext_lazy("Status")),
            col("unit", gettext_lazy("Unit"), TEXT, "unit__name"),
            ColumnSpec(
                "assignee", gettext_lazy("Assigned to"), TEXT, expression=_full_name("assignee__")
            ),
            ColumnSpec("person", gettext_lazy("Person"), TEXT, expression=_full_name("person__")),
            col("organization", gettext_lazy("Organisation"), TEXT, "organization__name"),
            col("deadline_days", gettext_lazy("Deadline (business days)"), NUMBER),
            col("due_date", gettext_lazy("Due date"), DATE),
            when("answered_at", gettext_lazy("Answered")),
            when("closed_at", gettext_lazy("Closed")),
        ],
        "campaigns": [
            col("name", gettext_lazy("Name"), TEXT),
            col("code", gettext_lazy("Code"), TEXT),
            choice(Campaign, "kind", gettext_lazy("Kind")),
            choice(Campaign, "status", gettext_lazy("Status")),
            col("unit", gettext_lazy("Unit"), TEXT, "unit__name"),
            col("starts_on", gettext_lazy("Starts on"), DATE),
            col("ends_on", gettext_lazy("Ends on"), DATE),
            when("created_at", gettext_lazy("Created")),
        ],
        "deliveries": [
            col("campaign", gettext_lazy("Campaign"), TEXT, "campaign__name"),
            col("email", gettext_lazy("Email"), TEXT),
            choice(Delivery, "status", gettext_lazy("Status")),
            choice(Delivery, "bounce", gettext_lazy("Bounce")),
            col("attempts", gettext_lazy("Attempts"), NUMBER),
            when("sent_at", gettext_lazy("Sent")),
            when("opened_at", gettext_lazy("Opened")),
            when("clicked_at", gettext_lazy("Clicked")),
            when("unsubscribed_at", gettext_lazy("Unsubscribed")),
        ],
        "opportunities": [
            col("title", gettext_lazy("Title"), TEXT),
            col("organization", gettext_lazy("Organisation"), TEXT, "organization__name"),
            ColumnSpec("person", gettext_lazy("Person"), TEXT, expression=_full_name("person__")),
            col("pipeline", gettext_lazy("Pipeline"), TEXT, "pipeline__name"),
            col("stage", gettext_lazy("Stage"), TEXT, "stage__name"),
            choice(Opportunity, "status", gettext_lazy("Status")),
            col("amount", gettext_lazy("Amount (its currency)"), MONEY, summable=False),
            col("currency", gettext_lazy("Currency"), TEXT),
            ColumnSpec(
                "amount_base",
                gettext_lazy("Amount in the base currency"),
                MONEY,
                expression=_base_amount,
            ),
            col("expected_close", gettext_lazy("Expected close"), DATE),
            ColumnSpec("owner", gettext_lazy("Owner"), TEXT, expression=_full_name("owner__")),
            col("unit", gettext_lazy("Unit"), TEXT, "unit__name"),
            when("created_at", gettext_lazy("Created")),
            when("closed_at", gettext_lazy("Closed")),
        ],
        "visits": [
            col("visit_type", gettext_lazy("Type"), TEXT, "visit_type__name"),
            when("starts_at", gettext_lazy("Starts")),
            choice(Visit, "status", gettext_lazy("Status")),
            col("unit", gettext_lazy("Unit"), TEXT, "unit__name"),
            col("organization", gettext_lazy("Organisation"), TEXT, "organization__name"),
            ColumnSpec("person", gettext_lazy("Person"), TEXT, expression=_full_name("person__")),
            col("purpose", gettext_lazy("Purpose"), TEXT),
            col("place_address", gettext_lazy("Address"), TEXT),
            when("done_at", gettext_lazy("Done")),
        ],
    }
    return {subject: {spec.key: spec for spec in specs} for subject, specs in columns.items()}


def columns_for(user, subject: str) -> dict[str, ColumnSpec]:
    """The columns of ``subject`` this user may use (in any part of a report)."""
    return {
        key: spec
        for key, spec in catalogue()[subject].items()
        if not spec.permission or user.has_perm(spec.permission)
    }


# --- Validation -------------------------------------------------------------------------------


class DefinitionError(Exception):
    """A definition that cannot run: ``errors`` maps a place (``"filters.0.value"``) to its
    messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Filter:
    column: ColumnSpec
    operator: str
    value: Any


@dataclass(frozen=True)
class Aggregate:
    column: ColumnSpec
    function: str

    @property
    def label(self) -> str:
        if self.function == "sum":
            return _("Sum of %(column)s") % {"column": self.column.label}
        return _("Average of %(column)s") % {"column": self.column.label}


@dataclass(frozen=True)
class Ordering:
    column: ColumnSpec
    descending: bool


@dataclass(frozen=True)
class Report:
    """A validated definition: every name resolved to its column."""

    subject: str
    columns: list[ColumnSpec]
    filters: list[Filter]
    group_by: list[ColumnSpec]
    aggregates: list[Aggregate]
    order_by: list[Ordering]
    limit: int
    definition: dict = field(default_factory=dict)

    @property
    def grouped(self) -> bool:
        return bool(self.group_by)

    @property
    def subject_label(self) -> str:
        return str(SUBJECTS[self.subject].label)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def parse_date(text: Any) -> dt.date:
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None


def parse_number(text: Any) -> Decimal:
    try:
        number = Decimal(str(text).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite() or abs(number) >= Decimal("1e15"):
        raise ValueError(_("Enter a number."))
    return number


def parse_choice(spec: ColumnSpec, text: Any) -> str:
    """A choice by its code or by its label (case-insensitive)."""
    wanted = str(text).strip()
    for code, label in spec.choices:
        if wanted == str(code) or wanted.casefold() == str(label).casefold():
            return code
    raise ValueError(
        _("“%(value)s” is not one of the values of %(column)s.")
        % {"value": wanted[:MAX_TEXT], "column": spec.label}
    )


def _parse_one(spec: ColumnSpec, text: Any) -> Any:
    if text is None or str(text).strip() == "":
        raise ValueError(_("Enter a value."))
    if spec.type == DATE:
        return parse_date(text)
    if spec.numeric:
        return parse_number(text)
    if spec.type == CHOICE:
        return parse_choice(spec, text)
    text = str(text).strip()
    if len(text) > MAX_TEXT:
        raise ValueError(_("Enter at most %(count)d characters.") % {"count": MAX_TEXT})
    return text


def parse_value(spec: ColumnSpec, operator: str, raw: Any) -> Any:
    """The value of a filter, read by its column's type (ValueError with a message if not)."""
    if operator in NO_VALUE:
        return None
    if operator == "last_days":
        try:
            days = int(str(raw).strip())
        except (TypeError, ValueError):
            raise ValueError(_("Enter a whole number of days.")) from None
        if not 1 <= days <= 3660:
            raise ValueError(_("Enter between 1 and 3660 days."))
        return days
    if operator == "between":
        values = _as_list(raw)
        if len(values) != 2:
            raise ValueError(_("Enter both ends of the range."))
        low, high = (_parse_one(spec, value) for value in values)
        if low > high:
            raise ValueError(_("The start of the range is after its end."))
        return [low, high]
    if operator in LIST_VALUE:
        values = [
            part
            for value in _as_list(raw)
            for part in (str(value).split(",") if not isinstance(value, list) else value)
            if str(part).strip()
        ]
        if not values:
            raise ValueError(_("Choose at least one value."))
        if len(values) > 100:
            raise ValueError(_("Choose at most 100 values."))
        return sorted({_parse_one(spec, value) for value in values}, key=str)
    if isinstance(raw, list):
        raise ValueError(_("Enter one value."))
    return _parse_one(spec, raw)


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def validate(user, definition: Mapping[str, Any]) -> Report:
    """The definition checked against the whitelist and the user's permissions, or
    ``DefinitionError``. The report's ``definition`` is its normalised JSON form."""
    errors: dict[str, list[str]] = {}

    def fail(place: str, message: str) -> None:
        errors.setdefault(place, []).append(str(message))

    if not isinstance(definition, Mapping):
        raise DefinitionError({"subject": [_("This is not a report definition.")]})
    subject = definition.get("subject")
    if subject not in SUBJECTS:
        raise DefinitionError({"subject": [_("Choose a subject.")]})
    if not may_see(user, subject):
        raise DefinitionError({"subject": [_("You may not make reports of this subject.")]})
    available = columns_for(user, subject)

    def column(place: str, key: Any) -> ColumnSpec | None:
        if not isinstance(key, str):
            fail(place, _("Unknown column “%(column)s”.") % {"column": str(key)[:50]})
            return None
        if key in available:
            return available[key]
        if key in catalogue()[subject]:
            fail(place, _("You may not use the column “%(column)s”.") % {"column": key})
        else:
            fail(place, _("Unknown column “%(column)s”.") % {"column": str(key)[:50]})
        return None

    columns: list[ColumnSpec] = []
    for key in _as_list(definition.get("columns")):
        spec = column("columns", key)
        if spec is not None and spec not in columns:
            columns.append(spec)
    if len(columns) > MAX_COLUMNS:
        fail("columns", _("Choose at most %(count)d columns.") % {"count": MAX_COLUMNS})

    filters: list[Filter] = []
    raw_filters = _as_list(definition.get("filters"))
    if len(raw_filters) > MAX_FILTERS:
        fail("filters", _("Use at most %(count)d filters.") % {"count": MAX_FILTERS})
    for index, raw in enumerate(raw_filters[:MAX_FILTERS]):
        place = f"filters.{index}"
        if not isinstance(raw, Mapping):
            fail(f"{place}.column", _("This filter is not valid."))
            continue
        spec = column(f"{place}.column", raw.get("column"))
        if spec is None:
            continue
        operator = raw.get("operator")
        if operator not in spec.operators():
            fail(
                f"{place}.operator",
                _("This condition does not apply to the column “%(column)s”.")
                % {"column": spec.label},
            )
            continue
        try:
            value = parse_value(spec, operator, raw.get("value"))
        except ValueError as error:
            fail(f"{place}.value", str(error))
            continue
        filters.append(Filter(spec, operator, value))

    group_by: list[ColumnSpec] = []
    raw_groups = [key for key in _as_list(definition.get("group_by")) if key]
    if len(raw_groups) > MAX_GROUPS:
        fail("group_by", _("Group by at most two columns."))
    for key in raw_groups[:MAX_GROUPS]:
        spec = column("group_by", key)
        if spec is not None:
            if spec in group_by:
                fail("group_by", _("Group by two different columns."))
            else:
                group_by.append(spec)

    aggregates: list[Aggregate] = []
    for raw in _as_list(definition.get("aggregates")):
        raw = raw if isinstance(raw, Mapping) else {}
        spec = column("aggregates", raw.get("column"))
        if spec is None:
            continue
        function = raw.get("function")
        if not spec.aggregatable or function not in FUNCTIONS:
            fail(
                "aggregates",
                _("“%(column)s” cannot be summed or averaged.") % {"column": spec.label},
            )
            continue
        if not group_by and spec not in columns:
            fail(
                "aggregates",
                _("Show the column “%(column)s” to total it, or group the report.")
                % {"column": spec.label},
            )
            continue
        aggregate = Aggregate(spec, function)
        if aggregate not in aggregates:
            aggregates.append(aggregate)

    order_by: list[Ordering] = []
    raw_order = [item for item in _as_list(definition.get("order_by")) if item]
    if len(raw_order) > MAX_ORDER:
        fail("order_by", _("Order by at most %(count)d columns.") % {"count": MAX_ORDER})
    for raw in raw_order[:MAX_ORDER]:
        raw = raw if isinstance(raw, Mapping) else {}
        spec = column("order_by", raw.get("column"))
        if spec is None:
            continue
        if group_by and spec not in group_by:
            fail("order_by", _("A grouped report is ordered by its grouping columns."))
            continue
        if any(existing.column == spec for existing in order_by):
            continue
        order_by.append(Ordering(spec, bool(raw.get("descending"))))

    if not columns and not group_by:
        fail("columns", _("Choose at least one column, or group the report."))

    limit = definition.get("limit", DEFAULT_LIMIT)
    try:
        limit = int(limit if limit not in (None, "") else DEFAULT_LIMIT)
    except (TypeError, ValueError):
        limit = -1
    if not 1 <= limit <= MAX_LIMIT:
        fail("limit", _("Enter a number between 1 and %(max)d.") % {"max": MAX_LIMIT})

    if errors:
        raise DefinitionError(errors)
    normalised = {
        "subject": subject,
        "columns": [spec.key for spec in columns],
        "filters": [
            {"column": item.column.key, "operator": item.operator, "value": _jsonable(item.value)}
            for item in filters
        ],
        "group_by": [spec.key for spec in group_by],
        "aggregates": [
            {"column": item.column.key, "function": item.function} for item in aggregates
        ],
        "order_by": [
            {"column": item.column.key, "descending": item.descending} for item in order_by
        ],
        "limit": limit,
    }
    return Report(
        subject, columns, filters, group_by, aggregates, order_by, limit, definition=normalised
    )


# --- Compiling --------------------------------------------------------------------------------


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _condition(name: str, item: Filter) -> Q:
    """The filter on the annotation ``name``; dates and times compare by local days, as
    ranges of the column itself (indexes still serve them)."""
    spec, operator, value = item.column, item.operator, item.value
    if operator == "is_empty":
        empty = Q(**{f"{name}__isnull": True})
        return empty | Q(**{name: ""}) if spec.type == TEXT else empty
    if operator == "is_not_empty":
        return ~_condition(name, Filter(spec, "is_empty", None))
    if spec.type == DATE:
        today = timezone.localdate()
        if operator == "last_days":
            low, high = today - dt.timedelta(days=value - 1), today
        elif operator == "equals":
            low, high = value, value
        elif operator == "between":
            low, high = value
        else:
            low, high = (
                (None, value - dt.timedelta(days=1)) if operator == "before" else (None, None)
            )
            if operator == "after":
                low = value + dt.timedelta(days=1)
        condition = Q()
        if spec.moment:
            if low is not None:
                condition &= Q(**{f"{name}__gte": _day_start(low)})
            if high is not None:
                condition &= Q(**{f"{name}__lt": _day_start(high + dt.timedelta(days=1))})
        else:
            if low is not None:
                condition &= Q(**{f"{name}__gte": low})
            if high is not None:
                condition &= Q(**{f"{name}__lte": high})
        return condition
    if spec.type == TEXT:
        lookups = {
            "equals": "iexact",
            "not_equals": "iexact",
            "contains": "icontains",
            "starts_with": "istartswith",
        }
        condition = Q(**{f"{name}__{lookups[operator]}": value})
        if operator == "not_equals":
            return ~condition | Q(**{f"{name}__isnull": True})
        return condition
    if operator in ("in", "not_in"):
        condition = Q(**{f"{name}__in": value})
        return condition if operator == "in" else ~condition | Q(**{f"{name}__isnull": True})
    if operator == "between":
        return Q(**{f"{name}__gte": value[0], f"{name}__lte": value[1]})
    if operator == "not_equals":
        return ~Q(**{name: value}) | Q(**{f"{name}__isnull": True})
    lookup = {"equals": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}[operator]
    return Q(**{f"{name}__{lookup}": value})


def filtered(user, report: Report) -> QuerySet:
    """The rows of the report: ``visible(user, subject)`` narrowed by its filters."""
    queryset = visible(user, report.subject)
    aliases = {}
    condition = Q()
    for index, item in enumerate(report.filters):
        name = f"rb_f{index}"
        aliases[name] = item.column.expr()
        condition &= _condition(name, item)
    if aliases:
        queryset = queryset.alias(**aliases).filter(condition)
    return queryset


def size(user, report: Report, *, cap: int) -> int:
    """The report's rows (or groups), counted up to ``cap + 1`` at most (a bounded count)."""
    queryset = filtered(user, report)
    if report.grouped:
        groups = {f"rb_g{i}": _group_expression(spec) for i, spec in enumerate(report.group_by)}
        queryset = queryset.values(**groups).distinct()
    return queryset[: cap + 1].count()


def _group_expression(spec: ColumnSpec) -> Expression:
    """Dates are grouped by month (a group per day is rarely what a report wants)."""
    if spec.type == DATE:
        if spec.moment:
            return TruncMonth(spec.expr(), output_field=DateTimeField())
        return TruncMonth(spec.expr())
    return spec.expr()


def _aggregations(report: Report) -> dict[str, Any]:
    values: dict[str, Any] = {"rb_count": Count("pk")}
    for index, item in enumerate(report.aggregates):
        expression = item.column.expr()
        # An average is kept as its sum and count, so that subtotals and totals average
        # every row (not the groups' averages).
        values[f"rb_s{index}"] = Sum(expression)
        if item.function == "avg":
            values[f"rb_n{index}"] = Count(expression)
    return values


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputColumn:
    """A column of the result, with the kind of its cells: text, number, money, date,
    moment (date and time), month or count."""

    label: str
    kind: str

    @property
    def numeric(self) -> bool:
        return self.kind in (NUMBER, MONEY, "count")


@dataclass
class ResultSection:
    heading: str | None
    rows: Iterable[list[Any]]
    subtotal: list[Any] | None = None


@dataclass
class Result:
    """What a report gives: the columns, its sections of rows (one without grouping), the
    total rows (the grand total, and the averages of an ungrouped report) and the number of
    records it counts. ``truncated``: the preview did not show every row or group."""

    title: str
    columns: list[OutputColumn]
    sections: Iterable[ResultSection]
    totals: list[list[Any]]
    count: int
    grouped: bool
    truncated: bool = False


def _cell(spec: ColumnSpec, value: Any, *, grouped: bool = False) -> Any:
    if value is None:
        return None
    if spec.type == CHOICE:
        return spec.choice_label(value)
    if spec.type == DATE and isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date() if grouped else value.replace(tzinfo=None, microsecond=0)
    if spec.type == MONEY and isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return value


def _column_kind(spec: ColumnSpec, *, grouped: bool = False) -> str:
    if spec.type == DATE:
        return "month" if grouped else ("moment" if spec.moment else DATE)
    if spec.type == CHOICE:
        return TEXT
    return spec.type


def _aggregate_cells(report: Report, values: Mapping[str, Any]) -> list[Any]:
    cells = []
    for index, item in enumerate(report.aggregates):
        total = values.get(f"rb_s{index}")
        if item.function == "avg":
            count = values.get(f"rb_n{index}") or 0
            total = (
                (Decimal(total) / count).quantize(Decimal("0.01"), ROUND_HALF_UP) if count else None
            )
        elif total is not None and item.column.type == MONEY:
            total = Decimal(total).quantize(Decimal("0.01"), ROUND_HALF_UP)
        cells.append(total)
    return cells


def run(user, report: Report, *, preview: bool = True, title: str = "") -> Result:
    """The report's result for ``user``. ``preview``: the first ``report.limit`` rows or groups
    (LIMIT, never OFFSET); otherwise every row, read in chunks of ``EXPORT_CHUNK``."""
    queryset = filtered(user, report)
    totals = queryset.aggregate(**_aggregations(report))
    count = totals["rb_count"] or 0
    title = title or _("Report of %(subject)s") % {"subject": report.subject_label.lower()}
    if report.grouped:
        return _run_grouped(report, queryset, totals, count, preview=preview, title=title)
    return _run_rows(report, queryset, totals, count, preview=preview, title=title)


def _sort_expression(spec: ColumnSpec, name: str) -> Expression:
    """What ``spec`` (selected or annotated as ``name``) sorts by: a choice column by the order of
    its choices (as the module lists them), never by its codes' spelling."""
    if spec.type != CHOICE:
        return F(name)
    ranks = [
        When(**{name: code}, then=Value(rank)) for rank, (code, _label) in enumerate(spec.choices)
    ]
    return CaseWhen(*ranks, default=Value(len(ranks)), output_field=IntegerField())


def _sorted(expression: Expression, descending: bool) -> Any:
    return expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)


def _ordering(report: Report) -> list[Any]:
    order = []
    for item in report.order_by:
        spec = item.column
        expression = _sort_expression(spec, spec.path) if spec.type == CHOICE else spec.expr()
        order.append(_sorted(expression, item.descending))
    return order


def _run_rows(report, queryset, totals, count, *, preview, title) -> Result:
    select = {f"rb_c{index}": spec.expr() for index, spec in enumerate(report.columns)}
    rows = queryset.values(**select).order_by(*_ordering(report), "pk")
    source = rows[: report.limit] if preview else rows.iterator(chunk_size=EXPORT_CHUNK)
    # The total rows carry their label in the first column, unless that column is totalled
    # itself: then the rows get a label column in front.
    aggregated = {item.column for item in report.aggregates}
    label_column = report.columns[0] in aggregated
    lead = [None] if label_column else []

    def cells() -> Iterator[list[Any]]:
        for values in source:
            yield lead + [
                _cell(spec, values[f"rb_c{index}"]) for index, spec in enumerate(report.columns)
            ]

    columns = [OutputColumn(str(spec.label), _column_kind(spec)) for spec in report.columns]
    if label_column:
        columns.insert(0, OutputColumn(_("Summary"), TEXT))
    offset = len(lead)
    total = [_("Total: %(count)s rows") % {"count": count}] + [None] * (len(columns) - 1)
    average = [_("Average")] + [None] * (len(columns) - 1)
    for item, cell in zip(report.aggregates, _aggregate_cells(report, totals), strict=True):
        target = total if item.function == "sum" else average
        target[offset + report.columns.index(item.column)] = cell
    total_rows = [total]
    if any(item.function == "avg" for item in report.aggregates):
        total_rows.append(average)
    return Result(
        title,
        columns,
        [ResultSection(None, cells())],
        total_rows,
        count,
        grouped=False,
        truncated=preview and count > report.limit,
    )


def _group_label(spec: ColumnSpec, value: Any) -> Any:
    return _cell(spec, value, grouped=True)


def _run_grouped(report, queryset, totals, count, *, preview, title) -> Result:
    names = {spec: f"rb_g{index}" for index, spec in enumerate(report.group_by)}
    groups = {name: _group_expression(spec) for spec, name in names.items()}
    descending = {item.column: item.descending for item in report.order_by}

    def order(specs) -> list[Any]:
        return [
            _sorted(_sort_expression(spec, names[spec]), bool(descending.get(spec)))
            for spec in specs
        ]

    aggregations = _aggregations(report)
    rows = queryset.values(**groups).annotate(**aggregations).order_by(*order(report.group_by))
    columns = [
        OutputColumn(str(spec.label), _column_kind(spec, grouped=True)) for spec in report.group_by
    ]
    columns.append(OutputColumn(_("Rows"), "count"))
    columns += [OutputColumn(item.label, item.column.type) for item in report.aggregates]
    blanks = [None] * (len(report.group_by) - 1)
    total_rows = [[_("Total"), *blanks, count, *_aggregate_cells(report, totals)]]

    def line(values: Mapping[str, Any]) -> list[Any]:
        keys = [_group_label(spec, values[name]) for spec, name in names.items()]
        return [*keys, values["rb_count"], *_aggregate_cells(report, values)]

    if len(report.group_by) == 1:
        if preview:
            source = list(rows[: report.limit + 1])
            truncated = len(source) > report.limit
            source = source[: report.limit]
        else:
            source, truncated = rows.iterator(chunk_size=EXPORT_CHUNK), False
        sections = [ResultSection(None, (line(values) for values in source))]
        return Result(title, columns, sections, total_rows, count, True, truncated)

    first, _second = report.group_by
    outer = (
        queryset.values(**{names[first]: groups[names[first]]})
        .annotate(**aggregations)
        .order_by(*order([first]))
    )
    result = Result(title, columns, [], total_rows, count, True)

    def sections() -> Iterator[ResultSection]:
        # Both queries are ordered by the first group: each subtotal row is followed by the
        # rows of its group (the subtotals come from the database, so a preview that stops
        # inside a group still shows the group's true subtotal).
        if preview:
            inner = iter(list(rows[: report.limit + 1]))
            subtotals = outer[: report.limit]
        else:
            inner = rows.iterator(chunk_size=EXPORT_CHUNK)
            subtotals = outer.iterator(chunk_size=EXPORT_CHUNK)
        pending = next(inner, None)
        shown = 0
        for subtotal in subtotals:
            key = subtotal[names[first]]
            members = []
            while pending is not None and pending[names[first]] == key:
                if preview and shown == report.limit:
                    break
                members.append(line(pending))
                pending = next(inner, None)
                shown += 1
            if not members:
                break
            heading = _group_label(first, key)
            yield ResultSection(
                _display_heading(first, heading),
                members,
                [_("Subtotal"), None, subtotal["rb_count"], *_aggregate_cells(report, subtotal)],
            )
        result.truncated = preview and pending is not None

    result.sections = sections()
    return result


def _display_heading(spec: ColumnSpec, value: Any) -> str:
    if value is None:
        return _("(empty)")
    if isinstance(value, dt.date):
        from django.utils.formats import date_format

        return date_format(value, "YEAR_MONTH_FORMAT")
    return f"{spec.label}: {value}"


def describe(report: Report) -> str:
    """The filters in words, for an export's subtitle."""
    parts = []
    for item in report.filters:
        value = item.value
        if isinstance(value, list):
            if item.operator == "between":
                value = _("%(low)s and %(high)s") % {"low": value[0], "high": value[1]}
            else:
                value = ", ".join(
                    item.column.choice_label(v) if item.column.type == CHOICE else str(v)
                    for v in value
                )
        elif item.column.type == CHOICE and value is not None:
            value = item.column.choice_label(value)
        text = f"{item.column.label} {OPERATORS[item.operator]}"
        parts.append(f"{text} {value}" if value is not None else text)
    if not parts:
        return _("Every row you may see")
    return "; ".join(parts)
