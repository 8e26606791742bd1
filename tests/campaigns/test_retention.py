"""Retention of campaign deliveries (campaigns.retention): the deliveries of a campaign that
ended (finished or cancelled) longer ago than ``RETENTION_CAMPAIGN_DELIVERIES_DAYS`` lose the
person and the address they went to, and their tracking events and bounce reports go; the
campaign's figures do not change, the suppression list and the consents stay, running and
recent campaigns are not touched, and a second run does nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from campaigns import mailer, results
from campaigns.integration import person_deliveries
from campaigns.models import (
    BounceReport,
    Campaign,
    Delivery,
    Objective,
    Suppression,
    TrackingEvent,
)
from citizens.models import Consent, ConsentPurpose, Person
from crm import tasks as crm_tasks
from crm.models import AuditEvent
from crm.retention import apply_retention

pytestmark = pytest.mark.django_db

Status = Campaign.Status


def days_ago(days: int):
    return timezone.localdate() - timedelta(days=days)


def make_campaign(code: str, *, status: str, ended_days_ago: int) -> Campaign:
    ends_on = days_ago(ended_days_ago)
    return Campaign.objects.create(
        name=f"Campaña {code}",
        code=code,
        starts_on=ends_on - timedelta(days=30),
        ends_on=ends_on,
        status=status,
        channels=["email"],
        email_subject="Hola",
        email_html="<p>Hola</p>",
        email_text="Hola",
        track_opens=True,
        track_clicks=True,
    )


def send(campaign: Campaign, people: list[Person]) -> list[Delivery]:
    """What sending left: one delivery per person, sent (the first opened and clicked, the
    second bounced hard, the third unsubscribed), the last one skipped; events and reports."""
    sent_at = timezone.now() - timedelta(days=1)
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            campaign=campaign,
            person=person,
            email=f"{person.given_name.lower()}@example.org",
            status=Delivery.Status.SENT,
            attempts=1,
            sent_at=sent_at,
        )
        for person in people
    )
    first, second, third, *_rest, last = deliveries
    Delivery.objects.filter(pk=first.pk).update(opened_at=sent_at, clicked_at=sent_at)
    TrackingEvent.objects.create(delivery=first, kind="open")
    TrackingEvent.objects.create(delivery=first, kind="click", url="https://example.org/info")
    Delivery.objects.filter(pk=second.pk).update(
        bounce=Delivery.Bounce.HARD,
        bounced_at=sent_at,
        last_error=f"550 5.1.1 <{second.email}>: user unknown",
    )
    BounceReport.objects.create(
        delivery=second,
        address=second.email,
        kind="hard",
        status="5.1.1",
        action="failed",
        diagnostic=f"smtp; 550 <{second.email}> unknown",
        report_id=f"<report-{second.pk}@mx.example.org>",
    )
    Suppression.objects.get_or_create(
        address=second.email,
        lifted_at__isnull=True,
        defaults={"reason": "hard_bounce", "person": second.person, "delivery": second},
    )
    Delivery.objects.filter(pk=third.pk).update(unsubscribed_at=sent_at)
    Suppression.objects.get_or_create(
        address=third.email,
        lifted_at__isnull=True,
        defaults={"reason": "unsubscribed", "person": third.person, "delivery": third},
    )
    Delivery.objects.filter(pk=last.pk).update(
        status=Delivery.Status.SKIPPED, sent_at=None, skip_reason="no_consent", attempts=0
    )
    return deliveries


@pytest.fixture
def people() -> list[Person]:
    purpose = ConsentPurpose.objects.create(code="boletin", name="Boletín", text="Noticias.")
    found = Person.objects.bulk_create(
        Person(given_name=f"Persona{n}", first_surname="Prueba") for n in range(5)
    )
    Consent.objects.bulk_create(
        Consent(person=p, purpose=purpose, granted=True, source="paper", text_version="1")
        for p in found
    )
    return found


def figures(campaign: Campaign):
    """The campaign's results as its page shows them."""
    computed = results.compute(Campaign.objects.get(pk=campaign.pk))
    return computed.delivery, [(o.objective.pk, o.value, o.met) for o in computed.objectives]


def named(campaign: Campaign):
    return Delivery.objects.filter(campaign=campaign, person__isnull=False)


def test_old_deliveries_of_a_finished_campaign_lose_who_they_went_to(people):
    campaign = make_campaign("old", status=Status.FINISHED, ended_days_ago=800)
    for indicator, target in (("reach", 3), ("open_rate", 20), ("unsubscribe_rate", 50)):
        Objective.objects.create(
            campaign=campaign, name=indicator, indicator=indicator, target=Decimal(target)
        )
    deliveries = send(campaign, people)
    before = figures(campaign)
    suppressions = sorted(Suppression.objects.values_list("address", "reason", "lifted_at"))
    consents = Consent.objects.count()
    assert len(person_deliveries(people[0])) == 1

    done = apply_retention()

    assert done["campaign_deliveries"] == len(deliveries)
    rows = Delivery.objects.filter(campaign=campaign)
    assert rows.count() == len(deliveries)  # the rows stay...
    assert not rows.filter(person__isnull=False).exists()  # ...without the person,
    assert not rows.exclude(email="").exists()  # the address,
    assert not rows.exclude(last_error="").exists()  # or the server's error naming it
    assert not TrackingEvent.objects.exists()
    assert not BounceReport.objects.exists()
    # The figures are the same, objectives included.
    assert figures(campaign) == before
    delivery, objectives = before
    assert (delivery.sent, delivery.bounced, delivery.opened, delivery.unsubscribed) == (4, 1, 1, 1)
    assert (delivery.clicked, delivery.skipped, delivery.recipients) == (1, 1, 5)
    assert [met for _pk, _value, met in objectives] == [True, True, True]
    # The suppression list and the consents are never ended.
    assert sorted(Suppression.objects.values_list("address", "reason", "lifted_at")) == (
        suppressions
    )
    assert Consent.objects.count() == consents
    # The person's data export no longer lists the message; the people themselves stay.
    assert person_deliveries(people[0]) == []
    assert Person.objects.count() == len(people)
    # Audited with its count, like every rule; a second run ends nothing.
    event = AuditEvent.objects.get(object_type="retention", object_id="campaign_deliveries")
    assert event.changes["ended"] == len(deliveries)
    assert apply_retention()["campaign_deliveries"] == 0
    assert AuditEvent.objects.filter(object_id="campaign_deliveries").count() == 1


def test_running_recent_and_unfinished_campaigns_keep_their_deliveries(people):
    running = make_campaign("running", status=Status.RUNNING, ended_days_ago=800)
    paused = make_campaign("paused", status=Status.PAUSED, ended_days_ago=800)
    recent = make_campaign("recent", status=Status.FINISHED, ended_days_ago=30)
    cancelled = make_campaign("cancelled", status=Status.CANCELLED, ended_days_ago=800)
    for campaign in (running, paused, recent, cancelled):
        send(campaign, people)
    kept_events = TrackingEvent.objects.exclude(delivery__campaign=cancelled).count()

    assert apply_retention()["campaign_deliveries"] == len(people)

    for campaign in (running, paused, recent):
        assert named(campaign).count() == len(people)
        assert not Delivery.objects.filter(campaign=campaign, email="").exists()
    assert not named(cancelled).exists()
    assert TrackingEvent.objects.count() == kept_events
    assert (
        BounceReport.objects.filter(delivery__campaign__in=[running, paused, recent]).count() == 3
    )


def test_the_period_is_a_setting(people, settings):
    campaign = make_campaign("forty", status=Status.FINISHED, ended_days_ago=40)
    send(campaign, people)
    assert settings.RETENTION_CAMPAIGN_DELIVERIES_DAYS == 730  # the default: two years
    assert apply_retention()["campaign_deliveries"] == 0
    assert named(campaign).count() == len(people)
    # Just inside the period: kept; just past it: anonymised.
    settings.RETENTION_CAMPAIGN_DELIVERIES_DAYS = 40
    assert apply_retention()["campaign_deliveries"] == 0
    settings.RETENTION_CAMPAIGN_DELIVERIES_DAYS = 39
    assert apply_retention()["campaign_deliveries"] == len(people)
    assert not named(campaign).exists()


def test_large_campaigns_go_in_batches(people, monkeypatch):
    from campaigns import retention

    monkeypatch.setattr(retention, "BATCH", 2)
    campaign = make_campaign("batches", status=Status.FINISHED, ended_days_ago=800)
    send(campaign, people)
    assert apply_retention()["campaign_deliveries"] == len(people)
    assert not named(campaign).exists()


def test_old_bounce_reports_matched_to_no_delivery_end():
    old = BounceReport.objects.create(
        address="gone@example.org",
        kind="hard",
        status="5.1.1",
        received_at=timezone.now() - timedelta(days=731),
    )
    recent = BounceReport.objects.create(
        address="recent@example.org", kind="soft", status="4.2.2", received_at=timezone.now()
    )
    assert apply_retention()["campaign_bounce_reports"] == 1
    assert not BounceReport.objects.filter(pk=old.pk).exists()
    assert BounceReport.objects.filter(pk=recent.pk).exists()


def test_the_links_of_an_anonymised_message_lead_nowhere(people, client):
    campaign = make_campaign("links", status=Status.FINISHED, ended_days_ago=800)
    deliveries = send(campaign, people)
    fourth = deliveries[3]  # sent, not unsubscribed
    unsubscribe = reverse(
        "campaigns_public:unsubscribe", args=[mailer.unsubscribe_token(fourth.pk)]
    )
    preferences = reverse(
        "campaigns_public:preferences", args=[mailer.unsubscribe_token(fourth.pk)]
    )
    assert client.get(unsubscribe).status_code == 200
    suppressed = Suppression.objects.count()

    apply_retention()

    assert client.get(unsubscribe).status_code == 404
    assert client.post(unsubscribe, {"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get(preferences).status_code == 404
    assert Suppression.objects.count() == suppressed  # no suppression of an empty address


def test_the_nightly_task_runs_the_rules(people):
    campaign = make_campaign("nightly", status=Status.FINISHED, ended_days_ago=800)
    send(campaign, people)
    done = crm_tasks.apply_retention()
    assert done["campaign_deliveries"] == len(people)
    assert "campaign_bounce_reports" in done
    assert settings.CELERY_BEAT_SCHEDULE["apply-retention"]["task"] == "crm.tasks.apply_retention"
    assert not named(campaign).exists()
