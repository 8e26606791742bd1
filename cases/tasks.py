"""Celery tasks of the cases module: documents, emails to citizens and staff, the legal clock's
daily work. Thin, as the house style asks: they take ids, and what must happen once is recorded
on a row the task locks (``Case.receipt``, ``receipt_emailed_at``, ``answer_document``,
``DeadlineNotice``), so a task run twice (a redelivery, the sweeper) does nothing the second time.
"""

from __future__ import annotations

import itertools
import logging
import smtplib
from datetime import date, timedelta
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import emails
from crm.calendar import BusinessCalendar, DeadlineState
from crm.documents import issue_document
from crm.models import DocumentKind, Membership, User
from crm.tasks import TransientEmailError, is_transient

from .models import Case, CaseEntry, CaseQuerySet, CaseStatus, DeadlineNotice, EntryKind

logger = logging.getLogger(__name__)

# The sweeper re-queues receipts not emailed, and answer documents not issued, after this long
# (a lost task, a broker restart, a worker killed in the middle: its message would only come
# back after the broker's visibility timeout, an hour).
RECEIPT_GRACE = timedelta(minutes=2)
# Answers older than this are not looked at (cases answered before documents were issued, e.g.
# imported history, have none and never will).
ANSWER_SWEEP_WINDOW = timedelta(days=7)
RETRY = {
    "autoretry_for": (TransientEmailError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 10,
}


def _send(name: str, *, to: list[str], context: dict, language: str, attachments=()) -> None:
    try:
        emails.send_email(name, to=to, context=context, language=language, attachments=attachments)
    except (smtplib.SMTPException, OSError) as error:
        if is_transient(error):
            raise TransientEmailError(f"{type(error).__name__}: {error}") from error
        raise


def _language(case: Case) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    return case.language if case.language in codes else settings.LANGUAGE_CODE


def citizen_email(case: Case) -> str:
    return (case.filer or {}).get("email", "")


def tracking_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("cases_public:tracking")


def case_url(case: Case) -> str:
    return settings.PUBLIC_BASE_URL + reverse("cases:detail", args=[case.pk])


def case_context(case: Case) -> dict:
    """What every case email and document shows (JSON-free: rendered in-process)."""
    from .clock import case_calendar
    from .services import display_secret, tracking_secret

    calendar = case_calendar(case)
    return {
        "case": case,
        "case_type": case.case_type.label,
        "subject_area": case.subject_area.label if case.subject_area else "",
        "filer": case.filer,
        "official_filed_at": case.official_filed_at.astimezone(calendar.time_zone),
        "filed_at": case.filed_at.astimezone(calendar.time_zone),
        "tracking_secret": display_secret(tracking_secret(case)),
        "tracking_url": tracking_url(),
        "site_name": settings.SITE_NAME,
    }


def _receipt_context(case: Case) -> dict:
    context = case_context(case)
    # The PDF can be fetched by anyone holding its verification code: it never shows the
    # tracking secret (only the email and the receipt page do).
    context.pop("tracking_secret")
    context["attachments"] = list(case.attachments.values_list("name", "size"))
    return context


@shared_task(acks_late=True, **RETRY)
def issue_receipt(case_id: int) -> None:
    """Issue the filing's receipt (PDF with its verification code) and email it to the citizen,
    each at most once."""
    with transaction.atomic():
        # The case's row only, and FOR NO KEY UPDATE: rows referring to the case or its type
        # (new filings, history entries, the audit trail) are not held up while the PDF renders,
        # nor can they deadlock with it; a second run of this task still waits here.
        case = (
            Case.objects.select_for_update(no_key=True, of=("self",))
            .select_related("case_type")
            .get(pk=case_id)
        )
        if case.receipt_id is None:
            language = _language(case)
            with translation.override(language):
                title = _("Registry receipt %(number)s") % {"number": case.registry_number}
            case.receipt = issue_document(
                kind=DocumentKind.RECEIPT,
                title=title,
                template_name="cases/pdf/receipt.html",
                context=_receipt_context(case),
                related=case,
                language=language,
            )
            case.save(update_fields=["receipt"])
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(no_key=True, of=("self",))
            .select_related("case_type", "subject_area", "receipt")
            .get(pk=case_id)
        )
        if case.receipt_emailed_at is not None:
            return
        address = citizen_email(case)
        if address:
            with case.receipt.file.open("rb") as pdf:
                content = pdf.read()
            _send(
                "case-receipt",
                to=[address],
                context={**case_context(case), "document": case.receipt},
                language=_language(case),
                attachments=[(f"{case.registry_number}.pdf", content, "application/pdf")],
            )
        case.receipt_emailed_at = timezone.now()
        case.save(update_fields=["receipt_emailed_at"])


@shared_task
def sweep_receipts() -> int:
    """Re-queue the receipts of filings, and the answer documents of answered cases, whose task
    was lost (beat, every minute); how many were queued."""
    now = timezone.now()
    stale = now - RECEIPT_GRACE
    ids = list(
        Case.objects.filter(receipt_emailed_at=None, filed_at__lt=stale).values_list(
            "pk", flat=True
        )[:500]
    )
    for case_id in ids:
        issue_receipt.delay(case_id)
    # case_answered (a partial index on answered_at) serves the range.
    answers = list(
        Case.objects.filter(
            answered_at__gte=now - ANSWER_SWEEP_WINDOW,
            answered_at__lt=stale,
            answer_document=None,
        ).values_list("pk", flat=True)[:500]
    )
    for case_id in answers:
        issue_answer.delay(case_id)
    return len(ids) + len(answers)


@shared_task(acks_late=True, **RETRY)
def issue_answer(case_id: int) -> None:
    """Issue the answer document (PDF with its own verification code) and email it."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(no_key=True, of=("self",))
            .select_related("case_type", "subject_area", "unit", "assignee")
            .get(pk=case_id)
        )
        if case.answer_document_id is not None or not case.answered_at:
            return
        language = _language(case)
        with translation.override(language):
            title = _("Answer to %(number)s") % {"number": case.registry_number}
        case.answer_document = issue_document(
            kind=DocumentKind.ANSWER,
            title=title,
            template_name="cases/pdf/answer.html",
            context={**_receipt_context(case), "answer": case.public_answer},
            related=case,
            actor=case.assignee,
            language=language,
        )
        case.save(update_fields=["answer_document"])
        address = citizen_email(case)
        if address:
            with case.answer_document.file.open("rb") as pdf:
                content = pdf.read()
            # Inside the row's lock: a second run finds answer_document set and stops; should
            # the send fail the transaction rolls back and the retry issues it again.
            _send(
                "case-answer",
                to=[address],
                context={**case_context(case), "document": case.answer_document},
                language=language,
                attachments=[(f"{case.registry_number}-answer.pdf", content, "application/pdf")],
            )


@shared_task(**RETRY)
def notify_information_request(case_id: int, entry_id: int) -> None:
    case = Case.objects.select_related("case_type").get(pk=case_id)
    entry = CaseEntry.objects.get(pk=entry_id, case=case)
    address = citizen_email(case)
    if address and case.status == CaseStatus.WAITING:
        _send(
            "case-information-request",
            to=[address],
            context={**case_context(case), "request": entry.text},
            language=_language(case),
        )


def _staff_addresses(case: Case) -> list[str]:
    if case.assignee_id and case.assignee.email:
        return [case.assignee.email]
    if case.unit_id is None:
        return []
    return list(
        User.objects.filter(memberships__unit_id=case.unit_id, is_active=True)
        .exclude(email="")
        .filter(
            groups__permissions__codename="manage",
            groups__permissions__content_type__app_label="cases",
        )
        .values_list("email", flat=True)
        .distinct()
    )


@shared_task(**RETRY)
def notify_citizen_reply(case_id: int) -> None:
    case = Case.objects.select_related("case_type", "assignee").get(pk=case_id)
    to = _staff_addresses(case)
    if to:
        _send(
            "case-citizen-reply",
            to=to,
            context={**case_context(case), "case_url": case_url(case)},
            language=settings.LANGUAGE_CODE,
        )


@shared_task(**RETRY)
def notify_assignment(case_id: int, user_id: int) -> None:
    case = Case.objects.select_related("case_type").get(pk=case_id)
    user = User.objects.get(pk=user_id)
    if user.email:
        _send(
            "case-assigned",
            to=[user.email],
            context={**case_context(case), "case_url": case_url(case), "user": user},
            language=settings.LANGUAGE_CODE,
        )


# --- The legal clock's daily work (beat: crm/settings.py CELERY_BEAT_SCHEDULE) -------------------

# The traffic-light states that send a reminder, each once per case (DeadlineNotice).
NOTICE_STATES = (DeadlineState.DUE_SOON, DeadlineState.OVERDUE)
# Cases claimed per transaction (one INSERT of their notices).
NOTICE_CHUNK = 1000
# A claimed notice still unsent after this long is queued again: its task was lost (a crash
# between the claim and the send, a broker restart) or its mail server refused it for a while.
NOTICE_GRACE = timedelta(minutes=10)


def notice_candidates(state: str, today: date) -> CaseQuerySet:
    """Open cases in ``state`` on ``today`` whose clock runs, with someone to tell (a handler or
    a unit), and no notice of that state yet: one index range of the deadline columns and an
    anti-join on the notices."""
    claimed = DeadlineNotice.objects.filter(case=OuterRef("pk"), state=state)
    return (
        Case.objects.deadline_state(state, today)
        .filter(Q(assignee__isnull=False) | Q(unit__isnull=False))
        .filter(~Exists(claimed))
    )


def _claim(case_ids: list[int], state: str) -> list[int]:
    """Insert the notices of ``case_ids`` in ``state``; the ids of those this call created (a
    concurrent run that claimed some first keeps them: ON CONFLICT DO NOTHING)."""
    table = connection.ops.quote_name(DeadlineNotice._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (case_id, state, created_at) "
            "SELECT unnest(%s::bigint[]), %s, %s "
            "ON CONFLICT (case_id, state) DO NOTHING RETURNING id",
            [case_ids, state, timezone.now()],
        )
        return [row[0] for row in cursor.fetchall()]


def _queue_notices(notice_ids: list[int]) -> None:
    for notice_id in notice_ids:
        send_deadline_notice.delay(notice_id)


@shared_task
def send_deadline_notices() -> dict[str, int]:
    """Remind handlers and unit heads of the cases due soon and overdue (beat, hourly in office
    hours), once per case and state: each case's notice row is claimed first (unique per case
    and state), then ``send_deadline_notice`` sends it and marks it sent. Notices claimed
    earlier and still unsent are queued again."""
    stale = timezone.now() - NOTICE_GRACE
    unsent = list(
        DeadlineNotice.objects.filter(sent_at=None, created_at__lt=stale)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    _queue_notices(unsent)
    counts = {"requeued": len(unsent)}
    today = BusinessCalendar().today()
    for state in NOTICE_STATES:
        counts[str(state)] = 0
        # One query for the candidates, read in chunks; each chunk claimed in one statement.
        candidates = (
            notice_candidates(state, today).order_by("pk").values_list("pk", flat=True)
        ).iterator(chunk_size=NOTICE_CHUNK)
        while chunk := list(itertools.islice(candidates, NOTICE_CHUNK)):
            with transaction.atomic():
                claimed = _claim(chunk, state)
                transaction.on_commit(partial(_queue_notices, claimed))
            counts[str(state)] += len(claimed)
    return counts


def deadline_recipients(case: Case) -> list[str]:
    """Who hears of a case's deadline: its handler (or, without one, its unit's case handlers)
    and the heads of its unit (``Membership.is_head``)."""
    heads = Membership.objects.filter(
        unit_id=case.unit_id, is_head=True, user__is_active=True
    ).exclude(user__email="")
    addresses = [*_staff_addresses(case), *heads.values_list("user__email", flat=True)]
    return sorted({address.lower(): address for address in addresses}.values())


def notice_context(case: Case) -> dict:
    from .clock import business_days_left

    days_left = business_days_left(case)
    context = case_context(case)
    context.pop("tracking_secret")  # the citizen's, never sent to staff
    return {
        **context,
        "case_url": case_url(case),
        "unit": case.unit,
        "handler": case.assignee,
        "due_date": case.due_date,
        "days_left": days_left,
        "days_overdue": -days_left if days_left is not None and days_left < 0 else 0,
    }


@shared_task(acks_late=True, **RETRY)
def send_deadline_notice(notice_id: int) -> None:
    """Send one claimed notice and mark it sent, exactly once: the row is locked while the mail
    goes out and ``sent_at`` is set in the same transaction (a failed send rolls back and is
    retried; a second task for the same notice finds it locked or sent and stops). A notice
    whose case is no longer in its state is withdrawn (deleted, as if never claimed)."""
    from .clock import deadline_state

    with transaction.atomic():
        notice = (
            DeadlineNotice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("case__case_type", "case__subject_area", "case__unit", "case__assignee")
            .filter(pk=notice_id, sent_at=None)
            .first()
        )
        if notice is None:  # sent already, withdrawn, or being sent right now by another task
            return
        case = notice.case
        state = deadline_state(case)
        if state != notice.state:
            logger.info(
                "Deadline notice %s of case %s withdrawn: the case is %s now, not %s.",
                notice.pk,
                case.registry_number,
                state or case.status,
                notice.state,
            )
            notice.delete()
            return
        to = deadline_recipients(case)
        if to:
            _send(
                f"case-deadline-{notice.state.replace('_', '-')}",
                to=to,
                context=notice_context(case),
                language=settings.LANGUAGE_CODE,
            )
        else:
            logger.warning(
                "Deadline notice of case %s (%s): nobody to tell (no handler, no unit handlers "
                "or heads with an email address).",
                case.registry_number,
                notice.state,
            )
        notice.sent_at = timezone.now()
        notice.save(update_fields=["sent_at"])
        CaseEntry.objects.create(
            case=case,
            kind=EntryKind.NOTICE,
            text=f"{DeadlineState(notice.state).label}: {', '.join(to) or '-'}",
        )


@shared_task
def resume_unanswered_cases() -> int:
    """Start the clock again of the cases whose citizen did not reply within their term (beat,
    daily after midnight); how many were resumed."""
    today = BusinessCalendar().today()
    ids = list(
        Case.objects.filter(status=CaseStatus.WAITING, reply_due_date__lt=today)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    from .services import case_resume_unanswered

    resumed = 0
    for case_id in ids:
        try:
            resumed += case_resume_unanswered(case=Case(pk=case_id))
        except Exception:  # one case's trouble must not hold back the others
            logger.exception("Could not resume case %s after the citizen's term.", case_id)
    return resumed
