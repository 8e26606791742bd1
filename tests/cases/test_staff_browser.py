"""The queue, the case page and the registering form in a real browser: axe-core clean on a
desktop and at 360 px, no sideways scrolling, no console or CSP errors, the knowledge base
found in place with htmx, and a refused action taking the keyboard to its errors."""

from __future__ import annotations

import pytest

from cases.models import KnowledgeArticle, SubjectArea
from cases.services import case_assign, case_comment, case_task_add
from tests.cases.staff import PASSWORD, file_case
from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 360px"


@pytest.fixture
def worked_case(make_user, units):
    area = SubjectArea.objects.order_by("order").first()
    handler = make_user("case_handler", unit_codes=("urbanismo",), username="marta")
    desk = make_user("citizen_service", unit_codes=("ayto",), username="desk")
    case = file_case(subject_area=area)
    case_assign(case=case, actor=desk, unit=units["urbanismo"], assignee=handler)
    case_comment(case=case, actor=handler, text="Avisado el servicio de alumbrado.")
    case_task_add(case=case, actor=handler, unit=units["licencias"], description="Revisar")
    file_case(unit="licencias", subject="Bache en la acera")
    KnowledgeArticle.objects.create(
        title="Alumbrado reparado", subject_area=area, body="Estimada {name}: {registry_number}."
    )
    return case


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_queue_is_accessible(page, console_errors, worked_case, viewport):
    log_in(page, "marta", PASSWORD)
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    page.goto("/cases/")
    assert page.locator("#cases tbody th").count() == 2
    assert_accessible(page)
    if viewport == "phone":
        no_sideways_scroll(page)
    # Filter by keyboard-reachable controls, then save the filters as a view.
    page.locator("form[role=search] details summary").click()
    page.locator("select[name=channel]").select_option("web_form")
    page.locator("input[name=q]").fill("bache")
    with page.expect_navigation():
        page.locator("form[role=search] button[type=submit]").click()
    assert page.locator("#cases tbody th").count() == 1
    page.locator("#save-view input[name=name]").fill("Baches")
    with page.expect_navigation():
        page.locator("#save-view button[type=submit]").click()
    assert page.locator("#saved-views").inner_text().strip().startswith("Baches")
    assert page.locator("#cases tbody th").count() == 1
    assert_accessible(page)
    assert_no_console_errors(console_errors)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_case_page_is_accessible(page, console_errors, worked_case, viewport):
    log_in(page, "marta", PASSWORD)
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    page.goto(f"/cases/{worked_case.pk}/")
    assert_accessible(page)
    if viewport == "phone":
        no_sideways_scroll(page)
    # Open every action: the forms inside are accessible too.
    for summary in page.locator("#actions summary").all():
        summary.click()
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_the_knowledge_base_fills_the_answer(page, console_errors, worked_case):
    log_in(page, "marta", PASSWORD)
    page.goto(f"/cases/{worked_case.pk}/")
    page.locator("#action-answer summary").click()
    page.locator("#action-answer input[name=q]").fill("alumbrado")
    url = page.url
    page.locator("#action-answer form[role=search] button").click()
    results = page.locator("#article-results")
    results.get_by_text("Alumbrado reparado", exact=True).wait_for()
    assert page.url == url  # htmx: the results came in place
    with page.expect_navigation():
        results.locator("a.btn").first.click()
    answer = page.locator("textarea[name=answer-text]").input_value()
    assert answer == f"Estimada Ana Ruiz Gil: {worked_case.registry_number}."
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_a_refused_action_takes_the_keyboard_to_its_errors(page, console_errors, worked_case):
    log_in(page, "marta", PASSWORD)
    page.goto(f"/cases/{worked_case.pk}/")
    page.locator("#action-duplicate summary").click()
    page.locator("input[name=duplicate-original]").fill("QS-1999-000001")
    with page.expect_navigation():
        page.locator("#action-duplicate button[type=submit]").click()
    focused = page.evaluate("() => document.activeElement.id")
    assert focused == "action-errors"
    assert page.locator("input[name=duplicate-original]").input_value() == "QS-1999-000001"
    assert_accessible(page)
    assert_no_console_errors(console_errors)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_registering_is_accessible(page, console_errors, worked_case, viewport):
    log_in(page, "desk", PASSWORD)
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    page.goto("/cases/new/")
    assert_accessible(page)
    if viewport == "phone":
        no_sideways_scroll(page)
    page.locator("input[name=person_q]").fill("12345678Z")
    with page.expect_navigation():
        page.locator("button[name=find_person]").click()
    page.get_by_label("Ana Ruiz Gil", exact=False).check()
    page.locator("select[name=case_type]").select_option(label="Queja")
    page.locator("input[name=subject]").fill("Ruido")
    page.locator("textarea[name=text]").fill("Música alta por la noche.")
    assert_accessible(page)
    with page.expect_navigation():
        page.locator("button[name=register]").click()
    assert "/cases/" in page.url
    assert page.url.rstrip("/").split("/")[-1].isdigit()
    assert_accessible(page)
    assert_no_console_errors(console_errors)
