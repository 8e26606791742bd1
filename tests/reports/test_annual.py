"""The annual complaints and suggestions report (reports.annual, reports.views.annual): its exact
figures for a fixture year, scoping, the page and its form, the PDF, the CSV and the open data.

The fixture year is 2025 in Madrid (holidays checked against the ``holidays`` library: Easter
Thursday and Friday 17-18 April, Christmas, New Year, Epiphany 6 January 2026). Every count in
the comments was made by hand.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from unittest import mock

import jsonschema
import pytest
from django.conf import settings
from django.urls import reverse
from pypdf import PdfReader

from cases.models import CaseStatus
from cases.services import case_reject
from reports.annual import build_report
from reports.case_stats import AnswerSummary

from .helpers_annual import answer, file, madrid, suspend

pytestmark = pytest.mark.django_db

SCHEMA = Path(settings.BASE_DIR) / "docs/open-data/annual-complaints-report.schema.json"
AREA_STREETS = "Vía pública y alumbrado"


@pytest.fixture(autouse=True)
def no_documents(monkeypatch):
    """The receipt and answer documents are not what these tests look at."""
    from cases import tasks

    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)
    monkeypatch.setattr(tasks.issue_answer, "delay", lambda case_id: None)


@pytest.fixture
def handler(make_user):
    return make_user(
        "case_handler", unit_codes=("urbanismo", "servicios-sociales"), username="answers"
    )


@pytest.fixture
def year(handler):
    """2025: five complaints and two suggestions (and what must not count)."""
    cases = {}
    # Mon 3 Feb: Feb 4-7 (4), 10-14 (9), 17-21 (14), 24-28 (19): answered Fri 28, on time.
    cases["c1"] = answer(
        file(madrid(2025, 2, 3, 10), area=AREA_STREETS), handler, madrid(2025, 2, 28, 12)
    )
    # ... Mar 3 (20), Tue 4 Mar (21): late.
    cases["c2"] = answer(
        file(madrid(2025, 2, 3, 11), channel="email", area=AREA_STREETS),
        handler,
        madrid(2025, 3, 4, 9),
    )
    # Wed 16 Apr; Thu 17 and Fri 18 are Easter holidays in Madrid, 19-20 a weekend: Mon 21 (1),
    # Tue 22 (2). A sub-unit of urbanismo.
    cases["c3"] = answer(
        file(
            madrid(2025, 4, 16, 9),
            unit="licencias",
            channel="in_person",
            area="Urbanismo y vivienda",
        ),
        handler,
        madrid(2025, 4, 22, 10),
    )
    # Mon 2 Jun, asked Wed 4 (Jun 3, 4: 2), replied Wed 11 (5, 6, 9, 10, 11 stopped), then
    # 12, 13 (4), 16-20 (9), 23-27 (14), Jun 30-Jul 4 (19): Fri 4 Jul, 19 days, due Mon 7 Jul.
    s1 = file(
        madrid(2025, 6, 2, 10),
        unit="servicios-sociales",
        type_code="sugerencia",
        area="Servicios sociales",
    )
    suspend(s1, handler, madrid(2025, 6, 4).date(), madrid(2025, 6, 11).date())
    cases["s1"] = answer(s1, handler, madrid(2025, 7, 4, 13))
    # Mon 15 Dec: Dec 16-19 (4), 22-24 (7), 25 holiday, 26 (8), 29-31 (11), Jan 1 holiday,
    # Jan 2 (12), 5 (13), 6 holiday, 7-9 (16), Mon 12 Jan 2026 (17): open at the end of 2025.
    cases["s2"] = answer(
        file(
            madrid(2025, 12, 15, 10),
            unit="servicios-sociales",
            type_code="sugerencia",
            channel="phone",
        ),
        handler,
        madrid(2026, 1, 12, 9),
    )
    # Never answered: open at the end of the year.
    cases["c4"] = file(madrid(2025, 11, 10, 10), area=AREA_STREETS)
    # Rejected in March: ended, neither answered nor open.
    c5 = file(madrid(2025, 3, 3, 10), channel="letter", area="Hacienda y tributos")
    with mock.patch("django.utils.timezone.now", return_value=madrid(2025, 3, 5, 10)):
        cases["c5"] = case_reject(case=c5, actor=handler, reason="No es competencia municipal.")
    # Not counted: an incident alert of 2025, a complaint of 2026.
    file(madrid(2025, 5, 5, 10), type_code="aviso")
    file(madrid(2026, 1, 5, 10))
    # The year before: three complaints and one suggestion.
    for day in (7, 8, 9):
        file(madrid(2024, 10, day, 10))
    file(madrid(2024, 10, 10, 10), type_code="sugerencia", unit="servicios-sociales")
    return cases


@pytest.fixture
def manager(make_user):
    return make_user("management", unit_codes=())


@pytest.fixture
def urbanismo_handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",), username="urbanismo")


def _table(report, dimension):
    return {
        row.label: (row.complaints, row.suggestions, row.answers.answered, row.open_at_year_end)
        for row in report.table(dimension).rows
    }


def test_the_figures_of_the_year(year, manager):
    assert year["s1"].answer_days == 19
    assert year["s2"].answer_days == 17
    assert year["c5"].status == CaseStatus.REJECTED
    report = build_report(manager, 2025)
    total = report.total
    assert (total.complaints, total.suggestions, total.total) == (5, 2, 7)
    # Answered: c1 19, c2 21 (late), c3 2, s1 19, s2 17. Sorted 2, 17, 19, 19, 21: median 19,
    # p90 at 0.9 * 4 = 3.6: 19 + 0.6 * (21 - 19) = 20.2.
    assert total.answers == AnswerSummary(
        answered=5, on_time=4, share_on_time=0.8, median_days=19.0, p90_days=pytest.approx(20.2)
    )
    assert total.open_at_year_end == 2  # c4, and s2 answered in January
    assert (report.previous_complaints, report.previous_suggestions) == (3, 1)
    assert report.change == pytest.approx(0.75)
    assert (report.suspended_cases, report.suspended_days) == (1, 7)  # 4 to 11 June
    assert _table(report, "type") == {"Complaint": (5, 0, 3, 1), "Suggestion": (0, 2, 2, 1)}
    assert _table(report, "unit") == {
        "Urbanismo": (4, 0, 2, 1),
        "Servicios Sociales": (0, 2, 2, 1),
        "Licencias": (1, 0, 1, 0),
    }
    assert _table(report, "channel") == {
        "Web form": (2, 1, 2, 1),
        "Email": (1, 0, 1, 0),
        "In person": (1, 0, 1, 0),
        "Letter": (1, 0, 0, 0),
        "Phone": (0, 1, 1, 1),
    }
    assert _table(report, "subject_area") == {
        "Streets and lighting": (3, 0, 2, 1),
        "Planning and housing": (1, 0, 1, 0),
        "Social services": (0, 1, 1, 0),
        "Finance and taxes": (1, 0, 0, 0),
        "No subject area": (0, 1, 1, 1),
    }
    months = [(row.code, row.complaints, row.suggestions) for row in report.table("month").rows]
    assert months == [
        ("2025-01", 0, 0),
        ("2025-02", 2, 0),
        ("2025-03", 1, 0),
        ("2025-04", 1, 0),
        ("2025-05", 0, 0),
        ("2025-06", 0, 1),
        ("2025-07", 0, 0),
        ("2025-08", 0, 0),
        ("2025-09", 0, 0),
        ("2025-10", 0, 0),
        ("2025-11", 1, 0),
        ("2025-12", 0, 1),
    ]
    by_unit = {row.code: row.answers for row in report.table("unit").rows}
    # Urbanismo: c1 19 (on time), c2 21 (late).
    assert by_unit["urbanismo"] == AnswerSummary(2, 1, 0.5, 20.0, pytest.approx(20.8))
    assert report.summary == [
        "In 2025 the body received 5 complaints and 2 suggestions, 75 % more than in 2024.",
        "5 cases were answered; 80 % within the legal term.",
        "Half of the answers took 19.0 business days or fewer, and nine in ten 20.2 or fewer.",
        "In 1 case the clock was stopped to ask the citizen for more information (7 days in all).",
        "2 cases were still open at the end of the year.",
    ]


def test_the_report_takes_few_queries(year, manager, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        build_report(manager, 2025)


def test_a_handler_counts_only_their_units(year, urbanismo_handler, units):
    report = build_report(urbanismo_handler, 2025)
    assert (report.total.complaints, report.total.suggestions) == (5, 0)
    assert _table(report, "unit") == {"Urbanismo": (4, 0, 2, 1), "Licencias": (1, 0, 1, 0)}
    assert report.suspended_cases == 0
    # Asking for another unit gives nothing of it; a sub-unit only its cases.
    assert build_report(urbanismo_handler, 2025, [units["servicios-sociales"]]).total.total == 0
    assert build_report(urbanismo_handler, 2025, [units["licencias"]]).total.total == 1


def test_citizen_service_counts_every_unit_as_in_the_cases_module(year, make_user, units):
    """Citizen service sees every case in the queue (``cases.all_units``): here too."""
    desk = make_user("citizen_service", unit_codes=())
    assert build_report(desk, 2025).total.total == 7
    assert build_report(desk, 2025, [units["servicios-sociales"]]).total.total == 2


def test_a_manager_picks_units_with_their_sub_units(year, manager, units):
    report = build_report(manager, 2025, [units["urbanismo"]])
    assert (report.total.complaints, report.total.suggestions) == (5, 0)
    assert report.units_label == "Urbanismo"
    assert build_report(manager, 2025, [units["servicios-sociales"]]).total.total == 2


# --- The page and its outputs --------------------------------------------------------------------


def _client(client, user):
    client.force_login(user)
    return client


def test_the_page_shows_the_figures(year, manager, client):
    response = _client(client, manager).get(reverse("reports:annual"), {"year": 2025})
    assert response.status_code == 200
    html = response.content.decode()
    assert "In 2025 the body received 5 complaints and 2 suggestions" in html
    assert "<caption>Complaints and suggestions filed in 2025, by channel</caption>" in html
    assert '<option value="2025" selected>2025</option>' in html  # the value is kept
    assert reverse("reports:annual_pdf") + "?year=2025" in html


def test_the_page_without_a_year_shows_only_the_form(manager, client):
    response = _client(client, manager).get(reverse("reports:annual"))
    assert response.status_code == 200
    assert response.context["report"] is None
    assert b'name="year"' in response.content


@pytest.mark.parametrize(
    "query",
    [{"year": "1999"}, {"year": "twenty"}, {"year": "2025", "units": "999999"}],
    ids=["too early", "not a number", "unknown unit"],
)
def test_bad_input_is_shown_next_to_the_field(manager, client, query):
    response = _client(client, manager).get(reverse("reports:annual"), query)
    assert response.status_code == 400
    field = "units" if "units" in query else "year"
    assert response.context["form"].errors[field]
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    assert f'href="#id_{field}"' in html  # the summary links to the field
    if field == "units":
        assert '<option value="2025" selected>2025</option>' in html


def test_a_handler_cannot_pick_another_units_unit(year, urbanismo_handler, client, units):
    response = _client(client, urbanismo_handler).get(
        reverse("reports:annual"), {"year": 2025, "units": units["servicios-sociales"].pk}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["units"]


def test_exports_refuse_bad_input(manager, client):
    response = _client(client, manager).get(reverse("reports:annual_csv"), {"year": "1999"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_the_pdf_has_the_letterhead_and_the_figures(year, manager, client, settings):
    settings.BODY_NAME = "Ayuntamiento de Villaejemplo"
    response = _client(client, manager).get(reverse("reports:annual_pdf"), {"year": 2025})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "annual-complaints-report-2025.pdf" in response["Content-Disposition"]
    pages = PdfReader(io.BytesIO(response.content)).pages
    text = "\n".join(page.extract_text() for page in pages)
    flat = " ".join(text.split())
    assert "Ayuntamiento de Villaejemplo" in flat
    assert "Annual complaints and suggestions report 2025" in flat
    assert "the body received 5 complaints and 2 suggestions, 75 % more than in 2024" in flat
    assert "80 % within the legal term" in flat
    assert len(pages) >= 2
    assert f"Page 1 of {len(pages)}" in flat
    assert f"Page {len(pages)} of {len(pages)}" in flat
    # The channel table's row for e-mail: 1 complaint, 0 suggestions, 1 in all, 1 answered...
    assert "Email 1 0 1 1 0 (0 %) 21.0 21.0 0" in flat


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_csv_has_every_table(year, manager, client):
    response = _client(client, manager).get(reverse("reports:annual_csv"), {"year": 2025})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv_rows(response)
    assert rows[0] == ["Annual complaints and suggestions report 2025"]
    assert ["Total", "5", "2", "7", "5", "4", "19.0", "20.2", "2"] in rows
    assert ["Phone", "0", "1", "1", "1", "1", "17.0", "17.0", "1"] in rows
    assert ["Cases suspended", "1"] in rows
    assert ["Days suspended", "7"] in rows


def test_csv_cells_cannot_run_as_formulas(year, manager, client, units):
    units["urbanismo"].name = '=HYPERLINK("http://evil")'
    units["urbanismo"].save()
    response = _client(client, manager).get(reverse("reports:annual_csv"), {"year": 2025})
    rows = _csv_rows(response)
    assert ['\'=HYPERLINK("http://evil")', "4", "0", "4", "2", "1", "20.0", "20.8", "1"] in rows
    response = _client(client, manager).get(reverse("reports:annual_open_data_csv"), {"year": 2025})
    assert any(row[3] == '\'=HYPERLINK("http://evil")' for row in _csv_rows(response))


def test_the_open_data_csv(year, manager, client):
    response = _client(client, manager).get(reverse("reports:annual_open_data_csv"), {"year": 2025})
    assert response.status_code == 200
    rows = _csv_rows(response)
    assert rows[0] == [
        "year",
        "dimension",
        "code",
        "label",
        "complaints",
        "suggestions",
        "total",
        "answered",
        "answered_on_time",
        "share_answered_on_time",
        "median_business_days",
        "p90_business_days",
        "open_at_year_end",
    ]
    assert rows[1] == ["2025", "total", "total", "Total", "5", "2", "7", "5", "4", "0.8", "19.0",
                       "20.2", "2"]  # fmt: skip
    assert ["2025", "channel", "letter", "Letter", "1", "0", "1", "0", "0", "", "", "", "0"] in rows
    assert len([row for row in rows if row[1] == "month"]) == 12
    # 1 total + 2 types + 5 areas + 3 units + 5 channels + 12 months, and the header.
    assert len(rows) == 1 + 1 + 2 + 5 + 3 + 5 + 12


def test_the_open_data_json_follows_its_schema(year, manager, client):
    response = _client(client, manager).get(
        reverse("reports:annual_open_data_json"), {"year": 2025}
    )
    assert response.status_code == 200
    document = json.loads(response.content)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    assert document["totals"] == {
        "complaints": 5,
        "suggestions": 2,
        "total": 7,
        "answered": 5,
        "answered_on_time": 4,
        "share_answered_on_time": 0.8,
        "median_business_days": 19.0,
        "p90_business_days": 20.2,
        "open_at_year_end": 2,
    }
    assert document["previous_year"] == {
        "year": 2024,
        "complaints": 3,
        "suggestions": 1,
        "total": 4,
    }
    assert document["suspensions"] == {"cases_suspended": 1, "calendar_days_suspended": 7}
    assert [row["code"] for row in document["tables"]["type"]] == ["complaint", "suggestion"]
    # No personal data: nothing of the filer anywhere in the document.
    text = response.content.decode()
    for personal in ("Ana", "Ruiz", "ana@example.org", "Calle Mayor", "28801", "QS-2025"):
        assert personal not in text


def test_the_schema_rejects_what_it_should(year, manager, client):
    """The schema is not a formality: an extra field, a negative count or a missing table fail."""
    response = _client(client, manager).get(
        reverse("reports:annual_open_data_json"), {"year": 2025}
    )
    document = json.loads(response.content)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    broken = [
        {**document, "totals": {**document["totals"], "complaints": -1}},
        {**document, "totals": {**document["totals"], "filer": "Ana"}},
        {**document, "tables": {k: v for k, v in document["tables"].items() if k != "unit"}},
        {
            **document,
            "tables": {
                **document["tables"],
                "unit": [{**document["tables"]["unit"][0], "email": "ana@example.org"}],
            },
        },
    ]
    for candidate in broken:
        assert not validator.is_valid(candidate)
    assert validator.is_valid(document)


def test_a_role_without_cases_is_refused(client_for):
    assert client_for("communication").get(reverse("reports:annual")).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_in_a_browser_is_accessible(page, console_errors, year, manager):
    """axe-core clean under the real CSP: the form with an error, then the report."""
    from tests.fixtures.browser import assert_accessible, assert_no_console_errors, log_in

    log_in(page, "management", "correct-horse-battery")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": page.url}])
    page.goto(reverse("reports:annual") + "?year=1999")
    assert page.locator("#id_year_error").is_visible()
    assert_accessible(page)
    page.select_option("#id_year", "2025")
    with page.expect_navigation():
        page.get_by_role("button", name="Show the report").click()
    assert "the body received 5 complaints and 2 suggestions" in page.inner_text("main")
    assert page.locator("table caption").count() == 5
    assert_accessible(page)
    assert_no_console_errors(console_errors)


def test_numbers_follow_the_language(year, manager):
    """Spanish writes decimals with a comma (the sentences themselves come from the catalogue)."""
    from django.utils import translation

    with translation.override("es"):
        report = build_report(manager, 2025)
        assert "19,0" in report.summary[2]
        assert "20,2" in report.summary[2]
