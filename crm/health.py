"""The state of the services the CRM depends on, for /health/ and for operators."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from crm.celery import app as celery_app

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    milliseconds: float
    detail: str = ""

    def as_dict(self) -> dict:
        data: dict = {"status": "up" if self.ok else "down", "ms": round(self.milliseconds, 1)}
        if self.detail:
            data["detail"] = self.detail
        return data


def _timed(check: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:
        logger.warning("health check %s failed: %s", check.__name__, exc)
        return CheckResult(False, (time.perf_counter() - started) * 1000, type(exc).__name__)
    return CheckResult(True, (time.perf_counter() - started) * 1000, detail)


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        # Drop the broken connection so the next request opens a fresh one.
        connection.close()
        raise
    return ""


def check_broker() -> str:
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return ""


def check_worker() -> str:
    """A worker of this installation answers a ping through the broker. Control commands travel
    on an exchange named after the queue (CELERY_CONTROL_EXCHANGE in settings), so workers of
    another installation or test run sharing the Redis do not count."""
    # A connection of its own, not the pool's: a pooled one may be left over from before a
    # restart of Redis, and the check would fail once after every restart.
    with celery_app.connection_for_write() as broker:
        replies = celery_app.control.ping(timeout=TIMEOUT_SECONDS, limit=1, connection=broker)
    if not replies:
        raise RuntimeError("no Celery worker answered")
    return ", ".join(name for reply in replies for name in reply)


def run_checks() -> dict[str, CheckResult]:
    results = {"database": _timed(check_database), "broker": _timed(check_broker)}
    if results["broker"].ok:
        results["worker"] = _timed(check_worker)
    else:
        results["worker"] = CheckResult(False, 0.0, "broker down")
    return results
