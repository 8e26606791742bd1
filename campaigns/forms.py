"""Forms of the campaigns module. Each answers bad input next to the field; the services do the
writing (and their ValidationErrors come back next to the fields too)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from citizens.models import Channel, ConsentPurpose, CustomField, EmailAddress, Person
from citizens.validation import clean_document
from crm.models import Unit

from . import messages as campaign_messages
from . import segments
from .models import BudgetLine, Campaign, EmailTemplate, Objective, Segment, StaticList


class ServiceErrorsMixin:
    def add_service_error(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


class CampaignForm(ServiceErrorsMixin, forms.ModelForm):
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=Campaign.ChannelChoice.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Letters, calls, events and social networks are recorded as interactions."),
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "code",
            "kind",
            "description",
            "unit",
            "starts_on",
            "ends_on",
            "channels",
            "purpose",
            "segment",
            "static_list",
            "send_rate",
        ]
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "ends_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = Unit.objects.for_user(user).filter(is_active=True)
        self.fields["purpose"].queryset = ConsentPurpose.objects.filter(is_active=True)
        self.fields["segment"].queryset = Segment.objects.for_user(user)
        self.fields["static_list"].queryset = StaticList.objects.for_user(user)
        if self.instance.pk and not self.instance.is_editable:
            for name in self.fields:
                if name not in ("name", "description", "unit", "ends_on"):
                    self.fields[name].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The campaign cannot end before it starts."))
        return data

    def validate_constraints(self) -> None:
        """The period's constraint is checked by ``clean``, next to the end date."""
        if "ends_on" not in self.errors:
            super().validate_constraints()

    def service_fields(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name in self.fields and not self.fields[name].disabled
        }


class EmailForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "email_subject",
            "email_html",
            "email_text",
            "email_language",
            "landing_url",
            "track_opens",
            "track_clicks",
        ]
        widgets = {
            "email_html": forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
            "email_text": forms.Textarea(attrs={"rows": 8}),
        }
        help_texts = {
            "email_subject": _("Merge fields: {{ person.given_name }}, {{ person.full_name }}..."),
            "email_html": _(
                "HTML. Merge fields: {{ person.given_name }}, {{ person.first_surname }}, "
                "{{ person.full_name }}, {{ campaign.name }}, {{ form_link }}. An unsubscribe "
                "link is added at the end."
            ),
        }

    def _check(self, name: str, *, html: bool) -> str:
        value = self.cleaned_data.get(name, "")
        campaign_messages.check_template(value, html=html)
        return value

    def clean_email_subject(self) -> str:
        return self._check("email_subject", html=False)

    def clean_email_html(self) -> str:
        return self._check("email_html", html=True)

    def clean_email_text(self) -> str:
        return self._check("email_text", html=False)


class EmailTemplateForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["name", "language", "subject", "html_body", "text_body"]
        widgets = {
            "html_body": forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
            "text_body": forms.Textarea(attrs={"rows": 8}),
        }

    def _check(self, name: str, *, html: bool) -> str:
        value = self.cleaned_data.get(name, "")
        campaign_messages.check_template(value, html=html)
        return value

    def clean_subject(self) -> str:
        return self._check("subject", html=False)

    def clean_html_body(self) -> str:
        return self._check("html_body", html=True)

    def clean_text_body(self) -> str:
        return self._check("text_body", html=False)


class UseTemplateForm(forms.Form):
    template = forms.ModelChoiceField(
        label=_("Start from a template"),
        queryset=EmailTemplate.objects.all(),
        help_text=_("Replaces the subject and both bodies with the template's."),
    )


class PersonField(forms.CharField):
    """A person by document number (DNI/NIE) or email."""

    def clean(self, value: Any) -> Person | None:
        value = super().clean(value)
        if not value:
            return None
        people = segments.eligible_people()
        if "@" in value:
            owner = (
                EmailAddress.objects.filter(address=value.strip().lower(), person__in=people)
                .order_by("person_id")
                .values_list("person_id", flat=True)
                .first()
            )
            person = people.filter(pk=owner).first() if owner else None
        else:
            from citizens.import_files import _guess_document_type

            try:
                number = clean_document(_guess_document_type(value) or "other", value)
            except ValidationError as error:
                raise ValidationError(error.messages) from None
            person = people.filter(document_number=number).first()
        if person is None:
            raise ValidationError(_("Nobody in the register has this document or email."))
        return person


class PreviewForm(forms.Form):
    person = PersonField(
        label=_("Preview with"),
        help_text=_("Document number or email of a real person."),
        required=False,
        max_length=254,
    )


class BudgetLineForm(forms.ModelForm):
    class Meta:
        model = BudgetLine
        fields = ["concept", "planned", "actual", "currency"]

    def clean_currency(self) -> str:
        value = (self.cleaned_data.get("currency") or "").strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValidationError(_("Three letters (ISO 4217), e.g. EUR."))
        return value


class ObjectiveForm(forms.ModelForm):
    class Meta:
        model = Objective
        fields = ["name", "indicator", "target"]


class InteractionForm(forms.Form):
    person = PersonField(
        label=_("Person"), help_text=_("Document number or email."), max_length=254
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[
            ("letter", _("Letter")),
            ("phone", _("Phone")),
            ("event", _("Event")),
            ("social", _("Social network")),
        ],
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    text = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class SegmentForm(forms.Form):
    """The segment's name and its rules (the editor posts them as ``rules``: see RulesData)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class FreezeForm(forms.Form):
    name = forms.CharField(label=_("Name of the list"), max_length=200, required=False)


class StaticListUploadForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV or Excel (.xlsx): one DNI/NIE or email per row, in the first column. "
            "A header row is allowed."
        ),
    )


# --- The rule editor ------------------------------------------------------------------------

CONDITION_LABELS = {
    "age": _("Age"),
    "municipality": _("Municipality"),
    "province": _("Province"),
    "tags": _("Tags"),
    "custom": _("Custom field"),
    "consent": _("Consent to a purpose"),
    "interaction": _("Interactions in the last days"),
    "case": _("Cases in the last days"),
    "campaign": _("Campaign history"),
}
EVENT_LABELS = {
    "received": _("received it"),
    "clicked": _("clicked a link"),
    "not_opened": _("did not open it"),
}
PARAMS = (
    "min",
    "max",
    "values",
    "match",
    "key",
    "value",
    "purpose",
    "days",
    "channel",
    "campaign",
    "event",
)


class RulesData:
    """The editor's fields ↔ the rules tree. Two levels: groups (each AND or OR over its
    conditions) combined by the top operator. Field names::

        op                      and | or (between groups)
        g<i>-op                 and | or (inside group i)
        g<i>-c<j>-type          a condition type; g<i>-c<j>-negate, -min, -max, -values...
    """

    def __init__(self, rules: dict) -> None:
        self.rules = rules

    @classmethod
    def from_post(cls, data) -> RulesData:
        groups: dict[int, dict[str, Any]] = {}
        for key in data:
            parts = key.split("-")
            if len(parts) < 2 or not parts[0].startswith("g") or not parts[0][1:].isdigit():
                continue
            g = int(parts[0][1:])
            group = groups.setdefault(g, {"op": "and", "rules": {}})
            if parts[1] == "op":
                group["op"] = "or" if data.get(key) == "or" else "and"
            elif parts[1].startswith("c") and parts[1][1:].isdigit() and len(parts) == 3:
                c = int(parts[1][1:])
                group["rules"].setdefault(c, {})[parts[2]] = data.get(key)
        tree: dict[str, Any] = {"op": "or" if data.get("op") == "or" else "and", "rules": []}
        for g in sorted(groups):
            conditions = []
            for c in sorted(groups[g]["rules"]):
                raw = groups[g]["rules"][c]
                if not raw.get("type") or raw.get("remove"):
                    continue
                condition: dict[str, Any] = {"type": raw["type"]}
                if raw.get("negate"):
                    condition["negate"] = True
                for name in PARAMS:
                    if raw.get(name) not in (None, ""):
                        condition[name] = raw[name]
                conditions.append(condition)
            if conditions:
                tree["rules"].append({"op": groups[g]["op"], "rules": conditions})
        return cls(tree)

    def groups(self) -> list[dict[str, Any]]:
        """For the template: each group's op and conditions (values as the inputs show them)."""
        result = []
        for node in self.rules.get("rules", []):
            children = node.get("rules", [node])
            conditions = []
            for child in children:
                shown = dict(child)
                if isinstance(shown.get("values"), list):
                    shown["values"] = ", ".join(shown["values"])
                conditions.append(shown)
            result.append({"op": node.get("op", "and"), "conditions": conditions})
        return result


def editor_choices() -> dict[str, Any]:
    from .models import Campaign

    return {
        "condition_types": list(CONDITION_LABELS.items()),
        "purposes": list(ConsentPurpose.objects.filter(is_active=True).values_list("pk", "name")),
        "custom_fields": list(
            CustomField.objects.filter(applies_to="person", is_active=True).values_list(
                "key", "label"
            )
        ),
        "channels": list(Channel.choices),
        "campaigns": list(
            Campaign.objects.exclude(status=Campaign.Status.DRAFT)
            .order_by("-starts_on", "-id")
            .values_list("pk", "name")[:200]
        ),
        "events": list(EVENT_LABELS.items()),
    }
