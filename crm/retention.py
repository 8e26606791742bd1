"""Retention: how long each kind of data is kept, and the nightly job that ends what expired.

Each app registers its rules (``register``) in a module ``<app>/retention.py``;
``apply_retention`` (the beat task ``crm.tasks.apply_retention``, and ``manage.py
apply_retention``) runs them all. A rule works in batches, each its own transaction, and is
idempotent: a run that stops half-way (a worker killed, the database restarted) leaves every
batch done or not done, and the next run finishes the rest. Every rule that ended something
writes one audit event with its count.

The periods are settings (docs/configuration.md, "Retention"); docs/security.md says why each
one is what it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from importlib.util import find_spec

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm.audit import log_event
from crm.models import AuditAction

logger = logging.getLogger(__name__)

BATCH = 1000


@dataclass(frozen=True)
class Rule:
    """``run(now)`` ends what expired and returns how many records it ended."""

    name: str  # stable: used in the audit event and in logs
    run: Callable[[datetime], int]


_rules: dict[str, Rule] = {}


def register(name: str) -> Callable[[Callable[[datetime], int]], Callable[[datetime], int]]:
    def decorate(run: Callable[[datetime], int]) -> Callable[[datetime], int]:
        _rules[name] = Rule(name, run)
        return run

    return decorate


def rules() -> list[Rule]:
    """Every rule: the crm app's (below) and those of each installed app's ``retention`` module,
    imported here in ``INSTALLED_APPS`` order."""
    for config in apps.get_app_configs():
        module = f"{config.name}.retention"
        if config.name != "crm" and find_spec(module) is not None:
            import_module(module)
    return list(_rules.values())


def apply_retention(now: datetime | None = None) -> dict[str, int]:
    """Run every rule; the count of records each ended."""
    now = now or timezone.now()
    done: dict[str, int] = {}
    for rule in rules():
        count = rule.run(now)
        done[rule.name] = count
        if count:
            logger.info("retention %s: %d ended", rule.name, count)
            log_event(
                action=AuditAction.DELETE,
                object_type="retention",
                object_id=rule.name,
                changes={"ended": count, "as_of": now.isoformat()},
            )
    return done


def in_batches(ids_of_next_batch: Callable[[], list[int]], end: Callable[[list[int]], None]) -> int:
    """Call ``end`` on batches of ids, each in its own transaction, until none is left."""
    total = 0
    while True:
        with transaction.atomic():
            ids = ids_of_next_batch()
            if not ids:
                return total
            end(ids)
        total += len(ids)


def years_before(now: datetime, years: int) -> datetime:
    return now - timedelta(days=round(365.25 * years))


# --- The crm app's own rules ------------------------------------------------------------------


@register("sessions")
def end_expired_sessions(now: datetime) -> int:
    """Sessions past their expiry (a login that ended by time still has its row)."""
    from django.contrib.sessions.models import Session

    return in_batches(
        lambda: list(
            Session.objects.filter(expire_date__lt=now).values_list("pk", flat=True)[:BATCH]
        ),
        lambda keys: Session.objects.filter(pk__in=keys).delete(),
    )


@register("audit_events")
def end_old_audit_events(now: datetime) -> int:
    """Audit events older than ``RETENTION_AUDIT_YEARS``, oldest first, and never the newest one.

    The trail stays verifiable: before each batch goes, an ``AuditAnchor`` keeps the hash of the
    batch's last event, which the first remaining event names as its predecessor; ``audit_verify``
    starts there. The append-only trigger lets DELETE through only inside this transaction
    (``crm.audit_retention``), and the chain's lock keeps new events out meanwhile.
    """
    from crm.audit import hold_chain_lock
    from crm.models import AuditAnchor, AuditEvent

    cutoff = years_before(now, settings.RETENTION_AUDIT_YEARS)
    total = 0
    while True:
        with transaction.atomic():
            hold_chain_lock()
            first_kept = (
                AuditEvent.objects.filter(occurred_at__gte=cutoff)
                .order_by("occurred_at", "id")
                .values_list("id", flat=True)
                .first()
            )
            newest = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
            if newest is None:
                return total
            boundary = min(first_kept or newest, newest)
            batch = list(
                AuditEvent.objects.filter(id__lt=boundary)
                .order_by("id")
                .values_list("id", "hash")[:BATCH]
            )
            if not batch:
                return total
            last_id, last_hash = batch[-1]
            AuditAnchor.objects.create(
                last_id=last_id, last_hash=last_hash, ended=len(batch), cutoff=cutoff
            )
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL crm.audit_retention = 'on'")
                cursor.execute(
                    "DELETE FROM crm_auditevent WHERE id <= %s AND id >= %s",
                    [last_id, batch[0][0]],
                )
        total += len(batch)
