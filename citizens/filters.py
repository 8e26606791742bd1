"""Finding people and organisations: the filters of the lists, of their exports and of the
caller lookup.

Every filter is written to use an index on a table of a million people: the search box reads the
trigram-indexed ``search_text``; tags and exact custom values use the GIN indexes (``@>``); the
municipality reads the GIN-indexed ``municipalities`` of the record itself; the dates compare
``created_at`` itself (never ``created_at::date``). Lists are paged by keyset over one of the
whitelisted orderings (``ORDERINGS``), so nothing here sorts by a user-given field or counts the
table.

Custom fields (``CustomField``) become filters of their own while they are active: text
contains, choice and yes/no exact, number and date ranges. Their values live in the ``custom``
JSONB: numbers as JSON numbers (numeric strings are accepted too), dates as ISO strings
("2025-03-31"), yes/no as JSON booleans, text and choices as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Model,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Collate, Concat, Left
from django.db.models.lookups import Regex
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from citizens.models import Channel, CustomField, Organization, Person
from citizens.text import municipality_key, normalise
from citizens.validation import clean_phone

# --- Hooks other modules fill in ---------------------------------------------------------------

# A condition on a person or organisation of the outer query, e.g.
# ``lambda: Exists(Case.objects.open().filter(person=OuterRef("pk")))``.
PartyCondition = Callable[[], Exists]

_open_cases_conditions: dict[str, PartyCondition] = {}


def register_open_cases(model: type[Model], condition: PartyCondition) -> None:
    """Called by the cases app (from its ``AppConfig.ready``) to add the "has open cases" filter
    to the list of ``model`` (Person or Organization). Until something registers, the lists
    show no such filter."""
    _open_cases_conditions[model._meta.label_lower] = condition


def unregister_open_cases(model: type[Model]) -> None:
    _open_cases_conditions.pop(model._meta.label_lower, None)


def open_cases_condition(model: type[Model]) -> PartyCondition | None:
    return _open_cases_conditions.get(model._meta.label_lower)


# --- Orderings -----------------------------------------------------------------------------

# Keyset orderings: all in one direction, the last field unique, each backed by an index.
ORDERINGS: dict[str, dict[str, list[str]]] = {
    "citizens.person": {
        "name": ["first_surname", "second_surname", "given_name", "id"],
        "newest": ["-created_at", "-id"],
    },
    "citizens.organization": {
        "name": ["name", "id"],
        "newest": ["-created_at", "-id"],
    },
}
ORDER_CHOICES = [("name", _("Name")), ("newest", _("Newest first"))]
DEFAULT_ORDER = "name"

YES_NO = [("yes", _("Yes")), ("no", _("No"))]
ANY = _("Any")

_NUMBER_TEXT = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


def start_of_day(day: date) -> datetime:
    """Midnight of ``day`` in the administration's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PartyFilterForm(forms.Form):
    """Range filters come in pairs ``<name>_from`` / ``<name>_to``: the start may not come after
    the end."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, start in list(cleaned.items()):
            if not name.endswith("_from") or start in (None, ""):
                continue
            end_name = name.removesuffix("_from") + "_to"
            end = cleaned.get(end_name)
            if end not in (None, "") and start > end:
                self.add_error(end_name, _("The end of the range comes before its start."))
        return cleaned


class PartyFilter(django_filters.FilterSet):
    """What people and organisations are filtered by; subclasses give the model."""

    q = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        help_text=_("Name, document, email or phone, in any format."),
    )
    municipality = django_filters.CharFilter(
        method="filter_municipality",
        label=_("Municipality"),
        help_text=_("Of any of the addresses."),
    )
    tag = django_filters.CharFilter(method="filter_tag", label=_("Tag"))
    preferred_channel = django_filters.ChoiceFilter(
        choices=Channel.choices, label=_("Preferred channel"), empty_label=ANY
    )
    created_from = django_filters.DateFilter(
        method="filter_created_from", label=_("Created from"), widget=_date_widget()
    )
    created_to = django_filters.DateFilter(
        method="filter_created_to", label=_("Created until"), widget=_date_widget()
    )
    order = django_filters.ChoiceFilter(
        choices=ORDER_CHOICES, method="filter_order", label=_("Order"), empty_label=None
    )

    # The names of the filters shown outside "more filters".
    main_filters = ("q", "order")

    class Meta:
        form = PartyFilterForm
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        super().__init__(data, queryset, request=request, prefix=prefix)
        model = self.queryset.model
        condition = open_cases_condition(model)
        if condition is not None:
            self._add(
                "has_open_cases",
                django_filters.ChoiceFilter(
                    choices=YES_NO,
                    label=_("Has open cases"),
                    empty_label=ANY,
                    method=_condition_filter(condition),
                ),
            )
        applies_to = (
            CustomField.Applies.PERSON if model is Person else CustomField.Applies.ORGANIZATION
        )
        self.custom_fields = list(
            CustomField.objects.filter(applies_to=applies_to, is_active=True).order_by(
                "order", "id"
            )
        )
        for field in self.custom_fields:
            for name, filter_ in _custom_filters(field):
                self._add(name, filter_)

    def _add(self, name: str, filter_: django_filters.Filter) -> None:
        filter_.field_name = name
        filter_.model = self.queryset.model
        filter_.parent = self
        self.filters[name] = filter_

    # --- What the views read -----------------------------------------------------------------

    @property
    def chosen_order(self) -> str:
        if self.is_bound and self.form.is_valid():
            return self.form.cleaned_data.get("order") or DEFAULT_ORDER
        return DEFAULT_ORDER

    @property
    def ordering(self) -> list[str]:
        """The keyset ordering the list is shown (and exported) in."""
        return ORDERINGS[self.queryset.model._meta.label_lower][self.chosen_order]

    @property
    def searching(self) -> bool:
        if not self.is_bound or not self.form.is_valid():
            return False
        return bool(normalise(self.form.cleaned_data.get("q") or ""))

    def paged(self, queryset: QuerySet) -> tuple[QuerySet, list[str]]:
        """The queryset to page through and its keyset ordering.

        With a text search, the matches are found through the trigram index and then sorted.
        Ordered by the plain columns, PostgreSQL may instead walk the ordering's index and test
        every row until a page is full: that costs every row before the first match in the
        order, the whole table when few match, and searching a surname in surname order is
        exactly that case. Sorting on a copy of each column that no index holds keeps the cost
        to the number of matches."""
        if not self.searching:
            return queryset, self.ordering
        keys: dict[str, Any] = {}
        ordering = []
        for item in self.ordering:
            name = item.lstrip("-")
            if name == "id":
                ordering.append(item)
                continue
            keys[f"sort_{name}"] = _unindexed(queryset.model, name)
            ordering.append(item.replace(name, f"sort_{name}"))
        return queryset.annotate(**keys), ordering

    @property
    def more_filters_in_use(self) -> bool:
        """Open "more filters" when one of them is filled in or wrong."""
        if not self.is_bound:
            return False
        form = self.form
        return any(
            self.data.get(form.add_prefix(name)) or form.errors.get(name)
            for name in self.filters
            if name not in self.main_filters
        )

    def used_filters(self) -> dict[str, Any]:
        """The filters in use, for the audit trail of an export."""
        if not self.is_bound or not self.form.is_valid():
            return {}
        return {
            name: value
            for name, value in self.form.cleaned_data.items()
            if value not in (None, "", [], ())
        }

    # --- Filters -------------------------------------------------------------------------------

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.search(value) if normalise(value) else queryset

    def filter_municipality(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        key = municipality_key(value)
        if not key:
            return queryset
        # The keys of every address, kept by the services (``municipalities @> ARRAY[key]``, a
        # GIN index): case- and accent-insensitive, and one more bitmap with the text and tags.
        return queryset.filter(municipalities__contains=[key])

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tag = value.strip().lower()  # tags are stored in lower case (citizens.services)
        return queryset.filter(tags__contains=[tag]) if tag else queryset

    def filter_created_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__gte=start_of_day(value))

    def filter_created_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__lt=start_of_day(value + timedelta(days=1)))

    def filter_order(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # applied by the keyset paging (see ``ordering``)


class PersonFilter(PartyFilter):
    class Meta(PartyFilter.Meta):
        model = Person


class OrganizationFilter(PartyFilter):
    kind = django_filters.ChoiceFilter(
        choices=Organization.Kind.choices, label=_("Kind"), empty_label=ANY
    )

    class Meta(PartyFilter.Meta):
        model = Organization


def _unindexed(model: type[Model], name: str) -> Any:
    """The column's value, as an expression no index provides the order of."""
    field = model._meta.get_field(name)
    if isinstance(field, DateTimeField):
        return ExpressionWrapper(F(name) + Value(timedelta(0)), output_field=DateTimeField())
    return Concat(F(name), Value(""), output_field=CharField())


# --- Custom fields -----------------------------------------------------------------------------


def _condition_filter(condition: PartyCondition) -> Callable[[QuerySet, str, str], QuerySet]:
    def apply(queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(condition()) if value == "yes" else queryset.exclude(condition())

    return apply


def _custom_filters(field: CustomField) -> list[tuple[str, django_filters.Filter]]:
    """The filters of one custom field, named ``cf_<key>`` (or ``cf_<key>_from`` / ``_to``)."""
    name = f"cf_{field.key}"
    label = field.label
    kind = CustomField.Type
    if field.type == kind.TEXT:
        return [
            (
                name,
                django_filters.CharFilter(
                    label=label,
                    help_text=_("Contains this text."),
                    method=_custom_text_contains(field.key),
                ),
            )
        ]
    if field.type == kind.CHOICE:
        return [
            (
                name,
                django_filters.ChoiceFilter(
                    label=label,
                    choices=[(choice, choice) for choice in field.choices],
                    empty_label=ANY,
                    method=_custom_equals(field.key),
                ),
            )
        ]
    if field.type == kind.BOOLEAN:
        return [
            (
                name,
                django_filters.ChoiceFilter(
                    label=label, choices=YES_NO, empty_label=ANY, method=_custom_boolean(field.key)
                ),
            )
        ]
    if field.type == kind.NUMBER:
        return [
            (
                f"{name}_from",
                django_filters.NumberFilter(
                    label=_("%(field)s from") % {"field": label},
                    method=_custom_number(field.key, "gte"),
                    localize=True,
                    widget=forms.TextInput(attrs={"inputmode": "decimal"}),
                ),
            ),
            (
                f"{name}_to",
                django_filters.NumberFilter(
                    label=_("%(field)s up to") % {"field": label},
                    method=_custom_number(field.key, "lte"),
                    localize=True,
                    widget=forms.TextInput(attrs={"inputmode": "decimal"}),
                ),
            ),
        ]
    if field.type == kind.DATE:
        return [
            (
                f"{name}_from",
                django_filters.DateFilter(
                    label=_("%(field)s from") % {"field": label},
                    widget=_date_widget(),
                    method=_custom_date(field.key, "gte"),
                ),
            ),
            (
                f"{name}_to",
                django_filters.DateFilter(
                    label=_("%(field)s up to") % {"field": label},
                    widget=_date_widget(),
                    method=_custom_date(field.key, "lte"),
                ),
            ),
        ]
    return []


def _alias(name: str) -> str:
    """A name for the value in the query (custom keys may hold hyphens)."""
    return re.sub(r"\W", "_", name)


def _custom_text_contains(key: str) -> Callable:
    def apply(queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        alias = _alias(name)
        return queryset.alias(**{alias: KeyTextTransform(key, "custom")}).filter(
            **{f"{alias}__icontains": value}
        )

    return apply


def _custom_equals(key: str) -> Callable:
    def apply(queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset.filter(custom__contains={key: value})  # @>: the GIN index

    return apply


def _custom_boolean(key: str) -> Callable:
    def apply(queryset: QuerySet, name: str, value: str) -> QuerySet:
        # No answer is kept apart from "no" (citizens.forms): "no" finds those who said no.
        return queryset.filter(custom__contains={key: value == "yes"})  # @>: the GIN index

    return apply


def _custom_number(key: str, lookup: str) -> Callable:
    def apply(queryset: QuerySet, name: str, value: Any) -> QuerySet:
        text = KeyTextTransform(key, "custom")
        # A value that is not a number is no match (rather than an error of the whole list).
        number = Case(
            When(Regex(text, _NUMBER_TEXT), then=Cast(text, DecimalField())),
            default=None,
            output_field=DecimalField(),
        )
        alias = _alias(name)
        return queryset.alias(**{alias: number}).filter(**{f"{alias}__{lookup}": value})

    return apply


def _custom_date(key: str, lookup: str) -> Callable:
    def apply(queryset: QuerySet, name: str, value: date) -> QuerySet:
        text = KeyTextTransform(key, "custom")
        # ISO dates compare as text (in the "C" collation, whatever the database's).
        day = Case(
            When(Regex(text, _DATE_TEXT), then=Collate(Left(text, 10), "C")),
            default=None,
        )
        alias = _alias(name)
        return queryset.alias(**{alias: day}).filter(**{f"{alias}__{lookup}": value.isoformat()})

    return apply


# --- Caller lookup -----------------------------------------------------------------------------


class CallerLookupForm(forms.Form):
    """The number of an incoming call, in any format."""

    phone = forms.CharField(
        label=_("Caller's phone number"),
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off", "inputmode": "tel"}),
    )

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])
