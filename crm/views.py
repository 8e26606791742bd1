from __future__ import annotations

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.health import run_checks
from crm.modules import home_panels


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "crm/home.html", {"panels": home_panels(request)})


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    results = run_checks()
    healthy = all(result.ok for result in results.values())
    body = {
        "status": "up" if healthy else "down",
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def module_index(request: HttpRequest, *, module: str) -> HttpResponse:
    """A module's landing page (``<module>/index.html``); each module's views grow from here."""
    return render(
        request, f"{module}/index.html", {"module": apps.get_app_config(module).crm_module}
    )
