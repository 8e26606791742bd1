"""The campaigns module's retention rules (crm.retention): old campaign messages lose who they
went to.

``RETENTION_CAMPAIGN_DELIVERIES_DAYS`` after a finished or cancelled campaign's last day, its
deliveries are anonymised: the person, the address and the mail server's last error go; the
row stays with its status, bounce and first open, click and unsubscribe times, because the
campaign's figures (campaigns.sending.progress, campaigns.results) and the reports count those
rows. Their tracking events (every open and click) and bounce reports (the returned message's
address and diagnostic) are deleted; any other bounce report goes the same period after it
arrived.

What stays on purpose: the suppression list (unsubscribes and hard bounces, with their
address): it is what keeps the body from writing again to someone who said no, so it lasts as
long as the address is suppressed; and the consent statements, the proof of consent (GDPR art.
7.1), which follow the person's record (citizens.gdpr), not the campaigns'.

A running, paused or scheduled campaign is never touched, nor one whose last day is recent.
Batches of ``crm.retention.BATCH`` rows, each its own transaction, rows picked ``FOR UPDATE
SKIP LOCKED``; an anonymised row (no person) is never picked again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm.retention import BATCH, in_batches, register

from .models import BounceReport, Campaign, Delivery, TrackingEvent

ENDED_STATUSES = (Campaign.Status.FINISHED, Campaign.Status.CANCELLED)


def _period() -> timedelta:
    return timedelta(days=settings.RETENTION_CAMPAIGN_DELIVERIES_DAYS)


def expired_campaigns(now: datetime):
    """Finished or cancelled campaigns whose last day is older than the period and that still
    have deliveries naming a person."""
    last_day = timezone.localdate(now) - _period()
    named = Delivery.objects.filter(campaign=OuterRef("pk"), person__isnull=False)
    return Campaign.objects.filter(status__in=ENDED_STATUSES, ends_on__lt=last_day).filter(
        Exists(named)
    )


@register("campaign_deliveries")
def anonymise_old_deliveries(now: datetime) -> int:
    total = 0
    for campaign_id in expired_campaigns(now).order_by("pk").values_list("pk", flat=True):

        def next_batch(campaign_id: int = campaign_id) -> list[int]:
            # delivery_once (campaign, person) serves this: anonymised rows are not read.
            return list(
                Delivery.objects.filter(campaign_id=campaign_id, person__isnull=False)
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:BATCH]
            )

        total += in_batches(next_batch, _anonymise)
    return total


def _anonymise(ids: list[int]) -> None:
    TrackingEvent.objects.filter(delivery_id__in=ids).delete()
    BounceReport.objects.filter(delivery_id__in=ids).delete()
    Delivery.objects.filter(id__in=ids).update(
        person=None, email="", last_error="", claimed_by="", claimed_at=None
    )


@register("campaign_bounce_reports")
def end_old_bounce_reports(now: datetime) -> int:
    """Bounce reports received before the period, matched to a delivery or not: what they said
    is on the delivery and the suppression list."""
    cutoff = now - _period()
    return in_batches(
        lambda: list(
            BounceReport.objects.filter(received_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        ),
        lambda ids: BounceReport.objects.filter(pk__in=ids).delete(),
    )
