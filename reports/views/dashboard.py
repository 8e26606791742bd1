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


def _campaign_pages(user, campaigns) -> set[int]:
    """The campaigns whose results page the user may open: management counts every campaign
    without using the campaigns module, so its names are shown without a link."""
    from campaigns.models import Campaign

    ids = [campaign.id for campaign in campaigns]
    return set(Campaign.objects.for_user(user).filter(pk__in=ids).values_list("pk", flat=True))


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
        if dashboard.campaigns:
            context["campaign_pages"] = _campaign_pages(request.user, dashboard.campaigns)
    return render(request, "reports/dashboard.html", context)
