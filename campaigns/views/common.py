from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from crm.permissions import module_required

from ..models import Campaign


def manage_required(view: Callable) -> Callable:
    """Module users read; changing anything needs ``campaigns.manage`` (403 otherwise)."""

    @module_required("campaigns")
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.has_perm("campaigns.manage"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def campaign_for(request: HttpRequest, pk: int) -> Campaign:
    """The campaign if the user sees it (another unit's is a 404)."""
    return get_object_or_404(
        Campaign.objects.for_user(request.user).select_related(
            "unit", "purpose", "segment", "static_list", "created_by"
        ),
        pk=pk,
    )


def may_manage(request: HttpRequest) -> bool:
    return request.user.has_perm("campaigns.manage")
