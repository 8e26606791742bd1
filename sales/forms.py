"""Forms of the funnel. They check input and keep what was typed; writes are the services'."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from citizens.models import DocumentType, Organization, Person
from citizens.validation import clean_document, clean_phone, clean_tax_id
from crm.models import Unit, User

from .models import (
    Lead,
    LeadStatus,
    Opportunity,
    Pipeline,
    Product,
    QuoteVersion,
    Stage,
)

CURRENCY_RE = r"^[A-Za-z]{3}$"


def service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field when it names fields."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


def staff_choices():
    return (
        User.objects.filter(is_active=True, groups__name__in=("promotion", "administrator"))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name() or obj.get_username()


def _document(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    kind = DocumentType.NIE if value[:1].upper() in "XYZ" else DocumentType.DNI
    return clean_document(kind, value)


class LeadDataMixin:
    """Checks shared by the staff's and the public form: a name, valid documents and phone."""

    def clean_document_number(self) -> str:
        return _document(self.cleaned_data.get("document_number", ""))

    def clean_tax_id(self) -> str:
        return clean_tax_id(self.cleaned_data.get("tax_id", ""))

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data.get("phone", ""))

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("given_name") and not cleaned.get("organization_name"):
            self.add_error(
                "given_name", _("Give a person's name or an organisation's name (or both).")
            )
        if not cleaned.get("email") and not cleaned.get("phone") and not self.errors.get("phone"):
            self.add_error("email", _("Give an email or a phone number to reach them."))
        return cleaned


class LeadForm(LeadDataMixin, forms.ModelForm):
    source = forms.ChoiceField(
        label=_("Source"),
        choices=[
            (value, label)
            for value, label in Lead._meta.get_field("source").choices
            if value != "web_form"
        ],
    )
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)

    class Meta:
        model = Lead
        fields = [
            "source",
            "event",
            "given_name",
            "surnames",
            "document_number",
            "email",
            "phone",
            "organization_name",
            "tax_id",
            "interest",
            "owner",
            "unit",
        ]
        widgets = {"interest": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_choices()
        self.fields["unit"].queryset = Unit.objects.order_by("name")
        if self.instance.pk:
            del self.fields["source"]


class PublicInterestForm(LeadDataMixin, forms.Form):
    """The public site's interest form: no account; the lead waits for the promotion team."""

    given_name = forms.CharField(label=_("Your name"), max_length=100, required=False)
    surnames = forms.CharField(label=_("Surnames"), max_length=200, required=False)
    organization_name = forms.CharField(
        label=_("Company or association"), max_length=200, required=False
    )
    tax_id = forms.CharField(label=_("Tax id (CIF/NIF)"), max_length=20, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    interest = forms.CharField(
        label=_("What are you interested in?"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
    )
    privacy = forms.BooleanField(
        label=_("I have read the privacy notice and agree that the body contacts me about this."),
    )
    # A field people do not see (a honeypot): robots fill it in.
    website = forms.CharField(required=False, label=_("Leave this field empty"))

    def clean_website(self) -> str:
        if self.cleaned_data.get("website"):
            raise ValidationError(_("This form could not be sent."))
        return ""

    def clean_document_number(self) -> str:  # the public form asks for no document
        return ""


class LeadStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("New status"),
        choices=[
            (LeadStatus.CONTACTED, LeadStatus.CONTACTED.label),
            (LeadStatus.QUALIFIED, LeadStatus.QUALIFIED.label),
            (LeadStatus.DISCARDED, LeadStatus.DISCARDED.label),
            (LeadStatus.NEW, LeadStatus.NEW.label),
        ],
    )
    note = forms.CharField(
        label=_("Note (the reason, when discarding)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class LeadNoteForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class MoneyMixin:
    def clean_currency(self) -> str:
        return (self.cleaned_data.get("currency") or "").upper()


class ConvertForm(MoneyMixin, forms.Form):
    title = forms.CharField(label=_("Opportunity title"), max_length=200)
    pipeline = forms.ModelChoiceField(
        label=_("Pipeline"), queryset=Pipeline.objects.filter(is_active=True)
    )
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=14, decimal_places=2, min_value=0, initial=Decimal("0")
    )
    currency = forms.RegexField(
        label=_("Currency"), regex=CURRENCY_RE, max_length=3, initial=settings.BASE_CURRENCY
    )
    expected_close = forms.DateField(
        label=_("Expected close"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class OpportunityForm(MoneyMixin, forms.ModelForm):
    person = forms.ModelChoiceField(
        label=_("Person (id)"),
        queryset=Person.objects.in_use(),
        required=False,
        widget=forms.NumberInput,
        help_text=_("The number of the person's record, from their page."),
    )
    organization = forms.ModelChoiceField(
        label=_("Organisation (id)"),
        queryset=Organization.objects.in_use(),
        required=False,
        widget=forms.NumberInput,
        help_text=_("The number of the organisation's record, from its page."),
    )
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    unit = forms.ModelChoiceField(label=_("Unit"), queryset=Unit.objects.none(), required=False)
    currency = forms.RegexField(
        label=_("Currency"),
        regex=CURRENCY_RE,
        max_length=3,
        initial=settings.BASE_CURRENCY,
        help_text=_("ISO code, e.g. EUR, USD, GBP."),
    )

    class Meta:
        model = Opportunity
        fields = [
            "title",
            "person",
            "organization",
            "pipeline",
            "stage",
            "amount",
            "currency",
            "expected_close",
            "owner",
            "unit",
            "description",
        ]
        widgets = {
            "expected_close": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_choices()
        self.fields["unit"].queryset = Unit.objects.order_by("name")
        self.fields["pipeline"].queryset = Pipeline.objects.filter(is_active=True)
        self.fields["stage"].queryset = Stage.objects.select_related("pipeline")
        self.fields["stage"].required = False
        self.fields["stage"].help_text = _("Empty: the pipeline's first stage.")

    def clean(self):
        cleaned = super().clean()
        if (
            not cleaned.get("person")
            and not cleaned.get("organization")
            and not (self.errors.get("person") or self.errors.get("organization"))
        ):
            self.add_error("organization", _("Give the organisation, the person or both."))
        stage, pipeline = cleaned.get("stage"), cleaned.get("pipeline")
        if stage and pipeline and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", _("This stage belongs to another pipeline."))
        return cleaned


class OpportunityLineForm(forms.Form):
    product = forms.ModelChoiceField(
        label=_("Product or service"), queryset=Product.objects.filter(is_active=True)
    )
    quantity = forms.DecimalField(
        label=_("Quantity (0 removes it)"),
        max_digits=12,
        decimal_places=3,
        min_value=0,
        initial=Decimal("1"),
    )


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[("won", _("Won")), ("lost", _("Lost"))]
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class MoveForm(forms.Form):
    stage = forms.ModelChoiceField(label=_("Stage"), queryset=Stage.objects.all())


class QuoteVersionForm(MoneyMixin, forms.ModelForm):
    currency = forms.RegexField(label=_("Currency"), regex=CURRENCY_RE, max_length=3)

    class Meta:
        model = QuoteVersion
        fields = ["currency", "valid_until", "notes"]
        widgets = {
            "valid_until": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


class QuoteLineForm(forms.Form):
    product = forms.ModelChoiceField(
        label=_("Product or service"), queryset=Product.objects.none(), required=False
    )
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    quantity = forms.DecimalField(
        label=_("Quantity"),
        max_digits=12,
        decimal_places=3,
        min_value=Decimal("0.001"),
        required=False,
    )
    unit_price = forms.DecimalField(
        label=_("Unit price"), max_digits=14, decimal_places=4, min_value=0, required=False
    )
    discount = forms.DecimalField(
        label=_("Discount (%)"),
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        required=False,
    )
    vat_rate = forms.DecimalField(
        label=_("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        min_value=0,
        max_value=100,
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(is_active=True)
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-select" if name == "product" else "form-control"

    def clean(self):
        cleaned = super().clean()
        product = cleaned.get("product")
        if not self.has_changed() or (
            not product and not cleaned.get("description") and cleaned.get("quantity") is None
        ):
            cleaned["empty"] = True
            return cleaned
        if product:
            cleaned["description"] = cleaned.get("description") or product.name
            if cleaned.get("unit_price") is None:
                cleaned["unit_price"] = product.price
            if cleaned.get("vat_rate") is None:
                cleaned["vat_rate"] = product.vat_rate
        for name, message in (
            ("description", _("Describe the line or choose a product.")),
            ("quantity", _("Give the quantity.")),
            ("unit_price", _("Give the unit price.")),
            ("vat_rate", _("Give the VAT rate (0 when exempt).")),
        ):
            if cleaned.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, message)
        if cleaned.get("discount") is None:
            cleaned["discount"] = Decimal("0")
        return cleaned


QuoteLineFormSet = forms.formset_factory(QuoteLineForm, extra=3, max_num=100, validate_max=True)


class SendQuoteForm(forms.Form):
    to = forms.EmailField(label=_("Send to"))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    message = forms.CharField(
        label=_("Message"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AcceptQuoteForm(forms.Form):
    create_agreement = forms.BooleanField(label=_("Record an agreement"), required=False)
    title = forms.CharField(label=_("Agreement title"), max_length=200, required=False)
    start_date = forms.DateField(
        label=_("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        label=_("End date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("create_agreement"):
            if not cleaned.get("title"):
                self.add_error("title", _("Give the agreement a title."))
            if not cleaned.get("start_date") and "start_date" not in self.errors:
                self.add_error("start_date", _("Give the start date."))
            start, end = cleaned.get("start_date"), cleaned.get("end_date")
            if start and end and end < start:
                self.add_error("end_date", _("The end date is before the start date."))
        return cleaned
