"""The report builder in a real browser (Chromium, the real CSP): a grouped report built through
the form alone, previewed, saved and exported as CSV, XLSX and PDF with its subtotals and total
in each file; axe-core finds no WCAG 2.1 AA violation on the builder, its preview and the saved
report, and the browser reports no error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.utils import translation
from openpyxl import load_workbook
from playwright.sync_api import expect
from pypdf import PdfReader

from cases.models import Case
from reports.models import SavedReport
from tests.cases.staff import file_case
from tests.fixtures.browser import assert_accessible, assert_no_console_errors, log_in

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def data(units, make_user, quiet_celery):
    for unit, status, days in [
        ("urbanismo", "received", 10),
        ("urbanismo", "answered", 20),
        ("servicios-sociales", "received", 30),
        ("licencias", "in_progress", 40),  # left out by the filter
    ]:
        case = file_case(unit=unit)
        Case.objects.filter(pk=case.pk).update(status=status, deadline_days=days)
    return make_user("management", username="gerencia", email="gerencia@example.org")


def status_label(code: str) -> str:
    with translation.override("es"):
        return str(dict(Case._meta.get_field("status").flatchoices)[code])


def download(page, file_format: str) -> bytes:
    with page.expect_download() as info:
        page.locator(f"a[href$='/export/{file_format}/']").click()
    return Path(info.value.path()).read_bytes()


def test_a_grouped_report_built_saved_and_exported_in_the_browser(data, page, console_errors):
    received, answered = status_label("received"), status_label("answered")
    log_in(page, "gerencia", PASSWORD)
    page.goto("/reports/builder/")
    assert_accessible(page)
    page.locator("#new-subject").select_option("cases")
    with page.expect_navigation():
        page.locator("#new-subject").locator("xpath=ancestor::form").locator(
            "button[type=submit]"
        ).click()
    assert page.url.endswith("/reports/builder/new/?subject=cases")
    assert_accessible(page)  # the empty builder (no preview until asked for)

    page.locator("#id_group_1").select_option("unit")
    page.locator("#id_group_2").select_option("status")
    page.locator("input[name=aggregates][value='deadline_days:sum']").check()
    page.locator("#id_filter-0-column").select_option("status")
    page.locator("#id_filter-0-operator").select_option("in")
    page.locator("#id_filter-0-value").fill("received, answered")
    with page.expect_navigation():
        page.locator("button[name=action][value=preview]").click()

    # The filter row now offers the list of statuses, the chosen ones selected.
    chosen = page.locator("#id_filter-0-choices option:checked").all_inner_texts()
    assert sorted(chosen) == sorted([received, answered])
    table = page.locator("#preview table")
    assert table.locator("caption").count() == 1
    subtotals = table.locator("tr.report-subtotal").all_inner_texts()
    assert [" ".join(text.split()) for text in subtotals] == [
        "Subtotal 1 30",
        "Subtotal 2 30",
    ]
    total = " ".join(table.locator("tr.report-total").inner_text().split())
    assert total == "Total 3 60"
    assert_accessible(page)  # the builder and its grouped preview

    page.locator("#id_name").fill("Casos por unidad y estado")
    with page.expect_navigation():
        page.locator("button[name=action][value=save]").click()
    report = SavedReport.objects.get()
    assert page.url.endswith(f"/reports/builder/{report.pk}/")
    assert report.definition["group_by"] == ["unit", "status"]
    assert report.owner.username == "gerencia"
    assert page.locator(".crm-messages .alert-success").count() == 1
    assert_accessible(page)

    rows = list(csv.reader(io.StringIO(download(page, "csv").decode("utf-8-sig"))))
    assert rows[1:] == [
        ["Servicios Sociales", received, "1", "30"],
        ["Subtotal", "", "1", "30"],
        ["Urbanismo", received, "1", "10"],
        ["Urbanismo", answered, "1", "20"],
        ["Subtotal", "", "2", "30"],
        ["Total", "", "3", "60"],
    ]

    sheet = load_workbook(io.BytesIO(download(page, "xlsx"))).active
    values = [list(row) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert values == [
        ["Servicios Sociales", received, 1, 30],
        ["Subtotal", None, 1, 30],
        ["Urbanismo", received, 1, 10],
        ["Urbanismo", answered, 1, 20],
        ["Subtotal", None, 2, 30],
        ["Total", None, 3, 60],
    ]

    pdf = PdfReader(io.BytesIO(download(page, "pdf")))
    lines = [
        " ".join(line.split()) for page_ in pdf.pages for line in page_.extract_text().splitlines()
    ]
    assert "Casos por unidad y estado" in lines
    assert f"Servicios Sociales {received} 1 30" in lines
    assert f"Urbanismo {answered} 1 20" in lines
    assert "Subtotal 1 30" in lines
    assert "Subtotal 2 30" in lines
    assert "Total 3 60" in lines

    # Editing, with JavaScript: htmx updates the preview on every change, without reloading.
    page.goto(f"/reports/builder/{report.pk}/edit/")
    table = page.locator("#preview table")
    assert table.locator("tr.report-subtotal").count() == 2
    page.locator("#id_group_2").select_option("")
    expect(page.locator("#preview-status")).to_contain_text("3")
    expect(table.locator("tr.report-subtotal")).to_have_count(0)
    rows = [" ".join(text.split()) for text in table.locator("tbody tr").all_inner_texts()]
    assert rows == ["Servicios Sociales 1 30", "Urbanismo 2 30"]
    assert page.url.endswith(f"/reports/builder/{report.pk}/edit/")
    assert_accessible(page)
    report.refresh_from_db()
    assert report.definition["group_by"] == ["unit", "status"]  # a preview changes nothing
    assert_no_console_errors(console_errors)
