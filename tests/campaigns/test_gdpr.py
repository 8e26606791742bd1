"""Campaign deliveries and data protection: the person's export lists the messages sent to them,
and blocking a person forgets the addresses their deliveries froze."""

import pytest

from campaigns import sending
from campaigns.models import Delivery
from citizens.gdpr import person_block, person_export_data
from citizens.models import BlockedData
from tests.campaigns.test_sending import make_campaign, make_people, make_purpose

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(make_user, no_celery_worker):
    purpose = make_purpose()
    people = make_people(2, purpose)
    campaign = make_campaign(people, purpose)
    sending.launch(campaign, make_user("communication"))
    return people[0], campaign


def test_the_export_lists_the_campaign_messages_of_the_person(delivered):
    person, campaign = delivered
    [row] = person_export_data(person)["campaign_deliveries"]
    assert row["campaign"] == campaign.name
    assert row["email"] == "person0@example.org"


def test_blocking_a_person_forgets_the_addresses_their_deliveries_froze(delivered, make_user):
    person, campaign = delivered
    person_block(person=person, actor=make_user("data_protection_officer"))

    delivery = Delivery.objects.get(person=person, campaign=campaign)
    assert delivery.email == ""
    # The blocked copy keeps what was there, for the data protection officer.
    blocked = BlockedData.objects.get(person=person).data
    assert blocked["campaign_deliveries"][0]["email"] == "person0@example.org"
    # Another person's delivery is untouched.
    assert Delivery.objects.exclude(person=person).get().email == "person1@example.org"
