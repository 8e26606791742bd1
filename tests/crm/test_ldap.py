"""Staff log in with their directory account: a real slapd (tests/fixtures/ldap.py), the real
login form (django-axes needs the request, so never client.login()), the real audit trail."""

from __future__ import annotations

import logging
import re
import socket
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import translation
from django_auth_ldap.config import ActiveDirectoryGroupType, GroupOfNamesType

from crm.directory import check_role_map, ldap_settings, normalize_dn
from crm.embedded import (
    DEMO_DIRECTORY_DISABLED,
    demo_directory_groups,
    demo_directory_role_map,
)
from crm.env import Env
from crm.forms import LoginForm
from crm.models import AuditAction, AuditEvent, User
from crm.services import user_set_units
from tests.fixtures.ldap import person_dn, role_group_dn

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
DEMO_GROUPS = demo_directory_groups()
# (uid, role) of the demo directory's accounts that may log in (`make run LDAP=demo`).
DEMO_ACCOUNTS = [
    (uid, role)
    for dn, role in demo_directory_role_map().items()
    for uid in DEMO_GROUPS[dn]
    if uid not in DEMO_GROUPS[DEMO_DIRECTORY_DISABLED]
]


def log_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def assert_logged_in(client, response, username: str) -> User:
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == reverse("home")
    user = User.objects.get(username=username)
    assert client.session[SESSION_KEY] == str(user.pk)
    return user


def login_error(response) -> str:
    """The code of the login form's error, after checking the page came back with it."""
    assert response.status_code == 200
    assert SESSION_KEY not in response.wsgi_request.session
    [error] = response.context["form"].non_field_errors().as_data()
    return error.code


def module_links(client) -> set[str]:
    """The modules linked from the navigation of the home page."""
    page = client.get(reverse("home")).content.decode()
    return {
        label
        for label in ("citizens", "cases", "campaigns", "sales", "reports")
        if f'href="{reverse(f"{label}:index")}"' in page
    }


def audit(action: str, **fields) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **fields).order_by("id"))


@pytest.fixture
def hung_server():
    """A TCP server that accepts connections and never answers (a directory that hangs)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"ldap://127.0.0.1:{server.getsockname()[1]}/"


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ldap://127.0.0.1:{port}/"


# --- Logging in -------------------------------------------------------------------------------


def test_a_directory_account_logs_in_and_becomes_a_directory_user(client, directory_settings):
    response = log_in(client, "ldap-tramitador", "demo")

    user = assert_logged_in(client, response, "ldap-tramitador")
    assert user.from_directory
    assert not user.has_usable_password()
    assert (user.first_name, user.last_name, user.email) == (
        "Jorge",
        "Blanco Prieto",
        "ldap-tramitador@ayuntamiento.example",
    )
    [login] = audit(AuditAction.LOGIN)
    assert login.actor == user
    assert login.changes == {"source": "directory"}
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.parametrize(("uid", "role"), DEMO_ACCOUNTS)
def test_every_demo_account_gets_the_role_of_its_group(client, directory_settings, uid, role):
    user = assert_logged_in(client, log_in(client, uid, "demo"), uid)

    assert user.role_codes() == [role]
    assert user.is_staff == (role == "administrator")
    [granted] = audit(AuditAction.ROLE_GRANTED, object_id=str(user.pk))
    assert granted.changes == {"role": role}


def test_the_navigation_shows_the_modules_of_the_directory_roles(client, directory_settings):
    assert_logged_in(client, log_in(client, "rosa", "secret"), "rosa")

    assert User.objects.get(username="rosa").role_codes() == ["case_handler", "communication"]
    # case_handler: cases (and citizens); communication: campaigns (and citizens); both: the
    # reports of their own work.
    assert module_links(client) == {"citizens", "cases", "campaigns", "reports"}


def test_leaving_a_directory_group_takes_the_role_away_at_the_next_login(
    client, directory, directory_settings
):
    assert_logged_in(client, log_in(client, "rosa", "secret"), "rosa")
    assert "campaigns" in module_links(client)
    client.post(reverse("logout"))

    directory.set_members(role_group_dn("communication"), "delete", person_dn("rosa"))
    try:
        user = assert_logged_in(client, log_in(client, "rosa", "secret"), "rosa")
    finally:
        directory.set_members(role_group_dn("communication"), "add", person_dn("rosa"))

    assert user.role_codes() == ["case_handler"]
    assert module_links(client) == {"citizens", "cases", "reports"}
    [revoked] = audit(AuditAction.ROLE_REVOKED, object_id=str(user.pk))
    assert revoked.changes == {"role": "communication"}


def test_units_come_from_groups_and_the_unit_attribute_keeping_local_ones(
    client, directory, directory_settings, units, caplog
):
    with caplog.at_level(logging.WARNING, logger="crm.directory"):
        user = assert_logged_in(client, log_in(client, "pilar", "secret"), "pilar")
    # licencias by the group, urbanismo by departmentNumber; no-such-unit is not a unit here.
    assert set(user.memberships.values_list("unit__code", "from_directory")) == {
        ("licencias", True),
        ("urbanismo", True),
    }
    assert "no-such-unit" in caplog.text
    user_set_units(user=user, units=[units["servicios-sociales"]])  # a local membership
    client.post(reverse("logout"))

    directory.modify(
        f"dn: {person_dn('pilar')}\nchangetype: modify\n"
        "delete: departmentNumber\ndepartmentNumber: urbanismo\n"
    )
    try:
        assert_logged_in(client, log_in(client, "pilar", "secret"), "pilar")
    finally:
        directory.modify(
            f"dn: {person_dn('pilar')}\nchangetype: modify\n"
            "add: departmentNumber\ndepartmentNumber: urbanismo\n"
        )

    assert set(user.memberships.values_list("unit__code", "from_directory")) == {
        ("licencias", True),
        ("servicios-sociales", False),
    }
    assert audit(AuditAction.UNIT_REMOVED, object_id=str(user.pk))


def test_a_stale_local_password_no_longer_opens_a_directory_account(
    client, directory_settings, django_user_model
):
    django_user_model.objects.create_user(username="ldap-campanas", password="old-local")

    assert_logged_in(client, log_in(client, "ldap-campanas", "demo"), "ldap-campanas")
    client.post(reverse("logout"))

    assert login_error(log_in(client, "ldap-campanas", "old-local")) == "invalid_login"


# --- Refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "password"), [("ldap-tramitador", "not-the-password"), ("nobody", "demo")]
)
def test_a_wrong_password_or_an_unknown_user_fails_cleanly(
    client, directory_settings, username, password
):
    response = log_in(client, username, password)

    assert login_error(response) == "invalid_login"
    [failed] = audit(AuditAction.LOGIN_FAILED)
    assert failed.changes == {"username": username}
    assert not User.objects.filter(username=username, last_login__isnull=False).exists()


def test_an_account_in_the_deny_group_cannot_log_in(client, directory_settings):
    assert login_error(log_in(client, "ldap-baja", "demo")) == "invalid_login"
    assert audit(AuditAction.LOGIN_FAILED)

    # The same account with no deny group configured: it is the group that keeps it out.
    directory_settings(AUTH_LDAP_DENY_GROUP="")
    assert_logged_in(client, log_in(client, "ldap-baja", "demo"), "ldap-baja")


def test_only_members_of_the_required_group_log_in(client, directory_settings):
    directory_settings(AUTH_LDAP_REQUIRE_GROUP=role_group_dn("case_handler"))

    assert login_error(log_in(client, "ldap-campanas", "demo")) == "invalid_login"
    assert_logged_in(client, log_in(client, "ldap-tramitador", "demo"), "ldap-tramitador")


# --- The directory is down ----------------------------------------------------------------------


@pytest.mark.parametrize("server", ["closed_port", "hung_server"])
def test_a_directory_that_is_down_gives_a_clear_message_and_local_accounts_still_log_in(
    request, client, directory_settings, django_user_model, server
):
    directory_settings(AUTH_LDAP_SERVER_URI=request.getfixturevalue(server))
    django_user_model.objects.create_user(username="local-clerk", password="local-password")

    started = time.monotonic()
    response = log_in(client, "ldap-tramitador", "demo")

    assert time.monotonic() - started < 5  # AUTH_LDAP_TIMEOUT=1: no hanging login page
    assert login_error(response) == "directory_unavailable"
    with translation.override(response.wsgi_request.LANGUAGE_CODE):
        message = str(LoginForm.error_messages["directory_unavailable"])
    assert message in response.content.decode()
    assert audit(AuditAction.LOGIN_FAILED)

    assert_logged_in(client, log_in(client, "local-clerk", "local-password"), "local-clerk")
    [login] = audit(AuditAction.LOGIN)
    assert login.changes == {"source": "local"}


def test_a_wrong_local_password_is_not_blamed_on_the_directory_when_it_is_up(
    client, directory_settings, django_user_model
):
    django_user_model.objects.create_user(username="local-clerk", password="local-password")

    assert login_error(log_in(client, "local-clerk", "wrong")) == "invalid_login"
    assert_logged_in(client, log_in(client, "local-clerk", "local-password"), "local-clerk")


# --- Settings -----------------------------------------------------------------------------------


def test_active_directory_settings():
    values = ldap_settings(
        Env(
            {
                "AUTH_LDAP_SERVER_URI": "ldaps://dc1.ayto.local",
                "AUTH_LDAP_USER_BASE": "OU=Personal,DC=ayto,DC=local",
                "AUTH_LDAP_USER_FILTER": (
                    "(&(sAMAccountName=%(user)s)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
                ),
                "AUTH_LDAP_GROUP_BASE": "OU=Grupos,DC=ayto,DC=local",
                "AUTH_LDAP_GROUP_TYPE": "activeDirectory",
            }
        )
    )

    assert isinstance(values["AUTH_LDAP_GROUP_TYPE"], ActiveDirectoryGroupType)
    assert values["AUTH_LDAP_GROUP_SEARCH"].filterstr == "(objectClass=group)"
    assert "sAMAccountName=%(user)s" in values["AUTH_LDAP_USER_SEARCH"].filterstr


def test_no_directory_means_no_ldap_settings():
    assert ldap_settings(Env({})) == {
        "AUTH_LDAP_SERVER_URI": "",
        "LDAP_ROLE_MAP": {},
        "LDAP_UNIT_MAP": {},
        "LDAP_UNIT_ATTRIBUTE": "",
    }
    directory = {"AUTH_LDAP_SERVER_URI": "ldap://x", "AUTH_LDAP_USER_BASE": "o=x"}
    assert "AUTH_LDAP_GROUP_TYPE" not in ldap_settings(Env(directory))
    with_groups = ldap_settings(Env({**directory, "AUTH_LDAP_GROUP_BASE": "ou=groups,o=x"}))
    assert isinstance(with_groups["AUTH_LDAP_GROUP_TYPE"], GroupOfNamesType)
    assert with_groups["AUTH_LDAP_GROUP_SEARCH"].filterstr == "(objectClass=groupOfNames)"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "AUTH_LDAP_USER_BASE must be set"),
        ({"AUTH_LDAP_USER_BASE": "o=x", "AUTH_LDAP_USER_FILTER": "(uid=x)"}, "%(user)s"),
        (
            {"AUTH_LDAP_USER_BASE": "o=x", "LDAP_ROLE_MAP": '{"cn=a,o=x": "inspector"}'},
            "AUTH_LDAP_GROUP_BASE must be set to use LDAP_ROLE_MAP",
        ),
        ({"AUTH_LDAP_USER_BASE": "o=x", "AUTH_LDAP_GROUP_TYPE": "posix"}, "AUTH_LDAP_GROUP_TYPE"),
    ],
)
def test_a_bad_directory_setting_is_refused(variables, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        ldap_settings(Env({"AUTH_LDAP_SERVER_URI": "ldap://x", **variables}))


def test_a_role_map_naming_an_unknown_role_fails_the_system_checks(settings):
    settings.LDAP_ROLE_MAP = {"cn=a,o=x": "case_handler", "cn=b,o=x": "case-handler"}

    [error] = check_role_map()
    assert error.id == "crm.E101"
    assert "case-handler" in error.msg


def test_group_dns_are_compared_whatever_their_case_and_spacing():
    assert normalize_dn("CN=Tramitadores, OU=Grupos,DC=ayto, DC=local") == normalize_dn(
        "cn=tramitadores,ou=grupos,dc=ayto,dc=local"
    )
