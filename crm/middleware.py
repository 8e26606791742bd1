from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse

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
