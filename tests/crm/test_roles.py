"""The role catalogue becomes Django groups; admins may edit them afterwards."""

import pytest
from django.contrib.auth.models import Group, Permission

from crm.roles import ROLES, sync_roles
from crm.services import user_set_roles


@pytest.mark.django_db
def test_every_role_exists_with_its_permissions():
    names = set(Group.objects.values_list("name", flat=True))
    assert {role.code for role in ROLES} <= names
    handler = Group.objects.get(name="case_handler")
    assert {f"{p.content_type.app_label}.{p.codename}" for p in handler.permissions.all()} == {
        "cases.access",
        "cases.manage",
        "citizens.access",
        "reports.access",  # the dashboard of their own work
    }
    assert Group.objects.get(name="administrator").permissions.count() == Permission.objects.count()


@pytest.mark.django_db
def test_sync_keeps_what_an_administrator_changed_unless_reset():
    handler = Group.objects.get(name="case_handler")
    handler.permissions.remove(
        Permission.objects.get(codename="manage", content_type__app_label="cases")
    )
    assert sync_roles() == []
    assert handler.permissions.count() == 3
    assert "case_handler" in sync_roles(reset=True)
    assert handler.permissions.count() == 4


@pytest.mark.django_db
def test_the_administrator_role_opens_the_admin(make_user):
    user = make_user("inspector")
    assert not user.is_staff
    user_set_roles(user=user, roles=["inspector", "administrator"])
    user.refresh_from_db()
    assert user.is_staff
    user_set_roles(user=user, roles=["inspector"])
    user.refresh_from_db()
    assert not user.is_staff


@pytest.mark.django_db
def test_unknown_roles_are_refused(make_user):
    with pytest.raises(ValueError, match="Unknown roles"):
        user_set_roles(user=make_user(), roles=["pope"])
