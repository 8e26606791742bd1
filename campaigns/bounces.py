"""Bounces: delivery status notifications (RFC 3464, ``multipart/report;
report-type=delivery-status``) read with Python's ``email`` package.

A report is matched to its delivery by, in order: the VERP envelope address it was sent back to
(``bounces+d<id>.<signature>@...``, when ``CAMPAIGN_BOUNCE_ADDRESS`` is set), the
``X-CRM-Delivery`` header of the returned message (``message/rfc822`` or
``text/rfc822-headers`` part), or the latest sent delivery to the failed recipient. A status
5.x.x with action "failed" is a hard bounce and suppresses the address; 4.x.x is soft (recorded).
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import mailer
from campaigns.models import BounceReport, Delivery, Suppression
from campaigns.sending import skip_waiting
from crm.audit import log_event
from crm.models import AuditAction

_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class RecipientStatus:
    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def kind(self) -> str | None:
        if not _STATUS.match(self.status):
            return None
        if self.status.startswith("5") and self.action in ("failed", ""):
            return Delivery.Bounce.HARD
        if self.status.startswith("4") or self.action == "delayed":
            return Delivery.Bounce.SOFT
        return None


def _address(value: str | None) -> str:
    """``rfc822; user@example.org`` -> ``user@example.org``."""
    if not value:
        return ""
    _type, _semi, address = str(value).partition(";")
    return (address or _type).strip().strip("<>").lower()


def parse(message: Message) -> tuple[list[RecipientStatus], str | None, str | None]:
    """The recipients' statuses of a DSN, the X-CRM-Delivery of the returned message and the
    address the report was sent to; ([], None, None) when it is not a DSN."""
    if message.get_content_type() != "multipart/report":
        return [], None, None
    statuses: list[RecipientStatus] = []
    delivery_header = None
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            blocks = part.get_payload()
            # The first block is about the message; the others about each recipient.
            for block in blocks[1:] if isinstance(blocks, list) else []:
                address = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
                if address:
                    statuses.append(
                        RecipientStatus(
                            address=address,
                            action=str(block.get("Action", "")).strip().lower(),
                            status=str(block.get("Status", "")).strip().split()[0]
                            if block.get("Status")
                            else "",
                            diagnostic=str(block.get("Diagnostic-Code", "")).strip(),
                        )
                    )
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            returned = part.get_payload()
            if isinstance(returned, list) and returned:
                returned = returned[0]
            if isinstance(returned, str):
                returned = message_from_bytes(returned.encode(), policy=policy.default)
            if isinstance(returned, Message) and returned.get(mailer.DELIVERY_HEADER):
                delivery_header = str(returned[mailer.DELIVERY_HEADER]).strip()
    to = message.get("X-Original-To") or message.get("Delivered-To") or message.get("To")
    return statuses, delivery_header, (str(to) if to else None)


def _find_delivery(status: RecipientStatus, header: str | None, to: str | None):
    delivery_id = mailer.delivery_for_bounce_address(to) if to else None
    if delivery_id is None and header and header.isdigit():
        delivery_id = int(header)
    if delivery_id is not None:
        found = Delivery.objects.filter(pk=delivery_id).first()
        if found is not None and found.email.lower() == status.address:
            return found
    return (
        Delivery.objects.filter(email__iexact=status.address, status=Delivery.Status.SENT)
        .order_by("-sent_at", "-id")
        .first()
    )


@dataclass
class Outcome:
    reports: int = 0
    hard: int = 0
    soft: int = 0
    unmatched: int = 0
    ignored: int = 0  # not a DSN, or already read


def record(message: Message, outcome: Outcome) -> None:
    statuses, header, to = parse(message)
    if not statuses:
        outcome.ignored += 1
        return
    outcome.reports += 1
    report_id = str(message.get("Message-ID", "")).strip()[:255]
    for status in statuses:
        kind = status.kind
        if kind is None:
            continue
        delivery = _find_delivery(status, header, to)
        try:
            with transaction.atomic():
                report = BounceReport.objects.create(
                    delivery=delivery,
                    address=status.address,
                    kind=kind,
                    status=status.status,
                    action=status.action,
                    diagnostic=status.diagnostic[:2000],
                    report_id=report_id,
                )
                _apply(report, delivery)
        except IntegrityError:  # this report was read before
            outcome.ignored += 1
            continue
        if delivery is None:
            outcome.unmatched += 1
        setattr(outcome, kind, getattr(outcome, kind) + 1)


def _apply(report: BounceReport, delivery: Delivery | None) -> None:
    now = timezone.now()
    if delivery is not None and delivery.bounce != Delivery.Bounce.HARD:
        Delivery.objects.filter(pk=delivery.pk).update(bounce=report.kind, bounced_at=now)
    if report.kind == Delivery.Bounce.HARD:
        suppression, created = Suppression.objects.get_or_create(
            address=report.address,
            lifted_at__isnull=True,
            defaults={
                "reason": Suppression.Reason.HARD_BOUNCE,
                "person_id": delivery.person_id if delivery else None,
                "delivery": delivery,
                "created_at": now,
            },
        )
        person_id = delivery.person_id if delivery else None
        skip_waiting(report.address, person_id=person_id, reason="hard_bounce")
        if created:
            log_event(
                actor=None,
                action=AuditAction.CREATE,
                obj=suppression,
                changes={"reason": "hard_bounce", "status": report.status, "report": report.pk},
            )


def messages_from(source: str, stdin: bytes | None = None) -> Iterator[Message]:
    """The messages of ``-`` (one message on standard input), a Maildir, an mbox file or a
    single message file."""
    if source == "-":
        yield message_from_bytes(stdin or b"", policy=policy.default)
        return
    path = Path(source)
    if path.is_dir():
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in box.iterkeys():
            yield message_from_bytes(box.get_bytes(key), policy=policy.default)
        return
    data = path.read_bytes()
    if data.startswith(b"From "):
        for item in mailbox.mbox(path, create=False):
            yield message_from_bytes(item.as_bytes(), policy=policy.default)
        return
    yield message_from_bytes(data, policy=policy.default)


def read(messages: Iterable[Message]) -> Outcome:
    outcome = Outcome()
    for message in messages:
        assert isinstance(message, EmailMessage | Message)
        record(message, outcome)
    return outcome
