"""Forms of field work: planning and recording visits, tasks, meetings, and what a visit opens
(a case, an opportunity). They read and check what was typed; sales.fieldwork decides and
writes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cases.forms import AttachmentsField, LabelledChoiceField, person_label
from cases.models import CaseType
from cases.uploads import check_uploads
from citizens.models import Organization, Person
from crm.models import Unit, User, unit_ids_for_user

from .fieldwork import MeetingInput, TaskInput, VisitInput, colleagues
from .models import ChecklistAnswer, MeetingKind, Visit, VisitType

CANDIDATES = 10
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
# A photo taken with the phone's rear camera (the browser offers the camera straight away).
PHOTO_ATTRS = {"accept": "image/*", "capture": "environment"}


def when_field(label, **kwargs: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label, widget=DATETIME_WIDGET, input_formats=DATETIME_FORMATS, **kwargs
    )


def staff_label(user: User) -> str:
    return user.get_full_name() or user.username


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return staff_label(obj)


class StaffMultipleChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Any) -> str:
        return staff_label(obj)


def unit_queryset(user: User):
    units = Unit.objects.filter(is_active=True)
    if not user.is_superuser:
        units = units.filter(pk__in=unit_ids_for_user(user))
    return units.order_by("name")


class PartyPicker:
    """A person and an organisation picked by a search (``party_q``, "Find"), as on the case
    registration form: candidates come from the search and what was already picked."""

    def _party_setup(self) -> None:
        source = self.data if self.is_bound else self.initial
        text = str(source.get("party_q") or "").strip()
        self.searched = bool(text)
        people, organizations = [], []
        picked_person = str(source.get("person") or "")
        picked_org = str(source.get("organization") or "")
        if picked_person.isdigit():
            people.extend(Person.objects.in_use().filter(pk=int(picked_person)))
        if picked_org.isdigit():
            organizations.extend(Organization.objects.in_use().filter(pk=int(picked_org)))
        if text:
            people.extend(
                Person.objects.in_use()
                .search(text)
                .exclude(pk__in=[p.pk for p in people])
                .order_by("first_surname", "given_name", "id")[:CANDIDATES]
            )
            organizations.extend(
                Organization.objects.in_use()
                .search(text)
                .exclude(pk__in=[o.pk for o in organizations])
                .order_by("name", "id")[:CANDIDATES]
            )
        self.people, self.organizations = people, organizations
        self.fields["person"].choices = [
            ("", _("Nobody")),
            *((str(p.pk), person_label(p)) for p in people),
        ]
        self.fields["organization"].choices = [
            ("", _("None")),
            *((str(o.pk), f"{o.name} · {o.tax_id}" if o.tax_id else o.name) for o in organizations),
        ]

    def picked(self) -> tuple[Person | None, Organization | None]:
        person_pk = str(self.cleaned_data.get("person") or "")
        org_pk = str(self.cleaned_data.get("organization") or "")
        person = next((p for p in self.people if str(p.pk) == person_pk), None)
        organization = next((o for o in self.organizations if str(o.pk) == org_pk), None)
        return person, organization


class VisitForm(PartyPicker, forms.Form):
    visit_type = forms.ModelChoiceField(
        label=_("Type"), queryset=VisitType.objects.filter(active=True)
    )
    party_q = forms.CharField(
        label=_("Find the person or organisation"),
        required=False,
        max_length=100,
        help_text=_("Name, document, tax id, phone or email, then press “Find”."),
    )
    person = forms.ChoiceField(label=_("Person"), required=False, widget=forms.RadioSelect)
    organization = forms.ChoiceField(
        label=_("Organisation"), required=False, widget=forms.RadioSelect
    )
    place_address = forms.CharField(label=_("Place"), max_length=300)
    latitude = forms.DecimalField(
        label=_("Latitude"), required=False, max_digits=9, decimal_places=6, min_value=-90,
        max_value=90,
    )  # fmt: skip
    longitude = forms.DecimalField(
        label=_("Longitude"), required=False, max_digits=9, decimal_places=6, min_value=-180,
        max_value=180,
    )  # fmt: skip
    starts_at = when_field(_("Starts"))
    ends_at = when_field(_("Ends"))
    purpose = forms.CharField(label=_("Purpose"), max_length=300)
    assignees = StaffMultipleChoiceField(label=_("Assigned staff"), queryset=User.objects.none())
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)

    def __init__(self, *args: Any, user: User, visit: Visit | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        staff = colleagues(user)
        self.fields["assignees"].queryset = User.objects.filter(pk__in=[u.pk for u in staff])
        units = unit_queryset(user)
        self.fields["unit"].queryset = units
        if not self.is_bound and visit is None:
            self.initial.setdefault("assignees", [user.pk])
            first = units.first()
            if first is not None and len(unit_ids_for_user(user)) >= 1:
                self.initial.setdefault("unit", first.pk)
        if visit is not None:
            # The checklist was copied when the visit was planned: its type stays.
            self.fields["visit_type"].disabled = True
            self.fields["visit_type"].queryset = VisitType.objects.all()
        self._party_setup()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends < starts:
            self.add_error("ends_at", _("The end comes before the start."))
        return data

    def to_input(self) -> VisitInput:
        data = self.cleaned_data
        person, organization = self.picked()
        return VisitInput(
            visit_type=data["visit_type"],
            place_address=data["place_address"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            purpose=data["purpose"],
            assignees=list(data["assignees"]),
            person=person,
            organization=organization,
            unit=data["unit"],
            latitude=data["latitude"],
            longitude=data["longitude"],
        )


class VisitRecordForm(forms.Form):
    """What was found: a yes/no/not-applicable answer and a note per checklist point, the
    outcome, notes, and photos (from the camera) and documents."""

    outcome = forms.CharField(
        label=_("Outcome"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    photos = AttachmentsField(label=_("Take or add photos"), required=False)
    documents = AttachmentsField(label=_("Add documents"), required=False)

    def __init__(self, *args: Any, visit: Visit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.visit = visit
        self.items = list(visit.checklist.all())
        self.fields["photos"].widget.attrs.update(PHOTO_ATTRS)
        self.fields["photos"].help_text = _(
            "The camera opens on a phone. Photos are stored without their metadata (such as "
            "the place)."
        )
        self.fields["documents"].help_text = _("PDF documents or photos from the phone's files.")
        self.initial.setdefault("outcome", visit.outcome)
        self.initial.setdefault("notes", visit.notes)
        self.rows = []
        for item in self.items:
            answer = forms.ChoiceField(
                label=item.text,
                choices=ChecklistAnswer.Answer.choices,
                required=False,
                widget=forms.RadioSelect(attrs={"class": "btn-check"}),
                help_text=item.help_text,
                initial=item.answer,
            )
            note = forms.CharField(
                label=_("Note on “%(point)s”") % {"point": item.text},
                max_length=500,
                required=False,
                initial=item.note,
            )
            self.fields[f"answer_{item.pk}"] = answer
            self.fields[f"note_{item.pk}"] = note
            self.rows.append((self[f"answer_{item.pk}"], self[f"note_{item.pk}"]))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The photos and the documents together are one upload: one set of limits.
        photos = self.files.getlist("photos") if self.files else []
        documents = self.files.getlist("documents") if self.files else []
        if (
            (photos and documents)
            and "photos" not in self.errors
            and "documents" not in self.errors
        ):
            try:
                check_uploads([*photos, *documents])
            except ValidationError as error:
                self.add_error("documents", error)
        return data

    def answers(self) -> dict[int, tuple[str, str]]:
        return {
            item.pk: (
                self.cleaned_data.get(f"answer_{item.pk}") or "",
                self.cleaned_data.get(f"note_{item.pk}") or "",
            )
            for item in self.items
        }

    def uploads(self) -> list:
        return [*self.cleaned_data.get("photos", []), *self.cleaned_data.get("documents", [])]


class VisitCancelForm(forms.Form):
    reason = forms.CharField(label=_("Why is it cancelled?"), max_length=300)


class OpenCaseForm(forms.Form):
    case_type = LabelledChoiceField(label=_("Type of case"), queryset=CaseType.objects.all())
    unit = forms.ModelChoiceField(
        label=_("Responsible unit"), queryset=Unit.objects.filter(is_active=True), required=False
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    text = forms.CharField(label=_("What was found"), widget=forms.Textarea(attrs={"rows": 4}))
    attach_files = forms.BooleanField(
        label=_("Attach the visit's photos and documents"), required=False, initial=True
    )


class OpenOpportunityForm(forms.Form):
    pipeline = forms.ModelChoiceField(label=_("Pipeline"), queryset=None)
    title = forms.CharField(label=_("Title"), max_length=200)
    amount = forms.DecimalField(
        label=_("Amount (EUR)"), required=False, max_digits=14, decimal_places=2, min_value=0
    )
    expected_close = forms.DateField(
        label=_("Expected close"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from .models import Pipeline

        super().__init__(*args, **kwargs)
        self.fields["pipeline"].queryset = Pipeline.objects.all()


REMIND_CHOICES = [
    ("", _("No reminder")),
    ("0", _("At the due time")),
    ("15", _("15 minutes before")),
    ("60", _("1 hour before")),
    ("1440", _("1 day before")),
]


class TaskForm(forms.Form):
    title = forms.CharField(label=_("What is to be done"), max_length=200)
    due_at = when_field(_("Due"))
    remind = forms.ChoiceField(label=_("Reminder by email"), choices=REMIND_CHOICES, required=False)
    assignee = StaffChoiceField(label=_("Assigned to"), queryset=User.objects.none())
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = colleagues(user)
        self.fields["assignee"].queryset = User.objects.filter(pk__in=[u.pk for u in staff])
        self.fields["unit"].queryset = unit_queryset(user)
        self.initial.setdefault("assignee", user.pk)

    def to_input(self, **links: Any) -> TaskInput:
        data = self.cleaned_data
        remind = data.get("remind")
        remind_at = data["due_at"] - timedelta(minutes=int(remind)) if remind != "" else None
        return TaskInput(
            title=data["title"],
            due_at=data["due_at"],
            assignee=data["assignee"],
            remind_at=remind_at,
            notes=data["notes"],
            unit=data["unit"],
            **links,
        )


def remind_choice(task) -> str:
    """The form's reminder choice for a task's ``remind_at`` (the nearest offered)."""
    if task.remind_at is None:
        return ""
    minutes = int((task.due_at - task.remind_at).total_seconds() // 60)
    offered = [int(value) for value, _label in REMIND_CHOICES if value]
    return str(min(offered, key=lambda value: abs(value - minutes)))


class MeetingForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=MeetingKind.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    starts_at = when_field(_("Starts"))
    ends_at = when_field(_("Ends"))
    place = forms.CharField(label=_("Place"), max_length=300, required=False)
    attendees = StaffMultipleChoiceField(
        label=_("Other attendees"), queryset=User.objects.none(), required=False
    )
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = [u for u in colleagues(user) if u.pk != user.pk]
        self.fields["attendees"].queryset = User.objects.filter(pk__in=[u.pk for u in staff])
        self.fields["unit"].queryset = unit_queryset(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends < starts:
            self.add_error("ends_at", _("The end comes before the start."))
        return data

    def to_input(self) -> MeetingInput:
        data = self.cleaned_data
        return MeetingInput(
            kind=data["kind"],
            title=data["title"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            attendees=list(data["attendees"]),
            place=data["place"],
            description=data["description"],
            unit=data["unit"],
        )
