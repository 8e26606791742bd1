"""Headers every answer carries, sessions that end after inactivity, and a clear 503 while the
database cannot be reached (issue #9, headers and sessions; faults)."""

import time

import pytest
from django.db import connection
from django.test import Client

from crm.middleware import IdleSessionMiddleware

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def staff_client(client_for):
    return client_for("citizen_service")


def test_every_answer_has_a_permissions_policy(client, staff_client):
    for response in (client.get("/sede/"), client.get("/accounts/login/"), staff_client.get("/")):
        policy = response["Permissions-Policy"]
        assert "camera=()" in policy
        assert "microphone=()" in policy
        assert "geolocation=(self)" in policy


def test_pages_for_logged_in_staff_are_never_stored(client, staff_client):
    cache_control = staff_client.get("/citizens/")["Cache-Control"]
    assert "no-store" in cache_control
    assert "private" in cache_control
    # A public page without personal data may be kept by the browser.
    assert "no-store" not in client.get("/sede/").get("Cache-Control", "")


def set_session(client: Client, **values) -> None:
    session = client.session
    session.update(values)
    session.save()


def test_a_session_idle_past_the_timeout_ends(staff_client, settings):
    settings.SESSION_IDLE_TIMEOUT = 15 * 60
    assert staff_client.get("/").status_code == 200
    set_session(staff_client, **{IdleSessionMiddleware.LAST_SEEN: int(time.time()) - 15 * 60 - 5})

    response = staff_client.get("/citizens/", follow=True)

    assert response.redirect_chain[0][0].startswith("/accounts/login/?next=/citizens/")
    assert "15 minutes without activity" in response.text
    assert not response.wsgi_request.user.is_authenticated


def test_a_busy_session_stays_and_its_activity_is_recorded(staff_client, settings):
    settings.SESSION_IDLE_TIMEOUT = 15 * 60
    staff_client.get("/")
    set_session(staff_client, **{IdleSessionMiddleware.LAST_SEEN: int(time.time()) - 14 * 60})

    assert staff_client.get("/citizens/").status_code == 200
    last_seen = staff_client.session[IdleSessionMiddleware.LAST_SEEN]
    assert int(time.time()) - last_seen < 5


def test_a_session_ends_at_its_maximum_length_however_busy(staff_client, settings):
    settings.SESSION_COOKIE_AGE = 8 * 3600
    staff_client.get("/")
    set_session(staff_client, **{IdleSessionMiddleware.STARTED: int(time.time()) - 8 * 3600 - 5})

    response = staff_client.get("/citizens/", follow=True)

    assert "/accounts/login/" in response.redirect_chain[0][0]
    assert "maximum length" in response.text


@pytest.mark.django_db(transaction=True)
def test_pages_answer_503_while_the_database_is_unreachable_and_recover_by_themselves(
    django_user_model,
):
    eva = django_user_model.objects.create_user(username="eva", password="pw-Eva-2026-long")
    browser = Client(raise_request_exception=False)
    browser.force_login(eva)
    assert browser.get("/").status_code == 200

    host = connection.settings_dict["HOST"]
    try:
        # The database's address now leads nowhere: every new connection is refused, as while
        # PostgreSQL restarts. The web process itself is not touched.
        connection.settings_dict["HOST"] = "/nonexistent/socket/dir"
        connection.close()
        for path in ("/", "/citizens/", "/sede/"):
            response = browser.get(path)
            assert response.status_code == 503, path
            assert response["Retry-After"] == "30"
            assert "Service temporarily unavailable" in response.text
    finally:
        connection.settings_dict["HOST"] = host
        connection.close()

    assert browser.get("/").status_code == 200
