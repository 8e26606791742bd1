"""Tasks run by a real Celery worker process through Redis, sending to a real SMTP server."""

import pytest
from django.core.management import call_command

from crm.tasks import send_templated_email

# These tasks read no rows: the tests need no committed data (django_db(transaction=True)).
pytestmark = [pytest.mark.services, pytest.mark.django_db]

CONTEXT = {"requested_at": "2025-03-04 10:20:30 CET", "requested_on": "web-1"}


@pytest.mark.parametrize(
    ("language", "subject", "text", "html"),
    [
        ("es", "Prueba de correo de CRM Público", "el correo saliente funciona",
         "Esto es una prueba del CRM CRM Público de Ayuntamiento de Ejemplo."),
        ("en", "Mail check from CRM Público", "outgoing email works",
         "This is a test from the CRM CRM Público of Ayuntamiento de Ejemplo."),
    ],
)  # fmt: skip
def test_the_worker_sends_a_templated_email(
    celery_worker, smtp_server, language, subject, text, html
):
    result = send_templated_email.delay("mail-check", ["ana@example.org"], CONTEXT, language)
    [mail] = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["ana@example.org"]
    assert mail.subject == subject
    assert text in mail.body("plain")
    assert html in mail.body("html")
    celery_worker.wait_for_log(f"Task crm.tasks.send_templated_email[{result.id}] succeeded")


def test_a_temporary_smtp_failure_is_retried(celery_worker, smtp_server):
    smtp_server.refuse_next(answer="451 4.3.0 Mailbox temporarily unavailable")
    result = send_templated_email.delay("mail-check", ["ana@example.org"], CONTEXT, "en")
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Mail check from CRM Público"
    assert smtp_server.attempts == 2
    log = celery_worker.wait_for_log(f"send_templated_email[{result.id}] succeeded")
    assert f"send_templated_email[{result.id}] retry: Retry in" in log


def test_a_permanent_smtp_failure_is_not_retried(celery_worker, smtp_server):
    smtp_server.refuse_next(answer="550 5.1.1 No such user")
    result = send_templated_email.delay("mail-check", ["nadie@example.org"], CONTEXT, "en")
    log = celery_worker.wait_for_log(f"send_templated_email[{result.id}] raised unexpected")
    assert "SMTPDataError: (550, b'5.1.1 No such user')" in log
    assert f"send_templated_email[{result.id}] retry" not in log
    assert smtp_server.attempts == 1
    assert smtp_server.messages == []


def test_sendtestmail_through_the_worker(celery_worker, smtp_server, capsys):
    call_command("sendtestmail", "ana@example.org", "--through-worker", "--language", "es")
    assert f"on the queue {celery_worker.queue!r}" in capsys.readouterr().out
    [mail] = smtp_server.wait_for(1)
    assert mail.subject == "Prueba de correo de CRM Público"
    assert "Se envió el" in mail.body("plain")
