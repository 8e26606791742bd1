"""Open and click tracking: off by default, per campaign; the click redirect is never open."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from campaigns import mailer, sending
from campaigns.models import Delivery, TrackingEvent
from tests.campaigns.test_sending import make_campaign, make_people, make_purpose

pytestmark = pytest.mark.django_db(transaction=True)


def _send(smtp, **fields):
    purpose = make_purpose()
    people = make_people(1, purpose)
    campaign = make_campaign(people, purpose, **fields)
    sending.launch(campaign, None)
    sending.send_for_a_while(campaign.pk, seconds=30)
    return smtp.messages[0], Delivery.objects.get(campaign=campaign)


def _local(url: str) -> str:
    return url.removeprefix(mailer.public_url(""))


def test_tracking_is_off_by_default(smtp_mailer, no_celery_worker):
    mail, delivery = _send(smtp_mailer)
    html = mail.body("html")
    assert "/sede/correo/a/" not in html
    assert "/sede/correo/c/" not in html
    assert 'href="https://example.org/info"' in html
    # A pixel request for it records nothing.
    Client().get(_local(mailer.open_url(delivery.pk)))
    assert not TrackingEvent.objects.exists()


def test_opens_and_clicks_are_recorded_when_turned_on(smtp_mailer, no_celery_worker):
    mail, delivery = _send(smtp_mailer, track_opens=True, track_clicks=True)
    html = mail.body("html")
    pixel = re.search(r'<img src="([^"]+/sede/correo/a/[^"]+)"', html).group(1)
    link = re.search(r'href="([^"]+/sede/correo/c/[^"]+)"', html).group(1)
    unsubscribe = str(mail.message["List-Unsubscribe"]).strip("<>")
    assert unsubscribe in html  # the unsubscribe link is never rewritten

    response = Client().get(_local(pixel))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    response = Client().get(_local(link.replace("&amp;", "&")))
    assert response.status_code == 302
    assert response["Location"] == "https://example.org/info"

    delivery.refresh_from_db()
    assert delivery.opened_at
    assert delivery.clicked_at
    assert sorted(TrackingEvent.objects.values_list("kind", flat=True)) == ["click", "open"]
    progress = sending.progress(delivery.campaign)
    assert (progress.opened, progress.clicked) == (1, 1)


def test_the_click_redirect_only_goes_to_signed_urls(no_celery_worker):
    token = mailer.click_url(1, "https://example.org/info").rstrip("/").rsplit("/", 1)[1]
    forged = token.replace(token.split(":")[0], token.split(":")[0][:-2] + "AA")
    assert Client().get(f"/sede/correo/c/{forged}/").status_code == 404
    assert Client().get("/sede/correo/c/https:%2F%2Fevil.example/").status_code == 404
    assert mailer.click_target(token) == (1, "https://example.org/info")
