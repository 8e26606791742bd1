"""A complaint from the citizen's form to the answer they read, in a real browser, with a real
Celery worker issuing the documents and a real SMTP server receiving the emails:

form → receipt page → receipt email with the PDF → staff see it in the queue → assign → ask for
more information → the citizen replies through tracking → answer → the citizen sees it.
"""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from cases.models import Case, CaseStatus, SubjectArea
from cases.services import display_secret, tracking_secret
from tests.fixtures.browser import DESKTOP, assert_accessible, assert_no_console_errors, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def pdf_text(content: bytes) -> str:
    return " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(content)).pages
    )


def pdf_of(mail) -> bytes:
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    return attachment.get_content()


@pytest.fixture(autouse=True)
def quick_forms(settings):
    settings.SEDE_MIN_FILL_SECONDS = 1
    settings.SEDE_FILING_LIMIT = 100
    settings.SEDE_TRACKING_LIMIT = 100


def test_a_complaint_from_the_form_to_the_answer(
    page, browser, live_server, console_errors, celery_worker, smtp_server, make_user, units
):
    area = SubjectArea.objects.get(name="Vía pública y alumbrado")
    area.unit = units["urbanismo"]
    area.save()
    handler = make_user("case_handler", unit_codes=("urbanismo",), username="marta")

    # The citizen files a complaint.
    page.goto("/sede/")
    with page.expect_navigation():
        page.locator('main a[href="/sede/queja/"]').first.click()
    page.locator("#id_given_name").fill("Lucía")
    page.locator("#id_first_surname").fill("Martín")
    page.locator("#id_document_type").select_option("dni")
    page.locator("#id_document_number").fill("00000023T")
    page.locator("#id_email").fill("lucia@example.org")
    page.locator("#id_subject_area").select_option(str(area.pk))
    page.locator("#id_subject").fill("Farola apagada")
    page.locator("#id_text").fill("La farola de la plaza Mayor lleva una semana apagada.")
    page.locator("#id_privacy").check()
    page.wait_for_timeout(1100)  # the minimum fill time
    with page.expect_navigation():
        page.locator("main form button[type=submit]").last.click()

    # The receipt page: number, and the secret to follow the case.
    case = Case.objects.get()
    secret = tracking_secret(case)
    assert page.url.endswith("/sede/justificante/")
    expect(page.locator("main")).to_contain_text(case.registry_number)
    expect(page.locator("[data-tracking-secret]")).to_have_text(display_secret(secret))
    assert_accessible(page)

    # The receipt email, with the PDF the worker issued.
    [receipt] = smtp_server.wait_for(1, timeout=60)
    assert receipt.rcpt_tos == ["lucia@example.org"]
    assert case.registry_number in receipt.subject
    assert display_secret(secret) in receipt.body("plain")
    receipt_text = pdf_text(pdf_of(receipt))
    assert case.registry_number in receipt_text
    assert "Farola apagada" in receipt_text
    # ... and its download link appears on the receipt page by itself.
    expect(page.locator("[data-receipt-download]")).to_be_visible(timeout=15_000)

    # Staff: the case is in the unit's queue; the handler takes it and asks for more detail.
    staff_context = browser.new_context(base_url=live_server.url, locale="es-ES", viewport=DESKTOP)
    staff = staff_context.new_page()
    log_in(staff, handler.username, PASSWORD)
    staff.goto("/cases/")
    row = staff.locator("#cases tbody tr", has_text=case.registry_number)
    expect(row).to_have_count(1)
    with staff.expect_navigation():
        row.get_by_role("link", name=case.registry_number).click()
    assert_accessible(staff)

    staff.locator("#action-assign summary").click()
    staff.locator("select[name=assign-unit]").select_option(str(units["urbanismo"].pk))
    staff.locator("select[name=assign-assignee]").select_option(str(handler.pk))
    with staff.expect_navigation():
        staff.locator("#action-assign button[type=submit]").click()
    case.refresh_from_db()
    assert case.status == CaseStatus.ASSIGNED
    assert case.assignee == handler

    staff.locator("#action-request_information summary").click()
    staff.locator("textarea[name=request_information-text]").fill(
        "¿Podría indicar el número de la farola?"
    )
    with staff.expect_navigation():
        staff.locator("#action-request_information button[type=submit]").click()
    case.refresh_from_db()
    assert case.status == CaseStatus.WAITING
    assert case.due_date is None  # the clock is stopped
    [request] = smtp_server.wait_for(2, timeout=60)[1:]
    assert "¿Podría indicar el número de la farola?" in request.body("plain")

    # The citizen replies through the tracking page.
    # A citizen coming back later (a new browser session) types the number and the secret.
    page.context.clear_cookies()
    page.goto("/sede/seguimiento/")
    page.locator("#id_registry_number").fill(case.registry_number)
    page.locator("#id_secret").fill(display_secret(secret).lower())
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    expect(page.locator("main")).to_contain_text("¿Podría indicar el número de la farola?")
    page.locator("#id_text").fill("Es la farola número 1234.")
    with page.expect_navigation():
        page.locator("#reply button[type=submit]").click()
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.due_date is not None  # running again

    # The handler sees the reply and answers.
    staff.reload()
    expect(staff.locator("main")).to_contain_text("Es la farola número 1234.")
    staff.locator("#action-answer summary").click()
    staff.locator("textarea[name=answer-text]").fill("La farola 1234 ya está reparada.")
    with staff.expect_navigation():
        staff.locator("#action-answer button[type=submit]").last.click()
    case.refresh_from_db()
    assert case.status == CaseStatus.ANSWERED
    assert case.answered_at is not None

    answer = smtp_server.wait_for(3, timeout=60)[2]
    assert answer.rcpt_tos == ["lucia@example.org"]
    assert "La farola 1234 ya está reparada." in pdf_text(pdf_of(answer))

    # The citizen sees the answer on the tracking page.
    page.reload()
    expect(page.locator("main")).to_contain_text("La farola 1234 ya está reparada.")
    expect(page.locator("[data-case-status]")).to_contain_text("Respondid")
    assert_accessible(page)
    staff_context.close()
    assert_no_console_errors(console_errors)
