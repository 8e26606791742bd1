"""The public site in a real browser (Debian's Chromium): every page axe-core clean in Spanish
and English, on a desktop and at 360 px wide, under the real CSP; a complaint filed with the
keyboard alone; the error summary taking the focus and leading to the field; the receipt's
PDF link appearing by itself; location and organisation helpers of sede.js."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from cases import tasks
from cases.models import Case, CaseStatus, CaseType, Hearing
from cases.services import Filer, case_file, case_request_information, display_secret
from tests.fixtures.browser import DESKTOP, PHONE, assert_accessible, assert_no_console_errors

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def public_site(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SEDE_MIN_FILL_SECONDS = 1
    settings.SEDE_FILING_LIMIT = 1000
    settings.SEDE_TRACKING_LIMIT = 1000


@pytest.fixture
def waiting_case(make_user, units):
    """A complaint the unit asked more information about."""
    handler = make_user("case_handler", unit_codes=("urbanismo",))
    filing = case_file(
        case_type=CaseType.objects.get(code="queja"),
        filer=Filer(
            given_name="Ana",
            first_surname="Ruiz",
            document_type="dni",
            document_number="12345678Z",
            email="ana@example.org",
        ),
        subject="Farola apagada",
        text="La farola de la calle Mayor 3 lleva una semana apagada.",
        unit=units["urbanismo"],
    )
    case_request_information(case=filing.case, actor=handler, text="¿Qué número tiene la farola?")
    return filing


def in_english(page: Page, live_server) -> None:
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])


def overflow(page: Page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def check(page: Page, path: str, language: str) -> None:
    response = page.goto(path)
    assert response.status in (200, 429), f"{path}: {response.status}"
    expect(page.locator("html")).to_have_attribute("lang", language)
    assert_accessible(page)
    assert overflow(page) <= 0, f"{path} scrolls sideways"


def tab_to(page: Page, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element with ``element_id`` has the focus."""
    for _press in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} was not reached with the Tab key")


def type_into(page: Page, element_id: str, text: str) -> None:
    tab_to(page, element_id)
    page.keyboard.type(text)


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "360px"])
def test_every_public_page_is_accessible(
    page, live_server, console_errors, waiting_case, language, viewport
):
    today = timezone.localdate()
    Hearing.objects.create(
        title="Ordenanza de terrazas",
        summary="Horarios y superficie de las terrazas.",
        document_url="https://example.org/ordenanza.pdf",
        opens_on=today - timedelta(days=3),
        closes_on=today + timedelta(days=10),
    )
    page.set_viewport_size(viewport)
    if language == "en":
        in_english(page, live_server)
    for path in (
        "/sede/",
        "/sede/queja/",
        "/sede/aviso/",
        "/sede/alegacion/",
        "/sede/justificante/",
        "/sede/seguimiento/",
        "/sede/accesibilidad/",
        "/sede/verificar/",
    ):
        check(page, path, language)
    # A form with errors: the summary and the fields marked.
    page.goto("/sede/queja/")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("[data-error-summary]")).to_be_visible()
    assert_accessible(page)
    # A case open on the tracking page, with the reply form.
    page.goto("/sede/seguimiento/")
    page.locator("#id_registry_number").fill(waiting_case.case.registry_number)
    page.locator("#id_secret").fill(waiting_case.tracking_secret)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("[data-case-status]")).to_be_visible()
    expect(page.locator("#id_text")).to_be_visible()
    assert_accessible(page)
    assert overflow(page) <= 0
    assert_no_console_errors(console_errors)


def test_a_complaint_filed_with_the_keyboard_alone(page, live_server, console_errors, smtp_mailer):
    page.goto("/sede/queja/")
    type_into(page, "id_given_name", "Marta")
    type_into(page, "id_first_surname", "López")
    tab_to(page, "id_document_type")
    page.keyboard.press("ArrowDown")  # DNI, the first document
    type_into(page, "id_document_number", "12345678Z")
    # The organisation's fields show only once its box is ticked (Space, as on any checkbox).
    tab_to(page, "id_for_organization")
    expect(page.locator("#id_organization_tax_id")).to_be_hidden()
    page.keyboard.press("Space")
    expect(page.locator("#id_organization_tax_id")).to_be_visible()
    page.keyboard.press("Space")
    expect(page.locator("#id_organization_tax_id")).to_be_hidden()
    type_into(page, "id_email", "marta@example.org")
    tab_to(page, "id_subject_area")
    page.keyboard.press("ArrowDown")
    type_into(page, "id_subject", "Acera rota")
    type_into(page, "id_text", "La acera de la calle Luna 5 está rota.")
    tab_to(page, "id_privacy")
    page.keyboard.press("Space")
    page.wait_for_timeout(1100)  # the minimum fill time of the test settings
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.getAttribute('type')")
    assert focused == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.url.endswith("/sede/justificante/")
    case = Case.objects.get()
    assert case.filer["given_name"] == "Marta"
    assert case.subject == "Acera rota"
    expect(page.locator("main")).to_contain_text(case.registry_number)
    expect(page.locator("[data-tracking-secret]")).to_have_text(display_secret(_secret(case)))
    assert_accessible(page)
    # The worker's part, done here: the link to the PDF appears without reloading (htmx).
    expect(page.locator("[data-receipt-download]")).to_have_count(0)
    tasks.issue_receipt(case.pk)
    expect(page.locator("[data-receipt-download]")).to_be_visible(timeout=10_000)
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_the_error_summary_takes_the_focus_and_leads_to_the_field(page, console_errors):
    page.goto("/sede/queja/")
    type_into(page, "id_given_name", "Marta")
    type_into(page, "id_document_number", "12345678A")  # a wrong letter
    page.locator("#id_document_number").press("Enter")  # implicit submission
    page.wait_for_load_state()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error:"))
    assert page.locator("#id_given_name").input_value() == "Marta"
    link = summary.locator('a[href="#id_document_number"]')
    expect(link).to_be_visible()
    for _press in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('href')") == (
            "#id_document_number"
        ):
            break
    else:
        raise AssertionError("The summary's link was not reached")
    page.keyboard.press("Enter")
    expect(page.locator("#id_document_number")).to_be_focused()
    field = page.locator("#id_document_number")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby").split()
    assert "id_document_number_error" in described
    expect(page.locator("#id_document_number_error")).to_be_visible()
    assert_no_console_errors(console_errors)


def test_use_my_location_fills_the_point(page, live_server, console_errors):
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation({"latitude": 40.4168, "longitude": -3.70379})
    page.goto("/sede/aviso/")
    button = page.locator("[data-geolocate]")
    expect(button).to_be_visible()  # sede.js shows it where the browser can locate
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#id_latitude")).to_have_value("40.416800")
    expect(page.locator("#id_longitude")).to_have_value("-3.703790")
    expect(page.locator("#geolocate-status")).not_to_be_empty()
    assert_no_console_errors(console_errors)


def test_the_citizen_replies_through_tracking_in_the_browser(page, console_errors, waiting_case):
    page.goto("/sede/seguimiento/")
    type_into(page, "id_registry_number", waiting_case.case.registry_number)
    type_into(page, "id_secret", display_secret(waiting_case.tracking_secret).lower())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("main")).to_contain_text("¿Qué número tiene la farola?")
    page.locator("#id_text").fill("Es la número 1234.")
    with page.expect_navigation():
        page.locator("#reply button[type=submit]").click()
    expect(page.locator(".crm-messages")).to_be_visible()
    case = Case.objects.get()
    assert case.status == CaseStatus.IN_PROGRESS
    expect(page.locator("main")).to_contain_text("Es la número 1234.")
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def _secret(case: Case) -> str:
    from cases.services import tracking_secret

    return tracking_secret(case)
