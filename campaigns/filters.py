"""The campaign list's filters (status, type, unit, words of the name or code)."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.models import Unit

from .models import Campaign


class CampaignFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Name or code"))
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices, label=_("Status"))
    kind = django_filters.ChoiceFilter(choices=Campaign.Kind.choices, label=_("Type"))
    unit = django_filters.ModelChoiceFilter(queryset=Unit.objects.none(), label=_("Unit"))

    class Meta:
        model = Campaign
        fields = ["q", "status", "kind", "unit"]

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.filters["unit"].queryset = Unit.objects.for_user(user)

    def search(self, queryset, name, value):
        for word in value.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(code__icontains=word))
        return queryset
