"""Every write of the report builder: saved reports, their sharing and schedule, exports (which
are audited) and the scheduled sending. Each service is atomic and writes the audit trail."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.audit import diff, log_event
from crm.emails import Attachment, send_email
from crm.models import AuditAction, User

from . import builder, exports
from .models import SavedReport, ScheduledRun
from .scope import SUBJECTS

logger = logging.getLogger(__name__)

# Subjects whose rows are people's data: their exports are audited (ENS op.exp.8, GDPR art. 30).
PERSONAL_SUBJECTS = frozenset(
    {"people", "organizations", "cases", "deliveries", "opportunities", "visits"}
)
MAX_RECIPIENTS = 50
MAX_ATTEMPTS = 5
# A run claimed this long ago and never finished (its worker died) may be claimed again.
CLAIM_TIMEOUT = dt.timedelta(minutes=30)


def _snapshot(report: SavedReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "subject": report.subject,
        "definition": report.definition,
        "schedule": report.schedule,
        "file_format": report.file_format,
        "send_to_owner": report.send_to_owner,
    }


def _require_owner(report: SavedReport, actor: User) -> None:
    if report.owner_id != actor.pk:
        raise PermissionDenied


@transaction.atomic
def report_save(
    *,
    actor: User,
    name: str,
    definition: Mapping[str, Any],
    report: SavedReport | None = None,
) -> SavedReport:
    """Save a new report of ``actor`` or change one of theirs (``DefinitionError`` if the
    definition does not validate for them)."""
    cleaned = builder.validate(actor, definition)
    name = name.strip()[:150] or _("Untitled report")
    if report is None:
        report = SavedReport.objects.create(
            name=name, subject=cleaned.subject, definition=cleaned.definition, owner=actor
        )
        log_event(actor=actor, action=AuditAction.CREATE, obj=report, changes=_snapshot(report))
        return report
    _require_owner(report, actor)
    before = _snapshot(report)
    report.name, report.subject, report.definition = name, cleaned.subject, cleaned.definition
    report.save(update_fields=["name", "subject", "definition", "updated_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=report,
        changes=diff(before, _snapshot(report)),
    )
    return report


@transaction.atomic
def report_share(*, actor: User, report: SavedReport, groups: Iterable[Group]) -> SavedReport:
    """Share the report with exactly these roles (``reports.manage``, the owner only). Who
    opens a shared report sees what their own scope shows them, never the owner's rows."""
    if not actor.has_perm("reports.manage"):
        raise PermissionDenied
    _require_owner(report, actor)
    before = sorted(report.shared_with.values_list("name", flat=True))
    groups = list(groups)
    report.shared_with.set(groups)
    after = sorted(group.name for group in groups)
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=report,
        changes=diff({"shared_with": before}, {"shared_with": after}),
    )
    return report


def eligible_recipients() -> Any:
    """Active users who use the reports module (those a schedule may send to)."""
    access = Q(
        groups__permissions__content_type__app_label="reports",
        groups__permissions__codename="access",
    ) | Q(
        user_permissions__content_type__app_label="reports",
        user_permissions__codename="access",
    )
    return (
        User.objects.filter(is_active=True)
        .filter(access | Q(is_superuser=True))
        .exclude(email="")
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


@transaction.atomic
def report_schedule(
    *,
    actor: User,
    report: SavedReport,
    schedule: str,
    file_format: str,
    send_to_owner: bool,
    recipients: Iterable[User] = (),
) -> SavedReport:
    """Email the report every day, week or month (``reports.manage``, the owner only)."""
    if not actor.has_perm("reports.manage"):
        raise PermissionDenied
    _require_owner(report, actor)
    if schedule not in SavedReport.Schedule.values:
        raise ValueError(f"Unknown schedule {schedule!r}")
    if file_format not in SavedReport.Format.values:
        raise ValueError(f"Unknown format {file_format!r}")
    recipients = list(recipients)
    if len(recipients) > MAX_RECIPIENTS:
        raise ValueError(f"At most {MAX_RECIPIENTS} recipients")
    allowed = set(
        eligible_recipients().filter(pk__in=[u.pk for u in recipients]).values_list("pk", flat=True)
    )
    if any(user.pk not in allowed for user in recipients):
        raise ValueError("A recipient does not use the reports module")
    before = {
        **_snapshot(report),
        "recipients": sorted(report.recipients.values_list("pk", flat=True)),
    }
    report.schedule, report.file_format, report.send_to_owner = schedule, file_format, send_to_owner
    report.save(update_fields=["schedule", "file_format", "send_to_owner", "updated_at"])
    report.recipients.set(recipients)
    after = {**_snapshot(report), "recipients": sorted(user.pk for user in recipients)}
    log_event(actor=actor, action=AuditAction.UPDATE, obj=report, changes=diff(before, after))
    return report


@transaction.atomic
def report_delete(*, actor: User, report: SavedReport) -> None:
    _require_owner(report, actor)
    log_event(actor=actor, action=AuditAction.DELETE, obj=report, changes=_snapshot(report))
    report.delete()


def report_export(
    *,
    actor: User,
    report: builder.Report,
    file_format: str,
    title: str,
    saved: SavedReport | None = None,
    progress=None,
    reason: str = "download",
) -> exports.ExportedFile:
    """The report's file as ``actor`` may see it; exports of personal data are audited with
    who exported what and how many records (ENS op.exp.8)."""
    exported = exports.export(actor, report, file_format, title=title, progress=progress)
    if report.subject in PERSONAL_SUBJECTS:
        log_event(
            actor=actor,
            action=AuditAction.EXPORT,
            object_type=f"reports.{report.subject}",
            object_id=saved.pk if saved else "",
            changes={
                "format": file_format,
                "rows": exported.rows,
                "report": report.definition,
                "title": title,
                "reason": reason,
            },
        )
    return exported


def report_document(job, progress) -> tuple[str, str, bytes]:
    """The "report" kind of document job (reports.jobs): a saved report's PDF, made by the
    worker for the job's owner with the owner's scope (``params``: ``report``, ``language``)."""
    from django.utils import translation

    from .jobs import DocumentJobError

    owner = User.objects.get(pk=job.owner_id)
    report = SavedReport.objects.for_user(owner).filter(pk=job.params.get("report")).first()
    if report is None:
        raise DocumentJobError(_("The report was deleted or is no longer shared with you."))
    try:
        cleaned = builder.validate(owner, report.definition)
    except builder.DefinitionError as error:
        raise DocumentJobError(_("You may no longer run this report.")) from error
    with translation.override(job.params.get("language") or settings.LANGUAGE_CODE):
        exported = report_export(
            actor=owner,
            report=cleaned,
            file_format=exports.PDF,
            title=report.name,
            saved=report,
            progress=progress,
            reason="document job",
        )
    return exported.filename, exported.content_type, exported.read()


# --- Scheduled sending ------------------------------------------------------------------------


def period_key(schedule: str, moment: dt.datetime) -> str:
    """The period ``moment`` falls in (local time): ``2026-11-23``, ``2026-W47``, ``2026-11``."""
    day = timezone.localtime(moment).date()
    if schedule == SavedReport.Schedule.DAILY:
        return day.isoformat()
    if schedule == SavedReport.Schedule.WEEKLY:
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    if schedule == SavedReport.Schedule.MONTHLY:
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"Not a schedule: {schedule!r}")


def _claim(report: SavedReport, period: str, now: dt.datetime) -> ScheduledRun | None:
    """The period's run, claimed by this caller; None when another caller holds it or it was
    sent. The unique (report, period) row decides: only one UPDATE from a claimable state
    succeeds, however many beats, workers or retries ask at once."""
    try:
        with transaction.atomic():
            ScheduledRun.objects.get_or_create(report=report, period=period)
    except IntegrityError:  # created by a concurrent caller in between: it exists now
        pass
    claimable = Q(status__in=[ScheduledRun.Status.PENDING, ScheduledRun.Status.FAILED]) | Q(
        status=ScheduledRun.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT
    )
    claimed = ScheduledRun.objects.filter(
        claimable, report=report, period=period, attempts__lt=MAX_ATTEMPTS
    ).update(status=ScheduledRun.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return ScheduledRun.objects.get(report=report, period=period)


def _recipients(report: SavedReport) -> list[User]:
    users = list(report.recipients.filter(is_active=True))
    if report.send_to_owner and report.owner.is_active and report.owner not in users:
        users.insert(0, report.owner)
    return users


def scheduled_report_send(*, report: SavedReport, run: ScheduledRun, now: dt.datetime) -> int:
    """Email a claimed run to each recipient not yet sent to; each recipient's file is the report
    as *they* may see it (their own scope: the owner's for the owner), so nobody receives a row
    they could not see in the module. A recipient who may not run the report (no access to its
    subject or a column of it) gets nothing and is recorded as left out."""
    sent = 0
    for recipient in _recipients(report):
        if recipient.pk in run.sent_to or recipient.pk in run.skipped:
            continue
        recipient = User.objects.get(pk=recipient.pk)  # fresh permissions
        try:
            cleaned = builder.validate(recipient, report.definition)
        except builder.DefinitionError:
            logger.info("Scheduled report %s: %s may not run it", report.pk, recipient.pk)
            run.skipped = [*run.skipped, recipient.pk]
            ScheduledRun.objects.filter(pk=run.pk).update(skipped=run.skipped)
            continue
        title = report.name
        exported = report_export(
            actor=recipient,
            report=cleaned,
            file_format=report.file_format,
            title=title,
            saved=report,
            reason=f"scheduled {run.period}",
        )
        context = {
            "name": recipient.first_name or recipient.username,
            "report_name": report.name,
            "subject": str(SUBJECTS[report.subject].label),
            "period": run.period,
            "rows": exported.rows,
            "filters": builder.describe(cleaned),
            "report_url": settings.PUBLIC_BASE_URL
            + reverse("reports:report_detail", args=[report.pk]),
        }
        send_email(
            "scheduled_report",
            to=[recipient.email],
            context=context,
            attachments=[Attachment(exported.filename, exported.read(), exported.content_type)],
        )
        run.sent_to = [*run.sent_to, recipient.pk]
        ScheduledRun.objects.filter(pk=run.pk).update(sent_to=run.sent_to)
        sent += 1
    ScheduledRun.objects.filter(pk=run.pk).update(
        status=ScheduledRun.Status.SENT, sent_at=now, last_error=""
    )
    return sent


def scheduled_reports_send(*, now: dt.datetime | None = None) -> int:
    """Send every scheduled report whose current period was not sent yet (beat, hourly); the
    number of emails sent. Each report is sent once per period (see ``_claim``); a failure
    leaves the run to the next beat (up to ``MAX_ATTEMPTS``), which only sends to the
    recipients not reached yet."""
    now = now or timezone.now()
    sent = 0
    reports = (
        SavedReport.objects.exclude(schedule=SavedReport.Schedule.NONE)
        .filter(owner__is_active=True)
        .select_related("owner")
        .order_by("pk")
    )
    for report in reports.iterator(chunk_size=200):
        period = period_key(report.schedule, now)
        run = _claim(report, period, now)
        if run is None:
            continue
        try:
            sent += scheduled_report_send(report=report, run=run, now=now)
        except Exception as error:  # recorded; the next beat tries again
            logger.exception("Scheduled report %s, period %s, failed", report.pk, period)
            ScheduledRun.objects.filter(pk=run.pk).update(
                status=ScheduledRun.Status.FAILED,
                last_error=f"{type(error).__name__}: {error}"[:2000],
            )
    return sent
