from __future__ import annotations

import sys

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm.audit import log_event
from crm.health import run_checks
from crm.models import AuditAction
from crm.modules import home_panels
from crm.permissions import module_for, module_required


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


def module_index(request: HttpRequest, *, module: str) -> HttpResponse:
    """A module's landing page (``<module>/index.html``); each module's views grow from here."""
    return module_required(module)(_module_index)(request, module=module)


def _module_index(request: HttpRequest, *, module: str) -> HttpResponse:
    return render(request, f"{module}/index.html", {"module": module_for(module)})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 in the frame; every denial is an audit event (ENS: access denied)."""
    log_event(action=AuditAction.ACCESS_DENIED, changes={"path": request.path[:500]})
    return render(request, "403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 in the frame (site name, user, language switch). Should rendering with the request fail
    as well, Django's context-free page from the same template.

    When the error is that the database cannot be reached (restarting, failing over), a 503 that
    asks to try again shortly, rendered without the database. Nothing has to be restarted
    afterwards: every request checks its connection first (``CONN_HEALTH_CHECKS``) and opens a
    new one once the database is back.
    """
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return service_unavailable(request)
    try:
        return render(request, "500.html", status=500)
    except Exception:
        return defaults.server_error(request)


# What psycopg raises, through Django, while the database cannot be reached.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 without the database: no user, no session, no context processors."""
    body = render_to_string(
        "503.html",
        {"SITE_NAME": settings.SITE_NAME, "retry_after": RETRY_AFTER_SECONDS},
    )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
