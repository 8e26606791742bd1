"""Bounce reports (RFC 3464 DSNs) read by ``manage.py read_bounces``."""

from __future__ import annotations

import io
import mailbox
import sys
from email import message_from_bytes, policy

import pytest
from django.core.management import call_command

from campaigns import mailer, sending
from campaigns.models import BounceReport, Delivery, Suppression
from tests.campaigns.test_sending import make_campaign, make_people, make_purpose

pytestmark = pytest.mark.django_db(transaction=True)


def dsn(
    *,
    recipient: str,
    status: str,
    action: str,
    delivery_id: int | None,
    to: str,
    report_id: str = "<dsn-1@mx.example.net>",
    headers_only: bool = False,
) -> bytes:
    """A DSN as Postfix writes them."""
    returned_type = "text/rfc822-headers" if headers_only else "message/rfc822"
    crm_header = f"X-CRM-Delivery: {delivery_id}\n" if delivery_id else ""
    diagnostic = f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
    if status.startswith("4"):
        diagnostic = "smtp; 452 4.2.2 Mailbox full"
    text = f"""Return-Path: <>
Received: from mx.example.net by mail.example.org
Date: Sun, 22 Nov 2026 10:00:00 +0100
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Message-ID: {report_id}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="BOUNDARY"

--BOUNDARY
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--BOUNDARY
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4F2C81234
Arrival-Date: Sun, 22 Nov 2026 09:59:58 +0100

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: {diagnostic}

--BOUNDARY
Content-Description: Undelivered Message
Content-Type: {returned_type}

From: CRM <no-reply@localhost>
To: {recipient}
Subject: Hola
Message-ID: <campaign-delivery-{delivery_id}@localhost>
{crm_header}
{"" if headers_only else "Hola"}
--BOUNDARY--
"""
    return text.encode()


def _delivery():
    purpose = make_purpose()
    people = make_people(2, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    Delivery.objects.filter(campaign=campaign).update(status="sent")
    return campaign, Delivery.objects.filter(campaign=campaign).order_by("id")


def test_a_hard_bounce_marks_the_delivery_and_suppresses_the_address(tmp_path, no_celery_worker):
    campaign, (first, second) = _delivery()
    path = tmp_path / "bounce.eml"
    path.write_bytes(
        dsn(
            recipient=first.email,
            status="5.1.1",
            action="failed",
            delivery_id=first.pk,
            to="no-reply@localhost",
        )
    )
    out = io.StringIO()

    call_command("read_bounces", str(path), stdout=out)

    assert "hard bounces: 1" in out.getvalue()
    first.refresh_from_db()
    assert first.bounce == "hard"
    assert first.bounced_at is not None
    report = BounceReport.objects.get()
    assert (report.delivery, report.status, report.action) == (first, "5.1.1", "failed")
    assert "User unknown" in report.diagnostic
    assert Suppression.objects.get(address=first.email).reason == "hard_bounce"
    assert not Delivery.objects.get(pk=second.pk).bounce
    # Reading the same report again records nothing new.
    call_command("read_bounces", str(path), stdout=io.StringIO())
    assert BounceReport.objects.count() == 1
    # The address is out of the next campaign.
    assert not sending.eligible(
        first.person.__class__.objects.filter(pk=first.person_id), campaign.purpose_id
    ).exists()


def test_a_soft_bounce_is_recorded_without_suppressing(tmp_path, no_celery_worker):
    _campaign, (first, _second) = _delivery()
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(
        dsn(
            recipient=first.email,
            status="4.2.2",
            action="delayed",
            delivery_id=first.pk,
            to="no-reply@localhost",
            headers_only=True,
        )
    )
    box.add(b"From: someone@example.org\nSubject: Not a bounce\n\nHello\n")

    call_command("read_bounces", str(tmp_path / "Maildir"), stdout=io.StringIO())

    first.refresh_from_db()
    assert first.bounce == "soft"
    assert BounceReport.objects.get().kind == "soft"
    assert not Suppression.objects.exists()


def test_the_verp_address_names_the_delivery(settings, monkeypatch, no_celery_worker):
    settings.CAMPAIGN_BOUNCE_ADDRESS = "bounces@example.org"
    _campaign, (first, second) = _delivery()
    verp = mailer.bounce_address(second.pk)
    assert verp.startswith(f"bounces+d{second.pk}.")
    assert mailer.delivery_for_bounce_address(verp) == second.pk
    assert mailer.delivery_for_bounce_address(f"bounces+d{first.pk}.0000000000@example.org") is None
    # No X-CRM-Delivery in the returned part: the VERP address finds it.
    data = dsn(recipient=second.email, status="5.2.1", action="failed", delivery_id=None, to=verp)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    call_command("read_bounces", "-", stdout=io.StringIO())

    second.refresh_from_db()
    assert second.bounce == "hard"


def test_parse_reads_the_recipient_status():
    from campaigns.bounces import parse

    message = message_from_bytes(
        dsn(
            recipient="Ana@Example.org",
            status="5.1.1",
            action="failed",
            delivery_id=7,
            to="x@example.org",
        ),
        policy=policy.default,
    )
    statuses, header, to = parse(message)
    assert [(s.address, s.status, s.action, s.kind) for s in statuses] == [
        ("ana@example.org", "5.1.1", "failed", "hard")
    ]
    assert header == "7"
    assert to == "x@example.org"
