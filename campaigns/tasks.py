"""Celery tasks of campaign sending (campaigns.sending). Thin: what must happen once is decided
by the delivery rows the senders claim, never by the broker, so a task delivered twice (a
redelivery after a Redis restart, the tick) only finds nothing left to claim."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from campaigns import sending

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def send_campaign(campaign_id: int) -> None:
    """One sender's turn (``sending.SENDER_SECONDS``); queues the next turn if work remains."""
    if sending.send_for_a_while(campaign_id):
        try:
            send_campaign.delay(campaign_id)
        except Exception:  # the broker is down: the tick queues the senders again
            logger.exception("Could not queue the next turn of campaign %s.", campaign_id)


@shared_task
def sending_tick() -> None:
    """Every 30 s (beat): launch scheduled email campaigns whose day has come, give back rows of
    dead senders, finish campaigns with nothing left, skip what cancelled campaigns left, and
    start senders for running campaigns with messages ready (retries due, lost tasks). Extra
    sender tasks find every slot taken and end at once."""
    sending.launch_due()
    sending.recover_stuck()
    sending.finish_running()
    sending.cancel_cancelled()
    for campaign_id in sending.campaigns_to_wake():
        for _slot in range(settings.CAMPAIGN_SENDERS):
            send_campaign.delay(campaign_id)
