"""Heads of unit (``Membership.is_head``): set by an administrator in the user's page of the
administration, audited; they receive the unit's deadline reminders
(tests/cases/test_reminders.py)."""

import pytest
from django.urls import reverse

from crm.models import AuditEvent, Membership

pytestmark = pytest.mark.django_db


def change_data(user, membership) -> dict[str, str]:
    """The user's page as the administration shows it, with the membership's row."""
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(membership.pk),
        "memberships-0-user": str(user.pk),
        "memberships-0-unit": str(membership.unit_id),
        "memberships-1-id": "",
        "memberships-1-user": str(user.pk),
        "memberships-1-unit": "",
    }


def test_an_administrator_makes_a_member_head_of_the_unit(make_user, client):
    admin = make_user("administrator", unit_codes=(), is_superuser=True)
    client.force_login(admin)
    member = make_user("case_handler", unit_codes=("urbanismo",), email="javier@ayto.example")
    membership = Membership.objects.get(user=member)
    url = reverse("admin:crm_user_change", args=[member.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert 'name="memberships-0-is_head"' in page.content.decode()

    data = change_data(member, membership)
    response = client.post(url, {**data, "memberships-0-is_head": "on"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    membership.refresh_from_db()
    assert membership.is_head
    event = AuditEvent.objects.filter(object_type="crm.user", object_id=str(member.pk)).first()
    assert event.changes == {"unit": "urbanismo", "head": True}
    assert event.actor == admin

    response = client.post(url, data)  # the box unticked
    assert response.status_code == 302
    membership.refresh_from_db()
    assert not membership.is_head


def test_members_are_not_heads_unless_made_so(make_user):
    member = make_user("case_handler", unit_codes=("urbanismo", "licencias"))
    assert not Membership.objects.filter(user=member, is_head=True).exists()
