"""Leads: the list, staff entry, the lead's page (history, status, notes) and conversion."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.pagination import keyset_page

from ..filters import LeadFilter
from ..forms import ConvertForm, LeadForm, LeadNoteForm, LeadStatusForm, service_errors
from ..models import Lead, LeadStatus
from ..services import lead_add_note, lead_convert, lead_create, lead_set_status, lead_update
from .common import funnel_required, lead_for, manage_required, may_manage

PER_PAGE = 50
LEAD_FIELDS = [
    "given_name",
    "surnames",
    "document_number",
    "email",
    "phone",
    "organization_name",
    "tax_id",
    "interest",
    "event",
    "owner",
    "unit",
]


@require_GET
@funnel_required
def lead_list(request: HttpRequest) -> HttpResponse:
    leads = Lead.objects.for_user(request.user).select_related("owner")
    lead_filter = LeadFilter(request.GET or None, queryset=leads, request=request)
    queryset = lead_filter.qs if lead_filter.is_bound else leads
    page = keyset_page(
        queryset,
        ordering=lead_filter.ordering() if lead_filter.is_bound else ["-created_at", "-id"],
        cursor=request.GET.get("cursor"),
        per_page=PER_PAGE,
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "sales/lead_list.html",
        {
            "filter": lead_filter,
            "page": page,
            "query": query.urlencode(),
            "may_manage": may_manage(request.user),
        },
        status=400 if lead_filter.is_bound and lead_filter.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@manage_required
def lead_new(request: HttpRequest) -> HttpResponse:
    form = LeadForm(request.POST or None, initial={"owner": request.user.pk})
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in LEAD_FIELDS}
        try:
            lead = lead_create(actor=request.user, source=form.cleaned_data["source"], **data)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("Lead recorded."))
            return redirect("sales:lead_detail", pk=lead.pk)
    return render(
        request, "sales/lead_form.html", {"form": form}, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
@manage_required
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    lead = lead_for(request, pk)
    if not lead.is_open:
        messages.error(request, _("A converted or discarded lead cannot be changed."))
        return redirect("sales:lead_detail", pk=lead.pk)
    form = LeadForm(request.POST or None, instance=Lead.objects.get(pk=lead.pk))
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in LEAD_FIELDS}
        try:
            lead_update(lead=lead, actor=request.user, **data)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("Lead saved."))
            return redirect("sales:lead_detail", pk=lead.pk)
    return render(
        request,
        "sales/lead_form.html",
        {"form": form, "lead": lead},
        status=400 if form.errors else 200,
    )


def _convert_initial(lead: Lead) -> dict:
    return {"title": (lead.interest or str(lead))[:200]}


def render_lead(
    request: HttpRequest,
    lead: Lead,
    *,
    status_form=None,
    note_form=None,
    convert_form=None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "sales/lead_detail.html",
        {
            "lead": lead,
            "events": lead.events.select_related("actor"),
            "may_manage": may_manage(request.user),
            "status_form": status_form or LeadStatusForm(),
            "note_form": note_form or LeadNoteForm(),
            "convert_form": convert_form or ConvertForm(initial=_convert_initial(lead)),
        },
        status=status,
    )


@require_GET
@funnel_required
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_lead(request, lead_for(request, pk))


@require_POST
@manage_required
def lead_status(request: HttpRequest, pk: int) -> HttpResponse:
    lead = lead_for(request, pk)
    form = LeadStatusForm(request.POST)
    if form.is_valid():
        try:
            lead_set_status(
                lead=lead,
                actor=request.user,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(
                request,
                _("The lead is now %(status)s.")
                % {"status": LeadStatus(form.cleaned_data["status"]).label.lower()},
            )
            return redirect("sales:lead_detail", pk=lead.pk)
    return render_lead(request, lead, status_form=form, status=400)


@require_POST
@manage_required
def lead_note(request: HttpRequest, pk: int) -> HttpResponse:
    lead = lead_for(request, pk)
    form = LeadNoteForm(request.POST)
    if form.is_valid():
        lead_add_note(lead=lead, actor=request.user, note=form.cleaned_data["note"])
        messages.success(request, _("Note added."))
        return redirect("sales:lead_detail", pk=lead.pk)
    return render_lead(request, lead, note_form=form, status=400)


@require_POST
@manage_required
def lead_convert_view(request: HttpRequest, pk: int) -> HttpResponse:
    lead = lead_for(request, pk)
    form = ConvertForm(request.POST)
    if form.is_valid():
        try:
            result = lead_convert(
                lead=lead,
                actor=request.user,
                pipeline=form.cleaned_data["pipeline"],
                title=form.cleaned_data["title"],
                amount=form.cleaned_data["amount"],
                currency=form.cleaned_data["currency"],
                expected_close=form.cleaned_data["expected_close"],
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            found = []
            if result.person and not result.person_created:
                found.append(_("the existing person %(name)s") % {"name": result.person})
            if result.organization and not result.organization_created:
                found.append(
                    _("the existing organisation %(name)s") % {"name": result.organization}
                )
            message = _("Lead converted into the opportunity %(title)s.") % {
                "title": result.opportunity.title
            }
            if found:
                message += " " + _("It was matched to %(records)s.") % {
                    "records": ", ".join(str(item) for item in found)
                }
            messages.success(request, message)
            return redirect("sales:opportunity_detail", pk=result.opportunity.pk)
    return render_lead(request, lead, convert_form=form, status=400)


@require_http_methods(["GET", "POST"])
@manage_required
def lead_import(request: HttpRequest) -> HttpResponse:
    from citizens.import_files import ImportFileError

    from ..lead_import import LeadImportForm, import_leads

    form = LeadImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = import_leads(
                upload=form.cleaned_data["file"],
                actor=request.user,
                event=form.cleaned_data["event"],
            )
        except ImportFileError as error:
            form.add_error("file", str(error))
        else:
            if not result.errors:
                messages.success(
                    request, _("%(count)s leads imported.") % {"count": result.created}
                )
                return redirect(f"{reverse('sales:lead_list')}?source=import")
    return render(
        request,
        "sales/lead_import.html",
        {"form": form, "result": result},
        status=400 if form.errors or (result and result.errors) else 200,
    )
