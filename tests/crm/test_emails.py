"""Email triplets built by crm.emails and sent to a real SMTP server; the sendtestmail command."""

import smtplib

import pytest
from django.core.management import CommandError, call_command

from crm.emails import Attachment, build_email, send_email
from crm.tasks import is_transient

CONTEXT = {"requested_at": "2025-03-04 10:20:30 CET", "requested_on": "web-1"}


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        ("es", "Prueba de correo de CRM Público", "Esto es una prueba del CRM CRM Público"),
        ("en", "Mail check from CRM Público", "This is a test from the CRM CRM Público"),
    ],
)
def test_a_triplet_is_sent_in_the_language_asked(smtp_mailer, language, subject, sentence):
    sent = send_email("mail-check", to=["ana@example.org"], context=CONTEXT, language=language)
    assert sent == 1
    [mail] = smtp_mailer.wait_for(1)
    assert mail.rcpt_tos == ["ana@example.org"]
    assert mail.subject == subject
    assert mail.message["Content-Language"] == language
    text, html = mail.body("plain"), mail.body("html")
    assert sentence in text
    assert sentence in html
    assert "2025-03-04 10:20:30 CET" in text
    assert f'<html lang="{language}">' in html


def test_text_parts_are_not_html_escaped_but_the_html_part_is(settings):
    settings.SITE_NAME = "Quejas & <Sugerencias>"
    message = build_email("mail-check", to=["ana@example.org"], context=CONTEXT, language="en")
    assert message.subject == "Mail check from Quejas & <Sugerencias>"
    assert "CRM Quejas & <Sugerencias> of" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "CRM Quejas &amp; &lt;Sugerencias&gt; of" in html


def test_attachments_and_extra_headers_travel(smtp_mailer):
    send_email(
        "mail-check",
        to=["ana@example.org"],
        context=CONTEXT,
        language="es",
        attachments=[Attachment("acuse.txt", "Registro 2025/000123", "text/plain")],
        headers={"List-Unsubscribe": "<https://crm.example.org/baja/abc/>"},
    )
    [mail] = smtp_mailer.wait_for(1)
    assert mail.message["List-Unsubscribe"] == "<https://crm.example.org/baja/abc/>"
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename() == "acuse.txt"
    assert attachment.get_content().rstrip() == "Registro 2025/000123"
    assert "Esto es una prueba" in mail.body("plain")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (smtplib.SMTPDataError(451, b"Try again later"), True),
        (smtplib.SMTPDataError(554, b"Rejected"), False),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (450, b"Mailbox busy")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"No such user")}), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), False),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError(), True),
    ],
)
def test_which_smtp_failures_are_worth_retrying(error, transient):
    assert is_transient(error) is transient


def test_sendtestmail_sends_the_mail_check(smtp_mailer, capsys):
    call_command("sendtestmail", "ana@example.org", "luis@example.org", "--language", "en")
    [mail] = smtp_mailer.wait_for(1)
    assert mail.rcpt_tos == ["ana@example.org", "luis@example.org"]
    assert mail.subject == "Mail check from CRM Público"
    assert "outgoing email works" in mail.body("plain")
    assert f"through the SMTP server 127.0.0.1:{smtp_mailer.port}" in capsys.readouterr().out


def test_sendtestmail_explains_a_refusal(smtp_mailer):
    smtp_mailer.refuse_next(answer="554 5.7.1 Relaying denied")
    with pytest.raises(CommandError, match=r"127\.0\.0\.1:\d+: SMTPDataError: .*Relaying denied"):
        call_command("sendtestmail", "ana@example.org")
    assert smtp_mailer.attempts == 1
    assert smtp_mailer.messages == []
