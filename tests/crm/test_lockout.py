"""Repeated failed logins lock the account, and separately the address, with a clear message."""

import pytest

from crm.models import AuditAction, AuditEvent


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def attempt(client, username, password="wrong", ip="10.0.0.1"):  # noqa: S107
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_an_account_is_locked_after_repeated_failures(limit, make_user, client):
    user = make_user("inspector")
    for _ in range(limit - 1):
        assert attempt(client, user.username).status_code == 200
    locked = attempt(client, user.username)
    assert locked.status_code == 429
    assert "registration/locked_out.html" in [t.name for t in locked.templates]
    # Even the right password is refused while locked, from any address.
    again = attempt(client, user.username, "correct-horse-battery", ip="10.0.0.99")
    assert again.status_code == 429
    # Every refused attempt while locked is traced, not just the first.
    lockouts = AuditEvent.objects.filter(action=AuditAction.LOCKED_OUT)
    assert lockouts.count() == 2
    assert {event.changes["username"] for event in lockouts} == {user.username}
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() >= limit


def test_an_address_is_locked_after_failures_on_many_accounts(limit, make_user, client):
    user = make_user("inspector")
    for n in range(limit):
        attempt(client, f"guess{n}", ip="10.0.0.7")
    # From that address nobody logs in, not even with the right password.
    assert attempt(client, user.username, "correct-horse-battery", ip="10.0.0.7").status_code == 429
    # From another address the account is fine.
    ok = attempt(client, user.username, "correct-horse-battery", ip="10.0.0.8")
    assert ok.status_code == 302


def test_a_success_resets_the_count(limit, make_user, client):
    user = make_user("inspector")
    for _ in range(limit - 1):
        attempt(client, user.username)
    assert attempt(client, user.username, "correct-horse-battery").status_code == 302
    client.post("/accounts/logout/")
    for _ in range(limit - 1):
        assert attempt(client, user.username).status_code == 200
