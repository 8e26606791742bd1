from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from crm.audit import audit_timings
from crm.logging import request_id_var

# A request id from a trusted proxy is kept when it looks like one; anything else is replaced.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (or keep the proxy's ``X-Request-ID``), for logs and the audit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class BenchHeadersMiddleware:
    """Report server time and SQL queries per request in headers (only with BENCH_HEADERS)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        timings: list[float] = []
        token = audit_timings.set(timings)
        started = time.perf_counter()
        try:
            with connections["default"].execute_wrapper(count):
                response = self.get_response(request)
        finally:
            audit_timings.reset(token)
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics = [f"app;dur={elapsed_ms:.3f}"]
        if timings:
            metrics.append(f"audit;dur={sum(timings):.3f}")
        response["Server-Timing"] = ", ".join(metrics)
        response["X-SQL-Queries"] = str(queries)
        return response


# Browser features no page of the CRM uses are turned off; geolocation stays for the public
# site's "use my location" (incident alerts), on our own origin only.
PERMISSIONS_POLICY = ", ".join(
    (
        "accelerometer=()",
        "autoplay=()",
        "camera=()",
        "display-capture=()",
        "geolocation=(self)",
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "midi=()",
        "payment=()",
        "usb=()",
        "interest-cohort=()",
    )
)


class SecurityHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not set.

    ``Permissions-Policy`` on every answer. ``Cache-Control: no-store`` on every answer to a
    logged-in user: staff pages show personal data, and neither a shared cache nor the browser's
    history may keep them (ENS, GDPR). Public pages that show personal data (a case's tracking
    page) set it themselves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class IdleSessionMiddleware:
    """Log out a staff session idle for ``SESSION_IDLE_TIMEOUT`` seconds, and any session older
    than ``SESSION_COOKIE_AGE`` however busy (ENS op.acc.6: sessions end after inactivity).

    The login's start and the time of the last request are kept in the session: both written
    at login (``start_session_clock``, with the login's own session write), then the last
    request's rewritten at most once a minute, so that a busy user does not write their session
    on every click.
    """

    LAST_SEEN = "crm_last_seen"
    STARTED = "crm_session_started"
    RESOLUTION = 60  # seconds

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            session = request.session
            started = session.setdefault(self.STARTED, now)
            last_seen = session.get(self.LAST_SEEN, now)
            idle = now - last_seen > settings.SESSION_IDLE_TIMEOUT
            if idle or now - started > settings.SESSION_COOKIE_AGE:
                logout(request)
                messages.info(
                    request,
                    _(
                        "Your session ended after %(minutes)d minutes without activity. "
                        "Please log in again."
                    )
                    % {"minutes": settings.SESSION_IDLE_TIMEOUT // 60}
                    if idle
                    else _("Your session reached its maximum length. Please log in again."),
                )
            elif now - last_seen >= self.RESOLUTION or self.LAST_SEEN not in session:
                session[self.LAST_SEEN] = now
        return self.get_response(request)


def start_session_clock(sender, request: HttpRequest, user, **kwargs) -> None:
    """``user_logged_in`` receiver: a new login starts its clocks (crm.apps connects it)."""
    now = int(time.time())
    request.session[IdleSessionMiddleware.STARTED] = now
    request.session[IdleSessionMiddleware.LAST_SEEN] = now
