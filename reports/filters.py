"""The dashboard's filters: a period (from, to) and a unit among those the user may see.

A plain Django form rather than a django-filter FilterSet: the same filters narrow several
subjects (cases, campaigns, opportunities), each in its own way (reports.dashboard).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from crm.models import Unit, with_descendants

from .scope import sees_everything

# The default period: the last twelve weeks, this one included (Monday to today).
DEFAULT_WEEKS = 12
# The longest period the dashboard draws week by week (the annual report covers whole years).
MAX_PERIOD_DAYS = 366
FIELDS = ("start", "end", "unit")


def default_period(today: date) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(weeks=DEFAULT_WEEKS - 1), today


def unit_choices(user) -> list[tuple[str, str]]:
    """The units the user may narrow the figures to: every active unit for holders of
    ``reports.all_units``, otherwise their own units and those below them."""
    if sees_everything(user):
        units = Unit.objects.filter(is_active=True)
    else:
        units = Unit.objects.for_user(user)
    return [(str(pk), name) for pk, name in units.order_by("name", "id").values_list("id", "name")]


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


@dataclass(frozen=True)
class DashboardFilters:
    """What the figures are narrowed to. ``unit_ids``: the unit chosen and those below it
    (None: no unit chosen, every unit the user may see)."""

    start: date
    end: date
    unit_id: int | None = None
    unit_ids: frozenset[int] | None = None

    def cache_key_parts(self) -> tuple:
        units = tuple(sorted(self.unit_ids)) if self.unit_ids is not None else None
        return (self.start.isoformat(), self.end.isoformat(), units)


class DashboardFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=_date_widget())
    end = forms.DateField(label=_("To"), required=False, widget=_date_widget())
    unit = forms.ChoiceField(
        label=_("Unit"), required=False, help_text=_("Includes the units below it.")
    )

    def __init__(self, data: QueryDict | None = None, *, user, today: date) -> None:
        self.today = today
        start, end = default_period(today)
        super().__init__(data, initial={"start": start, "end": end})
        self.fields["unit"].choices = [("", _("All units you may see")), *unit_choices(user)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        default_start, default_end = default_period(self.today)
        start = cleaned.get("start") or (None if "start" in self.errors else default_start)
        end = cleaned.get("end") or (None if "end" in self.errors else default_end)
        if start and end:
            if start > end:
                self.add_error("end", _("The end of the period comes before its start."))
            elif (end - start).days >= MAX_PERIOD_DAYS:
                self.add_error(
                    "end",
                    _("Choose a period of at most %(days)s days.") % {"days": MAX_PERIOD_DAYS},
                )
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def filters(self) -> DashboardFilters:
        """The filters chosen (the defaults for an unbound form); the form must be valid."""
        if not self.is_bound:
            start, end = default_period(self.today)
            return DashboardFilters(start=start, end=end)
        data = self.cleaned_data
        unit_id = int(data["unit"]) if data.get("unit") else None
        return DashboardFilters(
            start=data["start"],
            end=data["end"],
            unit_id=unit_id,
            unit_ids=with_descendants([unit_id]) if unit_id is not None else None,
        )


def dashboard_form(data: QueryDict, *, user, today: date) -> DashboardFilterForm:
    """Bound to the query string when it has any of the filters, unbound (defaults) otherwise."""
    if any(name in data for name in FIELDS):
        return DashboardFilterForm(data, user=user, today=today)
    return DashboardFilterForm(user=user, today=today)
