"""The crawl's sample in a real browser (issue #9): each demo role logs in through the login
form and opens its home page and the first pages of every module in its navigation, on a
desktop and on a phone; axe-core finds no WCAG 2.1 AA violation and the browser reports no
error, a CSP violation included (Chromium reports those on the console)."""

from __future__ import annotations

import io
from urllib.parse import urljoin

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm.demo import DEMO_PASSWORD, DEMO_USERS
from crm.models import User
from crm.modules import all_modules
from crm.permissions import can_use_module
from tests.crawl import PageParser
from tests.fixtures.browser import (
    DESKTOP,
    PHONE,
    assert_accessible,
    assert_no_console_errors,
    log_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Pages of each module beyond its index: the first links of the index into the module.
LINKS_PER_MODULE = 2


@pytest.fixture
def demo(settings, quiet_celery):
    settings.DEMO_LOGINS = True
    call_command("seed_demo", stdout=io.StringIO())


def sample(page, user: User) -> list[str]:
    """The home page, then for each module the user may use its index and its first links."""
    urls = ["/"]
    for module in all_modules():
        if not can_use_module(user, module):
            continue
        index = reverse(module.url_name)
        parser = PageParser()
        parser.feed(page.request.get(index).text())
        urls.append(index)
        inside = 0
        for url in dict.fromkeys(urljoin(index, href) for href in parser.links):
            if inside == LINKS_PER_MODULE:
                break
            if url.startswith(index) and url != index and is_page(page, url):
                urls.append(url)
                inside += 1
    return urls


def is_page(page, url: str) -> bool:
    """A page to show, not a download (an export) or an error."""
    response = page.request.get(url)
    return response.ok and response.headers.get("content-type", "").startswith("text/html")


@pytest.mark.parametrize(("username", "role"), [(user[0], user[3]) for user in DEMO_USERS])
def test_each_role_sees_accessible_pages_without_browser_errors(
    demo, page, console_errors, username, role
):
    log_in(page, username, DEMO_PASSWORD)
    user = User.objects.get(username=username)
    for url in sample(page, user):
        page.set_viewport_size(DESKTOP)
        response = page.goto(url, wait_until="load")
        if response is None:  # already there (the home page after logging in)
            response = page.reload()
        assert response.status == 200, f"{role}: {url} answered {response.status}"
        assert_accessible(page)
        page.set_viewport_size(PHONE)
        assert_accessible(page)
    assert_no_console_errors(console_errors)
