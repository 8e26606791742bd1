"""Campaigns: the list, the page of one, its definition, email, budget, objectives, interactions
of other channels and its results."""

from __future__ import annotations

from smtplib import SMTPException
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.pagination import keyset_page
from crm.permissions import module_required

from .. import messages as campaign_messages
from .. import results, services
from ..filters import CampaignFilter
from ..forms import (
    BudgetLineForm,
    CampaignForm,
    EmailForm,
    InteractionForm,
    ObjectiveForm,
    PreviewForm,
    UseTemplateForm,
)
from ..models import BudgetLine, Campaign, EmailTemplate, Objective
from .common import campaign_for, manage_required, may_manage

SENDING_TEMPLATE = "campaigns/sending/_progress.html"
PER_PAGE = 50
ORDERING = ["-starts_on", "-id"]


@require_GET
@module_required("campaigns")
def campaign_list(request: HttpRequest) -> HttpResponse:
    filterset = CampaignFilter(
        request.GET, queryset=Campaign.objects.for_user(request.user), user=request.user
    )
    campaigns = filterset.qs if filterset.is_valid() else Campaign.objects.none()
    page = keyset_page(
        campaigns.select_related("unit"),
        ordering=ORDERING,
        cursor=request.GET.get("cursor"),
        per_page=PER_PAGE,
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": query.urlencode(),
            "may_manage": may_manage(request),
        },
    )


@require_http_methods(["GET", "POST"])
@manage_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, user=request.user, initial={"channels": ["email"]})
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(actor=request.user, **form.service_fields())
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("The campaign has been created."))
            return redirect("campaigns:detail", campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": None})


@require_http_methods(["GET", "POST"])
@manage_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    form = CampaignForm(request.POST or None, instance=campaign, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(
                campaign=campaign_for(request, pk), actor=request.user, **form.service_fields()
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("The campaign has been saved."))
            return redirect("campaigns:detail", pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign})


@require_GET
@module_required("campaigns")
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    figures = results.compute(campaign)
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "results": figures,
            "budget_lines": list(campaign.budget_lines.all()),
            "problems": services.launch_problems(campaign) if campaign.is_editable else [],
            "may_manage": may_manage(request),
            "budget_form": BudgetLineForm(),
            "objective_form": ObjectiveForm(),
            "interaction_form": InteractionForm(),
            "actions": _actions(campaign),
            **_sending_context(campaign, figures),
        },
    )


def _sending_context(campaign: Campaign, figures) -> dict:
    """The sending panel (campaigns/sending/_progress.html) of an email campaign."""
    if not campaign.sends_email:
        return {"sending_template": None}
    try:
        get_template(SENDING_TEMPLATE)
    except TemplateDoesNotExist:
        return {"sending_template": None}
    return {
        "sending_template": SENDING_TEMPLATE,
        "progress": figures.delivery,
        "polling": campaign.status == Campaign.Status.RUNNING,
    }


def _actions(campaign: Campaign) -> list[tuple[str, str, str]]:
    labels = {
        "schedule": (_("Schedule"), "btn-primary"),
        "unschedule": (_("Back to draft"), "btn-outline-secondary"),
        "start": (_("Start"), "btn-primary"),
        "finish": (_("Finish"), "btn-outline-primary"),
        "cancel": (_("Cancel the campaign"), "btn-outline-danger"),
    }
    found = []
    for action, statuses in services.MANUAL_TRANSITIONS.items():
        if campaign.status not in statuses:
            continue
        if action in ("start", "finish") and campaign.sends_email:
            continue
        found.append((action, *labels[action]))
    return found


@require_POST
@manage_required
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    campaign = campaign_for(request, pk)
    if action not in services.MANUAL_TRANSITIONS:
        return redirect("campaigns:detail", pk)
    try:
        campaign = services.campaign_transition(
            campaign=campaign, action=action, actor=request.user
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("The campaign is now “%(status)s”.") % {"status": campaign.get_status_display()},
        )
    return redirect("campaigns:detail", pk)


@require_POST
@manage_required
def campaign_delete(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    try:
        services.campaign_delete(campaign=campaign, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("campaigns:detail", pk)
    messages.success(request, _("The campaign has been deleted."))
    return redirect("campaigns:index")


# --- Email ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@manage_required
def campaign_email(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the email; preview it merged for a real person; send that preview to oneself."""
    campaign = campaign_for(request, pk)
    saving = request.method == "POST" and "save" in request.POST
    form = EmailForm(request.POST if saving else None, instance=campaign)
    preview_form = PreviewForm(request.GET if "person" in request.GET else None)
    if saving and not campaign.is_editable:
        messages.error(request, _("The email cannot change once the campaign has started."))
        return redirect("campaigns:detail", pk)
    if saving and form.is_valid():
        try:
            services.campaign_update(
                campaign=campaign_for(request, pk), actor=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("The email has been saved."))
            return redirect("campaigns:email", pk)
    if request.method == "POST" and "test" in request.POST:
        preview_form = PreviewForm(request.POST)
        if preview_form.is_valid() and preview_form.cleaned_data["person"] is not None:
            try:
                to = services.campaign_test_send(
                    campaign=campaign,
                    person=preview_form.cleaned_data["person"],
                    actor=request.user,
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            except (SMTPException, OSError):
                messages.error(
                    request, _("The mail server did not accept the test: try again later.")
                )
            else:
                messages.success(request, _("A test has been sent to %(to)s.") % {"to": to})
                query = urlencode({"person": request.POST.get("person", "")})
                return redirect(f"{reverse('campaigns:email', args=[pk])}?{query}")
        elif preview_form.is_valid():
            preview_form.add_error("person", _("Choose the person to merge the test with."))
    preview = None
    preview_person = None
    if preview_form.is_bound and preview_form.is_valid():
        preview_person = preview_form.cleaned_data["person"]
    if preview_person is not None:
        try:
            services.check_email(campaign)
        except ValidationError:
            preview = None
        else:
            preview = campaign_messages.render(
                campaign, preview_person, unsubscribe_url=request.build_absolute_uri("#unsubscribe")
            )
    return render(
        request,
        "campaigns/campaign_email.html",
        {
            "campaign": campaign,
            "form": form,
            "preview_form": preview_form,
            "preview": preview,
            "preview_person": preview_person,
            "use_template_form": UseTemplateForm(),
            "has_templates": EmailTemplate.objects.exists(),
        },
    )


# --- Budget, objectives, interactions -------------------------------------------------------


@require_http_methods(["GET", "POST"])
@manage_required
def budget_line_edit(request: HttpRequest, pk: int, line_pk: int | None = None) -> HttpResponse:
    campaign = campaign_for(request, pk)
    line = get_object_or_404(BudgetLine, pk=line_pk, campaign=campaign) if line_pk else None
    form = BudgetLineForm(request.POST or None, instance=line)
    if request.method == "POST" and form.is_valid():
        try:
            services.budget_line_save(
                campaign=campaign, line=line, actor=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The budget line has been saved."))
            return redirect(f"{reverse('campaigns:detail', args=[pk])}#budget")
    return render(
        request,
        "campaigns/part_form.html",
        {"campaign": campaign, "form": form, "title": _("Budget line"), "anchor": "budget"},
    )


@require_POST
@manage_required
def budget_line_delete(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    line = get_object_or_404(BudgetLine, pk=line_pk, campaign=campaign)
    services.budget_line_delete(line=line, actor=request.user)
    messages.success(request, _("The budget line has been deleted."))
    return redirect(f"{reverse('campaigns:detail', args=[pk])}#budget")


@require_http_methods(["GET", "POST"])
@manage_required
def objective_edit(request: HttpRequest, pk: int, objective_pk: int | None = None) -> HttpResponse:
    campaign = campaign_for(request, pk)
    objective = (
        get_object_or_404(Objective, pk=objective_pk, campaign=campaign) if objective_pk else None
    )
    form = ObjectiveForm(request.POST or None, instance=objective)
    if request.method == "POST" and form.is_valid():
        services.objective_save(
            campaign=campaign, objective=objective, actor=request.user, **form.cleaned_data
        )
        messages.success(request, _("The objective has been saved."))
        return redirect(f"{reverse('campaigns:detail', args=[pk])}#objectives")
    return render(
        request,
        "campaigns/part_form.html",
        {"campaign": campaign, "form": form, "title": _("Objective"), "anchor": "objectives"},
    )


@require_POST
@manage_required
def objective_delete(request: HttpRequest, pk: int, objective_pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    objective = get_object_or_404(Objective, pk=objective_pk, campaign=campaign)
    services.objective_delete(objective=objective, actor=request.user)
    messages.success(request, _("The objective has been deleted."))
    return redirect(f"{reverse('campaigns:detail', args=[pk])}#objectives")


@require_http_methods(["GET", "POST"])
@manage_required
def interaction_add(request: HttpRequest, pk: int) -> HttpResponse:
    """A letter, call, event attendance or social-network contact of the campaign."""
    campaign = campaign_for(request, pk)
    form = InteractionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_interaction_record(
                campaign=campaign, actor=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, _("The interaction has been recorded in the person's timeline.")
            )
            return redirect(f"{reverse('campaigns:detail', args=[pk])}#interactions")
    return render(
        request,
        "campaigns/part_form.html",
        {
            "campaign": campaign,
            "form": form,
            "title": _("Record an interaction"),
            "anchor": "interactions",
        },
    )


@require_GET
@module_required("campaigns")
def campaign_results(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for(request, pk)
    return render(
        request,
        "campaigns/campaign_results.html",
        {"campaign": campaign, "results": results.compute(campaign)},
    )
