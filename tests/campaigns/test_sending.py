"""Sending a campaign with a real SMTP server (aiosmtpd) and a real Celery worker: every
recipient once, with the right headers and merge fields; a SIGKILLed worker loses and repeats
nothing; transient failures are retried and permanent ones recorded; consent is required."""

from __future__ import annotations

import signal
import threading
from datetime import date, timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, Delivery, StaticList, StaticListMember
from citizens.models import Consent, ConsentPurpose, EmailAddress, Interaction, Person
from tests.fixtures.services import SmtpGate

pytestmark = pytest.mark.django_db(transaction=True)


def make_purpose(code: str = "newsletter") -> ConsentPurpose:
    return ConsentPurpose.objects.get_or_create(
        code=code, defaults={"name": f"Purpose {code}", "text": "We send you news."}
    )[0]


def make_people(count: int, purpose: ConsentPurpose, *, consent: bool = True, start: int = 0):
    """People with one address each (``person<n>@example.org``) and, when ``consent``, a
    statement granting ``purpose``; bulk-created."""
    people = Person.objects.bulk_create(
        Person(given_name=f"Nombre{n}", first_surname=f"Apellido{n}")
        for n in range(start, start + count)
    )
    EmailAddress.objects.bulk_create(
        EmailAddress(person=person, address=f"person{start + i}@example.org", is_primary=True)
        for i, person in enumerate(people)
    )
    if consent:
        Consent.objects.bulk_create(
            Consent(
                person=person, purpose=purpose, granted=True, source="web_form", text_version="1"
            )
            for person in people
        )
    return people


def make_campaign(people, purpose, **fields) -> Campaign:
    static = StaticList.objects.create(name="List", source="upload", size=len(people))
    StaticListMember.objects.bulk_create(
        StaticListMember(static_list=static, person=person) for person in people
    )
    values = {
        "name": "Prevención de incendios",
        "code": f"wildfires-{Campaign.objects.count() + 1}",
        "starts_on": date(2026, 6, 1),
        "ends_on": date(2026, 9, 30),
        "purpose": purpose,
        "static_list": static,
        "channels": ["email"],
        "email_subject": "Hola {{ person.given_name }}",
        "email_html": "<p>Hola {{ person.full_name }}</p>"
        '<p><a href="https://example.org/info">Más información</a></p>',
        "email_text": "Hola {{ person.full_name }}\nhttps://example.org/info\n",
        "send_rate": 1000,
        **fields,
    }
    return Campaign.objects.create(**values)


def unique_deliveries(mails) -> list[str]:
    return [str(mail.message["X-CRM-Delivery"]) for mail in mails]


def wait_until(condition, timeout: float = 60) -> None:
    deadline = timezone.now() + timedelta(seconds=timeout)
    while timezone.now() < deadline:
        if condition():
            return
        threading.Event().wait(0.2)
    raise AssertionError("The condition did not hold in time.")


def settle(worker) -> None:
    """Wait until the worker has no task running or waiting (the senders queued at launch all
    ran): the test's database is then flushed without a task still writing to it."""
    from crm.celery import app

    def idle() -> bool:
        inspect = app.control.inspect(destination=[worker.hostname], timeout=1)
        active, reserved = inspect.active() or {}, inspect.reserved() or {}
        return not any(active.values()) and not any(reserved.values()) and bool(active)

    wait_until(idle)


def test_a_campaign_reaches_every_recipient_once_with_headers_and_merge_fields(
    smtp_server, celery_worker, settings
):
    purpose = make_purpose()
    people = make_people(300, purpose)
    campaign = make_campaign(people, purpose)

    result = sending.launch(campaign, None)

    assert result.recipients == 300
    mails = smtp_server.wait_for(300, timeout=120)
    ids = unique_deliveries(mails)
    assert len(ids) == len(set(ids)) == 300
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.FINISHED)
    deliveries = {str(d.pk): d for d in Delivery.objects.filter(campaign=campaign)}
    assert set(ids) == set(deliveries)
    assert all(d.status == Delivery.Status.SENT for d in deliveries.values())
    by_person = {p.pk: p for p in people}
    for mail in mails:
        delivery = deliveries[str(mail.message["X-CRM-Delivery"])]
        person = by_person[delivery.person_id]
        assert mail.rcpt_tos == [delivery.email]
        assert mail.subject == f"Hola {person.given_name}"
        assert person.full_name in mail.body("plain")
        assert person.full_name in mail.body("html")
        unsubscribe = str(mail.message["List-Unsubscribe"])
        assert unsubscribe.startswith(f"<{settings.PUBLIC_BASE_URL}/sede/correo/baja/")
        assert str(mail.message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert unsubscribe.strip("<>") in mail.body("plain")  # the visible link
        assert str(mail.message["Message-ID"]) == delivery.message_id
        # Tracking is off by default: no pixel, links untouched.
        assert "/sede/correo/a/" not in mail.body("html")
        assert 'href="https://example.org/info"' in mail.body("html")
    # Every delivery is in its person's timeline.
    timeline = Interaction.objects.filter(related_type="campaigns.campaign", related_id=campaign.pk)
    assert timeline.count() == 300
    assert set(timeline.values_list("person_id", flat=True)) == set(by_person)
    progress = sending.progress(campaign)
    assert (progress.sent, progress.failed, progress.pending) == (300, 0, 0)
    settle(celery_worker)


def test_people_without_consent_never_receive(smtp_server, celery_worker):
    purpose = make_purpose()
    other = make_purpose("surveys")
    consenting = make_people(5, purpose)
    silent = make_people(3, purpose, consent=False, start=100)
    withdrawn = make_people(2, purpose, start=200)
    for person in withdrawn:  # the latest statement wins
        Consent.objects.create(
            person=person,
            purpose=purpose,
            granted=False,
            source="web_form",
            text_version="1",
            stated_at=timezone.now() + timedelta(seconds=1),
        )
    elsewhere = make_people(2, other, start=300)  # consent to another purpose only
    restricted = make_people(1, purpose, start=400)
    Person.objects.filter(pk=restricted[0].pk).update(restricted_at=timezone.now())
    campaign = make_campaign(consenting + silent + withdrawn + elsewhere + restricted, purpose)

    assert sending.launch(campaign, None).recipients == 5

    mails = smtp_server.wait_for(5)
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.FINISHED)
    received = {address for mail in smtp_server.messages for address in mail.rcpt_tos}
    assert len(mails) == len(smtp_server.messages) == 5
    assert received == {f"person{n}@example.org" for n in range(5)}
    settle(celery_worker)


def test_consent_withdrawn_after_launch_is_checked_at_send_time(smtp_server, no_celery_worker):
    purpose = make_purpose()
    people = make_people(4, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    Consent.objects.create(
        person=people[0],
        purpose=purpose,
        granted=False,
        source="web_form",
        text_version="1",
        stated_at=timezone.now() + timedelta(seconds=1),
    )

    with_smtp(smtp_server)
    sending.send_for_a_while(campaign.pk, seconds=30)

    assert {a for mail in smtp_server.messages for a in mail.rcpt_tos} == {
        f"person{n}@example.org" for n in (1, 2, 3)
    }
    skipped = Delivery.objects.get(campaign=campaign, person=people[0])
    assert (skipped.status, skipped.skip_reason) == ("skipped", "no_consent")


def with_smtp(smtp_server) -> None:
    from django.conf import settings

    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": smtp_server.host, "port": smtp_server.port, "timeout": 10},
        }
    }


def test_a_transient_failure_is_retried_and_a_permanent_one_recorded(smtp_mailer, no_celery_worker):
    purpose = make_purpose()
    people = make_people(3, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    smtp_mailer.refuse_next(1, "451 4.3.0 Try again later")
    smtp_mailer.refuse_next(1, "550 5.1.1 No such user")

    assert sending.send_for_a_while(campaign.pk, seconds=30) is False  # the retry is not due

    first, second, third = Delivery.objects.filter(campaign=campaign).order_by("id")
    assert first.status == "pending"
    assert first.attempts == 1
    assert "451" in first.last_error
    assert first.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert second.status == "failed"
    assert "550" in second.last_error
    assert third.status == "sent"
    assert Campaign.objects.get(pk=campaign.pk).status == "running"  # not finished
    progress = sending.progress(campaign)
    assert (progress.sent, progress.failed, progress.pending) == (1, 1, 1)

    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())  # time passes
    assert sending.campaigns_to_wake() == [campaign.pk]
    sending.send_for_a_while(campaign.pk, seconds=30)

    first.refresh_from_db()
    assert first.status == "sent"
    assert first.attempts == 2
    assert Campaign.objects.get(pk=campaign.pk).status == "running"  # one failure remains
    assert sending.retry_failed(Campaign.objects.get(pk=campaign.pk), None) == 1
    # (no worker: the queued senders wait; run one here)
    sending.send_for_a_while(campaign.pk, seconds=30)
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"
    ids = unique_deliveries(smtp_mailer.messages)
    assert sorted(ids) == sorted(str(d.pk) for d in (first, second, third))


def test_pause_stops_claiming_and_resume_goes_on(smtp_mailer, no_celery_worker):
    purpose = make_purpose()
    people = make_people(5, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    sending.pause(Campaign.objects.get(pk=campaign.pk), None)

    assert sending.send_for_a_while(campaign.pk, seconds=5) is False
    assert smtp_mailer.messages == []
    assert sending.progress(campaign).pending == 5

    sending.resume(Campaign.objects.get(pk=campaign.pk), None)
    sending.send_for_a_while(campaign.pk, seconds=30)
    assert len(smtp_mailer.messages) == 5


def test_cancelling_a_paused_campaign_sends_nothing_more(smtp_mailer, no_celery_worker, admin_user):
    from campaigns.services import campaign_transition

    purpose = make_purpose()
    people = make_people(4, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    sending.pause(Campaign.objects.get(pk=campaign.pk), None)
    held = Delivery.objects.filter(campaign=campaign).order_by("pk").first()
    Delivery.objects.filter(pk=held.pk).update(claimed_by="sender-1", claimed_at=timezone.now())

    campaign_transition(campaign=campaign, action="cancel", actor=admin_user)

    skipped = Delivery.objects.filter(campaign=campaign, status="skipped", skip_reason="cancelled")
    assert skipped.count() == 3  # the held row is left to its sender
    Delivery.objects.filter(pk=held.pk).update(claimed_by="", claimed_at=None)  # given back
    assert sending.cancel_cancelled() == 1
    assert sending.progress(Campaign.objects.get(pk=campaign.pk)).pending == 0
    assert sending.send_for_a_while(campaign.pk, seconds=5) is False
    assert smtp_mailer.messages == []


def test_launch_refuses_without_purpose_or_twice(no_celery_worker):
    purpose = make_purpose()
    people = make_people(2, purpose)
    campaign = make_campaign(people, None)
    with pytest.raises(sending.SendingError):
        sending.launch(campaign, None)
    assert not Delivery.objects.filter(campaign=campaign).exists()
    campaign.purpose = purpose
    campaign.save()
    sending.launch(campaign, None)
    with pytest.raises(sending.SendingError):
        sending.launch(campaign, None)
    assert Delivery.objects.filter(campaign=campaign).count() == 2


def test_a_killed_worker_then_restarted_delivers_every_message_exactly_once(
    smtp_server, celery_worker, monkeypatch
):
    purpose = make_purpose()
    people = make_people(200, purpose)
    campaign = make_campaign(people, purpose, send_rate=200)
    gate = SmtpGate(smtp_server, accept=80)
    monkeypatch.setattr(smtp_server, "handle_DATA", gate.handle_DATA, raising=False)

    sending.launch(campaign, None)
    assert gate.held.wait(60), celery_worker.log_tail()
    # The worker waits for the SMTP server's answer to message 81: kill it now.
    celery_worker.process.send_signal(signal.SIGKILL)
    celery_worker.process.wait(10)
    gate.release.set()

    in_flight = Delivery.objects.filter(campaign=campaign, status="sending")
    assert in_flight.count() == 1  # at most one message's fate is unknown
    assert Delivery.objects.filter(campaign=campaign, status="sent").count() == 80
    _released, uncertain = sending.recover_stuck(older_than=timedelta(0))
    assert uncertain == 1

    celery_worker.start()  # a new worker; the tick finds the campaign's messages
    from campaigns.tasks import sending_tick

    sending_tick.delay()
    smtp_server.wait_for(200, timeout=120)
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.FINISHED)
    ids = unique_deliveries(smtp_server.messages)
    assert len(ids) == len(set(ids)) == 200
    assert Delivery.objects.filter(campaign=campaign, status="sent").count() == 200
    assert Delivery.objects.filter(campaign=campaign, uncertain=True).count() == 1
    settle(celery_worker)


def test_a_database_outage_while_sending_loses_and_repeats_nothing(
    smtp_mailer, no_celery_worker, monkeypatch
):
    """The SMTP server accepted a message, then the database connection broke before its result
    was written: the sender reconnects and writes it; the message is not sent again."""
    purpose = make_purpose()
    people = make_people(3, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    original = sending.Sender.record
    broken = {"done": False}

    def record(self, result, start):
        if result is not None and not broken["done"]:
            broken["done"] = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            other = connections.create_connection("default")
            with other.cursor() as cursor:  # the server drops the sender's session
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            other.close()
        return original(self, result, start)

    monkeypatch.setattr(sending.Sender, "record", record)
    sending.send_for_a_while(campaign.pk, seconds=30)

    assert broken["done"]
    ids = unique_deliveries(smtp_mailer.messages)
    assert len(ids) == len(set(ids)) == 3
    assert Delivery.objects.filter(campaign=campaign, status="sent").count() == 3


def test_a_scheduled_campaign_is_launched_on_its_first_day(smtp_server, celery_worker):
    purpose = make_purpose()
    people = make_people(3, purpose)
    today = timezone.localdate()
    tomorrow = today + timedelta(days=1)
    later = make_campaign(people, purpose, status="scheduled", starts_on=tomorrow, ends_on=tomorrow)
    due = make_campaign(people, purpose, status="scheduled", starts_on=today, ends_on=today)

    assert sending.launch_due() == [due.pk]

    assert len(smtp_server.wait_for(3)) == 3
    wait_until(lambda: Campaign.objects.get(pk=due.pk).status == Campaign.Status.FINISHED)
    assert Campaign.objects.get(pk=later.pk).status == "scheduled"
    assert not Delivery.objects.filter(campaign=later).exists()
    settle(celery_worker)
