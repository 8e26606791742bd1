"""``manage.py seed_demo``: the demo logins of the embedded default, never in a deployment."""

import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from crm.demo import DEMO_PASSWORD, DEMO_USERS

pytestmark = pytest.mark.django_db

USERNAMES = sorted(user[0] for user in DEMO_USERS)


def seed_demo() -> str:
    output = io.StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def test_seed_demo_creates_a_login_per_role(settings):
    settings.DEMO_LOGINS = True
    output = seed_demo()
    users = get_user_model().objects.filter(username__in=USERNAMES).order_by("username")
    assert [user.username for user in users] == USERNAMES
    assert all(user.check_password(DEMO_PASSWORD) for user in users)
    assert all(user.is_active for user in users)
    assert "admin" in output
    assert "Demo data is loaded." in output


def test_seed_demo_twice_changes_nothing(settings):
    settings.DEMO_LOGINS = True
    seed_demo()
    before = row_counts()
    output = seed_demo()
    assert row_counts() == before
    assert "created" not in output


def test_seed_demo_refuses_outside_the_embedded_default(settings):
    settings.DEMO_LOGINS = False
    with pytest.raises(CommandError, match="only on the embedded default"):
        seed_demo()
    assert not get_user_model().objects.filter(username__in=USERNAMES).exists()
