import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import AuditAction, AuditEvent


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_username", lookup_expr="iexact", label=_("User (username)")
    )
    action = django_filters.ChoiceFilter(choices=AuditAction.choices, label=_("Action"))
    object_type = django_filters.CharFilter(
        lookup_expr="exact", label=_("Record type"), help_text=_("e.g. citizens.person")
    )
    object_id = django_filters.CharFilter(
        lookup_expr="exact", label=_("Record id"), help_text=_("e.g. the person's number")
    )
    date_from = django_filters.DateFilter(
        field_name="occurred_at",
        lookup_expr="date__gte",
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        field_name="occurred_at",
        lookup_expr="date__lte",
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object_id", "date_from", "date_to"]
