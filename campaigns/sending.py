"""Sending a campaign's email: launch (freeze the recipients), the senders, pause, resume, retry,
progress, unsubscribes and the checks at send time. See docs/campaigns.md, "Sending".

Launch writes one ``Delivery`` per recipient in a single ``INSERT ... SELECT`` (unique per
campaign and person, the address frozen). Senders (``campaigns.tasks.send_campaign``, up to
``CAMPAIGN_SENDERS`` per campaign) claim small batches with ``FOR UPDATE SKIP LOCKED``, check
each batch again against the suppression list and consents, and then, per message, run one
statement that records the previous message's result (and its timeline entry) and marks the next
one ``sending`` before it is handed to the SMTP server. A worker that dies therefore leaves at most
one row whose outcome is unknown; ``recover_stuck`` (every 30 s, from beat) gives its claimed rows
back and sends that one again with the same Message-ID.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.mailer import Connection, build_message
from campaigns.models import Campaign, Delivery, Suppression
from citizens.models import Consent, ConsentPurpose, EmailAddress, Person
from crm.audit import log_event
from crm.models import AuditAction, User
from crm.tasks import is_transient

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 60  # the first retry of a transient failure; doubles each time
RETRY_MAX_SECONDS = 6 * 3600
SENDER_SECONDS = 60  # a sender task's turn; it queues its successor if work remains
DB_RETRY_SECONDS = 900  # how long a sender keeps trying to record a result (database down)
_LOCK_SPACE = 0x43414D50  # "CAMP": advisory locks of the sender slots


class SendingError(Exception):
    """A state change that is not possible now (the message says why, for the user)."""


# --- Who may receive --------------------------------------------------------------------------


def _suppressed(address_ref) -> Exists:
    return Exists(Suppression.objects.filter(address=address_ref, lifted_at__isnull=True))


def _latest_consent(purpose: ConsentPurpose | int) -> Subquery:
    return Subquery(
        Consent.objects.filter(person=OuterRef("pk"), purpose=purpose)
        .order_by("-stated_at", "-id")
        .values("granted")[:1]
    )


def _campaign_address() -> Subquery:
    """The person's address a campaign uses: the main one first, never a suppressed one."""
    return Subquery(
        EmailAddress.objects.filter(person=OuterRef("pk"), address__contains="@")
        .exclude(_suppressed(Lower(OuterRef("address"))))
        .order_by("-is_primary", "id")
        .values("address")[:1]
    )


def _annotated(people: QuerySet[Person], purpose: ConsentPurpose | int) -> QuerySet[Person]:
    return people.filter(
        blocked_at__isnull=True, merged_into_id__isnull=True, restricted_at__isnull=True
    ).annotate(campaign_email=_campaign_address(), consent_granted=_latest_consent(purpose))


def eligible(people: QuerySet[Person], purpose: ConsentPurpose | int) -> QuerySet[Person]:
    """The people who may receive a campaign for ``purpose``: a usable email address (not
    unsubscribed nor bounced hard), their latest statement about the purpose grants it, and
    their record is neither blocked nor restricted. Annotated with ``campaign_email``."""
    return _annotated(people, purpose).filter(campaign_email__isnull=False, consent_granted=True)


# --- Launch, pause, resume, retry -------------------------------------------------------------


@dataclass(frozen=True)
class LaunchResult:
    recipients: int


def _lock(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _start_senders(campaign_id: int) -> None:
    from campaigns.tasks import send_campaign

    def queue() -> None:
        for _slot in range(settings.CAMPAIGN_SENDERS):
            send_campaign.delay(campaign_id)

    transaction.on_commit(queue)


def freeze_recipients(campaign: Campaign) -> int:
    """One delivery per eligible person of the campaign's audience, in one statement.

    The same rules as ``eligible``, written as joins: the audience is read once, and the
    addresses and latest consents of its people are found with joins and DISTINCT ON rather
    than two subqueries per person, which PostgreSQL cannot run in parallel.
    """
    from campaigns.segments import campaign_audience

    audience = campaign_audience(campaign).filter(
        blocked_at__isnull=True, merged_into_id__isnull=True, restricted_at__isnull=True
    )
    sql, params = audience.values("pk").query.sql_with_params()
    # The audience first, into a temporary table with fresh statistics: the planner then knows
    # how many people it holds (a segment's estimate can be off by orders of magnitude, and a
    # nested loop planned for "1 row" over 200,000 is quadratic).
    prepare = [
        "DROP TABLE IF EXISTS campaign_target",
        f"CREATE TEMPORARY TABLE campaign_target (id) ON COMMIT DROP AS {sql}",
        "ANALYZE campaign_target",
    ]
    statement = """
        WITH address AS (
            SELECT DISTINCT ON (e.person_id) e.person_id, e.address
            FROM citizens_emailaddress e JOIN campaign_target t ON t.id = e.person_id
            WHERE e.address LIKE '%%@%%' AND NOT EXISTS (
                SELECT 1 FROM campaigns_suppression s
                WHERE s.address = lower(e.address) AND s.lifted_at IS NULL
            )
            ORDER BY e.person_id, e.is_primary DESC, e.id
        ),
        consent AS (
            SELECT DISTINCT ON (c.person_id) c.person_id, c.granted
            FROM citizens_consent c JOIN campaign_target t ON t.id = c.person_id
            WHERE c.purpose_id = %s
            ORDER BY c.person_id, c.stated_at DESC, c.id DESC
        )
        INSERT INTO campaigns_delivery (
            campaign_id, person_id, email, status, attempts, claimed_by, uncertain,
            last_error, skip_reason, bounce
        )
        SELECT %s, a.person_id, a.address, 'pending', 0, '', false, '', '', ''
        FROM address a JOIN consent c ON c.person_id = a.person_id AND c.granted
        ORDER BY a.person_id
        ON CONFLICT (campaign_id, person_id) DO NOTHING
    """
    with transaction.atomic(), connection.cursor() as cursor:
        for step in prepare:
            cursor.execute(step, params if "CREATE" in step else None)
        cursor.execute(statement, [campaign.purpose_id, campaign.pk])
        return cursor.rowcount


@transaction.atomic
def launch(campaign: Campaign, actor: User | None) -> LaunchResult:
    """Freeze the recipients and start sending. Only a draft or scheduled email campaign with
    nothing missing (campaigns.services.launch_problems) may be launched."""
    campaign = _lock(campaign)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        raise SendingError(_("Only a draft or scheduled campaign can be launched."))
    from campaigns.services import launch_problems

    problems = [str(problem) for problem in launch_problems(campaign)]
    if not campaign.sends_email:
        problems.insert(0, str(_("The campaign does not use the email channel.")))
    if problems:
        raise SendingError(" ".join(problems))
    recipients = freeze_recipients(campaign)
    campaign.status = Campaign.Status.RUNNING
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["status", "updated_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=campaign,
        changes={"status": "running", "event": "launched", "recipients": recipients},
    )
    _start_senders(campaign.pk)
    return LaunchResult(recipients=recipients)


@transaction.atomic
def pause(campaign: Campaign, actor: User | None) -> None:
    """Stop claiming messages; the batch in the senders' hands (seconds) is still sent."""
    campaign = _lock(campaign)
    if campaign.status != Campaign.Status.RUNNING:
        raise SendingError(_("Only a campaign being sent can be paused."))
    campaign.status = Campaign.Status.PAUSED
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["status", "updated_at"])
    log_event(actor=actor, action=AuditAction.UPDATE, obj=campaign, changes={"status": "paused"})


@transaction.atomic
def resume(campaign: Campaign, actor: User | None) -> None:
    campaign = _lock(campaign)
    if campaign.status != Campaign.Status.PAUSED:
        raise SendingError(_("Only a paused campaign can be resumed."))
    campaign.status = Campaign.Status.RUNNING
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["status", "updated_at"])
    log_event(actor=actor, action=AuditAction.UPDATE, obj=campaign, changes={"status": "running"})
    _start_senders(campaign.pk)


@transaction.atomic
def retry_failed(campaign: Campaign, actor: User | None) -> int:
    """Queue the failed messages again (a finished campaign with failures runs again)."""
    campaign = _lock(campaign)
    if campaign.status not in (Campaign.Status.RUNNING, Campaign.Status.FINISHED):
        raise SendingError(_("Failed messages can be retried only while the campaign runs."))
    retried = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.FAILED).update(
        status=Delivery.Status.PENDING,
        attempts=0,
        next_attempt_at=None,
        claimed_by="",
        claimed_at=None,
    )
    if not retried:
        raise SendingError(_("There are no failed messages to retry."))
    campaign.status = Campaign.Status.RUNNING
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["status", "updated_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=campaign,
        changes={"event": "retry_failed", "deliveries": retried},
    )
    _start_senders(campaign.pk)
    return retried


def finish_if_done(campaign_id: int) -> bool:
    """A running campaign is finished when no message waits and none failed (failures keep it
    running, visibly incomplete, until they are retried or the campaign is closed)."""
    waiting = Delivery.objects.filter(
        campaign_id=campaign_id,
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING, Delivery.Status.FAILED],
    )
    if waiting.exists():
        return False
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.status != Campaign.Status.RUNNING or waiting.exists():
            return False
        campaign.status = Campaign.Status.FINISHED
        campaign.updated_at = timezone.now()
        campaign.save(update_fields=["status", "updated_at"])
        log_event(
            actor=None,
            action=AuditAction.UPDATE,
            obj=campaign,
            changes={"status": "finished", "event": "every message sent"},
        )
    return True


# --- Progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    recipients: int
    sent: int
    failed: int
    pending: int  # waiting or being sent
    skipped: int
    bounced: int
    unsubscribed: int
    opened: int
    clicked: int
    uncertain: int
    rate: int  # messages per second
    expected_end: datetime | None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.recipients) if self.recipients else 0


def send_rate(campaign: Campaign) -> int:
    return campaign.send_rate or settings.CAMPAIGN_SEND_RATE


def progress(campaign: Campaign) -> Progress:
    """The campaign's counts (one aggregate over its deliveries) and when it should end."""
    counts = Delivery.objects.filter(campaign=campaign).aggregate(
        recipients=Count("id"),
        sent=Count("id", filter=Q(status=Delivery.Status.SENT)),
        failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
        pending=Count("id", filter=Q(status__in=[Delivery.Status.PENDING, "sending"])),
        skipped=Count("id", filter=Q(status=Delivery.Status.SKIPPED)),
        bounced=Count("id", filter=~Q(bounce="")),
        unsubscribed=Count("id", filter=Q(unsubscribed_at__isnull=False)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        uncertain=Count("id", filter=Q(uncertain=True)),
    )
    rate = send_rate(campaign)
    expected_end = None
    if counts["pending"] and campaign.status == Campaign.Status.RUNNING:
        expected_end = timezone.now() + timedelta(seconds=counts["pending"] / rate)
    return Progress(**counts, rate=rate, expected_end=expected_end)


# --- The senders -------------------------------------------------------------------------------


@dataclass
class _Row:
    id: int
    person_id: int
    email: str
    attempts: int


@dataclass
class _Result:
    row: _Row
    status: str  # sent / pending (retry) / failed
    subject: str = ""
    error: str = ""
    next_attempt_at: datetime | None = None


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


_CLAIM = """
    WITH picked AS (
        SELECT d.id FROM campaigns_delivery d
        WHERE d.campaign_id = %(campaign)s AND d.status = 'pending' AND d.claimed_by = ''
          AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now())
          AND EXISTS (
              SELECT 1 FROM campaigns_campaign c WHERE c.id = %(campaign)s AND c.status = 'running'
          )
        ORDER BY d.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    UPDATE campaigns_delivery d SET claimed_by = %(worker)s, claimed_at = now()
    FROM picked WHERE d.id = picked.id
    RETURNING d.id, d.person_id, d.email, d.attempts
"""

# Rows of a claimed batch that may no longer be sent: the address was suppressed, the person
# withdrew consent or their record was blocked, restricted or merged since the launch.
_SKIP = """
    WITH gone AS (
        SELECT d.id,
            CASE
                WHEN EXISTS (SELECT 1 FROM campaigns_suppression s
                             WHERE s.address = lower(d.email) AND s.lifted_at IS NULL)
                    THEN 'suppressed'
                WHEN p.blocked_at IS NOT NULL OR p.restricted_at IS NOT NULL
                     OR p.merged_into_id IS NOT NULL
                    THEN 'restricted'
                ELSE 'no_consent'
            END AS reason
        FROM campaigns_delivery d
        JOIN citizens_person p ON p.id = d.person_id
        WHERE d.id = ANY(%(ids)s) AND d.claimed_by = %(worker)s AND d.status = 'pending'
          AND (
            EXISTS (SELECT 1 FROM campaigns_suppression s
                    WHERE s.address = lower(d.email) AND s.lifted_at IS NULL)
            OR p.blocked_at IS NOT NULL OR p.restricted_at IS NOT NULL
            OR p.merged_into_id IS NOT NULL
            OR COALESCE((
                SELECT c.granted FROM citizens_consent c
                WHERE c.person_id = d.person_id AND c.purpose_id = %(purpose)s
                ORDER BY c.stated_at DESC, c.id DESC LIMIT 1
            ), false) = false
          )
    )
    UPDATE campaigns_delivery d SET status = 'skipped', skip_reason = gone.reason,
        claimed_by = '', claimed_at = NULL
    FROM gone WHERE d.id = gone.id
    RETURNING d.id
"""

# The heart of never-twice: the previous message's result (and, when sent, its timeline entry)
# and the next message's "sending" mark commit together, in one statement.
_RECORD = """
    WITH done AS (
        UPDATE campaigns_delivery SET
            status = %(status)s,
            sent_at = CASE WHEN %(status)s = 'sent' THEN now() ELSE sent_at END,
            last_error = %(error)s,
            next_attempt_at = %(retry_at)s,
            claimed_by = CASE WHEN %(status)s = 'sent' THEN claimed_by ELSE '' END
        WHERE id = %(done)s AND status = 'sending' AND claimed_by = %(worker)s
        RETURNING id, person_id, campaign_id, status
    ), timeline AS (
        INSERT INTO citizens_interaction (
            person_id, channel, direction, occurred_at, subject, text, unit_id,
            related_type, related_id
        )
        SELECT done.person_id, 'email', 'out', now(), %(subject)s, %(text)s, %(unit)s,
            'campaigns.campaign', done.campaign_id
        FROM done WHERE done.status = 'sent'
    ), started AS (
        UPDATE campaigns_delivery SET status = 'sending', attempts = attempts + 1,
            claimed_at = now()
        WHERE id = %(start)s AND status = 'pending' AND claimed_by = %(worker)s
        RETURNING id
    )
    SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM started)
"""


class Sender:
    """One sender: claims batches of one campaign and sends them over one SMTP connection at
    its share of the campaign's rate."""

    def __init__(self, campaign: Campaign, *, smtp: Connection | None = None) -> None:
        self.campaign = campaign
        self.worker = uuid.uuid4().hex
        self.smtp = smtp or Connection()
        senders = settings.CAMPAIGN_SENDERS
        self.interval = senders / send_rate(campaign)
        self.batch_size = max(1, min(100, int(2 / self.interval)))
        self.next_slot = time.monotonic()
        self.timeline_text = str(campaign.name)[:200]
        self.sent = 0

    # Each statement runs on its own (autocommit): a commit per message.
    def _execute(self, sql: str, params: dict, *, retry: bool = False) -> list[tuple]:
        deadline = time.monotonic() + DB_RETRY_SECONDS
        pause = 0.5
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall()
            except (OperationalError, InterfaceError) as error:
                # The database restarted or the connection broke. A result we hold must still be
                # written (the message went out): keep trying with a new connection.
                connection.close()
                if not retry or time.monotonic() > deadline:
                    raise
                logger.warning("Campaign sender: database unavailable (%s); retrying.", error)
                time.sleep(pause)
                pause = min(pause * 2, 10)

    def claim(self) -> list[_Row]:
        rows = self._execute(
            _CLAIM,
            {"campaign": self.campaign.pk, "limit": self.batch_size, "worker": self.worker},
        )
        batch = sorted((_Row(*row) for row in rows), key=lambda row: row.id)
        if not batch:
            return []
        skipped = {
            row[0]
            for row in self._execute(
                _SKIP,
                {
                    "ids": [row.id for row in batch],
                    "worker": self.worker,
                    "purpose": self.campaign.purpose_id,
                },
            )
        }
        return [row for row in batch if row.id not in skipped]

    def record(self, result: _Result | None, start: _Row | None) -> bool:
        """Write ``result`` and mark ``start`` as being sent, in one commit; whether ``start``
        may be sent (it was not taken back, e.g. by an unsubscribe meanwhile)."""
        params = {
            "worker": self.worker,
            "done": result.row.id if result else None,
            "status": result.status if result else "sent",
            "error": result.error[:2000] if result else "",
            "retry_at": result.next_attempt_at if result else None,
            "subject": result.subject[:200] if result else "",
            "text": self.timeline_text,
            "unit": self.campaign.unit_id,
            "start": start.id if start else None,
        }
        (done, started), *_ = self._execute(_RECORD, params, retry=result is not None)
        if result is not None and not done:
            logger.error(
                "Campaign sender %s: delivery %s was taken back before its result was written.",
                self.worker,
                result.row.id,
            )
        return bool(started)

    def _wait_for_slot(self) -> None:
        now = time.monotonic()
        if self.next_slot > now:
            time.sleep(self.next_slot - now)
            now = self.next_slot
        self.next_slot = max(self.next_slot + self.interval, now - 1.0)

    def _send(self, row: _Row, person: Person | None) -> _Result:
        if person is None:
            return _Result(row, "failed", error="The person no longer exists.")
        try:
            message = build_message(self.campaign, person, delivery_id=row.id, to=row.email)
        except Exception as error:
            return _Result(row, "failed", error=f"{type(error).__name__}: {error}")
        self._wait_for_slot()
        try:
            self.smtp.send(message)
        except Exception as error:
            description = f"{type(error).__name__}: {error}"
            attempts = row.attempts + 1
            if is_transient(error) and attempts < settings.CAMPAIGN_MAX_ATTEMPTS:
                retry_at = timezone.now() + _retry_delay(attempts)
                return _Result(row, "pending", error=description, next_attempt_at=retry_at)
            return _Result(row, "failed", error=description)
        self.sent += 1
        return _Result(row, "sent", subject=str(message.subject))

    def run(self, seconds: float) -> None:
        """Send until the campaign has nothing ready, is paused, or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                batch = self.claim()
                if not batch:
                    break
                people = Person.objects.in_bulk([row.person_id for row in batch])
                result: _Result | None = None
                for row in batch:
                    if not self.record(result, row):
                        # Taken back (unsubscribed meanwhile): the previous result is written.
                        result = None
                        continue
                    result = self._send(row, people.get(row.person_id))
                if result is not None:
                    self.record(result, None)
        finally:
            self.smtp.close()
            self.release()

    def release(self) -> None:
        """Give back the rows this sender claimed but did not start (e.g. after an error)."""
        try:
            Delivery.objects.filter(claimed_by=self.worker, status=Delivery.Status.PENDING).update(
                claimed_by="", claimed_at=None
            )
        except DatabaseError:
            connection.close()  # recover_stuck gives them back later


def _try_slot(campaign_id: int) -> int | None:
    """One of the campaign's sender slots (a session advisory lock, freed if the worker
    dies), or None when all are taken."""
    with connection.cursor() as cursor:
        for slot in range(settings.CAMPAIGN_SENDERS):
            cursor.execute(
                "SELECT pg_try_advisory_lock(%s, %s)",
                [_LOCK_SPACE, campaign_id * 64 + slot],
            )
            if cursor.fetchone()[0]:
                return slot
    return None


def _free_slot(campaign_id: int, slot: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, campaign_id * 64 + slot]
            )
    except DatabaseError:
        connection.close()  # the session (and its lock) is gone anyway


def send_for_a_while(campaign_id: int, seconds: float = SENDER_SECONDS) -> bool:
    """Run one sender of the campaign for up to ``seconds``; True when messages are still
    ready to send (the caller queues another turn)."""
    if connection.in_atomic_block:
        raise RuntimeError("Senders commit every message: call them outside a transaction.")
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.RUNNING:
        return False
    slot = _try_slot(campaign_id)
    if slot is None:
        return False  # enough senders on this campaign already
    try:
        Sender(campaign).run(seconds)
    finally:
        _free_slot(campaign_id, slot)
    if finish_if_done(campaign_id):
        return False
    return has_ready(campaign_id)


def has_ready(campaign_id: int) -> bool:
    return Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()),
        campaign_id=campaign_id,
        campaign__status=Campaign.Status.RUNNING,
        status=Delivery.Status.PENDING,
        claimed_by="",
    ).exists()


def recover_stuck(older_than: timedelta | None = None) -> tuple[int, int]:
    """Rows claimed by senders that died: unstarted ones go back to the queue; the one that was
    with the SMTP server (at most one per dead sender) is sent again, marked ``uncertain``.
    Returns (released, uncertain)."""
    if older_than is None:
        older_than = timedelta(seconds=settings.CAMPAIGN_CLAIM_TIMEOUT)
    before = timezone.now() - older_than
    # Through delivery_campaign_status: the waiting rows of campaigns that may have any.
    live = Campaign.objects.exclude(status__in=[Campaign.Status.DRAFT, Campaign.Status.FINISHED])
    stuck = Delivery.objects.filter(
        campaign__in=live.values("pk"),
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING],
        claimed_at__lte=before,
    ).exclude(claimed_by="")
    released = stuck.filter(status=Delivery.Status.PENDING).update(claimed_by="", claimed_at=None)
    uncertain = stuck.filter(status=Delivery.Status.SENDING).update(
        status=Delivery.Status.PENDING, claimed_by="", claimed_at=None, uncertain=True
    )
    if uncertain:
        logger.warning(
            "Campaign senders: %s message(s) whose worker died while sending are sent again.",
            uncertain,
        )
    return released, uncertain


def campaigns_to_wake() -> list[int]:
    """Running campaigns with messages ready and unclaimed (retries due, lost tasks)."""
    ready = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()),
        campaign=OuterRef("pk"),
        status=Delivery.Status.PENDING,
        claimed_by="",
    )
    return list(Campaign.objects.running().filter(Exists(ready)).values_list("pk", flat=True))


def launch_due() -> list[int]:
    """Scheduled email campaigns whose first day has come are launched (by nobody: the audit
    event has no actor). One that cannot be launched stays scheduled, logged."""
    launched = []
    due = Campaign.objects.filter(
        status=Campaign.Status.SCHEDULED,
        starts_on__lte=timezone.localdate(),
        channels__contains=[Campaign.ChannelChoice.EMAIL],
    )
    for campaign in due:
        try:
            launch(campaign, None)
        except SendingError as error:
            logger.warning("Scheduled campaign %s was not launched: %s", campaign.pk, error)
        else:
            launched.append(campaign.pk)
    return launched


def finish_running() -> None:
    for campaign_id in Campaign.objects.running().values_list("pk", flat=True):
        finish_if_done(campaign_id)


CANCELLED = "cancelled"  # the skip reason of the messages of a cancelled campaign


def cancel_pending(campaign_id: int) -> int:
    """The messages a cancelled campaign had not sent are never sent: its waiting and failed
    deliveries become "not sent (cancelled)". A row a sender still holds is left to it (it may
    be with the SMTP server); the sender gives it back when it sees the campaign stopped, and
    the tick's ``cancel_cancelled`` skips it then. Returns how many rows were skipped."""
    return Delivery.objects.filter(
        campaign_id=campaign_id,
        status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED],
        claimed_by="",
    ).update(status=Delivery.Status.SKIPPED, skip_reason=CANCELLED, next_attempt_at=None)


def cancel_cancelled() -> int:
    """Rows that senders of a cancelled campaign gave back after it was cancelled (the tick)."""
    cancelled = Campaign.objects.filter(status=Campaign.Status.CANCELLED)
    waiting = Delivery.objects.filter(
        campaign__in=cancelled.values("pk"), status=Delivery.Status.PENDING, claimed_by=""
    )
    return waiting.update(status=Delivery.Status.SKIPPED, skip_reason=CANCELLED)


# --- Unsubscribe and preferences ---------------------------------------------------------------


@transaction.atomic
def unsubscribe(*, delivery: Delivery, source: str, evidence: str = "") -> bool:
    """The address of ``delivery`` gets no more campaign email: suppressed at once, and its
    waiting messages of every campaign are not sent. False when it already was."""
    address = delivery.email.lower()
    now = timezone.now()
    suppression, created = Suppression.objects.get_or_create(
        address=address,
        lifted_at__isnull=True,
        defaults={
            "reason": Suppression.Reason.UNSUBSCRIBED,
            "person_id": delivery.person_id,
            "delivery": delivery,
            "created_at": now,
        },
    )
    Delivery.objects.filter(pk=delivery.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=now
    )
    skipped = skip_waiting(address, person_id=delivery.person_id, reason="suppressed")
    if created:
        log_event(
            actor=None,
            action=AuditAction.CREATE,
            obj=suppression,
            changes={
                "reason": "unsubscribed",
                "delivery": delivery.pk,
                "source": source,
                "evidence": evidence,
                "skipped": skipped,
            },
        )
    return created


def skip_waiting(address: str, *, person_id: int | None, reason: str) -> int:
    """The person's waiting (unstarted) messages to ``address``, of every campaign, are marked
    not sent at once. Anyone else's waiting message to the address (a shared mailbox) is
    skipped by its sender, which checks the suppressions when it claims it (``_SKIP``): found
    through the person rather than through an index on every delivery's address, which each
    launch would have to fill (a sixth of the time of freezing 200,000 recipients)."""
    if person_id is None:
        return 0
    return (
        Delivery.objects.filter(person_id=person_id, status=Delivery.Status.PENDING)
        .annotate(address=Lower("email"))
        .filter(address=address.lower())
        .update(status=Delivery.Status.SKIPPED, skip_reason=reason, claimed_by="")
    )


@transaction.atomic
def resubscribe(*, delivery: Delivery, evidence: str = "") -> bool:
    """The person asks for campaign email at this address again (preference centre)."""
    lifted = Suppression.objects.filter(
        address=delivery.email.lower(),
        lifted_at__isnull=True,
        reason=Suppression.Reason.UNSUBSCRIBED,
    ).first()
    if lifted is None:
        return False
    lifted.lifted_at = timezone.now()
    lifted.save(update_fields=["lifted_at"])
    log_event(
        actor=None,
        action=AuditAction.UPDATE,
        obj=lifted,
        changes={"lifted": True, "delivery": delivery.pk, "evidence": evidence},
    )
    return True


def is_suppressed(address: str) -> bool:
    return Suppression.objects.filter(address=address.lower(), lifted_at__isnull=True).exists()
