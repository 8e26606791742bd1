"""Reusable email templates, and starting a campaign's email from one."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.permissions import module_required

from .. import services
from ..forms import EmailTemplateForm, UseTemplateForm
from ..models import EmailTemplate
from .common import campaign_for, manage_required, may_manage


@require_GET
@module_required("campaigns")
def template_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "campaigns/template_list.html",
        {"templates": EmailTemplate.objects.all(), "may_manage": may_manage(request)},
    )


@require_http_methods(["GET", "POST"])
@manage_required
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    template = get_object_or_404(EmailTemplate, pk=pk) if pk else None
    form = EmailTemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        try:
            services.email_template_save(
                actor=request.user,
                template=get_object_or_404(EmailTemplate, pk=pk) if pk else None,
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("The template has been saved."))
            return redirect("campaigns:templates")
    return render(request, "campaigns/template_form.html", {"form": form, "template": template})


@require_POST
@manage_required
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(EmailTemplate, pk=pk)
    services.email_template_delete(template=template, actor=request.user)
    messages.success(request, _("The template has been deleted."))
    return redirect("campaigns:templates")


@require_POST
@manage_required
def use_template(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign's email becomes a copy of the chosen template."""
    campaign = campaign_for(request, pk)
    form = UseTemplateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a template."))
    elif not campaign.is_editable:
        messages.error(request, _("The email cannot change once the campaign has started."))
    else:
        services.campaign_email_from_template(
            campaign=campaign, template=form.cleaned_data["template"], actor=request.user
        )
        messages.success(request, _("The email now is a copy of the template."))
    return redirect("campaigns:email", pk)
