"""Celery tasks of field work: the reminders of tasks (docs/sales.md, "Field work").

Beat runs ``send_task_reminders`` every minute. It takes the due reminders one at a time, each in
its own transaction: it claims one (``UPDATE ... SET reminded_at = now() WHERE ... reminded_at IS
NULL ... RETURNING``, over a row picked ``FOR UPDATE SKIP LOCKED``, so that two beat runs, or two
workers running it at once, never take the same reminder), sends its email, and commits. The
claim and the email are one unit: a worker killed while the mail server has the message, or a
mail server that cannot take it now, rolls the claim back, and the next minute's run sends it;
a reminder is marked reminded only once its email was handed over. (The emails used to be
queued to the broker after the claim committed: a worker killed during the send left the
reminder marked and its message waiting an hour, the broker's visibility timeout, or lost with
Redis's memory; tests/test_faults_tasks.py.)
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Iterable
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from crm import emails
from crm.tasks import is_transient

from .models import Task

logger = logging.getLogger(__name__)

BATCH = 500
# A run stops taking reminders after this long (beat starts the next one a minute later), and
# after this many mail-server failures in a row (it is down: the next run tries again).
RUN_SECONDS = 50
FAILURES_IN_A_ROW = 3
CLAIM_SQL = """
UPDATE sales_task SET reminded_at = %(now)s
WHERE id IN (
    SELECT id FROM sales_task
    WHERE remind_at <= %(now)s AND remind_at IS NOT NULL
      AND reminded_at IS NULL AND done_at IS NULL
      AND NOT (id = ANY(%(skip)s::bigint[]))
    ORDER BY remind_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AND reminded_at IS NULL
RETURNING id
"""


def claim_due_reminders(
    *, now: datetime | None = None, limit: int = BATCH, skip: Iterable[int] = ()
) -> list[int]:
    """Mark the due reminders as sent and return their tasks' ids (each id is returned by one
    call only, however many run at once); ``skip``: ids not to take."""
    with connection.cursor() as cursor:
        cursor.execute(
            CLAIM_SQL, {"now": now or timezone.now(), "limit": limit, "skip": list(skip)}
        )
        return [row[0] for row in cursor.fetchall()]


def reminder_context(task: Task) -> dict:
    """What the reminder says."""
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


class _MailServerUnavailable(Exception):
    """The mail server could not take a reminder now: its claim is rolled back."""


def send_reminder(task_id: int) -> None:
    """Email the reminder of a task claimed in the current transaction. A transient failure of
    the mail server raises ``_MailServerUnavailable`` (roll the claim back); a final one (a
    refused address) is logged, and the reminder counts as done."""
    task = Task.objects.select_related(
        "assignee", "visit__visit_type", "person", "organization"
    ).get(pk=task_id)
    address = task.assignee.email
    if not address or not task.assignee.is_active:
        logger.info("Task %s: its assignee has no email; no reminder sent", task.pk)
        return
    try:
        emails.send_email(
            "sales-task-reminder",
            to=[address],
            context=reminder_context(task),
            language=settings.LANGUAGE_CODE,
        )
    except (smtplib.SMTPException, OSError) as error:
        if is_transient(error):
            raise _MailServerUnavailable(f"{type(error).__name__}: {error}") from error
        logger.exception("Task %s: the mail server refused its reminder", task.pk)


@shared_task
def send_task_reminders() -> int:
    """Send the due reminders, each claimed and emailed in one transaction (beat, every minute);
    how many were done."""
    done = 0
    failed: list[int] = []  # not taken again in this run
    in_a_row = 0
    started = time.monotonic()
    while done < BATCH and time.monotonic() - started < RUN_SECONDS:
        try:
            with transaction.atomic():
                ids = claim_due_reminders(limit=1, skip=failed)
                if not ids:
                    break
                send_reminder(ids[0])
        except _MailServerUnavailable as error:
            logger.warning("Task %s: reminder not sent now, next run retries: %s", ids[0], error)
            failed.append(ids[0])
            in_a_row += 1
            if in_a_row >= FAILURES_IN_A_ROW:
                break
            continue
        in_a_row = 0
        done += 1
    return done
