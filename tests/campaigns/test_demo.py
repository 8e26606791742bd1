"""The campaigns module's demo data (campaigns/demo.py, through ``manage.py seed_demo``)."""

import io

import pytest
from django.core.management import call_command

from campaigns import results, segments
from campaigns.demo import EMAIL_CODE, LETTERS_CODE
from campaigns.models import Campaign, Segment, StaticList
from citizens.models import Interaction

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_receipts(monkeypatch):
    from cases import tasks

    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)


def seed(settings) -> str:
    settings.DEMO_LOGINS = True
    output = io.StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def test_demo_campaigns_segments_and_lists(settings, client):
    seed(settings)
    email = Campaign.objects.get(code=EMAIL_CODE)
    letters = Campaign.objects.get(code=LETTERS_CODE)
    assert email.status == Campaign.Status.DRAFT
    assert email.budget_lines.count() == 2
    assert letters.status == Campaign.Status.RUNNING
    frozen = StaticList.objects.get(source=StaticList.Source.FROZEN)
    assert frozen.size > 0
    assert frozen.size == segments.list_members(frozen).count()
    assert Segment.objects.count() == 2
    assert Interaction.objects.filter(related_type="campaigns.campaign").count() == min(
        5, frozen.size
    )
    assert results.compute(letters).interactions == min(5, frozen.size)
    seed(settings)  # idempotent
    assert Campaign.objects.filter(code__in=[EMAIL_CODE, LETTERS_CODE]).count() == 2
    from crm.models import User

    client.force_login(User.objects.get(username="campanas"))
    for url in ("/campaigns/", f"/campaigns/{email.pk}/", f"/campaigns/{letters.pk}/results/"):
        assert client.get(url).status_code == 200
