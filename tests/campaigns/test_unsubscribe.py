"""One-click unsubscribe (RFC 8058), the unsubscribe page and the preference centre."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns import mailer, sending
from campaigns.models import Delivery, Suppression
from citizens.gdpr import current_consents
from citizens.models import Consent, EmailAddress
from crm.models import AuditEvent
from tests.campaigns.test_sending import make_campaign, make_people, make_purpose

pytestmark = pytest.mark.django_db(transaction=True)


def _launched(count: int = 2):
    purpose = make_purpose()
    people = make_people(count, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, None)
    return purpose, people, campaign


def _path(delivery: Delivery) -> str:
    return mailer.unsubscribe_url(delivery.pk).removeprefix(mailer.public_url(""))


def test_one_click_post_unsubscribes_and_the_next_message_is_not_sent(
    smtp_mailer, no_celery_worker
):
    purpose, people, campaign = _launched()
    sending.send_for_a_while(campaign.pk, seconds=30)
    assert len(smtp_mailer.messages) == 2
    mail = smtp_mailer.messages[0]
    delivery = Delivery.objects.get(pk=int(str(mail.message["X-CRM-Delivery"])))
    url = str(mail.message["List-Unsubscribe"]).strip("<>")

    # What a mailbox provider does: POST without cookies nor CSRF token.
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        url.removeprefix(mailer.public_url("")),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Suppression.objects.filter(address=delivery.email, lifted_at__isnull=True).exists()
    assert Delivery.objects.get(pk=delivery.pk).unsubscribed_at is not None
    assert AuditEvent.objects.filter(object_type="campaigns.suppression").exists()

    # The next campaign to the same people does not go to the address.
    smtp_mailer.clear()
    second = make_campaign(people, purpose, code="second")
    sending.launch(second, None)
    sending.send_for_a_while(second.pk, seconds=30)
    received = {a for m in smtp_mailer.messages for a in m.rcpt_tos}
    assert delivery.email not in received
    assert len(smtp_mailer.messages) == 1


def test_unsubscribe_skips_messages_already_frozen(smtp_mailer, no_celery_worker):
    _purpose, _people, campaign = _launched()
    delivery = Delivery.objects.filter(campaign=campaign).order_by("id").first()

    response = Client().post(_path(delivery), {"confirm": "1"})

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.skip_reason) == ("skipped", "suppressed")
    sending.send_for_a_while(campaign.pk, seconds=30)
    assert [m.rcpt_tos for m in smtp_mailer.messages] == [
        [Delivery.objects.exclude(pk=delivery.pk).get(campaign=campaign).email]
    ]
    page = Client().get(_path(delivery))
    assert page.status_code == 200
    assert "data-unsubscribed" in page.content.decode()


def test_a_shared_mailbox_unsubscribed_gets_no_other_frozen_message(smtp_mailer, no_celery_worker):
    """Two people share an address: one unsubscribes. Their own waiting message is skipped at
    once; the other's when a sender claims it. Neither reaches the address."""
    _purpose, people, campaign = _launched(3)
    first, second = people[0], people[1]
    EmailAddress.objects.filter(person=second).update(address="Casa@Example.org")
    EmailAddress.objects.filter(person=first).update(address="casa@example.org")
    Delivery.objects.filter(person=second).update(email="Casa@Example.org")
    Delivery.objects.filter(person=first).update(email="casa@example.org")
    mine = Delivery.objects.get(person=first)

    assert Client().post(_path(mine), {"confirm": "1"}).status_code == 302

    mine.refresh_from_db()
    assert (mine.status, mine.skip_reason) == ("skipped", "suppressed")
    assert Delivery.objects.get(person=second).status == "pending"
    sending.send_for_a_while(campaign.pk, seconds=30)
    received = [address for m in smtp_mailer.messages for address in m.rcpt_tos]
    assert received == [Delivery.objects.get(person=people[2]).email]
    shared = Delivery.objects.get(person=second)
    assert (shared.status, shared.skip_reason) == ("skipped", "suppressed")


def test_a_forged_token_is_a_404(no_celery_worker):
    _launched(1)
    delivery = Delivery.objects.get()
    assert Client().get(f"/sede/correo/baja/{delivery.pk}:forged/").status_code == 404
    assert Client().post(f"/sede/correo/baja/{delivery.pk + 1}/").status_code == 404
    assert not Suppression.objects.exists()


def test_the_page_does_not_unsubscribe_on_get(no_celery_worker):
    _launched(1)
    delivery = Delivery.objects.get()
    response = Client().get(_path(delivery))
    assert response.status_code == 200
    assert not Suppression.objects.exists()


def test_preference_centre_records_consent_statements_with_proof(no_celery_worker):
    purpose, people, _campaign = _launched(1)
    surveys = make_purpose("surveys")
    delivery = Delivery.objects.get()
    url = _path(delivery) + "preferencias/"
    client = Client()
    page = client.get(url)
    assert page.status_code == 200
    assert purpose.name in page.content.decode()

    # Withdraw the newsletter, accept surveys, stop campaign email at this address.
    response = client.post(url, {f"purpose_{surveys.pk}": "on"}, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 302
    latest = {c.purpose_id: c for c in current_consents(people[0])}
    assert latest[purpose.pk].granted is False
    assert latest[surveys.pk].granted is True
    assert latest[purpose.pk].source == Consent.Source.PREFERENCE_CENTRE
    assert "preference centre" in latest[purpose.pk].evidence
    assert "203.0.113.9" in latest[purpose.pk].evidence
    assert sending.is_suppressed(delivery.email)

    # And back: receive campaign email again.
    client.post(url, {f"purpose_{purpose.pk}": "on", "receive": "on"})
    assert not sending.is_suppressed(delivery.email)
    latest = {c.purpose_id: c for c in current_consents(people[0])}
    assert latest[purpose.pk].granted is True
    assert latest[surveys.pk].granted is False


@pytest.mark.parametrize("language", ["es", "en"])
def test_public_pages_are_accessible_at_360px(language, page, live_server, no_celery_worker):
    from tests.fixtures.browser import assert_accessible

    _launched(1)
    delivery = Delivery.objects.get()
    page.set_viewport_size({"width": 360, "height": 800})
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )
    page.goto(_path(delivery))
    assert_accessible(page)
    page.locator("[data-unsubscribe-button]").click()
    page.wait_for_selector("[data-unsubscribed]")
    assert_accessible(page)
    page.goto(_path(delivery) + "preferencias/")
    assert_accessible(page)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector(".alert")
    assert_accessible(page)
