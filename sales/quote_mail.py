"""The quote's PDF and the task that emails it (imported by SalesConfig.ready so that the
worker knows the task). Thin: it takes ids, renders the PDF of the sent (immutable) version and
sends the email; transient SMTP errors are retried with backoff."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings
from django.utils import translation

from crm import emails
from crm.pdf import render_pdf
from crm.tasks import TransientEmailError, is_transient

from .models import QuoteVersion
from .quotes import LineInput, quote_totals


def quote_context(version: QuoteVersion) -> dict:
    lines = list(version.lines.all())
    totals = quote_totals(
        LineInput(line.quantity, line.unit_price, line.vat_rate, line.discount) for line in lines
    )
    opportunity = version.quote.opportunity
    return {
        "version": version,
        "quote": version.quote,
        "opportunity": opportunity,
        "party": opportunity.organization or opportunity.person,
        "person": opportunity.person,
        "rows": list(zip(lines, totals.lines, strict=True)),
        "totals": totals,
    }


def quote_pdf(version: QuoteVersion, language: str | None = None) -> bytes:
    with translation.override(language or settings.LANGUAGE_CODE):
        return render_pdf("sales/pdf/quote.html", quote_context(version))


def quote_filename(version: QuoteVersion) -> str:
    return f"{version.quote.number}-v{version.version}.pdf"


@shared_task(
    acks_late=True,
    autoretry_for=(TransientEmailError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def send_quote(version_id: int, to: str, language: str, message: str = "") -> None:
    version = QuoteVersion.objects.select_related(
        "quote__opportunity__person", "quote__opportunity__organization"
    ).get(pk=version_id)
    context = quote_context(version)
    context["message"] = message
    try:
        emails.send_email(
            "sales-quote",
            to=[to],
            context=context,
            language=language,
            attachments=[
                emails.Attachment(
                    quote_filename(version), quote_pdf(version, language), "application/pdf"
                )
            ],
        )
    except (smtplib.SMTPException, OSError) as error:
        if is_transient(error):
            raise TransientEmailError(f"{type(error).__name__}: {error}") from error
        raise
