"""A quote's page: its versions, the draft's lines (editable), sending, accepting, the PDF."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ..forms import (
    AcceptQuoteForm,
    QuoteLineFormSet,
    QuoteVersionForm,
    SendQuoteForm,
    service_errors,
)
from ..models import Opportunity, Quote, QuoteVersion
from ..quote_mail import quote_context, quote_filename, quote_pdf
from ..services import (
    AgreementData,
    QuoteLineData,
    default_recipient,
    quote_accept,
    quote_reject,
    quote_send,
    quote_version_new,
    quote_version_update,
)
from .common import funnel_required, manage_required, may_manage

LINE_FIELDS = ("product", "description", "quantity", "unit_price", "discount", "vat_rate")


def quote_for(request: HttpRequest, pk: int) -> Quote:
    return get_object_or_404(
        Quote.objects.select_related("opportunity__person", "opportunity__organization").filter(
            opportunity__in=Opportunity.objects.for_user(request.user)
        ),
        pk=pk,
    )


def _version(request: HttpRequest, quote: Quote) -> QuoteVersion:
    versions = quote.versions.all()
    wanted = request.GET.get("version") or request.POST.get("version")
    if wanted and str(wanted).isdigit():
        return get_object_or_404(versions, version=int(wanted))
    return versions.order_by("-version").first()


def _line_initial(version: QuoteVersion) -> list[dict]:
    return [{name: getattr(line, name) for name in LINE_FIELDS} for line in version.lines.all()]


def render_quote(
    request: HttpRequest,
    quote: Quote,
    version: QuoteVersion,
    *,
    version_form=None,
    formset=None,
    send_form=None,
    accept_form=None,
    status: int = 200,
) -> HttpResponse:
    version.quote = quote
    context = quote_context(version)
    editable = version.is_editable and may_manage(request.user)
    if editable and formset is None:
        formset = QuoteLineFormSet(initial=_line_initial(version), prefix="lines")
    context.update(
        {
            "versions": quote.versions.order_by("-version"),
            "may_manage": may_manage(request.user),
            "editable": editable,
            "version_form": version_form or QuoteVersionForm(instance=version),
            "formset": formset,
            "send_form": send_form
            or SendQuoteForm(
                initial={"to": default_recipient(version), "language": get_language()}
            ),
            "accept_form": accept_form
            or AcceptQuoteForm(initial={"title": quote.opportunity.title, "start_date": None}),
        }
    )
    return render(request, "sales/quote_detail.html", context, status=status)


@require_GET
@funnel_required
def quote_detail(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    return render_quote(request, quote, _version(request, quote))


@require_POST
@manage_required
def quote_save(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    version = _version(request, quote)
    version_form = QuoteVersionForm(request.POST, instance=QuoteVersion.objects.get(pk=version.pk))
    formset = QuoteLineFormSet(request.POST, prefix="lines")
    if version_form.is_valid() and formset.is_valid():
        lines = [
            QuoteLineData(**{name: form.cleaned_data[name] for name in LINE_FIELDS})
            for form in formset
            if form.cleaned_data and not form.cleaned_data.get("empty")
        ]
        try:
            quote_version_update(
                version=version,
                actor=request.user,
                lines=lines,
                valid_until=version_form.cleaned_data["valid_until"],
                notes=version_form.cleaned_data["notes"],
                currency=version_form.cleaned_data["currency"],
            )
        except ValidationError as error:
            service_errors(version_form, error)
        else:
            messages.success(request, _("Quote saved."))
            return redirect(f"{quote_url(quote)}?version={version.version}")
    return render_quote(
        request, quote, version, version_form=version_form, formset=formset, status=400
    )


def quote_url(quote: Quote) -> str:
    from django.urls import reverse

    return reverse("sales:quote_detail", args=[quote.pk])


@require_POST
@manage_required
def quote_new_version(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    try:
        version = quote_version_new(quote=quote, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(quote_url(quote))
    messages.success(request, _("Version %(version)s created.") % {"version": version.version})
    return redirect(f"{quote_url(quote)}?version={version.version}")


@require_POST
@manage_required
def quote_send_view(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    version = _version(request, quote)
    form = SendQuoteForm(request.POST)
    if form.is_valid():
        try:
            quote_send(
                version=version,
                actor=request.user,
                to=form.cleaned_data["to"],
                language=form.cleaned_data["language"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(
                request, _("The quote is being sent to %(to)s.") % {"to": form.cleaned_data["to"]}
            )
            return redirect(f"{quote_url(quote)}?version={version.version}")
    return render_quote(request, quote, version, send_form=form, status=400)


@require_POST
@manage_required
def quote_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    version = _version(request, quote)
    form = AcceptQuoteForm(request.POST)
    if form.is_valid():
        agreement = None
        if form.cleaned_data["create_agreement"]:
            agreement = AgreementData(
                title=form.cleaned_data["title"],
                start_date=form.cleaned_data["start_date"],
                end_date=form.cleaned_data["end_date"],
            )
        try:
            quote_accept(version=version, actor=request.user, agreement=agreement)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("Quote accepted: the opportunity is won."))
            return redirect("sales:opportunity_detail", pk=quote.opportunity_id)
    return render_quote(request, quote, version, accept_form=form, status=400)


@require_POST
@manage_required
def quote_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    version = _version(request, quote)
    try:
        quote_reject(version=version, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Quote marked as rejected."))
    return redirect(f"{quote_url(quote)}?version={version.version}")


@require_GET
@funnel_required
def quote_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    quote = quote_for(request, pk)
    version = _version(request, quote)
    version.quote = quote
    response = HttpResponse(quote_pdf(version, get_language()), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{quote_filename(version)}"'
    return response
