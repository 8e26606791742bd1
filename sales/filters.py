"""Filters of the funnel's lists (django-filter). Orderings are a whitelist, each one a keyset
ordering whose last field is the id (crm.pagination)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from crm.models import User

from .models import Lead, LeadSource, LeadStatus, Opportunity, OpportunityStatus, Pipeline, Stage

ME = "me"


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class OwnerChoiceFilter(django_filters.ChoiceFilter):
    """ "me" or a user id."""

    def filter(self, qs: QuerySet, value):
        if value in (None, ""):
            return qs
        if value == ME:
            return qs.filter(owner=self.parent.request.user)
        return qs.filter(owner_id=value)


def _owner_choices():
    users = (
        User.objects.filter(is_active=True, groups__name__in=("promotion", "administrator"))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    return [(ME, _("Me")), *((str(u.pk), u.get_full_name() or u.username) for u in users)]


# key -> (label, keyset ordering)
OPPORTUNITY_ORDERINGS = {
    "recent": (_("Newest first"), ["-created_at", "-id"]),
    "close": (_("Closing first"), ["expected_close", "id"]),
    "amount": (_("Largest amount first"), ["-amount", "-id"]),
}
LEAD_ORDERINGS = {
    "recent": (_("Newest first"), ["-created_at", "-id"]),
    "oldest": (_("Oldest first"), ["created_at", "id"]),
}


class OrderingMixin:
    orderings: dict = {}

    def ordering(self) -> list[str]:
        key = self.form.cleaned_data.get("order") if self.form.is_valid() else None
        return self.orderings.get(key or "recent", self.orderings["recent"])[1]


class OpportunityFilter(OrderingMixin, django_filters.FilterSet):
    orderings = OPPORTUNITY_ORDERINGS

    q = django_filters.CharFilter(label=_("Title contains"), method="search")
    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=OpportunityStatus.choices, empty_label=_("Any")
    )
    pipeline = django_filters.ModelChoiceFilter(
        label=_("Pipeline"), queryset=Pipeline.objects.all(), empty_label=_("Any")
    )
    stage = django_filters.ModelChoiceFilter(
        label=_("Stage"),
        queryset=Stage.objects.select_related("pipeline"),
        empty_label=_("Any"),
    )
    owner = OwnerChoiceFilter(label=_("Owner"), choices=_owner_choices, empty_label=_("Anyone"))
    currency = django_filters.CharFilter(label=_("Currency"), method="by_currency")
    close_after = django_filters.DateFilter(
        label=_("Closing from"),
        field_name="expected_close",
        lookup_expr="gte",
        widget=_date_widget(),
    )
    close_before = django_filters.DateFilter(
        label=_("Closing until"),
        field_name="expected_close",
        lookup_expr="lte",
        widget=_date_widget(),
    )
    order = django_filters.ChoiceFilter(
        label=_("Order"),
        choices=[(key, label) for key, (label, _o) in OPPORTUNITY_ORDERINGS.items()],
        empty_label=None,
        method="no_filter",
    )

    class Meta:
        model = Opportunity
        fields: list[str] = []

    def search(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return qs.filter(title__icontains=value) if value else qs

    def by_currency(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        return qs.filter(currency=value.strip().upper()) if value.strip() else qs

    def no_filter(self, qs: QuerySet, name: str, value) -> QuerySet:
        return qs


class LeadFilter(OrderingMixin, django_filters.FilterSet):
    orderings = LEAD_ORDERINGS

    q = django_filters.CharFilter(label=_("Name, organisation or email"), method="search")
    status = django_filters.ChoiceFilter(
        label=_("Status"),
        choices=[("open", _("Open (new, contacted, qualified)")), *LeadStatus.choices],
        empty_label=_("Any"),
        method="by_status",
    )
    source = django_filters.ChoiceFilter(
        label=_("Source"), choices=LeadSource.choices, empty_label=_("Any")
    )
    owner = OwnerChoiceFilter(label=_("Owner"), choices=_owner_choices, empty_label=_("Anyone"))
    order = django_filters.ChoiceFilter(
        label=_("Order"),
        choices=[(key, label) for key, (label, _o) in LEAD_ORDERINGS.items()],
        empty_label=None,
        method="no_filter",
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(given_name__icontains=value)
            | Q(surnames__icontains=value)
            | Q(organization_name__icontains=value)
            | Q(email__iexact=value)
        )

    def by_status(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        if value == "open":
            return qs.open()
        return qs.filter(status=value) if value else qs

    def no_filter(self, qs: QuerySet, name: str, value) -> QuerySet:
        return qs
