"""What the funnel's views share: the permission checks and loading records the user may see."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from crm.permissions import permission_required

from ..models import Lead, Opportunity

# Reading the funnel needs ``sales.access`` (promotion, DPO, administrator); field staff with
# only ``sales.field_work`` use the visits and the calendar, not the funnel.
funnel_required = permission_required("sales.access")


def manage_required(view: Callable) -> Callable:
    """Writes of the funnel: ``sales.manage`` as well."""

    @funnel_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.has_perm("sales.manage"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def opportunity_for(request: HttpRequest, pk: int) -> Opportunity:
    return get_object_or_404(
        Opportunity.objects.for_user(request.user).select_related(
            "pipeline", "stage", "person", "organization", "owner", "unit"
        ),
        pk=pk,
    )


def lead_for(request: HttpRequest, pk: int) -> Lead:
    return get_object_or_404(
        Lead.objects.for_user(request.user).select_related(
            "owner", "unit", "person", "organization", "opportunity"
        ),
        pk=pk,
    )


def may_manage(user) -> bool:
    return user.has_perm("sales.manage")
