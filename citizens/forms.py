"""Forms for the record pages of people and organisations.

The forms only clean what people type: every write goes through ``citizens.services``. A person's
or organisation's page is edited with one main form (identity, preferences, tags, notes and the
administrator-defined custom fields) plus one formset per kind of contact data; ``RecordForms``
holds them together and turns them into the services' arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext_lazy as _

from citizens.models import (
    Channel,
    CustomField,
    EmailAddress,
    Interaction,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
    Relationship,
    Team,
)
from citizens.services import AddressInput, Contacts, EmailInput, PhoneInput
from citizens.validation import clean_document, clean_phone, clean_tax_id
from crm.models import Unit, User

CUSTOM_PREFIX = "custom_"
MAX_TAGS = 20
MAX_LOOKUP_MATCHES = 20

# Database constraints whose violation a service reports as a bare "constraint violated": the
# field it concerns and what to tell the person who typed it.
CONSTRAINT_ERRORS: dict[str, tuple[str, Any]] = {
    "person_document_unique": (
        "document_number",
        _("Another person already has this identity document. Search for them instead."),
    ),
    "organization_tax_id_unique": (
        "tax_id",
        _("Another organisation already has this tax id. Search for it instead."),
    ),
}


def _model_field(model: type[Model], name: str, **kwargs: Any) -> forms.Field:
    """The model field's own form field: same label, choices and length as the model."""
    return model._meta.get_field(name).formfield(**kwargs)


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


# --- Tags --------------------------------------------------------------------------------------


class TagsField(forms.CharField):
    """Tags typed as one line, separated by commas; cleaned to a sorted list, lower case."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("Tags"))
        kwargs.setdefault("help_text", _("Separate them with commas, e.g. volunteer, neighbour"))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        tags = sorted({" ".join(part.split()).lower() for part in re.split(r"[,;]", text)} - {""})
        too_long = [tag for tag in tags if len(tag) > 50]
        if too_long:
            raise ValidationError(
                _("A tag may have at most 50 characters: %(tag)s"),
                code="tag_length",
                params={"tag": too_long[0]},
            )
        if len(tags) > MAX_TAGS:
            raise ValidationError(
                _("At most %(max)d tags."), code="too_many_tags", params={"max": MAX_TAGS}
            )
        return tags


# --- Custom fields -----------------------------------------------------------------------------

YES_NO = (("", "—"), ("yes", _("Yes")), ("no", _("No")))


def custom_field_definitions(applies_to: str) -> list[CustomField]:
    return list(CustomField.objects.filter(applies_to=applies_to, is_active=True))


def custom_form_field(definition: CustomField, stored: Any = None) -> forms.Field:
    """The form field for one administrator-defined field."""
    common: dict[str, Any] = {
        "label": definition.label,
        "required": definition.required,
        "help_text": definition.help_text,
    }
    kind = definition.type
    if kind == CustomField.Type.NUMBER:
        # Localised: "3,5" in Spanish, "3.5" in English.
        return forms.DecimalField(
            max_digits=18,
            decimal_places=6,
            localize=True,
            widget=forms.TextInput(attrs={"inputmode": "decimal"}),
            **common,
        )
    if kind == CustomField.Type.DATE:
        return forms.DateField(widget=_date_input(), **common)
    if kind == CustomField.Type.CHOICE:
        choices = [(value, value) for value in definition.choices]
        # A value stored before the administrator changed the choices is kept, not lost.
        if stored not in (None, "") and stored not in definition.choices:
            choices.append((stored, stored))
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    if kind == CustomField.Type.BOOLEAN:
        # A select, not a checkbox: "required" means "answer yes or no", and no answer is kept
        # apart from "no".
        return forms.ChoiceField(choices=YES_NO, **common)
    return forms.CharField(max_length=500, **common)


def custom_initial(definition: CustomField, stored: Any) -> Any:
    """A stored JSON value as its form field shows it."""
    if stored is None:
        return None
    if definition.type == CustomField.Type.DATE:
        try:
            return date.fromisoformat(str(stored))
        except ValueError:
            return None
    if definition.type == CustomField.Type.BOOLEAN:
        return "yes" if stored else "no"
    return stored


def custom_json(definition: CustomField, value: Any) -> Any:
    """A cleaned value as stored in the ``custom`` JSON document; None when empty."""
    if value in (None, ""):
        return None
    if definition.type == CustomField.Type.NUMBER:
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if definition.type == CustomField.Type.DATE:
        return value.isoformat()
    if definition.type == CustomField.Type.BOOLEAN:
        return value == "yes"
    return value


def custom_display(definition: CustomField, stored: Any) -> str:
    """A stored value as the 360° page shows it."""
    if definition.type == CustomField.Type.BOOLEAN:
        return str(_("Yes") if stored else _("No"))
    if definition.type == CustomField.Type.DATE:
        try:
            return date_format(date.fromisoformat(str(stored)), "SHORT_DATE_FORMAT")
        except ValueError:
            return str(stored)
    if definition.type == CustomField.Type.NUMBER:
        return number_format(stored)
    return str(stored)


class CustomFieldsMixin:
    """Adds the active custom fields of people or organisations to a form, after its own."""

    custom_applies_to: str = ""

    def add_custom_fields(self, stored: Mapping[str, Any]) -> None:
        self.custom_definitions = custom_field_definitions(self.custom_applies_to)
        self.stored_custom = dict(stored or {})
        for definition in self.custom_definitions:
            name = CUSTOM_PREFIX + definition.key
            value = self.stored_custom.get(definition.key)
            self.fields[name] = custom_form_field(definition, value)
            self.initial.setdefault(name, custom_initial(definition, value))

    def custom_values(self) -> dict[str, Any]:
        """The new ``custom`` document. Values of fields an administrator switched off are
        kept: switching a field off hides it, it does not erase data."""
        values = dict(self.stored_custom)
        for definition in self.custom_definitions:
            value = custom_json(definition, self.cleaned_data.get(CUSTOM_PREFIX + definition.key))
            if value is None:
                values.pop(definition.key, None)
            else:
                values[definition.key] = value
        return values

    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[CUSTOM_PREFIX + definition.key] for definition in self.custom_definitions]


# --- People and organisations ------------------------------------------------------------------


class PersonForm(CustomFieldsMixin, forms.Form):
    custom_applies_to = CustomField.Applies.PERSON

    given_name = _model_field(Person, "given_name")
    first_surname = _model_field(Person, "first_surname")
    second_surname = _model_field(Person, "second_surname")
    document_type = _model_field(Person, "document_type")
    document_number = _model_field(
        Person,
        "document_number",
        help_text=_("DNI and NIE are checked: the letter must match the number."),
    )
    birth_date = _model_field(Person, "birth_date", widget=_date_input())
    sex = _model_field(Person, "sex")
    preferred_channel = _model_field(Person, "preferred_channel")
    preferred_language = _model_field(Person, "preferred_language")
    tags = TagsField()
    notes = _model_field(Person, "notes", widget=forms.Textarea(attrs={"rows": 3}))

    identity_names = (
        "given_name",
        "first_surname",
        "second_surname",
        "document_type",
        "document_number",
        "birth_date",
        "sex",
    )
    preference_names = ("preferred_channel", "preferred_language", "tags", "notes")

    def __init__(self, *args: Any, person: Person | None = None, **kwargs: Any) -> None:
        self.person = person
        if person is not None:
            kwargs.setdefault("initial", {})
            kwargs["initial"] = {
                **{name: getattr(person, name) for name in self.base_fields},
                **kwargs["initial"],
            }
        super().__init__(*args, **kwargs)
        self.fields["given_name"].widget.attrs["autocomplete"] = "given-name"
        self.fields["first_surname"].widget.attrs["autocomplete"] = "family-name"
        self.fields["birth_date"].widget.attrs["autocomplete"] = "bday"
        self.add_custom_fields(person.custom if person else {})

    def clean_birth_date(self) -> date | None:
        value = self.cleaned_data.get("birth_date")
        if value and value > timezone.localdate():
            raise ValidationError(_("A birth date cannot be in the future."), code="future")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "document_type" in self.errors or "document_number" in self.errors:
            return cleaned
        document_type = cleaned.get("document_type", "")
        number = cleaned.get("document_number", "")
        if document_type and not number:
            self.add_error(
                "document_number", ValidationError(_("Enter the document number."), "required")
            )
            return cleaned
        try:
            cleaned["document_number"] = clean_document(document_type, number)
        except ValidationError as error:
            field = "document_type" if error.code == "document_type" else "document_number"
            self.add_error(field, error)
        return cleaned

    def identity_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.identity_names]

    def preference_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.preference_names]

    def service_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``person_create``/``person_update``."""
        fields = {name: self.cleaned_data[name] for name in (*self.identity_names,)}
        fields.update({name: self.cleaned_data[name] for name in self.preference_names})
        fields["custom"] = self.custom_values()
        return fields


class OrganizationForm(CustomFieldsMixin, forms.Form):
    custom_applies_to = CustomField.Applies.ORGANIZATION

    name = _model_field(Organization, "name")
    kind = _model_field(Organization, "kind")
    tax_id = _model_field(
        Organization, "tax_id", help_text=_("CIF or NIF: the control character is checked.")
    )
    sector = _model_field(Organization, "sector")
    website = _model_field(Organization, "website", assume_scheme="https")
    preferred_channel = _model_field(Organization, "preferred_channel")
    preferred_language = _model_field(Organization, "preferred_language")
    tags = TagsField()
    notes = _model_field(Organization, "notes", widget=forms.Textarea(attrs={"rows": 3}))

    identity_names = ("name", "kind", "tax_id", "sector", "website")
    preference_names = ("preferred_channel", "preferred_language", "tags", "notes")

    def __init__(self, *args: Any, organization: Organization | None = None, **kwargs: Any):
        self.organization = organization
        if organization is not None:
            kwargs["initial"] = {
                **{name: getattr(organization, name) for name in self.base_fields},
                **kwargs.get("initial", {}),
            }
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["autocomplete"] = "organization"
        self.fields["website"].widget.attrs["autocomplete"] = "url"
        self.add_custom_fields(organization.custom if organization else {})

    def clean_tax_id(self) -> str:
        return clean_tax_id(self.cleaned_data.get("tax_id", ""))

    def identity_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.identity_names]

    def preference_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.preference_names]

    def service_fields(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data[name] for name in self.identity_names}
        fields.update({name: self.cleaned_data[name] for name in self.preference_names})
        fields["custom"] = self.custom_values()
        return fields


# --- Contact data ------------------------------------------------------------------------------


class EmailForm(forms.Form):
    address = _model_field(EmailAddress, "address")
    label = _model_field(EmailAddress, "label", help_text=_("e.g. work, personal"))
    is_primary = _model_field(EmailAddress, "is_primary")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].widget.attrs["autocomplete"] = "email"

    def as_input(self) -> EmailInput:
        data = self.cleaned_data
        return EmailInput(
            address=data["address"], label=data["label"], is_primary=data["is_primary"]
        )


class PhoneForm(forms.Form):
    number = forms.CharField(
        label=_("Phone"),
        max_length=30,
        help_text=_("Any format; numbers from abroad with their prefix, e.g. +33 …"),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    kind = _model_field(PhoneNumber, "kind")
    label = _model_field(PhoneNumber, "label")
    is_primary = _model_field(PhoneNumber, "is_primary")

    def clean_number(self) -> str:
        return clean_phone(self.cleaned_data["number"])

    def as_input(self) -> PhoneInput:
        data = self.cleaned_data
        return PhoneInput(
            number=data["number"],
            kind=data["kind"],
            label=data["label"],
            is_primary=data["is_primary"],
        )


class AddressForm(forms.Form):
    street = _model_field(PostalAddress, "street")
    number = _model_field(PostalAddress, "number")
    extra = _model_field(PostalAddress, "extra")
    postcode = _model_field(PostalAddress, "postcode")
    municipality = _model_field(PostalAddress, "municipality")
    province = _model_field(PostalAddress, "province")
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        initial="ES",
        help_text=_("Two-letter code, e.g. ES, PT, FR"),
    )
    label = _model_field(PostalAddress, "label")
    is_notification = _model_field(PostalAddress, "is_notification")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["street"].widget.attrs["autocomplete"] = "address-line1"
        self.fields["postcode"].widget.attrs["autocomplete"] = "postal-code"
        self.fields["municipality"].widget.attrs["autocomplete"] = "address-level2"
        self.fields["country"].widget.attrs["autocomplete"] = "country"

    def has_changed(self) -> bool:
        # The country comes filled in: a row with nothing else typed is an empty row.
        return any(name != "country" for name in self.changed_data)

    def clean_country(self) -> str:
        country = self.cleaned_data["country"].strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValidationError(_("Use the two-letter country code, e.g. ES."), code="country")
        return country

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        postcode = (cleaned.get("postcode") or "").strip()
        if postcode and cleaned.get("country") == "ES" and not re.fullmatch(r"\d{5}", postcode):
            self.add_error("postcode", _("A Spanish postcode has 5 digits, e.g. 28013."))
        cleaned["postcode"] = postcode
        return cleaned

    def as_input(self) -> AddressInput:
        data = self.cleaned_data
        return AddressInput(
            street=data["street"],
            number=data["number"],
            extra=data["extra"],
            postcode=data["postcode"],
            municipality=data["municipality"],
            province=data["province"],
            country=data["country"],
            is_notification=data["is_notification"],
            label=data["label"],
        )


class ContactFormSet(forms.BaseFormSet):
    """Rows of one kind of contact data; existing rows can be removed, empty rows are ignored."""

    flag = "is_primary"

    def kept_forms(self) -> list[forms.Form]:
        return [
            form
            for form in self.forms
            if form.has_changed() or form in self.initial_forms
            if not self._should_delete_form(form) and form.cleaned_data
        ]

    def clean(self) -> None:
        if any(self.errors):
            return
        kept = self.kept_forms()
        flagged = [form for form in kept if form.cleaned_data.get(self.flag)]
        if len(flagged) > 1:
            raise ValidationError(self.too_many_flags_message, code="flags")

    too_many_flags_message = _("Mark only one as the main one.")

    def inputs(self) -> list:
        return [form.as_input() for form in self.kept_forms()]


class AddressFormSet(ContactFormSet):
    flag = "is_notification"

    def clean(self) -> None:
        if any(self.errors):
            return
        kept = self.kept_forms()
        flagged = [form for form in kept if form.cleaned_data.get(self.flag)]
        if len(kept) == 1:
            # The only address is the one for notifications.
            kept[0].cleaned_data[self.flag] = True
        elif len(kept) > 1 and len(flagged) != 1:
            raise ValidationError(
                _("Choose exactly one address for notifications."), code="notification"
            )


def _formset(form: type[forms.Form], base: type[forms.BaseFormSet]) -> type[forms.BaseFormSet]:
    return forms.formset_factory(
        form, formset=base, extra=1, can_delete=True, can_delete_extra=False, max_num=20
    )


EmailFormSet = _formset(EmailForm, ContactFormSet)
PhoneFormSet = _formset(PhoneForm, ContactFormSet)
AddressesFormSet = _formset(AddressForm, AddressFormSet)

CONTACT_FORMSETS = (
    ("emails", EmailFormSet, EmailAddress, ("address", "label", "is_primary")),
    ("phones", PhoneFormSet, PhoneNumber, ("number", "kind", "label", "is_primary")),
    (
        "addresses",
        AddressesFormSet,
        PostalAddress,
        (
            "street",
            "number",
            "extra",
            "postcode",
            "municipality",
            "province",
            "country",
            "label",
            "is_notification",
        ),
    ),
)


class RecordForms:
    """The main form of a person or organisation and its three contact formsets, as one."""

    def __init__(
        self,
        form_class: type[PersonForm | OrganizationForm],
        *,
        owner: Person | Organization | None,
        data: Mapping[str, Any] | None = None,
        initial_contacts: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        """``initial_contacts`` pre-fills a new record's formsets, e.g. the phone of a caller
        the lookup did not find: ``{"phones": [{"number": "+34600123456"}]}``."""
        self.owner = owner
        owner_kwarg = "person" if form_class is PersonForm else "organization"
        self.form = form_class(data=data, **{owner_kwarg: owner})
        self.formsets: dict[str, forms.BaseFormSet] = {}
        for prefix, formset_class, model, names in CONTACT_FORMSETS:
            initial = (initial_contacts or {}).get(prefix)
            if owner is not None and owner.pk:
                where = {owner_kwarg: owner}
                initial = list(model.objects.filter(**where).order_by("id").values(*names))
            self.formsets[prefix] = formset_class(data=data, initial=initial, prefix=prefix)

    @property
    def emails(self) -> forms.BaseFormSet:
        return self.formsets["emails"]

    @property
    def phones(self) -> forms.BaseFormSet:
        return self.formsets["phones"]

    @property
    def addresses(self) -> forms.BaseFormSet:
        return self.formsets["addresses"]

    def is_valid(self) -> bool:
        results = [self.form.is_valid(), *(fs.is_valid() for fs in self.formsets.values())]
        return all(results)

    def contacts(self) -> Contacts:
        return Contacts(
            emails=self.emails.inputs(),
            phones=self.phones.inputs(),
            addresses=self.addresses.inputs(),
        )

    def service_fields(self) -> dict[str, Any]:
        return self.form.service_fields()

    def add_service_error(self, error: ValidationError) -> None:
        """A service refused the write: show why next to the field concerned, or on top."""
        add_service_error(self.form, error)

    def error_summary(self) -> list[tuple[str, str]]:
        """(anchor id, message) for every error, for the summary at the top of the form."""
        summary: list[tuple[str, str]] = [("", message) for message in self.form.non_field_errors()]
        rows = [(self.form, "")]
        for formset in self.formsets.values():
            rows += [
                (form, f" {number}")
                for number, form in enumerate(formset.forms, start=1)
                if not getattr(form, "cleaned_data", {}).get("DELETE")
            ]
        for form, number in rows:
            for name, errors in form.errors.items():
                if name == NON_FIELD_ERRORS:
                    continue
                bound = form[name]
                summary += [(bound.auto_id, f"{bound.label}{number}: {error}") for error in errors]
        for prefix, formset in self.formsets.items():
            summary += [(f"{prefix}-fieldset", error) for error in formset.non_form_errors()]
        return summary


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: field errors on their fields, a broken
    unique constraint on the field it concerns, anything else above the form."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            for item in errors:
                field = name if name in form.fields else None
                _add_one_error(form, field, item)
    else:
        for item in error.error_list:
            _add_one_error(form, None, item)


def _add_one_error(form: forms.Form, field: str | None, error: ValidationError) -> None:
    text = " ".join(str(message) for message in error.messages)
    for constraint, (constraint_field, message) in CONSTRAINT_ERRORS.items():
        if constraint in text and constraint_field in form.fields:
            form.add_error(constraint_field, ValidationError(message, code="duplicate"))
            return
    form.add_error(field, error)


def constraint_error(exception: Exception) -> ValidationError | None:
    """An IntegrityError of a unique constraint (two people saved the same document at the
    same moment) as the ValidationError the form shows."""
    text = str(exception)
    for constraint, (field, message) in CONSTRAINT_ERRORS.items():
        if constraint in text:
            return ValidationError({field: ValidationError(message, code="duplicate")})
    return None


# --- Interactions, relationships, teams --------------------------------------------------------


def user_units(user: User) -> list[Unit]:
    """The units the user belongs to, the first one first (the default for new records)."""
    return list(Unit.objects.filter(memberships__user=user).order_by("memberships__id"))


class InteractionForm(forms.Form):
    channel = _model_field(Interaction, "channel")
    direction = _model_field(Interaction, "direction", widget=forms.RadioSelect)
    subject = _model_field(Interaction, "subject")
    text = _model_field(Interaction, "text", widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    unit = forms.ModelChoiceField(
        label=_("Unit"), queryset=Unit.objects.none(), required=False, empty_label="—"
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        units: Iterable[Unit] | None = None,
        channel: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        units = list(units) if units is not None else user_units(user)
        self.fields["unit"].queryset = Unit.objects.filter(pk__in=[unit.pk for unit in units])
        # Known choices: no second query to render the select.
        self.fields["unit"].choices = [("", "—"), *((unit.pk, unit.name) for unit in units)]
        if units:
            self.initial.setdefault("unit", units[0].pk)
        self.initial.setdefault("channel", channel or Channel.PHONE)
        self.initial.setdefault("direction", Interaction.Direction.INBOUND)

    def clean_occurred_at(self) -> datetime:
        value = self.cleaned_data.get("occurred_at") or timezone.now()
        if value > timezone.now() + timedelta(minutes=5):
            raise ValidationError(_("An interaction cannot be in the future."), code="future")
        return value


class RelationshipForm(forms.Form):
    """A person's role in an organisation. The other side is found by what the user types
    (name, document or tax id); when several match, the form asks which one."""

    counterpart_query = forms.CharField(max_length=200)
    counterpart = forms.TypedChoiceField(
        coerce=int, required=False, widget=forms.RadioSelect, choices=()
    )
    role = _model_field(Relationship, "role")
    position = _model_field(Relationship, "position")
    start_date = _model_field(Relationship, "start_date", widget=_date_input())
    end_date = _model_field(Relationship, "end_date", widget=_date_input())

    def __init__(self, *args: Any, counterpart_model: type[Person | Organization], **kwargs):
        super().__init__(*args, **kwargs)
        self.counterpart_model = counterpart_model
        if counterpart_model is Organization:
            self.fields["counterpart_query"].label = _("Organisation")
            self.fields["counterpart_query"].help_text = _("Its name or tax id (CIF)")
        else:
            self.fields["counterpart_query"].label = _("Person")
            self.fields["counterpart_query"].help_text = _("Name, surnames or identity document")
        self.fields["counterpart"].label = _("Which one?")
        self.matches: list[Person | Organization] = []
        if self.is_bound:
            query = str(self.data.get(self.add_prefix("counterpart_query"), ""))
            self.matches = self._find(query)
            self.fields["counterpart"].choices = [
                (match.pk, self._describe(match)) for match in self.matches
            ]

    def _find(self, query: str) -> list[Person | Organization]:
        if not query.strip():
            return []
        queryset = self.counterpart_model.objects.in_use().filter(merged_into_id__isnull=True)
        if self.counterpart_model is Person:
            queryset = queryset.order_by("first_surname", "second_surname", "given_name", "id")
        else:
            queryset = queryset.order_by("name", "id")
        return list(queryset.search(query)[: MAX_LOOKUP_MATCHES + 1])

    @staticmethod
    def _describe(match: Person | Organization) -> str:
        if isinstance(match, Person):
            document = match.document_number[-4:] if match.document_number else ""
            return f"{match.full_name} (…{document})" if document else match.full_name
        return f"{match.name} ({match.tax_id})" if match.tax_id else match.name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", _("The end cannot be before the start."))
        if "counterpart_query" in self.errors:
            return cleaned
        chosen = cleaned.get("counterpart")
        by_pk = {match.pk: match for match in self.matches}
        if chosen and chosen in by_pk:
            cleaned["counterpart_object"] = by_pk[chosen]
        elif not self.matches:
            self.add_error(
                "counterpart_query", _("Nothing matches this: check it, or create the record.")
            )
        elif len(self.matches) == 1:
            cleaned["counterpart_object"] = self.matches[0]
        elif len(self.matches) > MAX_LOOKUP_MATCHES:
            self.add_error("counterpart_query", _("Too many match: type more of the name."))
        else:
            self.add_error("counterpart", _("Several match: choose one."))
        return cleaned


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100)


class TeamMemberForm(forms.Form):
    """A member is chosen among the people related to the organisation."""

    person = forms.TypedChoiceField(label=_("Person"), coerce=int, choices=())

    def __init__(
        self, *args: Any, people: Iterable[Person], team: Team | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if team is not None:
            self.fields["person"].label = _("New member of %(team)s") % {"team": team.name}
        self.people = {person.pk: person for person in people}
        self.fields["person"].choices = [
            ("", "—"),
            *((pk, person.full_name) for pk, person in self.people.items()),
        ]

    def clean_person(self) -> Person:
        return self.people[self.cleaned_data["person"]]
