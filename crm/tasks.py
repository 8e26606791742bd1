"""Celery tasks shared by every module. Queue them with ``transaction.on_commit``."""

from __future__ import annotations

import smtplib
from typing import Any

from crm import emails
from crm.celery import app


class TransientEmailError(Exception):
    """The mail server could not take the message now (4xx answer, connection trouble)."""


def is_transient(error: Exception) -> bool:
    """True for failures worth retrying; a 5xx answer (bad address, refused) is final."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(error, smtplib.SMTPException):
        return False  # e.g. STARTTLS or AUTH not offered: a configuration mistake
    return isinstance(error, OSError)  # refused or timed-out connections, network trouble


@app.task(
    autoretry_for=(TransientEmailError,),
    retry_backoff=True,  # 1 s, 2 s, 4 s ... with full jitter
    retry_backoff_max=600,
    max_retries=10,
)
def send_templated_email(name: str, to: list[str], context: dict[str, Any], language: str) -> None:
    """Send the email triplet ``emails/<name>-*`` in ``language``; arguments are JSON."""
    try:
        emails.send_email(name, to=to, context=context, language=language)
    except (smtplib.SMTPException, OSError) as error:
        if is_transient(error):
            raise TransientEmailError(f"{type(error).__name__}: {error}") from error
        raise


@app.task(acks_late=True)
def apply_retention() -> dict[str, int]:
    """Nightly: end what outlived its retention period (crm.retention). Idempotent, in batches."""
    from crm.retention import apply_retention as run

    return run()
