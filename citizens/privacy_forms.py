from django import forms
from django.utils.translation import gettext_lazy as _

from citizens.models import Consent, ConsentPurpose, DataSubjectRequest


class ConsentForm(forms.Form):
    purpose = forms.ModelChoiceField(
        label=_("Purpose"), queryset=ConsentPurpose.objects.filter(is_active=True)
    )
    granted = forms.TypedChoiceField(
        label=_("Statement"),
        choices=[("1", _("Gives consent")), ("0", _("Withdraws consent"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
    )
    source = forms.ChoiceField(label=_("How it was stated"), choices=Consent.Source.choices)
    evidence = forms.CharField(
        label=_("Proof"),
        required=False,
        max_length=500,
        help_text=_("e.g. the registry number of the signed form, or the call reference."),
    )


class DataRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Right exercised"), choices=DataSubjectRequest.Kind.choices)
    received_on = forms.DateField(
        label=_("Received on"),
        required=False,
        help_text=_("Leave empty if it was received today."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    details = forms.CharField(
        label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class CloseRequestForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (DataSubjectRequest.Status.DONE, DataSubjectRequest.Status.DONE.label),
            (DataSubjectRequest.Status.REJECTED, DataSubjectRequest.Status.REJECTED.label),
        ],
    )
    resolution = forms.CharField(
        label=_("Resolution"), widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )


class BlockForm(forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I understand that the personal data will be removed from ordinary use and kept "
            "apart only while legal claims are possible."
        )
    )
