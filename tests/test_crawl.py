"""A crawl of the whole UI (issue #9): for each demo role, log in, follow every link and open
every form reachable from the home page, and check that no page fails, none belongs to a module
outside the role's rights, no link leads nowhere, and no UI text is left untranslated; then post
every form, staff and public, with hostile values: nothing fails, nothing is executed.

The crawl uses Django's test client (tests/crawl.py); tests/test_crawl_browser.py opens a sample
of the same pages in Chromium for axe-core and the CSP.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import cache
from urllib.parse import urljoin, urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils.translation import get_language_info, trans_real

from citizens.models import Person
from crm.demo import DEMO_USERS
from crm.models import User
from crm.modules import all_modules
from crm.permissions import can_use_module
from tests.crawl import SKIPPED, Form, Page, crawl, route_of

pytestmark = pytest.mark.django_db(transaction=True)

ROLES = [(username, role) for username, _given, _surnames, role, _units in DEMO_USERS]
MODULES = {module.url_name.split(":")[0]: module for module in all_modules()}

SCRIPT = "<script>alert('crm')</script>"
HOSTILE = (
    # Markup and event handlers (short enough for a name field), SQL metacharacters, a
    # spreadsheet formula.
    f"{SCRIPT}<img src=x onerror=alert(1)>",
    "\"'><svg onload=alert(2)> '; DROP TABLE citizens_person; -- \\ %_ OR 1=1",
    "=cmd|' /C calc'!A0",
    "A" * 100_000,
    # NUL and control characters, a right-to-left override, emoji, combining marks, astral.
    "\x00\x01\x07\x1b[31m \u202egnp.exe\u200f 👩\u200d👩\u200d👧 é\u0301\u0303 \U0001d518",
    "2026-02-30",
    "-1e309",
)
# What a page must never contain as markup: a value typed into a form, unescaped.
EXECUTABLE = (SCRIPT, "<img src=x onerror", "<svg onload")
TEXT_TYPES = {
    "text",
    "textarea",
    "email",
    "search",
    "url",
    "tel",
    "number",
    "date",
    "time",
    "datetime-local",
    "month",
    "week",
    "password",
    "color",
    "range",
}


@pytest.fixture
def demo(settings, quiet_celery):
    settings.DEMO_LOGINS = True
    settings.SEDE_MIN_FILL_SECONDS = 0
    call_command("seed_demo", stdout=io.StringIO())


def logged_in(username: str, language: str) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.get(username=username))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def page_problems(user: User, page: Page) -> Iterator[str]:
    where = f"{page.url} (linked from {page.found_on or 'the start'})"
    if page.status >= 500:
        yield f"{where} answered {page.status}"
    elif page.status in (403, 404) and page.found_on:
        yield f"{where} answered {page.status}: a link the user should not be shown"
    module = MODULES.get(page.namespace)
    if page.status == 200 and module is not None and not can_use_module(user, module):
        yield f"{where} belongs to {module.label}, outside the user's roles"


@cache
def ui_strings() -> tuple[frozenset[str], frozenset[str]]:
    """(English msgids, their Spanish translations) of the CRM's catalogue: whole strings of UI
    text that differ between the languages. Format strings are left out (their text is
    completed at run time)."""
    english, spanish = set(), set()
    for msgid, msgstr in trans_real.translation("es")._catalog.items():
        if not isinstance(msgid, str) or "\x04" in msgid or msgstr == msgid:
            continue
        if re.search(r"%|\{|<", msgid) or not re.search(r"[a-z]{3}", msgid):
            continue
        english.add(" ".join(msgid.split()))
        spanish.add(" ".join(msgstr.split()))
    return frozenset(english - spanish), frozenset(spanish - english)


@cache
def autonyms() -> frozenset[str]:
    """Each language's own name, shown untranslated by the language switch on purpose."""
    return frozenset(get_language_info(code)["name_local"] for code, _ in settings.LANGUAGES)


def untranslated(page: Page, language: str) -> list[str]:
    english, spanish = ui_strings()
    foreign = english if language == "es" else {text for text in spanish if len(text) >= 12}
    return sorted({text for text in page.texts if text in foreign} - autonyms())


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_role_crawls_the_ui_without_errors_untranslated_text_or_foreign_modules(
    demo, language
):
    problems: list[str] = []
    untranslated_at: dict[str, str] = {}  # each text once, with the first page showing it
    visited = 0
    for username, role in ROLES:
        user = User.objects.get(username=username)
        for page in crawl(logged_in(username, language)):
            visited += 1
            problems += [f"{role}: {problem}" for problem in page_problems(user, page)]
            if page.status == 200:
                for text in untranslated(page, language):
                    untranslated_at.setdefault(text, page.url)
    problems += [
        f"{url} shows {text!r} untranslated in {language}"
        for text, url in sorted(untranslated_at.items())
    ]
    assert visited > 100, "The crawl reached too few pages to mean anything."
    assert not problems, "\n".join(problems)


# What the "plausible" submission puts in fields that must be well formed, so that the hostile
# value in the free-text fields gets past validation and is stored.
PLAUSIBLE = {
    "email": "hostile@example.org",
    "url": "https://example.org/",
    "tel": "+34600000000",
    "number": "1",
    "date": "2026-11-20",
    "time": "10:00",
    "datetime-local": "2026-11-20T10:00",
}
# Free-text fields whose content is checked (documents, codes...) are left as the page had them,
# and so are fields the page filled in (a country code, say).
CHECKED_TEXT = re.compile(r"document|tax_id|postcode|phone|number|code|iban|nif|cif|secret")


def submissions(form: Form, value: str, *, plausible: bool = False) -> dict[str, str | list[str]]:
    """The form's fields filled with ``value``; with ``plausible``, only its free-text fields,
    the others well formed."""
    data: dict[str, str | list[str]] = {}
    buttons = [field for field in form.fields if field.get("type") in {"submit", "image"}]
    for field in form.fields:
        kind, name = field.get("type", "text").lower(), field["name"]
        if not name or kind in {"submit", "image", "button", "file"}:
            continue
        if kind == "hidden":
            data[name] = field.get("value", "")
        elif plausible and kind in PLAUSIBLE:
            data[name] = field.get("value") or PLAUSIBLE[kind]
        elif plausible and (CHECKED_TEXT.search(name) or field.get("value")):
            data[name] = field.get("value", "")
        elif kind in TEXT_TYPES:
            limit = field.get("maxlength", "")
            data[name] = value[: int(limit)] if plausible and limit.isdigit() else value
        elif kind in {"checkbox", "radio"} and name not in data:
            data[name] = field.get("value") or "on"
    for name, options in form.selects.items():
        if plausible and "" in options:
            data[name] = ""
        else:
            data[name] = next((option for option in options if option), value)
    # The form's main button: the first without a name, else the first.
    button = next((b for b in buttons if not b["name"]), buttons[0] if buttons else None)
    if button is not None and button["name"]:
        data[button["name"]] = button.get("value", "")
    return data


def forms_of(client: Client, start: str) -> Iterator[tuple[Page, Form]]:
    """Each distinct form (by its target's URL pattern and its fields) once."""
    seen: set[tuple] = set()
    for page in crawl(client, start=start, per_route=1):
        if page.status != 200:
            continue
        for form in page.forms:
            target = urljoin(page.url, form.action or page.url)
            path = urlsplit(target).path
            resolved = route_of(path)
            if resolved is None or SKIPPED.search(path):
                continue
            key = (form.method, resolved[1], tuple(sorted(f["name"] for f in form.fields)))
            if key not in seen:
                seen.add(key)
                yield page, form


def post_hostile(client: Client, page: Page, form: Form) -> list[str]:
    problems = []
    target = urljoin(page.url, form.action or page.url)
    attempts = [(value, submissions(form, value)) for value in HOSTILE]
    attempts.append((SCRIPT, submissions(form, SCRIPT, plausible=True)))
    for value, data in attempts:
        # Followed to the page that shows what was stored, which must show it inert.
        if form.method == "post":
            response = client.post(target, data, follow=True)
        else:
            response = client.get(target, {k: v for k, v in data.items() if k}, follow=True)
        label = f"{form.method.upper()} {target} (form on {page.url}) with {value[:30]!r}"
        if response.status_code >= 500:
            problems.append(f"{label} answered {response.status_code}")
            continue
        body = response.content.decode(response.charset or "utf-8", "replace")
        problems += [
            f"{label} shows {markup!r} unescaped" for markup in EXECUTABLE if markup in body
        ]
    return problems


def test_every_form_answers_hostile_values_with_an_error_or_stores_them_inert(demo):
    from cases.antiabuse import FILINGS, TRACKING

    problems: list[str] = []
    forms = 0
    clients = [(logged_in(username, "es"), "/") for username, _ in ROLES]
    clients.append((Client(raise_request_exception=False), "/sede/"))
    for client, start in clients:
        for page, form in forms_of(client, start):
            forms += 1
            FILINGS.reset("127.0.0.1")
            TRACKING.reset("127.0.0.1")
            problems += post_hostile(client, page, form)
    assert forms > 20, "The crawl found too few forms to mean anything."
    assert not problems, "\n".join(problems)
    # The values went in (not only errors came back): stored as typed, shown escaped.
    assert Person.objects.filter(given_name__startswith=SCRIPT).exists()
