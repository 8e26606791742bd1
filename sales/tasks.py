"""Celery tasks of field work: the reminders of tasks (docs/sales.md, "Field work").

Beat runs ``send_task_reminders`` every minute. It claims the reminders that are due with one
statement (``UPDATE ... SET reminded_at = now() WHERE ... reminded_at IS NULL ... RETURNING``,
over rows picked ``FOR UPDATE SKIP LOCKED``), so that two beat runs, or two workers running it
at once, never claim the same reminder: each reminder is claimed exactly once. The emails of the
claimed reminders are queued after the claim commits, to ``crm.tasks.send_templated_email``,
which retries transient SMTP failures with backoff.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from crm.tasks import send_templated_email

from .models import Task

logger = logging.getLogger(__name__)

BATCH = 500
CLAIM_SQL = """
UPDATE sales_task SET reminded_at = %(now)s
WHERE id IN (
    SELECT id FROM sales_task
    WHERE remind_at <= %(now)s AND remind_at IS NOT NULL
      AND reminded_at IS NULL AND done_at IS NULL
    ORDER BY remind_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AND reminded_at IS NULL
RETURNING id
"""


def claim_due_reminders(*, now: datetime | None = None, limit: int = BATCH) -> list[int]:
    """Mark the due reminders as sent and return their tasks' ids (each id is returned by one
    call only, however many run at once)."""
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, {"now": now or timezone.now(), "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def reminder_context(task: Task) -> dict:
    """What the reminder says (JSON: it travels to the worker)."""
    language = settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(settings.TIME_ZONE):
        due = date_format(timezone.localtime(task.due_at), "DATETIME_FORMAT")
    return {
        "name": task.assignee.first_name or task.assignee.username,
        "title": task.title,
        "due": due,
        "notes": task.notes,
        "about": str(task.visit or task.organization or task.person or ""),
        "task_url": settings.PUBLIC_BASE_URL + reverse("sales:task_edit", args=[task.pk]),
    }


@shared_task
def send_task_reminders() -> int:
    """Claim the due reminders and queue their emails (beat, every minute)."""
    with transaction.atomic():
        ids = claim_due_reminders()
        tasks = Task.objects.filter(pk__in=ids).select_related(
            "assignee", "visit__visit_type", "person", "organization"
        )
        for task in tasks:
            address = task.assignee.email
            if not address or not task.assignee.is_active:
                logger.info("Task %s: its assignee has no email; no reminder sent", task.pk)
                continue
            transaction.on_commit(
                partial(
                    send_templated_email.delay,
                    "sales-task-reminder",
                    [address],
                    reminder_context(task),
                    settings.LANGUAGE_CODE,
                )
            )
    return len(ids)
