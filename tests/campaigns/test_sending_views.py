"""The staff side of sending: launch, pause, resume and retry through the pages (POST only,
audited), the progress fragment (counts in text, not colour only), axe-core clean at 360 px."""

from __future__ import annotations

import pytest

from campaigns import sending
from campaigns.models import Campaign, Delivery
from crm.models import AuditEvent
from tests.campaigns.test_sending import make_campaign, make_people, make_purpose
from tests.fixtures.browser import PHONE, assert_accessible, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def comms_client(client, make_user):
    client.force_login(make_user("communication"))
    client.cookies["django_language"] = "en"  # the assertions read English text
    return client


def _campaign(count: int = 3) -> Campaign:
    purpose = make_purpose()
    return make_campaign(make_people(count, purpose), purpose)


def test_launch_pause_resume_and_retry_through_the_pages(comms_client, no_celery_worker):
    campaign = _campaign()

    assert comms_client.get(f"/campaigns/{campaign.pk}/sending/launch/").status_code == 405
    response = comms_client.post(f"/campaigns/{campaign.pk}/sending/launch/")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert Delivery.objects.filter(campaign=campaign).count() == 3
    assert Campaign.objects.get(pk=campaign.pk).status == "running"
    assert AuditEvent.objects.filter(
        object_type="campaigns.campaign", changes__event="launched"
    ).exists()

    comms_client.post(f"/campaigns/{campaign.pk}/sending/pause/")
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    comms_client.post(f"/campaigns/{campaign.pk}/sending/resume/")
    assert Campaign.objects.get(pk=campaign.pk).status == "running"

    # Retrying with nothing failed says so, and changes nothing.
    response = comms_client.post(f"/campaigns/{campaign.pk}/sending/retry/", follow=True)
    assert "There are no failed messages to retry." in response.content.decode()
    Delivery.objects.filter(campaign=campaign).update(status="failed", last_error="550")
    comms_client.post(f"/campaigns/{campaign.pk}/sending/retry/")
    assert Delivery.objects.filter(campaign=campaign, status="pending").count() == 3


def test_launching_twice_is_refused_with_a_message(comms_client, no_celery_worker):
    campaign = _campaign()
    comms_client.post(f"/campaigns/{campaign.pk}/sending/launch/")
    response = comms_client.post(f"/campaigns/{campaign.pk}/sending/launch/", follow=True)
    assert "Only a draft or scheduled campaign can be launched." in response.content.decode()
    assert Delivery.objects.filter(campaign=campaign).count() == 3


def test_the_progress_fragment_says_the_counts_in_words(comms_client, no_celery_worker):
    campaign = _campaign(4)
    sending.launch(campaign, None)
    first, second, *_rest = Delivery.objects.filter(campaign=campaign).order_by("id")
    Delivery.objects.filter(pk=first.pk).update(status="sent")
    Delivery.objects.filter(pk=second.pk).update(status="failed")

    response = comms_client.get(f"/campaigns/{campaign.pk}/sending/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # the fragment only
    assert '<progress id="sending-bar' in html
    assert 'max="4" value="2"' in html
    assert '"sent">1<' in html
    assert '"failed">1<' in html
    assert '"pending">2<' in html
    assert 'hx-trigger="every 5s"' in html  # refreshed while running
    assert "Pause" in html
    assert "Retry failures" in html
    # The campaign page includes it.
    assert (
        "data-sending-progress" in comms_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    )


@pytest.mark.browser
def test_the_sending_panel_is_accessible_at_360px(page, live_server, make_user, no_celery_worker):
    make_user("communication", username="comms-browser")
    campaign = _campaign(3)
    sending.launch(campaign, None)
    first = Delivery.objects.filter(campaign=campaign).order_by("id").first()
    Delivery.objects.filter(pk=first.pk).update(status="failed")
    log_in(page, "comms-browser", "correct-horse-battery")
    page.set_viewport_size(PHONE)
    page.goto(f"/campaigns/{campaign.pk}/")
    page.wait_for_selector("[data-sending-progress]")
    assert_accessible(page)
    page.goto(f"/campaigns/{campaign.pk}/sending/")
    assert_accessible(page)
