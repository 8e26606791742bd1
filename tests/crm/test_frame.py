"""The frame every page shares: navigation, home panels, language, login, password reset,
request ids. Forms are used as a browser would: their CSRF token is read from the page."""

import io
import logging
import re
from html import unescape

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils import translation

from crm.modules import all_modules

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-secret-passphrase"
MODULE_URLS = ["/citizens/", "/cases/", "/campaigns/", "/sales/", "/reports/"]


@pytest.fixture
def user(django_user_model):
    # Every module: which roles see which module is the permissions tests' concern.
    return django_user_model.objects.create_superuser(
        username="ana", email="ana@example.org", password=PASSWORD, first_name="Ana"
    )


@pytest.fixture
def browser():
    """A client that checks CSRF tokens, as the real site does."""
    return Client(enforce_csrf_checks=True)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "The page has no form with a CSRF token."
    return match.group(1)


def between(html: str, start: str, end: str) -> str:
    _head, found, tail = html.partition(start)
    assert found, f"{start!r} is not in the page"
    return tail.partition(end)[0]


def log_in(browser: Client, username: str, password: str, next_url: str = ""):
    page = browser.get(f"/accounts/login/?next={next_url}" if next_url else "/accounts/login/")
    assert page.status_code == 200
    return browser.post(
        "/accounts/login/",
        {
            "username": username,
            "password": password,
            "next": next_url,
            "csrfmiddlewaretoken": csrf_token(page.text),
        },
    )


def test_home_lists_every_module_in_the_navigation_and_its_panels(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    navigation = between(response.text, '<ul class="navbar-nav', "</ul>")
    main = between(response.text, '<main id="main"', "</main>")
    modules = list(all_modules())
    assert {module.label for module in modules} >= {"citizens", "cases", "campaigns", "sales"}
    with translation.override("es"):
        for module in modules:
            assert f'href="{reverse(module.url_name)}"' in navigation
            assert str(module.name) in unescape(navigation)
            config = apps.get_app_config(module.label)
            for panel in getattr(config, "home_panels", lambda request: [])(response.wsgi_request):
                assert str(panel.title) in unescape(main)


@pytest.mark.parametrize("url", MODULE_URLS)
def test_module_pages_open_for_a_user_and_ask_strangers_to_log_in(client, user, url):
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/accounts/login/?next={url}"
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    assert 'aria-current="page"' in between(response.text, '<ul class="navbar-nav', "</ul>")


def test_the_language_switch_turns_the_interface_to_english_and_back(browser, user):
    browser.force_login(user)
    home = browser.get("/")
    assert '<html lang="es">' in home.text
    assert "Mi trabajo" in home.text
    for language, title in (("en", "My work"), ("es", "Mi trabajo")):
        form = between(home.text, f'action="{reverse("set_language")}"', "</form>")
        switched = browser.post(
            reverse("set_language"),
            {"language": language, "next": "/", "csrfmiddlewaretoken": csrf_token(form)},
        )
        assert switched.status_code == 302
        assert switched["Location"] == "/"
        home = browser.get("/")
        assert f'<html lang="{language}">' in home.text
        assert f'<h1 class="h2 mb-3">{title}</h1>' in home.text


def test_log_in_and_out_through_the_forms(browser, user):
    wrong = log_in(browser, "ana", "not-the-password")
    assert wrong.status_code == 200
    assert "_auth_user_id" not in browser.session

    response = log_in(browser, "ana", PASSWORD, next_url="/cases/")
    assert response.status_code == 302
    assert response["Location"] == "/cases/"
    home = browser.get("/")
    assert home.status_code == 200
    assert "Ana" in home.text

    logout_form = between(home.text, f'action="{reverse("logout")}"', "</form>")
    response = browser.post(reverse("logout"), {"csrfmiddlewaretoken": csrf_token(logout_form)})
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert browser.get("/").status_code == 302


def test_a_forgotten_password_is_reset_through_the_emailed_link(browser, user, mailoutbox):
    page = browser.get(reverse("password_reset"))
    response = browser.post(
        reverse("password_reset"),
        {"email": "ana@example.org", "csrfmiddlewaretoken": csrf_token(page.text)},
    )
    assert response.status_code == 302
    [message] = mailoutbox
    assert message.to == ["ana@example.org"]
    link = re.search(r"https?://testserver(/accounts/reset/\S+/)", message.body)
    assert link, message.body

    form_page = browser.get(link.group(1), follow=True)  # redirects to the set-password form
    assert form_page.status_code == 200
    response = browser.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "An0ther-long-passphrase",
            "new_password2": "An0ther-long-passphrase",
            "csrfmiddlewaretoken": csrf_token(form_page.text),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_complete")
    assert log_in(Client(enforce_csrf_checks=True), "ana", PASSWORD).status_code == 200
    assert log_in(browser, "ana", "An0ther-long-passphrase").status_code == 302


def test_every_response_carries_a_request_id(client):
    response = client.get(reverse("login"))
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert client.get(reverse("login"))["X-Request-ID"] != response["X-Request-ID"]


def test_a_valid_incoming_request_id_is_kept_and_a_bad_one_replaced(client):
    kept = client.get(reverse("login"), headers={"X-Request-ID": "lb-4f2a9c1e-77"})
    assert kept["X-Request-ID"] == "lb-4f2a9c1e-77"
    replaced = client.get(reverse("login"), headers={"X-Request-ID": "<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])


def test_log_lines_written_during_a_request_carry_its_id(client, user, settings, tmp_path):
    # The console handler configured by settings.LOGGING, writing to a buffer for a moment.
    [console] = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    settings.REDIS_URL = f"unix://{tmp_path / 'redis.sock'}"  # /health/ logs the failed check
    buffer = io.StringIO()
    previous = console.setStream(buffer)
    try:
        client.force_login(user)
        # Logged by the view, while the request is served ...
        client.get("/health/", headers={"X-Request-ID": "req-health-0001"})
        # ... and by Django's handler after the middleware has returned (the 404 warning).
        client.get("/no-such-page/", headers={"X-Request-ID": "req-missing-0002"})
    finally:
        console.setStream(previous)
    output = buffer.getvalue().splitlines()
    [health] = [line for line in output if "health check check_broker failed" in line]
    assert "req-health-0001" in health
    [missing] = [line for line in output if "Not Found: /no-such-page/" in line]
    assert "req-missing-0002" in missing
