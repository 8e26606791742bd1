"""Staff forms of the cases module: registering a filing made through another channel, and the
forms of the workflow's actions on the case page. They only read and check what was typed; the
services (cases.services) decide and write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cases.models import Case, CaseType, Hearing, SubjectArea
from cases.services import Filer, Upload
from cases.uploads import ACCEPT_ATTRIBUTE, check_uploads, limits_text
from citizens.models import Channel, DocumentType, Person
from crm.models import Unit, User, unit_ids_for_user

PERSON_CANDIDATES = 10
# Filings staff register come from every channel but the public site's own forms.
STAFF_CHANNELS = [choice for choice in Channel.choices if choice[0] != Channel.WEB_FORM]
FILER_FIELDS = tuple(Filer.__dataclass_fields__)


def service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: by field where the form has that field,
    above the form otherwise."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Several files at once, checked by their content and cleaned as on the public site
    (cases.uploads: count and sizes, PDF and photos only, images without their metadata)."""

    widget = MultipleFileInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.widget.attrs["accept"] = ACCEPT_ATTRIBUTE

    def clean(self, data: Any, initial: Any = None) -> list[Upload]:
        files = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if not files:
            if self.required:
                raise ValidationError(self.error_messages["required"], code="required")
            return []
        return check_uploads(files)


class LabelledChoiceField(forms.ModelChoiceField):
    """A catalogue (case types, subject areas) named in the active language."""

    def label_from_instance(self, obj: Any) -> str:
        return getattr(obj, "label", None) or str(obj)


def person_label(person: Person) -> str:
    """The name and the last four characters of the document (the rest is not shown)."""
    number = person.document_number or ""
    tail = number[-4:] if len(number) > 4 else ""
    return f"{person.full_name} · …{tail}" if tail else person.full_name


def unit_choices_for(user: User) -> Sequence[Unit]:
    """The units a user may register a filing for: any unit with ``cases.register`` (or as
    an administrator), their own (and those below) otherwise."""
    units = Unit.objects.filter(is_active=True).order_by("name")
    if user.is_superuser or user.has_perm("cases.register"):
        return list(units)
    return list(units.filter(pk__in=unit_ids_for_user(user)))


class CaseRegisterForm(forms.Form):
    """A filing received in person, by phone, letter, email or social network: the citizen
    picked among existing people or identified as typed, and what they filed."""

    channel = forms.ChoiceField(label=_("Received through"), choices=STAFF_CHANNELS)
    # The citizen: find an existing person (``person_q``, then pick) or type their data.
    person_q = forms.CharField(
        label=_("Find the citizen"),
        required=False,
        max_length=100,
        help_text=_("Document, phone, email or name, then press “Find”."),
    )
    person = forms.ChoiceField(label=_("Citizen"), required=False, widget=forms.RadioSelect)
    given_name = forms.CharField(label=_("Given name"), max_length=100, required=False)
    first_surname = forms.CharField(label=_("First surname"), max_length=100, required=False)
    second_surname = forms.CharField(label=_("Second surname"), max_length=100, required=False)
    document_type = forms.ChoiceField(
        label=_("Identity document"),
        choices=[("", "—"), *DocumentType.choices],
        required=False,
    )
    document_number = forms.CharField(label=_("Document number"), max_length=30, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel"}),
    )
    street = forms.CharField(label=_("Street"), max_length=200, required=False)
    street_number = forms.CharField(label=_("Number"), max_length=20, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=10, required=False)
    municipality = forms.CharField(label=_("Municipality"), max_length=100, required=False)
    province = forms.CharField(label=_("Province"), max_length=100, required=False)
    organization_tax_id = forms.CharField(
        label=_("On behalf of an organisation: its tax id"), max_length=20, required=False
    )
    organization_name = forms.CharField(
        label=_("Name of the organisation"), max_length=200, required=False
    )
    language = forms.ChoiceField(
        label=_("Language of the answer"), choices=settings.LANGUAGES, initial="es"
    )
    # What was filed.
    case_type = LabelledChoiceField(label=_("Type"), queryset=CaseType.objects.all())
    subject_area = LabelledChoiceField(
        label=_("Subject area"),
        queryset=SubjectArea.objects.filter(active=True),
        required=False,
        help_text=_("Decides the unit when none is chosen."),
    )
    unit = forms.ModelChoiceField(label=_("Responsible unit"), queryset=Unit.objects.none())
    hearing = forms.ModelChoiceField(
        label=_("Public hearing"),
        queryset=Hearing.objects.none(),
        required=False,
        help_text=_("For contributions to a draft under public hearing."),
    )
    place_address = forms.CharField(
        label=_("Place"),
        max_length=300,
        required=False,
        help_text=_("For incident alerts: the address or a description of the place."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 6}))
    attachments = AttachmentsField(label=_("Attachments"), required=False)

    def __init__(self, *args: Any, user: User, today, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        units = unit_choices_for(user)
        unit_field = self.fields["unit"]
        unit_field.queryset = Unit.objects.filter(pk__in=[unit.pk for unit in units])
        unit_field.choices = [("", "—"), *((unit.pk, unit.name) for unit in units)]
        if user.is_superuser or user.has_perm("cases.register"):
            unit_field.required = False
            unit_field.help_text = _(
                "Leave empty to route it by its subject area, or by its type's default unit."
            )
        elif len(units) == 1:
            self.initial.setdefault("unit", units[0].pk)
        self.fields["hearing"].queryset = Hearing.objects.open_on(today)
        self.fields["attachments"].help_text = limits_text()
        self.candidates = self._candidates()
        self.fields["person"].choices = [
            ("", _("Nobody yet: use the data typed below")),
            *((str(person.pk), person_label(person)) for person in self.candidates),
        ]

    def _candidates(self) -> list[Person]:
        """The people to pick from: the matches of the search, and the one already picked."""
        source = self.data if self.is_bound else self.initial
        text = (source.get("person_q") or "").strip()
        picked = str(source.get("person") or "")
        people = Person.objects.in_use()
        found: list[Person] = []
        if picked.isdigit():
            found.extend(people.filter(pk=int(picked)))
        if text:
            matches = people.search(text).exclude(pk__in=[person.pk for person in found])
            found.extend(
                matches.order_by("first_surname", "second_surname", "given_name", "id")[
                    :PERSON_CANDIDATES
                ]
            )
        return found

    @property
    def searched(self) -> bool:
        source = self.data if self.is_bound else self.initial
        return bool((source.get("person_q") or "").strip())

    @property
    def picked_person(self) -> Person | None:
        picked = self.cleaned_data.get("person") if hasattr(self, "cleaned_data") else None
        return next((p for p in self.candidates if str(p.pk) == str(picked)), None)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("person") and not (cleaned.get("given_name") or "").strip():
            self.add_error(
                "given_name", _("Pick the citizen found above, or write the filer's name.")
            )
        return cleaned

    def filer(self) -> Filer:
        """The filer as typed; where a person was picked, their record fills what was not."""
        typed = {name: self.cleaned_data.get(name) or "" for name in FILER_FIELDS}
        person = self.picked_person
        if person is None:
            return Filer(**typed)
        known = Filer.from_person(person).as_record()
        return Filer(**{name: typed[name] or known.get(name, "") for name in FILER_FIELDS})

    def uploads(self) -> list[Upload]:
        return list(self.cleaned_data.get("attachments") or [])


# --- The case page's actions -------------------------------------------------------------------


def _text(label, *, rows: int = 4, required: bool = True, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows}),
    )


class ActionForm(forms.Form):
    """The form of one action of the case page (each has its own prefix, so the page may hold
    them all and show one with its errors)."""

    def __init__(self, *args: Any, case: Case, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.case = case
        self.user = user


class NoFieldsForm(ActionForm):
    """Start, close: a button."""


class AssignForm(ActionForm):
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none())
    assignee = forms.ModelChoiceField(
        label=_("Handler"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("A handler of that unit; leave empty for the unit to decide."),
    )
    note = _text(_("Note"), rows=2, required=False)

    def __init__(
        self, *args: Any, units: Iterable[Unit], handlers: Iterable[User], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        units, handlers = list(units), list(handlers)
        self.fields["unit"].queryset = Unit.objects.filter(pk__in=[unit.pk for unit in units])
        self.fields["unit"].choices = [("", "—"), *((unit.pk, unit.name) for unit in units)]
        self.fields["assignee"].queryset = User.objects.filter(
            pk__in=[handler.pk for handler in handlers]
        )
        self.fields["assignee"].choices = [
            ("", "—"),
            *((handler.pk, handler.get_full_name() or handler.username) for handler in handlers),
        ]
        self.initial.setdefault("unit", self.case.unit_id)
        self.initial.setdefault("assignee", self.case.assignee_id)


class CommentForm(ActionForm):
    text = _text(_("Internal comment"), help_text=_("Never shown to the citizen."))


class RequestInformationForm(ActionForm):
    text = _text(
        _("What the citizen must give"),
        help_text=_("The citizen sees this and has 10 business days to reply; the clock stops."),
    )


class AnswerForm(ActionForm):
    text = _text(
        _("Answer to the citizen"),
        rows=10,
        help_text=_("Sent to the citizen as a document with its verification code."),
    )


class RejectForm(ActionForm):
    reason = _text(_("Reason"), rows=3, help_text=_("Said to the citizen."))


class DuplicateForm(ActionForm):
    original = forms.CharField(
        label=_("Registry number of the original case"),
        max_length=30,
        help_text=_("e.g. QS-2026-000123"),
    )
    note = _text(_("Note to the citizen"), rows=2, required=False)

    def clean_original(self) -> Case:
        from crm.registry import RegistryNumber

        try:
            number = RegistryNumber.parse(self.cleaned_data["original"])
        except ValueError:
            raise ValidationError(
                _("This is not a registry number (like QS-2026-000123)."), code="invalid"
            ) from None
        original = Case.objects.for_user(self.user).filter(registry_number=number.formatted).first()
        if original is None:
            raise ValidationError(_("No case you may see has this number."), code="unknown")
        return original


class ForwardForm(ActionForm):
    administration = forms.CharField(label=_("Administration it belongs to"), max_length=200)
    note = _text(_("Note to the citizen"), rows=2, required=False)


class TaskForm(ActionForm):
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none())
    description = _text(_("What the unit has to do"), rows=3)

    def __init__(self, *args: Any, units: Iterable[Unit], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        units = list(units)
        self.fields["unit"].queryset = Unit.objects.filter(pk__in=[unit.pk for unit in units])
        self.fields["unit"].choices = [("", "—"), *((unit.pk, unit.name) for unit in units)]


class TaskCompleteForm(ActionForm):
    outcome = _text(_("Outcome"), rows=2, required=False)


class ArticleSearchForm(forms.Form):
    q = forms.CharField(label=_("Search the knowledge base"), max_length=100, required=False)
