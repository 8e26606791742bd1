"""The queue's filters: every channel in one list, narrowed by the fixed query parameters other
pages link with (``q, type, status, unit, assignee, channel, subject_area, deadline,
filed_after, filed_before``), plus the built-in and saved views (``view``).

Each filter reads an index of ``Case`` (cases.models): the deadline state compares the stored
``due_date`` / ``due_soon_from`` with today (never a computation per row), the unit is a list of
ids from the cached unit tree, the dates compare ``filed_at`` itself. The search box takes a
registry number (exact) or words, each of which must appear in the subject (trigram index) or
in the name, document, email or phone of the citizen the filing was matched to.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from cases.models import OPEN_STATUSES, Case, CaseStatus, CaseType, SubjectArea
from citizens.filters import start_of_day
from citizens.models import Channel, Person
from citizens.text import normalise
from crm.calendar import DeadlineState
from crm.models import Unit, User, unit_ids_for_user, with_descendants
from crm.registry import RegistryNumber

ANY = _("Any")
OPEN = "open"
MINE = "mine"
ME = "me"
NOBODY = "none"
# The parameters a saved view keeps (the queue's filters; never the cursor or the view).
FILTER_PARAMETERS = (
    "q",
    "type",
    "status",
    "unit",
    "assignee",
    "channel",
    "subject_area",
    "deadline",
    "filed_after",
    "filed_before",
)


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class BuiltInView:
    """A view every user has: a name and the filters it stands for."""

    def __init__(self, key: str, name: Any, query: dict[str, str]) -> None:
        self.key = key
        self.name = name
        self.query = query

    def data(self) -> QueryDict:
        data = QueryDict(mutable=True)
        data.update(self.query)
        return data


BUILT_IN_VIEWS = (
    BuiltInView("mine", _("My cases"), {"assignee": ME, "status": OPEN}),
    BuiltInView("my_units_overdue", _("My units, overdue"), {"unit": MINE, "deadline": "overdue"}),
    BuiltInView("unassigned", _("Unassigned"), {"assignee": NOBODY, "status": OPEN}),
)
BUILT_IN_BY_KEY = {view.key: view for view in BUILT_IN_VIEWS}


class CaseFilterForm(forms.Form):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("filed_after"), cleaned.get("filed_before")
        if start and end and start > end:
            self.add_error("filed_before", _("The end of the range comes before its start."))
        return cleaned


def saved_query(data: QueryDict) -> str:
    """The filters of ``data`` worth saving, as a query string (empty values left out)."""
    kept = QueryDict(mutable=True)
    for name in FILTER_PARAMETERS:
        values = [value for value in data.getlist(name) if value.strip()]
        if values:
            kept.setlist(name, values)
    return kept.urlencode()


def case_handlers() -> QuerySet:
    """Active users who may handle cases (through a role or as superusers)."""
    manage = Q(
        groups__permissions__codename="manage",
        groups__permissions__content_type__app_label="cases",
    ) | Q(is_superuser=True)
    return (
        User.objects.filter(is_active=True)
        .filter(manage)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def user_label(user: User) -> str:
    return user.get_full_name() or user.get_username()


class CaseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        help_text=_("A registry number, or words of the subject or of the citizen's name."),
    )
    type = django_filters.ChoiceFilter(method="filter_type", label=_("Type"), empty_label=ANY)
    status = django_filters.ChoiceFilter(method="filter_status", label=_("Status"), empty_label=ANY)
    unit = django_filters.ChoiceFilter(
        method="filter_unit",
        label=_("Unit"),
        empty_label=ANY,
        help_text=_("Includes the units below it."),
    )
    assignee = django_filters.ChoiceFilter(
        method="filter_assignee", label=_("Handler"), empty_label=ANY
    )
    channel = django_filters.ChoiceFilter(
        choices=Channel.choices, label=_("Channel"), empty_label=ANY
    )
    subject_area = django_filters.ChoiceFilter(
        method="filter_subject_area", label=_("Subject area"), empty_label=ANY
    )
    deadline = django_filters.ChoiceFilter(
        choices=DeadlineState.choices,
        method="filter_deadline",
        label=_("Deadline"),
        empty_label=ANY,
    )
    filed_after = django_filters.DateFilter(
        method="filter_filed_after", label=_("Filed from"), widget=_date_widget()
    )
    filed_before = django_filters.DateFilter(
        method="filter_filed_before", label=_("Filed until"), widget=_date_widget()
    )

    # The names of the filters shown outside "more filters".
    main_filters = ("q", "status", "deadline")

    class Meta:
        model = Case
        form = CaseFilterForm
        fields: list[str] = []

    def __init__(self, data=None, queryset=None, *, request=None, user: User, today: date):
        super().__init__(data, queryset, request=request)
        self.user = user
        self.today = today
        self.filters["type"].extra["choices"] = [
            (str(pk), name) for pk, name in _labels(CaseType.objects.all())
        ]
        self.filters["status"].extra["choices"] = [
            (OPEN, _("Open (any open status)")),
            *CaseStatus.choices,
        ]
        self.filters["unit"].extra["choices"] = [
            (MINE, _("My units")),
            *(
                (str(pk), name)
                for pk, name in Unit.objects.order_by("name").values_list("pk", "name")
            ),
        ]
        handlers = case_handlers().only("pk", "username", "first_name", "last_name")
        self.filters["assignee"].extra["choices"] = [
            (ME, _("Me")),
            (NOBODY, _("Nobody (unassigned)")),
            *((str(handler.pk), user_label(handler)) for handler in handlers),
        ]
        self.filters["subject_area"].extra["choices"] = [
            (str(pk), name) for pk, name in _labels(SubjectArea.objects.all())
        ]

    @property
    def more_filters_in_use(self) -> bool:
        if not self.is_bound:
            return False
        return any(
            self.data.get(name) or self.form.errors.get(name)
            for name in self.filters
            if name not in self.main_filters
        )

    # --- Filters -------------------------------------------------------------------------------

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        try:
            number = RegistryNumber.parse(text)
        except ValueError:
            pass
        else:
            return queryset.filter(registry_number=number.formatted)
        for word in text.split():
            people = Person.objects.filter(search_text__contains=normalise(word) or word)
            queryset = queryset.filter(
                Q(subject__icontains=word) | Q(person_id__in=people.values("pk"))
            )
        return queryset

    def filter_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(case_type_id=int(value))

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == OPEN:
            return queryset.filter(status__in=OPEN_STATUSES)
        return queryset.filter(status=value)

    def filter_unit(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        units = unit_ids_for_user(self.user) if value == MINE else with_descendants([int(value)])
        return queryset.filter(unit_id__in=units)

    def filter_assignee(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == ME:
            return queryset.filter(assignee=self.user)
        if value == NOBODY:
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=int(value))

    def filter_subject_area(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(subject_area_id=int(value))

    def filter_deadline(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.deadline_state(value, self.today)

    def filter_filed_after(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(filed_at__gte=start_of_day(value))

    def filter_filed_before(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(filed_at__lt=start_of_day(value + timedelta(days=1)))


def _labels(queryset: QuerySet) -> list[tuple[int, str]]:
    """(pk, label) of a catalogue with names in several languages, in the active language."""
    return [(item.pk, item.label) for item in queryset.only("pk", "name", "translations")]
