"""The UI frame in a real Chromium: accessibility (axe-core, WCAG 2.1 AA), console and CSP
errors, keyboard use, a phone-sized screen, the admin and the error pages."""

import copy
import re

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from playwright.sync_api import Page, expect

from crm.modules import all_modules
from tests.fixtures.browser import (
    PHONE,
    assert_accessible,
    assert_no_console_errors,
    axe_violations,
    log_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STAFF_NAME = "Laura Vidal Soler"  # tests/conftest.py's staff_user


@pytest.fixture
def staff_user(staff_user):
    """tests/conftest.py's staff user, allowed into every module: the navigation is full."""
    for module in all_modules():
        for permission in getattr(module, "permissions", ()):
            app_label, codename = permission.split(".")
            staff_user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
    return staff_user


def module_urls() -> list[str]:
    return [reverse(module.url_name) for module in all_modules()]


def horizontal_overflow(page: Page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.org", password="root-password"
    )


def has_focus_ring(focused: dict) -> bool:
    return focused["outlineStyle"] != "none" and focused["outlineWidth"] >= 2


def is_shown(focused: dict) -> bool:
    return focused["width"] > 1 and focused["height"] > 1 and focused["inViewport"]


def focus_ring(page: Page) -> dict:
    """The focused element and how its focus shows."""
    return page.evaluate(
        """() => {
            const element = document.activeElement;
            const style = getComputedStyle(element);
            const box = element.getBoundingClientRect();
            return {
                tag: element.tagName.toLowerCase(), id: element.id,
                href: element.getAttribute("href"), text: element.textContent.trim(),
                outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
                width: box.width, height: box.height,
                inViewport: box.top >= 0 && box.left >= 0 && box.right <= innerWidth,
            };
        }"""
    )


# --- The login page --------------------------------------------------------------------------


def test_login_page_is_accessible_in_spanish(page, console_errors):
    response = page.goto("/accounts/login/")

    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_label("Contraseña")).to_be_visible()
    expect(page.locator("header .navbar-brand")).to_have_text(django_settings.SITE_NAME)
    expect(page.locator("footer")).to_contain_text(django_settings.BODY_NAME)
    expect(page.locator("button[name=language][value=es]")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_language_switch_turns_the_login_page_into_english(page, console_errors):
    page.goto("/accounts/login/")

    with page.expect_navigation():
        page.locator("button[name=language][value=en]").click()

    assert page.url.endswith("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Password")).to_be_visible()
    expect(page.locator("button[name=language][value=en]")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_password_reset_page_is_accessible(page, console_errors):
    page.goto("/accounts/login/")
    with page.expect_navigation():
        page.locator('main a[href="/accounts/password_reset/"]').click()

    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("main input[type=email]")).to_be_visible()
    assert_accessible(page)
    assert_no_console_errors(console_errors)


# --- The home page -----------------------------------------------------------------------------


def test_home_after_logging_in_shows_the_frame(page, console_errors, staff_user):
    log_in(page, "staff", "staff-password")

    assert re.fullmatch(r"http://[^/]+/", page.url)
    expect(page.locator("header")).to_contain_text(STAFF_NAME)
    main_nav = page.locator("#main-nav")
    assert module_urls()
    for url in module_urls():
        expect(main_nav.locator(f'a[href="{url}"]')).to_be_visible()
    expect(page.locator(".breadcrumb [aria-current=page]")).to_be_visible()
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator("footer")).to_contain_text(django_settings.BODY_NAME)
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_login_page_on_a_phone_keeps_the_language_switch_in_sight(page, console_errors):
    page.set_viewport_size(PHONE)
    page.goto("/accounts/login/")

    assert horizontal_overflow(page) <= 0, "the page scrolls sideways at 360px"
    expect(page.locator("button[name=language][value=en]")).to_be_visible()
    expect(page.get_by_label("Contraseña")).to_be_visible()
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_home_on_a_phone_has_no_horizontal_scroll_and_a_menu_button(
    page, console_errors, staff_user
):
    page.set_viewport_size(PHONE)
    log_in(page, "staff", "staff-password")

    assert horizontal_overflow(page) <= 0, "the page scrolls sideways at 360px"
    first_module_url = module_urls()[0]
    module_link = page.locator(f'#main-nav a[href="{first_module_url}"]')
    expect(module_link).to_be_hidden()
    assert_accessible(page)

    menu_button = page.locator("header button.navbar-toggler")
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    menu_button.focus()
    page.keyboard.press("Enter")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    page.wait_for_selector("#main-nav.show:not(.collapsing)")
    expect(module_link).to_be_visible()
    expect(page.locator("header").get_by_text(STAFF_NAME)).to_be_visible()
    expect(page.locator("header button[name=language][value=en]")).to_be_visible()
    assert horizontal_overflow(page) <= 0, "the open menu scrolls sideways at 360px"
    assert_accessible(page)

    with page.expect_navigation():
        module_link.click()
    assert page.url.endswith(first_module_url)
    assert_no_console_errors(console_errors)


# --- Keyboard ----------------------------------------------------------------------------------

TAB_STOPS = """() => [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]"
)].filter((element) => element.tabIndex >= 0 && element.checkVisibility())"""


def back_to_skip_link(page: Page) -> None:
    """Shift+Tab back to the skip link, as a keyboard user would."""
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.getAttribute('href')") == "#main":
            return
    raise AssertionError("Shift+Tab never reached the skip link")


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page, staff_user):
    log_in(page, "staff", "staff-password")

    page.keyboard.press("Tab")
    focused = focus_ring(page)
    assert focused["href"] == "#main", f"the first Tab stop is {focused}"
    assert is_shown(focused), f"the focused skip link does not show: {focused}"
    assert has_focus_ring(focused), f"no visible focus ring on {focused}"

    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert not page.evaluate(
        "() => document.querySelector('header').contains(document.activeElement)"
    )


def test_login_page_starts_in_the_username_field_after_a_skip_link(page):
    page.goto("/accounts/login/")

    # Django's login form puts the focus in the username field; the skip link still comes first.
    assert page.evaluate("() => document.activeElement.name") == "username"
    assert page.evaluate(f"() => ({TAB_STOPS})()[0].getAttribute('href')") == "#main"
    back_to_skip_link(page)
    focused = focus_ring(page)
    assert focused["href"] == "#main", f"the first Tab stop is {focused}"
    assert is_shown(focused), f"the focused skip link does not show: {focused}"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "username"


@pytest.mark.parametrize("logged_in", [False, True], ids=["login", "home"])
def test_focus_is_visible_on_every_tab_stop(page, staff_user, logged_in):
    if logged_in:
        log_in(page, "staff", "staff-password")
    else:
        page.goto("/accounts/login/")
    expected = page.evaluate(f"() => ({TAB_STOPS})().length")
    back_to_skip_link(page)

    visited = []
    while len(visited) <= expected:
        focused = focus_ring(page)
        if focused["tag"] == "body":  # past the last tab stop
            break
        assert has_focus_ring(focused), f"no visible focus ring on {focused}"
        visited.append(focused)
        page.keyboard.press("Tab")
    assert len(visited) == expected, f"Tab reached {len(visited)} of {expected} stops: {visited}"


# --- The admin ---------------------------------------------------------------------------------


def test_admin_login_page_is_styled_spanish_and_accessible(page, console_errors):
    response = page.goto("/admin/login/")

    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#site-name")).to_contain_text(django_settings.SITE_NAME)
    expect(page.get_by_label("Contraseña")).to_be_visible()
    # Styled: the admin's stylesheet is loaded and paints the header.
    header_background = page.evaluate(
        "() => getComputedStyle(document.getElementById('header')).backgroundColor"
    )
    assert header_background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_admin_index_as_superuser_is_spanish_and_accessible(page, console_errors, superuser):
    page.goto("/admin/login/?next=/admin/")
    page.locator("input[name=username]").fill("root")
    page.locator("input[name=password]").fill("root-password")
    with page.expect_navigation():
        page.locator("input[type=submit]").click()

    assert page.url.endswith("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("#site-name")).to_contain_text(django_settings.SITE_NAME)
    # Django's own Spanish ("Recent actions", "My actions"): the admin speaks the UI's language.
    expect(page.locator("#recent-actions-module")).to_contain_text("Acciones recientes")
    expect(page.locator("#recent-actions-module")).to_contain_text("Mis acciones")
    assert_accessible(page)
    assert_no_console_errors(console_errors)


# --- Error pages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/does-not-exist/", 404), ("/test/forbidden/", 403), ("/test/broken/", 500)],
    ids=["404", "403", "500"],
)
def test_error_pages_show_in_the_frame(page, console_errors, settings, staff_user, path, status):
    settings.ROOT_URLCONF = "tests.urls"
    assert not settings.DEBUG_PROPAGATE_EXCEPTIONS  # else the 500 would escape to the server
    log_in(page, "staff", "staff-password")

    response = page.goto(path)

    assert response.status == status
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("header .navbar-brand")).to_have_text(django_settings.SITE_NAME)
    expect(page.locator("header")).to_contain_text(STAFF_NAME)
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator('main a[href="/"]')).to_be_visible()
    expect(page.locator("footer")).to_contain_text(django_settings.BODY_NAME)
    assert page.title().endswith(django_settings.BODY_NAME)
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_500_page_still_shows_when_the_frame_itself_fails(page, console_errors, settings):
    settings.ROOT_URLCONF = "tests.urls"
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["context_processors"].append("tests.urls.broken_context")
    settings.TEMPLATES = templates  # now every page with a request fails to render

    response = page.goto("/test/broken/")

    assert response.status == 500
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator('main a[href="/"]')).to_be_visible()
    expect(page.locator("form[action='/i18n/setlang/']")).to_have_count(0)  # no CSRF token
    assert_accessible(page)
    assert_no_console_errors(console_errors)


# --- The checks themselves can fail --------------------------------------------------------------


def test_axe_check_reports_violations(page):
    page.goto("/accounts/login/")
    page.evaluate(
        """() => {
            const image = document.createElement("img");
            image.src = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
            document.getElementById("main").append(image);
        }"""
    )

    violations = axe_violations(page)

    assert [violation["id"] for violation in violations] == ["image-alt"]
    with pytest.raises(AssertionError, match=r"image-alt \(critical\)[\s\S]*at img\n *<img src="):
        assert_accessible(page)


def test_console_errors_catch_csp_violations(page, console_errors):
    page.goto("/accounts/login/")
    assert_no_console_errors(console_errors)

    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
        }"""
    )

    assert page.evaluate("() => window.injected") is None
    with pytest.raises(AssertionError, match="Content Security Policy"):
        assert_no_console_errors(console_errors)
