"""A person's consents and data-subject rights; the data protection officer's request queue."""

from __future__ import annotations

import json
from datetime import datetime, time

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from citizens import gdpr
from citizens.models import DataSubjectRequest, Person
from citizens.privacy_forms import BlockForm, CloseRequestForm, ConsentForm, DataRequestForm
from citizens.services import record_read
from crm.pagination import keyset_page
from crm.pdf import render_pdf
from crm.permissions import module_required, permission_required

DPO = "crm.manage_data_requests"


def _page(request: HttpRequest, person: Person, **forms) -> HttpResponse:
    context = {
        "person": person,
        "consents": gdpr.current_consents(person),
        "requests": person.data_requests.order_by("-received_at"),
        "consent_form": forms.get("consent_form") or ConsentForm(),
        "request_form": forms.get("request_form") or DataRequestForm(),
        "close_form": CloseRequestForm(),
        "block_form": forms.get("block_form") or BlockForm(),
        "can_record_consent": request.user.has_perm("citizens.manage"),
        "is_dpo": request.user.has_perm(DPO),
    }
    status = 400 if any(form.errors for form in forms.values() if form is not None) else 200
    return render(request, "citizens/person_privacy.html", context, status=status)


@require_GET
@module_required("citizens")
def person_privacy(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person, pk=pk)
    record_read(actor=request.user, obj=person, what="privacy")
    return _page(request, person)


@require_POST
@permission_required("citizens.manage")
def consent_add(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _page(request, person, consent_form=form)
    gdpr.consent_record(person=person, actor=request.user, **form.cleaned_data)
    messages.success(request, _("The consent statement has been recorded."))
    return redirect("citizens:person_privacy", pk=person.pk)


@require_POST
@permission_required(DPO)
def data_request_add(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person, pk=pk)
    form = DataRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, person, request_form=form)
    received_on = form.cleaned_data["received_on"]
    received_at = (
        timezone.make_aware(datetime.combine(received_on, time(9)))
        if received_on
        else timezone.now()
    )
    created = gdpr.data_request_open(
        person=person,
        kind=form.cleaned_data["kind"],
        details=form.cleaned_data["details"],
        received_at=received_at,
        actor=request.user,
    )
    messages.success(
        request,
        _("The request has been recorded. It must be answered by %(date)s.")
        % {"date": created.due_date.strftime("%d/%m/%Y")},
    )
    return redirect("citizens:person_privacy", pk=person.pk)


@require_POST
@permission_required(DPO)
def data_request_close(request: HttpRequest, pk: int, request_pk: int) -> HttpResponse:
    data_request = get_object_or_404(
        DataSubjectRequest, pk=request_pk, person_id=pk, status=DataSubjectRequest.Status.OPEN
    )
    form = CloseRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write the resolution before closing the request."))
        return redirect("citizens:person_privacy", pk=pk)
    gdpr.data_request_close(request=data_request, actor=request.user, **form.cleaned_data)
    messages.success(request, _("The request has been closed."))
    return redirect("citizens:person_privacy", pk=pk)


@require_POST
@permission_required(DPO)
def person_restriction(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    restrict = request.POST.get("restrict") == "1"
    gdpr.person_restrict(person=person, actor=request.user, restricted=restrict)
    if restrict:
        messages.success(request, _("Processing of this person's data is now restricted."))
    else:
        messages.success(request, _("The restriction has been lifted."))
    return redirect("citizens:person_privacy", pk=person.pk)


@require_POST
@permission_required(DPO)
def person_block(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    form = BlockForm(request.POST)
    if not form.is_valid():
        return _page(request, person, block_form=form)
    erasure = person.data_requests.filter(
        kind=DataSubjectRequest.Kind.ERASURE, status=DataSubjectRequest.Status.OPEN
    ).first()
    gdpr.person_block(person=person, actor=request.user, request=erasure)
    messages.success(request, _("The person's data has been erased and blocked."))
    return redirect("citizens:person_privacy", pk=person.pk)


@require_GET
@permission_required(DPO)
def person_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    if fmt not in ("json", "pdf"):
        raise Http404
    person = get_object_or_404(Person.objects.in_use(), pk=pk)
    data = gdpr.person_export_data(person)
    record_read(actor=request.user, obj=person, what=f"export-{fmt}")
    stamp = timezone.localdate().isoformat()
    if fmt == "json":
        response = HttpResponse(
            json.dumps(data, ensure_ascii=False, indent=2, default=str),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="person-{person.pk}-{stamp}.json"'
    else:
        pdf = render_pdf(
            "citizens/pdf/person_export.html",
            {"person": person, "data": data, "generated_at": timezone.localtime()},
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="person-{person.pk}-{stamp}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@permission_required(DPO)
def data_request_list(request: HttpRequest) -> HttpResponse:
    """The open requests, the first due first (keyset-paged)."""
    open_requests = (
        DataSubjectRequest.objects.filter(status=DataSubjectRequest.Status.OPEN)
        .select_related("person")
        .order_by("due_date", "id")
    )
    page = keyset_page(
        open_requests, ordering=["due_date", "id"], cursor=request.GET.get("cursor"), per_page=50
    )
    return render(
        request,
        "citizens/data_request_list.html",
        {"page": page, "today": timezone.localdate()},
    )
