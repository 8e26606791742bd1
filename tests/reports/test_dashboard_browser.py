"""The dashboard in a real browser: Chart.js draws every chart from the page's JSON under the
strict CSP (no violation, no console error), axe-core finds no WCAG 2.1 AA violation (desktop
and phone, data tables open), and a bad filter is reported next to its field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cases.services import case_answer
from citizens.models import Channel
from sales.services import opportunity_create
from tests.cases.staff import file_case
from tests.fixtures.browser import (
    DESKTOP,
    PHONE,
    assert_accessible,
    assert_no_console_errors,
    log_in,
)
from tests.sales.funnel_helpers import make_person, make_pipeline

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"
MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
def data(units, make_user, django_user_model, quiet_celery):
    admin = django_user_model.objects.create_superuser(username="boss", password="x-password-1")
    for day, unit, channel in [
        (2, "urbanismo", Channel.WEB_FORM),
        (4, "licencias", Channel.PHONE),
        (11, "servicios-sociales", Channel.EMAIL),
    ]:
        case = file_case(
            unit=unit, channel=channel, filed_at=datetime(2026, 3, day, 10, tzinfo=MADRID)
        )
        if day == 2:
            case_answer(case=case, actor=admin, text="Respuesta.")
    file_case(unit="urbanismo")  # open today
    pipeline = make_pipeline()
    opportunity_create(
        actor=admin,
        title="Patrocinio",
        person=make_person(),
        pipeline=pipeline,
        amount=Decimal("1500"),
    )
    return make_user("management", username="gerencia")


def test_the_dashboard_draws_its_charts_accessibly_without_csp_errors(data, page, console_errors):
    log_in(page, "gerencia", PASSWORD)
    response = page.goto("/reports/?start=2026-03-02&end=2026-03-15", wait_until="load")
    assert response.status == 200
    # Chart.js drew every chart (it registers each instance on its canvas).
    keys = page.eval_on_selector_all(
        "canvas[data-chart]", "(nodes) => nodes.map((node) => node.dataset.chart)"
    )
    assert {"cases_weekly", "cases_open", "cases_channels", "pipeline_stages"} <= set(keys)
    drawn = page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".every((canvas) => window.Chart.getChart(canvas) !== undefined)"
    )
    assert drawn
    weekly = page.evaluate(
        "() => window.Chart.getChart(document.getElementById('chart-cases_weekly'))"
        ".data.datasets[0].data"
    )
    assert weekly == [2, 1]  # received in each week: the same numbers as the table
    assert page.locator("#table-cases_weekly tbody tr").count() == 2
    assert_no_console_errors(console_errors)

    for summary in page.locator("details > summary").all():
        summary.click()
    assert page.locator("#table-cases_weekly").is_visible()
    page.set_viewport_size(DESKTOP)
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_a_bad_filter_is_reported_next_to_its_field(data, page, console_errors):
    log_in(page, "gerencia", PASSWORD)
    page.goto("/reports/")
    page.locator("#id_start").fill("2026-03-15")
    page.locator("#id_end").fill("2026-03-01")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    error = page.locator("#id_end_error")
    assert error.is_visible()
    assert page.locator("#id_end").get_attribute("aria-invalid") == "true"
    assert page.locator("#id_start").input_value() == "2026-03-15"
    assert page.locator("canvas[data-chart]").count() == 0
    assert_accessible(page)
    assert_no_console_errors(console_errors)
