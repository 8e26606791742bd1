"""Staff views of sending: launch, pause, resume, retry failures (POST only, ``campaigns.manage``)
and the progress fragment the campaign page includes and refreshes (htmx) while it runs."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from campaigns import sending
from campaigns.models import Campaign
from crm.permissions import module_required

from .common import campaign_for, manage_required, may_manage


def _back(campaign: Campaign):
    try:
        return redirect(reverse("campaigns:detail", args=[campaign.pk]))
    except NoReverseMatch:
        return redirect(reverse("campaigns:sending_progress", args=[campaign.pk]))


def progress_context(request: HttpRequest, campaign: Campaign) -> dict:
    """What ``campaigns/sending/_progress.html`` needs (for pages that include it)."""
    return {
        "campaign": campaign,
        "progress": sending.progress(campaign),
        "may_manage": may_manage(request),
        "polling": campaign.status == Campaign.Status.RUNNING,
    }


@require_GET
@module_required("campaigns")
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    template = (
        "campaigns/sending/_progress.html"
        if request.headers.get("HX-Request")
        else "campaigns/sending/progress.html"
    )
    return render(request, template, progress_context(request, campaign))


def _run(request: HttpRequest, pk: int, action) -> HttpResponse:
    campaign = campaign_for(request, pk)
    try:
        done = action(campaign)
    except sending.SendingError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return _back(campaign)


@require_POST
@manage_required
def launch(request: HttpRequest, pk: int) -> HttpResponse:
    def act(campaign: Campaign) -> str:
        result = sending.launch(campaign, request.user)
        return ngettext(
            "The campaign is being sent to %(count)s person.",
            "The campaign is being sent to %(count)s people.",
            result.recipients,
        ) % {"count": result.recipients}

    return _run(request, pk, act)


@require_POST
@manage_required
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    def act(campaign: Campaign) -> str:
        sending.pause(campaign, request.user)
        return _("Sending is paused.")

    return _run(request, pk, act)


@require_POST
@manage_required
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    def act(campaign: Campaign) -> str:
        sending.resume(campaign, request.user)
        return _("Sending resumed.")

    return _run(request, pk, act)


@require_POST
@manage_required
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    def act(campaign: Campaign) -> str:
        count = sending.retry_failed(campaign, request.user)
        return ngettext(
            "%(count)s failed message will be sent again.",
            "%(count)s failed messages will be sent again.",
            count,
        ) % {"count": count}

    return _run(request, pk, act)
