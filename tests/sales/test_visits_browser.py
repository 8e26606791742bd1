"""Field work in a real browser (Chromium): a visit recorded from a phone-sized screen with a
photo chosen as the camera gives it (``set_input_files``) and kept without its metadata; the
visit, calendar, task and subscription pages axe-core clean on a desktop and at 360 px, with no
sideways scrolling and no console or CSP errors; the calendar's periods by keyboard."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from sales.models import VisitFile, VisitStatus
from tests.cases.public_helpers import has_gps, jpeg_with_gps
from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in
from tests.sales.fieldwork_helpers import PASSWORD, add_meeting, add_task, at, plan, team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["team"]


@pytest.fixture(autouse=True)
def files_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px at 360px"


def test_a_visit_recorded_from_a_phone_with_a_photo(page, console_errors, team, tmp_path):
    from citizens.services import person_create

    person = person_create(actor=None, given_name="Lucía", first_surname="Pardo")
    visit = plan(team["inspector"], person=person)
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg_with_gps())
    page.set_viewport_size(PHONE)
    log_in(page, "ines", PASSWORD)
    page.goto(f"/sales/visits/{visit.pk}/")
    assert_accessible(page)
    no_sideways_scroll(page)
    camera = page.locator("input[name=photos]")
    assert camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("accept") == "image/*"
    # Big targets: the answers and the buttons are at least 44 px high.
    first_answer = page.get_by_text("Sí", exact=True).first
    assert first_answer.bounding_box()["height"] >= 44
    first_answer.click()
    page.get_by_label("Resultado").fill("Todo en orden salvo los extintores.")
    camera.set_input_files(str(photo))
    assert "IMG_0001.jpg" in page.locator("#visit-files-chosen").inner_text()
    finish = page.locator("button[name=finish]")
    assert finish.bounding_box()["height"] >= 44
    with page.expect_navigation():
        finish.click()
    assert page.locator(".alert-success").count() == 1
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DONE
    assert visit.checklist.first().answer == "yes"
    stored = VisitFile.objects.get(visit=visit)
    with stored.file.open("rb") as kept:
        content = kept.read()
    assert not has_gps(content)
    assert b"SERIAL-123456" not in content
    with Image.open(io.BytesIO(content)) as image:
        assert not image.getexif()
    # The photo shows on the page (served to who may see the visit).
    assert page.locator("img.crm-visit-thumb").evaluate("img => img.naturalWidth") > 0
    assert_accessible(page)
    no_sideways_scroll(page)
    assert_no_console_errors(console_errors)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_field_work_pages_are_accessible(page, console_errors, team, viewport):
    ines = team["inspector"]
    visit = plan(ines, starts_at=at(2026, 11, 10, 9, 30))
    add_task(ines, due_at=at(2026, 11, 12, 9))
    add_meeting(ines, kind="event", title="Feria", starts_at=at(2026, 11, 11, 10))
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    log_in(page, "ines", PASSWORD)
    for path in (
        "/sales/visits/",
        f"/sales/visits/{visit.pk}/",
        "/sales/visits/new/",
        "/sales/calendar/?view=month&date=2026-11-10",
        "/sales/calendar/?view=week&date=2026-11-10",
        "/sales/calendar/?view=agenda&date=2026-11-09",
        "/sales/tasks/",
        "/sales/tasks/new/",
        "/sales/meetings/new/",
        "/sales/calendar/subscribe/",
    ):
        page.goto(path)
        assert_accessible(page)
        if viewport == "phone":
            no_sideways_scroll(page)
    assert_no_console_errors(console_errors)


def test_the_calendar_periods_by_keyboard(page, console_errors, team):
    plan(team["inspector"], starts_at=at(2026, 12, 3, 9))
    log_in(page, "ines", PASSWORD)
    page.goto("/sales/calendar/?view=month&date=2026-11-10")
    with page.expect_navigation():
        page.keyboard.press("PageDown")
    assert "date=2026-12-01" in page.url
    assert page.locator("time[datetime='2026-12-03']").count() == 1
    assert page.locator(".crm-entry a[href^='/sales/visits/']").count() == 1
    with page.expect_navigation():
        page.keyboard.press("PageUp")
    assert "date=2026-11-01" in page.url
    # The links work by keyboard too: Tab to "Next month" and Enter.
    page.locator("#calendar-next").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "date=2026-12-01" in page.url
    assert_no_console_errors(console_errors)
