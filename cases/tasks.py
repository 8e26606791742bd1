"""Celery tasks of the cases module: documents, emails to citizens and staff, the legal clock's
daily work. Thin, as the house style asks: they take ids, and what must happen once is recorded
on a row the task locks (``Case.receipt``, ``receipt_emailed_at``, ``answer_document``,
``DeadlineNotice``), so a task run twice (a redelivery, the sweeper) does nothing the second time.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm import emails
from crm.documents import issue_document
from crm.models import DocumentKind, User
from crm.tasks import TransientEmailError, is_transient

from .models import Case, CaseEntry, CaseStatus

logger = logging.getLogger(__name__)

# The sweeper re-queues receipts not emailed after this long (a lost task, a broker restart).
RECEIPT_GRACE = timedelta(minutes=2)
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
        case = Case.objects.select_for_update().select_related("case_type").get(pk=case_id)
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
            Case.objects.select_for_update()
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
    """Re-queue the receipts of filings whose task was lost (beat, every minute)."""
    stale = timezone.now() - RECEIPT_GRACE
    ids = list(
        Case.objects.filter(receipt_emailed_at=None, filed_at__lt=stale).values_list(
            "pk", flat=True
        )[:500]
    )
    for case_id in ids:
        issue_receipt.delay(case_id)
    return len(ids)


@shared_task(acks_late=True, **RETRY)
def issue_answer(case_id: int) -> None:
    """Issue the answer document (PDF with its own verification code) and email it."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update()
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
