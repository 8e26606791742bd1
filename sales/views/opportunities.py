"""Opportunities: the list with filters, the page, entry and edit, won/lost, the forecast and
the catalogue."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from citizens.models import Interaction
from crm.models import User
from crm.pagination import keyset_page

from ..currency import MissingRate, RateBook, base_currency, convert
from ..filters import OpportunityFilter
from ..forms import CloseForm, MoveForm, OpportunityForm, OpportunityLineForm, service_errors
from ..models import Lead, LeadEvent, Opportunity, Pipeline, Product, ProductCategory
from ..services import (
    opportunity_close,
    opportunity_create,
    opportunity_reopen,
    opportunity_set_line,
    opportunity_update,
    quote_create,
)
from .common import funnel_required, manage_required, may_manage, opportunity_for

PER_PAGE = 50
FORM_FIELDS = OpportunityForm.Meta.fields


@require_GET
@funnel_required
def opportunity_list(request: HttpRequest) -> HttpResponse:
    opportunities = Opportunity.objects.for_user(request.user).select_related(
        "stage", "pipeline", "person", "organization", "owner"
    )
    opportunity_filter = OpportunityFilter(
        request.GET or None, queryset=opportunities, request=request
    )
    bound = opportunity_filter.is_bound
    queryset = opportunity_filter.qs if bound and opportunity_filter.is_valid() else opportunities
    if bound and not opportunity_filter.is_valid():
        queryset = opportunities.none()
    ordering = opportunity_filter.ordering() if bound else ["-created_at", "-id"]
    if ordering[0].lstrip("-") == "expected_close":
        queryset = queryset.filter(expected_close__isnull=False)
    page = keyset_page(
        queryset, ordering=ordering, cursor=request.GET.get("cursor"), per_page=PER_PAGE
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "sales/opportunity_list.html",
        {
            "filter": opportunity_filter,
            "page": page,
            "query": query.urlencode(),
            "may_manage": may_manage(request.user),
        },
        status=400 if bound and opportunity_filter.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@manage_required
def opportunity_new(request: HttpRequest) -> HttpResponse:
    initial = {"owner": request.user.pk, "currency": base_currency()}
    for name in ("person", "organization", "pipeline"):
        if request.GET.get(name, "").isdigit():
            initial[name] = int(request.GET[name])
    form = OpportunityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            opportunity = opportunity_create(
                actor=request.user, **{name: form.cleaned_data[name] for name in FORM_FIELDS}
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("Opportunity recorded."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render(
        request,
        "sales/opportunity_form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@manage_required
def opportunity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = opportunity_for(request, pk)
    form = OpportunityForm(request.POST or None, instance=Opportunity.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in FORM_FIELDS}
        if fields["stage"] is None:
            fields["stage"] = opportunity.stage
        try:
            opportunity_update(opportunity=opportunity, actor=request.user, **fields)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("Opportunity saved."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render(
        request,
        "sales/opportunity_form.html",
        {"form": form, "opportunity": opportunity},
        status=400 if form.errors else 200,
    )


def render_opportunity(
    request: HttpRequest,
    opportunity: Opportunity,
    *,
    close_form=None,
    line_form=None,
    status: int = 200,
) -> HttpResponse:
    move_form = MoveForm(initial={"stage": opportunity.stage_id})
    move_form.fields["stage"].queryset = opportunity.pipeline.stages.order_by("order", "id")
    today = timezone.localdate()
    try:
        in_base = convert(opportunity.amount, opportunity.currency, on=today)
    except MissingRate:
        in_base = None
    leads = list(Lead.objects.filter(opportunity=opportunity))
    return render(
        request,
        "sales/opportunity_detail.html",
        {
            "opportunity": opportunity,
            "in_base": in_base,
            "base_currency": base_currency(),
            "lines": opportunity.lines.select_related("product"),
            "quotes": opportunity.quotes.prefetch_related("versions"),
            "agreements": opportunity.agreements.all(),
            "lead_events": LeadEvent.objects.filter(lead__in=leads).select_related("actor", "lead"),
            "leads": leads,
            "timeline": Interaction.objects.filter(
                related_type="sales.opportunity", related_id=opportunity.pk
            ).order_by("-occurred_at", "-id")[:20],
            "move_form": move_form,
            "close_form": close_form or CloseForm(),
            "line_form": line_form or OpportunityLineForm(),
            "may_manage": may_manage(request.user),
        },
        status=status,
    )


@require_GET
@funnel_required
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_opportunity(request, opportunity_for(request, pk))


@require_POST
@manage_required
def opportunity_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = opportunity_for(request, pk)
    form = CloseForm(request.POST)
    if form.is_valid():
        won = form.cleaned_data["outcome"] == "won"
        try:
            opportunity_close(
                opportunity=opportunity,
                actor=request.user,
                won=won,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(
                request,
                _("Opportunity marked as won.") if won else _("Opportunity marked as lost."),
            )
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render_opportunity(request, opportunity, close_form=form, status=400)


@require_POST
@manage_required
def opportunity_line(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = opportunity_for(request, pk)
    form = OpportunityLineForm(request.POST)
    if form.is_valid():
        try:
            opportunity_set_line(
                opportunity=opportunity,
                product=form.cleaned_data["product"],
                quantity=form.cleaned_data["quantity"],
                actor=request.user,
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("Products and services saved."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render_opportunity(request, opportunity, line_form=form, status=400)


@require_POST
@manage_required
def opportunity_reopen_view(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = opportunity_for(request, pk)
    opportunity_reopen(opportunity=opportunity, actor=request.user)
    messages.success(request, _("Opportunity reopened."))
    return redirect("sales:opportunity_detail", pk=opportunity.pk)


@require_POST
@manage_required
def quote_new(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = opportunity_for(request, pk)
    try:
        quote = quote_create(opportunity=opportunity, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("sales:opportunity_detail", pk=opportunity.pk)
    messages.success(request, _("Quote %(number)s created.") % {"number": quote.number})
    return redirect("sales:quote_detail", pk=quote.pk)


# --- Forecast ----------------------------------------------------------------------------------


class ForecastForm(forms.Form):
    pipeline = forms.ModelChoiceField(
        label=gettext_lazy("Pipeline"),
        queryset=Pipeline.objects.all(),
        required=False,
        empty_label=gettext_lazy("All"),
    )
    start = forms.DateField(
        label=gettext_lazy("From month"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    months = forms.IntegerField(
        label=gettext_lazy("Months"), min_value=1, max_value=24, required=False
    )


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def forecast_rows(*, start: date, months: int, pipeline: Pipeline | None, on: date):
    """Weighted amounts (amount x stage probability) of the open opportunities expected to
    close in each month, per owner, in the base currency at the rates of ``on``. The sums
    per month, owner and currency are the database's; each is converted once."""
    start = start.replace(day=1)
    end = _add_months(start, months)
    opportunities = Opportunity.objects.open().filter(
        expected_close__gte=start, expected_close__lt=end
    )
    if pipeline is not None:
        opportunities = opportunities.filter(pipeline=pipeline)
    weighted = ExpressionWrapper(
        F("amount") * F("stage__probability") / Decimal(100),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )
    rows = (
        opportunities.annotate(month=TruncMonth("expected_close"))
        .values("month", "owner_id", "currency")
        .annotate(weighted=Sum(weighted), total=Sum("amount"))
        .order_by()
    )
    month_list = [_add_months(start, offset) for offset in range(months)]
    table: dict = defaultdict(lambda: defaultdict(lambda: [Decimal("0.00"), Decimal("0.00")]))
    missing: set[str] = set()
    rates = RateBook(on)
    for row in rows:
        month = row["month"]
        month = month.date() if hasattr(month, "date") else month
        try:
            weighted_base = rates.to_base(row["weighted"], row["currency"])
            total_base = rates.to_base(row["total"], row["currency"])
        except MissingRate:
            missing.add(row["currency"])
            continue
        cell = table[row["owner_id"]][month]
        cell[0] += weighted_base
        cell[1] += total_base
    owners = User.objects.in_bulk([pk for pk in table if pk is not None])
    result = []
    for owner_id, by_month in table.items():
        owner = owners.get(owner_id)
        name = (owner.get_full_name() or owner.username) if owner else _("No owner")
        cells = [by_month.get(month, [Decimal("0.00"), Decimal("0.00")]) for month in month_list]
        result.append((name, cells, sum((cell[0] for cell in cells), start=Decimal("0.00"))))
    result.sort(key=lambda row: str(row[0]))
    month_totals = [
        sum((row[1][index][0] for row in result), start=Decimal("0.00"))
        for index in range(len(month_list))
    ]
    return month_list, result, month_totals, missing


@require_GET
@funnel_required
def forecast(request: HttpRequest) -> HttpResponse:
    form = ForecastForm(request.GET or None)
    today = timezone.localdate()
    start, months, pipeline = today.replace(day=1), 6, None
    if form.is_bound and form.is_valid():
        start = form.cleaned_data["start"] or start
        months = form.cleaned_data["months"] or months
        pipeline = form.cleaned_data["pipeline"]
    month_list, rows, month_totals, missing = forecast_rows(
        start=start, months=months, pipeline=pipeline, on=today
    )
    return render(
        request,
        "sales/forecast.html",
        {
            "form": form,
            "months": month_list,
            "rows": rows,
            "month_totals": month_totals,
            "grand_total": sum(month_totals, start=Decimal("0.00")),
            "missing": sorted(missing),
            "base_currency": base_currency(),
        },
        status=400 if form.errors else 200,
    )


# --- Catalogue ---------------------------------------------------------------------------------


@require_GET
@funnel_required
def catalogue(request: HttpRequest) -> HttpResponse:
    categories = ProductCategory.objects.prefetch_related("products")
    uncategorised = Product.objects.filter(category__isnull=True, is_active=True)
    return render(
        request,
        "sales/catalogue.html",
        {"categories": categories, "uncategorised": uncategorised},
    )
