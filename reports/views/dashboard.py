"""The dashboard ("cuadro de mandos"): the indicators of the modules the user uses, for a period
and a unit, as charts with their data tables (reports.dashboard computes and caches them)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.permissions import module_required

from .. import dashboard_charts
from ..dashboard import build, cache_seconds
from ..filters import dashboard_form


@require_GET
@module_required("reports")
def index(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    form = dashboard_form(request.GET, user=request.user, today=today)
    dashboard = None
    if not form.is_bound or form.is_valid():
        dashboard = build(request.user, form.filters(), today=today)
    context = {
        "form": form,
        "dashboard": dashboard,
        "cache_minutes": max(1, cache_seconds() // 60),
    }
    if dashboard is not None:
        charts = dashboard_charts.charts(dashboard)
        context["charts"] = charts
        context["tables"] = dashboard_charts.tables(charts)
        if dashboard.case_flow is not None:
            context["case_indicators"] = dashboard_charts.case_indicators(dashboard)
        if dashboard.pipeline is not None:
            context["pipeline_indicators"] = dashboard_charts.pipeline_indicators(dashboard)
    return render(request, "reports/dashboard.html", context)
