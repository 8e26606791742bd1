"""Forms of the public site (sede electrónica): filing a case, tracking it, replying to a request
for information, reporting an accessibility barrier.

Every field renders with Bootstrap's classes, ``aria-invalid`` and ``aria-describedby`` pointing
at its help and its error (Django's own, plus ``is-invalid``: ``SedeBoundField``);
``error_summary`` lists every error with the id of its field for the summary at the top of the
page. The identity typed is checked by ``cases.services.Filer.cleaned`` (python-stdnum,
phonenumbers), whose errors land on their fields.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from citizens.models import DocumentType

from .antiabuse import HONEYPOT_FIELD, form_stamp, stamp_time
from .models import CaseKind, CaseType, Hearing, SubjectArea
from .services import Filer, Upload
from .uploads import ACCEPT_ATTRIBUTE, check_uploads, limits_text

FILER_FIELDS = tuple(Filer.__dataclass_fields__)
IDENTITY_ORDER = ["given_name", "first_surname", "second_surname", "document_type",
                  "document_number"]  # fmt: skip
CONTACT_ORDER = ["email", "phone", "street", "street_number", "postcode", "municipality",
                 "province"]  # fmt: skip
COORDINATE = Decimal("0.000001")


class SedeBoundField(forms.BoundField):
    """Bootstrap's ``is-invalid`` on a field with errors, besides Django's ``aria-invalid``."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        if self.errors:
            widget = widget or self.field.widget
            classes = attrs.get("class") or widget.attrs.get("class", "")
            attrs["class"] = f"{classes} is-invalid".strip()
        return attrs

    @property
    def anchor(self) -> str:
        """The id of the element the error summary links to (the first choice of a group)."""
        widget = self.field.widget
        if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
            return f"{self.auto_id}_0"
        return self.auto_id

    @property
    def is_checkbox(self) -> bool:
        return isinstance(self.field.widget, forms.CheckboxInput)

    @property
    def is_choice_group(self) -> bool:
        return isinstance(self.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple)


class SedeForm(forms.Form):
    """Bootstrap classes on every widget and the error summary."""

    bound_field_class = SedeBoundField
    template_name = "cases/public/_form_fields.html"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput):
                continue
            if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs.setdefault("class", css)

    def error_summary(self) -> list[tuple[str, str]]:
        """(anchor id, message) for every error, in the order of the form; anchor "" for the
        errors of the whole form."""
        summary = [("", str(message)) for message in self.errors.get(NON_FIELD_ERRORS, [])]
        for name in self.fields:
            if name in self.errors:
                bound = self[name]
                label = str(bound.label).rstrip(" .:?")
                summary += [(bound.anchor, f"{label}: {error}") for error in bound.errors]
        return summary

    def add_service_error(self, error: ValidationError) -> None:
        """A service's ValidationError on the fields it names (the rest above the form)."""
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        else:
            self.add_error(None, error)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleaned to the list of them (checked by the form)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class CoordinateField(forms.DecimalField):
    """A latitude or longitude, with a point or a comma, rounded to six decimals (~10 cm)."""

    def __init__(self, *, limit: int, **kwargs) -> None:
        super().__init__(
            required=False,
            min_value=-limit,
            max_value=limit,
            widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
            **kwargs,
        )

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip().replace(",", ".")
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.quantize(COORDINATE)
        except InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class AttachmentsMixin(forms.Form):
    """The attachments field and its checks (cases.uploads): ``uploads`` once valid."""

    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(self, *args, skipped_files=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.skipped_files = list(skipped_files)
        self.fields["attachments"].help_text = limits_text()
        self.uploads: list[Upload] = []

    def clean_attachments(self) -> list:
        files = self.cleaned_data.get("attachments") or []
        self.uploads = check_uploads(files, skipped=self.skipped_files)
        return files

    @property
    def attached_names(self) -> list[str]:
        """The names of the files the citizen sent with this (re-shown) form."""
        if not self.is_bound:
            return []
        names = [upload.name for upload in self.files.getlist(self.add_prefix("attachments"))]
        return names + [name for name, _reason in self.skipped_files]


class GuardedMixin(forms.Form):
    """The honeypot and the minimum fill time (cases.antiabuse)."""

    stamp = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            label=_("Leave this field empty"),
            required=False,
            widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
        )
        self.refused_as_robot = False
        self.sent_stamp = self.data.get("stamp", "") if self.is_bound else ""
        if not self.is_bound:
            self.initial["stamp"] = form_stamp()
        elif stamp_time(self.sent_stamp) is None:
            # Shown again with a fresh stamp; a valid one is kept, so that a form shown again
            # still counts from the first time it was shown.
            self.data = self.data.copy()
            self.data["stamp"] = form_stamp()

    @property
    def honeypot(self):
        return self[HONEYPOT_FIELD]

    def clean(self):
        # Errors of the whole form, added rather than raised: the fields' own checks still run,
        # so that a person sees everything to correct at once.
        cleaned = super().clean()
        if cleaned.get(HONEYPOT_FIELD):
            self.refused_as_robot = True
            self.add_error(
                None,
                ValidationError(
                    _(
                        "This form could not be accepted because a field that must stay empty "
                        "was filled in. If you are a person, please send it again."
                    ),
                    code="honeypot",
                ),
            )
        shown = stamp_time(self.sent_stamp)
        minimum = settings.SEDE_MIN_FILL_SECONDS
        if shown is None:
            self.add_error(
                None,
                ValidationError(
                    _(
                        "This form was open for too long or was changed. Check what you typed "
                        "and send it again."
                    ),
                    code="stamp",
                ),
            )
        elif time.time() - shown < minimum:
            self.refused_as_robot = True
            self.add_error(
                None,
                ValidationError(
                    ngettext(
                        "The form was sent less than %(seconds)s second after it was shown. "
                        "Check what you typed and send it again.",
                        "The form was sent less than %(seconds)s seconds after it was shown. "
                        "Check what you typed and send it again.",
                        minimum,
                    )
                    % {"seconds": minimum},
                    code="too_fast",
                ),
            )
        return cleaned


PRIVACY_LABEL = _("I have read the information on data protection and accept it.")


class IdentityMixin(forms.Form):
    """Who files: name, surnames, identity document, how to answer them."""

    document_required = True

    given_name = forms.CharField(
        label=_("Name"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={"required": _("Write your name.")},
    )
    first_surname = forms.CharField(
        label=_("First surname"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
        error_messages={"required": _("Write your first surname.")},
    )
    second_surname = forms.CharField(label=_("Second surname"), max_length=100, required=False)
    document_type = forms.ChoiceField(
        label=_("Identity document"),
        choices=[("", _("Choose the document")), *DocumentType.choices],
        error_messages={"required": _("Choose the type of your identity document.")},
    )
    document_number = forms.CharField(
        label=_("Document number"),
        max_length=20,
        help_text=_("DNI or NIE with its letter, e.g. 12345678Z."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Write the number of your identity document.")},
    )
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        help_text=_("We send the receipt and the answer here."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    street = forms.CharField(
        label=_("Street"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    street_number = forms.CharField(
        label=_("Number, floor, door"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-line2"}),
    )
    postcode = forms.CharField(
        label=_("Postcode"),
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric"}),
    )
    municipality = forms.CharField(
        label=_("Municipality"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    province = forms.CharField(
        label=_("Province"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "address-level1"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.document_required:
            self.fields["document_type"].required = False
            self.fields["document_number"].required = False
        self.filer: Filer | None = None

    def identity_fields(self):
        return [self[name] for name in ("given_name", "first_surname", "second_surname")]

    def document_fields(self):
        return [self[name] for name in ("document_type", "document_number")]

    def contact_fields(self):
        return [self[name] for name in ("email", "phone")]

    def address_fields(self):
        names = ("street", "street_number", "postcode", "municipality", "province")
        return [self[name] for name in names]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("email") and not cleaned.get("phone") and "email" not in self.errors:
            self.add_error(
                "email",
                ValidationError(
                    _("Give an email or a phone so that we can answer you."), code="contact"
                ),
            )
        typed = {name: cleaned.get(name) or "" for name in FILER_FIELDS if name in self.fields}
        # Errors already found on these fields stay; the Filer's checks (document letter, phone,
        # tax id) only add what is left.
        try:
            self.filer = Filer(**typed).cleaned()
        except ValidationError as error:
            for name, errors in error.error_dict.items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, errors)
        return cleaned


class CaseFilingForm(IdentityMixin, GuardedMixin, AttachmentsMixin, SedeForm):
    """The public form of one case type (``case_type``): the fields every type has plus the
    place of an alert or the hearing of a contribution."""

    field_order = [
        *IDENTITY_ORDER,
        "for_organization",
        "organization_tax_id",
        "organization_name",
        *CONTACT_ORDER,
        "hearing",
        "subject_area",
        "subject",
        "text",
        "place_address",
        "latitude",
        "longitude",
        "attachments",
        "privacy",
    ]

    # The campaign whose link brought the citizen here (``?campaign=<code>``); an unknown code
    # is ignored.
    campaign_code = forms.CharField(widget=forms.HiddenInput, required=False, strip=True)

    @property
    def campaign(self):
        from campaigns.models import Campaign

        code = (self.cleaned_data.get("campaign_code") or "")[:60] if self.is_bound else ""
        return Campaign.objects.filter(code=code).first() if code else None

    for_organization = forms.BooleanField(
        label=_("I am filing on behalf of an organisation (company, association...)"),
        required=False,
        widget=forms.CheckboxInput(attrs={"data-organization-toggle": ""}),
    )
    organization_tax_id = forms.CharField(
        label=_("Tax id of the organisation (CIF/NIF)"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    organization_name = forms.CharField(
        label=_("Name of the organisation"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    subject_area = forms.ModelChoiceField(
        label=_("What is it about?"),
        queryset=SubjectArea.objects.none(),
        empty_label=_("Choose a subject"),
        error_messages={"required": _("Choose what it is about.")},
    )
    hearing = forms.ModelChoiceField(
        label=_("Public hearing"),
        queryset=Hearing.objects.none(),
        widget=forms.RadioSelect,
        required=False,
        error_messages={"invalid_choice": _("This public hearing is not open.")},
    )
    place_address = forms.CharField(
        label=_("Address of the place"),
        max_length=300,
        required=False,
        help_text=_("Street and number, or a description such as “in front of the library”."),
    )
    latitude = CoordinateField(label=_("Latitude"), limit=90)
    longitude = CoordinateField(label=_("Longitude"), limit=180)
    subject = forms.CharField(
        label=_("Subject"),
        max_length=200,
        help_text=_("A short title, e.g. “Street lamp out in Calle Mayor”."),
        error_messages={"required": _("Write a short subject.")},
    )
    text = forms.CharField(
        label=_("Your text"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Explain what happened or what you propose, with the dates and places."),
        error_messages={"required": _("Write your text.")},
    )
    privacy = forms.BooleanField(
        label=PRIVACY_LABEL,
        error_messages={"required": _("You must accept the data protection information.")},
    )

    def __init__(self, *args, case_type: CaseType, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.case_type = case_type
        self.fields["subject_area"].queryset = SubjectArea.objects.filter(active=True)
        self.fields["subject_area"].label_from_instance = lambda area: area.label
        if case_type.kind == CaseKind.HEARING:
            self.hearings = list(Hearing.objects.open_on(timezone.localdate()))
            hearing = self.fields["hearing"]
            hearing.required = True
            hearing.error_messages["required"] = _("Choose the public hearing.")
            hearing.queryset = Hearing.objects.open_on(timezone.localdate())
            hearing.label_from_instance = _hearing_label
        else:
            self.hearings = []
            del self.fields["hearing"]
        if case_type.kind != CaseKind.ALERT:
            for name in ("place_address", "latitude", "longitude"):
                del self.fields[name]

    def organization_fields(self):
        return [self[name] for name in ("organization_tax_id", "organization_name")]

    def place_fields(self):
        return [self[name] for name in ("latitude", "longitude")]

    def clean(self):
        if not self.cleaned_data.get("for_organization"):
            # Typed and then unticked: not filed for an organisation.
            self.cleaned_data["organization_tax_id"] = ""
            self.cleaned_data["organization_name"] = ""
        else:
            for name, message in (
                ("organization_tax_id", _("Write the tax id of the organisation.")),
                ("organization_name", _("Write the name of the organisation.")),
            ):
                if not self.cleaned_data.get(name) and name not in self.errors:
                    self.add_error(name, ValidationError(message, code="required"))
        cleaned = super().clean()
        if self.case_type.kind == CaseKind.ALERT:
            self._clean_place(cleaned)
        return cleaned

    def _clean_place(self, cleaned) -> None:
        latitude, longitude = cleaned.get("latitude"), cleaned.get("longitude")
        if "latitude" in self.errors or "longitude" in self.errors:
            return
        if (latitude is None) != (longitude is None):
            missing = "longitude" if longitude is None else "latitude"
            self.add_error(
                missing,
                ValidationError(_("Give both the latitude and the longitude."), code="point"),
            )
        elif latitude is None and not cleaned.get("place_address"):
            self.add_error(
                "place_address",
                ValidationError(
                    _(
                        "Say where it is: write an address or give the point (latitude and "
                        "longitude)."
                    ),
                    code="place",
                ),
            )

    def filing_arguments(self) -> dict:
        """The keyword arguments of ``cases.services.case_file`` for a valid form."""
        data = self.cleaned_data
        return {
            "case_type": self.case_type,
            "filer": self.filer,
            "subject": data["subject"],
            "text": data["text"],
            "subject_area": data.get("subject_area"),
            "language": active_language(),
            "place_address": data.get("place_address", ""),
            "latitude": data.get("latitude"),
            "longitude": data.get("longitude"),
            "hearing": data.get("hearing"),
            "uploads": self.uploads,
            "campaign": self.campaign,
        }


def _hearing_label(hearing: Hearing) -> str:
    return _("%(title)s (open until %(date)s)") % {
        "title": hearing.title,
        "date": formats.date_format(hearing.closes_on, "DATE_FORMAT"),
    }


def active_language() -> str:
    """The language of the page the citizen filed from (e.g. "es", "en", "ca")."""
    return (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]


class BarrierReportForm(IdentityMixin, GuardedMixin, SedeForm):
    """A barrier to accessibility (RD 1112/2018): where and what. Identity
    documents are optional here, so that reporting a barrier is not a barrier itself."""

    document_required = False
    field_order = [*IDENTITY_ORDER, *CONTACT_ORDER, "page", "text", "privacy"]

    page = forms.CharField(
        label=_("Where is the problem?"),
        max_length=300,
        required=False,
        help_text=_("The address of the page, or its name (e.g. “complaint form”)."),
    )
    text = forms.CharField(
        label=_("Describe the problem"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "What you tried to do, what happened, and the browser or assistive technology you "
            "use if you know it."
        ),
        error_messages={"required": _("Describe the problem you found.")},
    )
    privacy = forms.BooleanField(
        label=PRIVACY_LABEL,
        error_messages={"required": _("You must accept the data protection information.")},
    )

    def filing_arguments(self, case_type: CaseType) -> dict:
        data = self.cleaned_data
        where = data.get("page", "").strip()
        subject = _("Accessibility barrier")
        return {
            "case_type": case_type,
            "filer": self.filer,
            "subject": f"{subject}: {where}" if where else str(subject),
            "text": data["text"],
            "language": active_language(),
        }


class TrackingForm(SedeForm):
    registry_number = forms.CharField(
        label=_("Registry number"),
        max_length=40,
        help_text=_("As on your receipt, e.g. QS-2026-000123."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": _("Write the registry number of your receipt.")},
    )
    secret = forms.CharField(
        label=_("Tracking secret"),
        max_length=40,
        help_text=_("The 12 letters and digits given with your receipt, e.g. ABCD-EFGH-JKLM."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
        error_messages={"required": _("Write the tracking secret of your receipt.")},
    )

    def clean_registry_number(self) -> str:
        return "".join(self.cleaned_data["registry_number"].split()).upper()


class ReplyForm(AttachmentsMixin, SedeForm):
    """The citizen's reply to a request for information."""

    text = forms.CharField(
        label=_("Your reply"),
        max_length=10000,
        required=False,
        help_text=_("Write your reply, attach the documents asked for, or both."),
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    field_order = ["text", "attachments"]

    def clean(self):
        cleaned = super().clean()
        if (
            not (cleaned.get("text") or "").strip()
            and not self.uploads
            and not self.errors.get("attachments")
        ):
            self.add_error(
                "text",
                ValidationError(_("Write your reply or attach a file."), code="required"),
            )
        return cleaned
