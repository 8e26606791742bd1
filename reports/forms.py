"""Forms of the report builder: the definition (columns, filters, grouping, ordering), sharing
and scheduling. The builder form only collects what was typed; ``reports.builder.validate``
decides, and its errors are put back on the fields they belong to."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from crm.roles import role_label

from . import builder
from .models import SavedReport
from .services import MAX_RECIPIENTS, eligible_recipients

NONE_CHOICE = ("", _("— none —"))
DIRECTIONS = [("asc", _("ascending")), ("desc", _("descending"))]


def _column_choices(columns: dict[str, builder.ColumnSpec]) -> list[tuple[str, str]]:
    return [(key, spec.label) for key, spec in columns.items()]


VALUE_HINTS = {
    builder.TEXT: _("Text (capitals and accents as typed are ignored for “is”)."),
    builder.NUMBER: _("A number; for “between”, the start of the range."),
    builder.MONEY: _("An amount; for “between”, the start of the range."),
    builder.DATE: _("A date as YYYY-MM-DD (for “between”, the first day), or a number of days."),
    builder.CHOICE: _("Choose the values from the list."),
}


class FilterForm(forms.Form):
    """One condition: column, operator and value (``choices`` for columns with a list of
    values; ``value_2`` is the end of a range)."""

    column = forms.ChoiceField(label=_("Column"), required=False)
    operator = forms.ChoiceField(
        label=_("Condition"), required=False, choices=list(builder.OPERATORS.items())
    )
    value = forms.CharField(label=_("Value"), required=False, max_length=builder.MAX_TEXT)
    value_2 = forms.CharField(label=_("and"), required=False, max_length=builder.MAX_TEXT)
    choices = forms.MultipleChoiceField(label=_("Values"), required=False)

    def __init__(self, *args, columns: dict[str, builder.ColumnSpec], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        self.fields["column"].choices = [NONE_CHOICE, *_column_choices(columns)]
        every_choice = {
            code: label
            for spec in columns.values()
            if spec.type == builder.CHOICE
            for code, label in spec.choices
        }
        self.fields["choices"].choices = list(every_choice.items())
        self.fields["choices"].widget.attrs["size"] = 5
        spec = self.spec
        if spec is not None:
            # The column is known (the page was sent once): its conditions and value hints.
            self.fields["operator"].choices = [
                (operator, builder.OPERATORS[operator]) for operator in spec.operators()
            ]
            self.fields["value"].help_text = VALUE_HINTS[spec.type]
            if spec.type == builder.CHOICE:
                self.fields["choices"].choices = list(spec.choices)

    @property
    def spec(self) -> builder.ColumnSpec | None:
        """The column chosen (as typed, before validation), to show the right value input."""
        key = (
            self.data.get(self.add_prefix("column"))
            if self.is_bound
            else self.initial.get("column")
        )
        return self.columns.get(key or "")

    def value_choices(self) -> list[tuple[str, Any]]:
        spec = self.spec
        return list(spec.choices) if spec is not None and spec.type == builder.CHOICE else []

    def chosen(self) -> list[str]:
        if self.is_bound:
            return self.data.getlist(self.add_prefix("choices"))
        return list(self.initial.get("choices") or [])

    def as_definition(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("column") or data.get("DELETE"):
            return None
        operator = data.get("operator") or ""
        if operator == "between":
            value: Any = [data.get("value", ""), data.get("value_2", "")]
        elif data.get("choices"):
            value = data["choices"] if operator in ("in", "not_in") else data["choices"][0]
        else:
            value = data.get("value", "")
        return {"column": data["column"], "operator": operator, "value": value}


class BaseFilterFormSet(forms.BaseFormSet):
    def __init__(self, *args, columns: dict[str, builder.ColumnSpec], **kwargs) -> None:
        self.columns = columns
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "columns": self.columns}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            columns=self.columns,
            renderer=self.renderer,
        )
        self.add_fields(form, None)
        return form


FilterFormSet = forms.formset_factory(
    FilterForm,
    formset=BaseFilterFormSet,
    extra=1,
    can_delete=True,
    max_num=builder.MAX_FILTERS,
    absolute_max=builder.MAX_FILTERS,
)


class BuilderForm(forms.Form):
    """The report: its name (to save it), columns, grouping, totals, ordering and preview size."""

    name = forms.CharField(label=_("Name of the report"), required=False, max_length=150)
    columns = forms.MultipleChoiceField(
        label=_("Columns"), required=False, widget=forms.CheckboxSelectMultiple
    )
    group_1 = forms.ChoiceField(label=_("Group by"), required=False)
    group_2 = forms.ChoiceField(label=_("Then by"), required=False)
    aggregates = forms.MultipleChoiceField(
        label=_("Totals"), required=False, widget=forms.CheckboxSelectMultiple
    )
    order_1 = forms.ChoiceField(label=_("Order by"), required=False)
    order_1_direction = forms.ChoiceField(label=_("Direction"), choices=DIRECTIONS, required=False)
    order_2 = forms.ChoiceField(label=_("Then by"), required=False)
    order_2_direction = forms.ChoiceField(label=_("Direction"), choices=DIRECTIONS, required=False)
    limit = forms.IntegerField(
        label=_("Rows in the preview"),
        required=False,
        min_value=1,
        max_value=builder.MAX_LIMIT,
        initial=builder.DEFAULT_LIMIT,
    )

    ERROR_FIELDS = {
        "columns": "columns",
        "group_by": "group_1",
        "aggregates": "aggregates",
        "order_by": "order_1",
        "limit": "limit",
    }

    def __init__(self, *args, user, subject: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.available = builder.columns_for(user, subject)
        choices = _column_choices(self.available)
        self.fields["columns"].choices = choices
        for name in ("group_1", "group_2", "order_1", "order_2"):
            self.fields[name].choices = [NONE_CHOICE, *choices]
        self.fields["aggregates"].choices = [
            (
                f"{key}:{function}",
                _("%(function)s of %(column)s") % {"function": label, "column": spec.label},
            )
            for key, spec in self.available.items()
            if spec.aggregatable
            for function, label in builder.FUNCTIONS.items()
        ]

    @staticmethod
    def initial_from(definition: dict[str, Any], name: str = "") -> dict[str, Any]:
        """The form's initial data for a saved definition."""
        groups = [*(definition.get("group_by") or []), "", ""]
        order = [*(definition.get("order_by") or []), {}, {}]
        return {
            "name": name,
            "columns": definition.get("columns") or [],
            "group_1": groups[0],
            "group_2": groups[1],
            "aggregates": [
                f"{item['column']}:{item['function']}"
                for item in definition.get("aggregates") or []
            ],
            "order_1": order[0].get("column", ""),
            "order_1_direction": "desc" if order[0].get("descending") else "asc",
            "order_2": order[1].get("column", ""),
            "order_2_direction": "desc" if order[1].get("descending") else "asc",
            "limit": definition.get("limit") or builder.DEFAULT_LIMIT,
        }

    def as_definition(self, filters: list[dict[str, Any]]) -> dict[str, Any]:
        data = self.cleaned_data
        aggregates = []
        for item in data.get("aggregates") or []:
            column, _sep, function = item.partition(":")
            aggregates.append({"column": column, "function": function})
        order = []
        for number in (1, 2):
            if data.get(f"order_{number}"):
                order.append(
                    {
                        "column": data[f"order_{number}"],
                        "descending": data.get(f"order_{number}_direction") == "desc",
                    }
                )
        return {
            "subject": self.subject,
            "columns": data.get("columns") or [],
            "filters": filters,
            "group_by": [key for key in (data.get("group_1"), data.get("group_2")) if key],
            "aggregates": aggregates,
            "order_by": order,
            "limit": data.get("limit") or builder.DEFAULT_LIMIT,
        }


def filter_initial(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The filter forms' initial data for a saved definition."""
    initial = []
    for item in definition.get("filters") or []:
        value = item.get("value")
        row = {"column": item.get("column"), "operator": item.get("operator")}
        if item.get("operator") == "between" and isinstance(value, list):
            row["value"], row["value_2"] = value
        elif isinstance(value, list):
            row["choices"] = value
            row["value"] = ", ".join(str(part) for part in value)
        elif value is not None:
            row["value"] = str(value)
            row["choices"] = [value]
        initial.append(row)
    return initial


class Builder:
    """The builder form and its filter rows together, bound to a request or to a definition."""

    def __init__(self, *, user, subject: str, data=None, definition=None, name: str = "") -> None:
        self.user = user
        self.subject = subject
        initial = BuilderForm.initial_from(definition or {}, name) if data is None else None
        self.form = BuilderForm(data, user=user, subject=subject, initial=initial)
        self.filters = FilterFormSet(
            data,
            prefix="filter",
            columns=self.form.available,
            initial=filter_initial(definition or {}) if data is None else None,
        )
        self.report: builder.Report | None = None

    def is_valid(self) -> bool:
        """Whether the definition validates for the user (errors go on their fields)."""
        if not (self.form.is_valid() & self.filters.is_valid()):
            return False
        places: list[FilterForm | None] = []
        filters = []
        for form in self.filters.forms:
            item = form.as_definition()
            if item is not None:
                places.append(form)
                filters.append(item)
        try:
            self.report = builder.validate(self.user, self.form.as_definition(filters))
        except builder.DefinitionError as error:
            self._attach(error.errors, places)
            return False
        return True

    def _attach(self, errors: dict[str, list[str]], places: list[FilterForm | None]) -> None:
        for key, messages in errors.items():
            parts = key.split(".")
            for message in messages:
                if parts[0] == "filters" and len(parts) == 3:
                    form = places[int(parts[1])]
                    # A column with a list of values shows the list, not the text box.
                    field = "choices" if parts[2] == "value" and form.value_choices() else parts[2]
                    form.add_error(field, message)
                elif key in BuilderForm.ERROR_FIELDS:
                    self.form.add_error(BuilderForm.ERROR_FIELDS[key], message)
                else:
                    self.form.add_error(None, message)

    @property
    def has_errors(self) -> bool:
        return (
            bool(self.form.errors)
            or any(form.errors for form in self.filters.forms)
            or bool(self.filters.non_form_errors())
        )


class ShareForm(forms.Form):
    roles = forms.ModelMultipleChoiceField(
        label=_("Share with the roles"),
        queryset=Group.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"].label_from_instance = lambda group: role_label(group.name)


class ScheduleForm(forms.Form):
    schedule = forms.ChoiceField(label=_("Send it"), choices=SavedReport.Schedule.choices)
    file_format = forms.ChoiceField(label=_("As"), choices=SavedReport.Format.choices)
    send_to_owner = forms.BooleanField(label=_("Send it to me"), required=False)
    recipients = forms.ModelMultipleChoiceField(
        label=_("Also to"),
        queryset=None,
        required=False,
        help_text=_(
            "Each one receives the report as their own access shows it: people who may not "
            "see its subject receive nothing."
        ),
    )

    def __init__(self, *args, owner, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recipients"].queryset = eligible_recipients().exclude(pk=owner.pk)
        self.fields["recipients"].label_from_instance = lambda user: (
            f"{user.get_full_name() or user.username} ({user.username})"
        )

    def clean_recipients(self):
        recipients = self.cleaned_data["recipients"]
        if len(recipients) > MAX_RECIPIENTS:
            raise forms.ValidationError(
                _("Choose at most %(count)d recipients.") % {"count": MAX_RECIPIENTS}
            )
        return recipients

    def clean(self):
        data = super().clean()
        if (
            data.get("schedule") not in (None, SavedReport.Schedule.NONE)
            and not data.get("send_to_owner")
            and not data.get("recipients")
        ):
            self.add_error("send_to_owner", _("Choose who receives the report."))
        return data
