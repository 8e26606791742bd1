"""The report builder (reports.builder, reports.exports, reports.services, reports.views.builder):
definitions compiled per type, errors in their places, scoping, totals, the three exports with
grouped totals, formula neutralisation, audit, and who sees which saved report."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from cases.models import Case
from crm.models import AuditEvent
from reports import builder, exports, services
from reports.models import SavedReport
from sales.models import ExchangeRate
from sales.services import opportunity_create
from tests.cases.staff import file_case, set_filed
from tests.sales.funnel_helpers import make_person, make_pipeline

pytestmark = pytest.mark.django_db


def numbers(case: Case) -> str:
    return case.registry_number


@pytest.fixture
def admin(make_user):
    return make_user("administrator", unit_codes=("ayto",))


@pytest.fixture
def known_cases(units):
    """Five cases: three of Urbanismo (one of them in Licencias, below it), two of Servicios
    Sociales, with known deadlines, statuses, channels and filing days."""
    made = {}
    for key, unit, days, status, channel, ago in [
        ("u1", "urbanismo", 10, "received", "web_form", 1),
        ("u2", "urbanismo", 20, "in_progress", "email", 5),
        ("l1", "licencias", 30, "answered", "web_form", 40),
        ("s1", "servicios-sociales", 15, "received", "phone", 2),
        ("s2", "servicios-sociales", 25, "answered", "web_form", 90),
    ]:
        case = set_filed(file_case(unit=unit, channel=channel), days_ago=ago)
        Case.objects.filter(pk=case.pk).update(deadline_days=days, status=status)
        case.refresh_from_db()
        made[key] = case
    return made


def rows_of(result: builder.Result) -> list[list]:
    return [row for section in result.sections for row in section.rows]


def run(user, definition, **options) -> builder.Result:
    return builder.run(user, builder.validate(user, definition), **options)


def registry_numbers(user, filters) -> set[str]:
    result = run(user, {"subject": "cases", "columns": ["registry_number"], "filters": filters})
    return {row[0] for row in rows_of(result)}


# --- Validation -------------------------------------------------------------------------------


def test_bad_definitions_fail_with_each_error_in_its_place(admin):
    with pytest.raises(builder.DefinitionError) as caught:
        builder.validate(
            admin,
            {
                "subject": "cases",
                "columns": ["registry_number", "nonsense"],
                "filters": [
                    {"column": "filed_at", "operator": "contains", "value": "x"},
                    {"column": "filed_at", "operator": "before", "value": "31/12/2026"},
                    {"column": "deadline_days", "operator": "gt", "value": "veinte"},
                    {"column": "status", "operator": "in", "value": ["received", "dreaming"]},
                    {"column": "deadline_days", "operator": "between", "value": ["30", "10"]},
                    {"column": "subject", "operator": "equals", "value": ""},
                ],
                "group_by": ["unit", "status", "channel"],
                "aggregates": [{"column": "subject", "function": "sum"}],
                "order_by": [{"column": "filed_at"}],
                "limit": 5000,
            },
        )
    errors = caught.value.errors
    assert "nonsense" in errors["columns"][0]
    assert "does not apply" in errors["filters.0.operator"][0]
    assert errors["filters.1.value"] == ["Enter a date as YYYY-MM-DD."]
    assert errors["filters.2.value"] == ["Enter a number."]
    assert "dreaming" in errors["filters.3.value"][0]
    assert errors["filters.4.value"] == ["The start of the range is after its end."]
    assert errors["filters.5.value"] == ["Enter a value."]
    assert errors["group_by"] == ["Group by at most two columns."]
    assert "cannot be summed" in errors["aggregates"][0]
    assert errors["order_by"] == ["A grouped report is ordered by its grouping columns."]
    assert errors["limit"] == ["Enter a number between 1 and 1000."]


def test_definitions_of_the_wrong_shape_are_errors_not_crashes(admin):
    for definition, place in [
        ([], "subject"),
        ({"subject": "nothing"}, "subject"),
        ({"subject": "cases", "columns": [{"x": 1}]}, "columns"),
        ({"subject": "cases", "columns": ["subject"], "filters": ["status"]}, "filters.0.column"),
        ({"subject": "cases", "columns": ["subject"], "limit": "many"}, "limit"),
        ({"subject": "cases", "group_by": [["unit"]]}, "group_by"),
    ]:
        with pytest.raises(builder.DefinitionError) as caught:
            builder.validate(admin, definition)
        assert place in caught.value.errors, definition


def test_a_valid_definition_is_normalised(admin):
    report = builder.validate(
        admin,
        {
            "subject": "cases",
            "columns": ["registry_number", "status"],
            "filters": [
                {"column": "status", "operator": "in", "value": "Received, answered"},
                {"column": "deadline_days", "operator": "between", "value": ["10", "20,5"]},
            ],
            "order_by": [{"column": "filed_at", "descending": True}],
        },
    )
    assert report.definition["filters"] == [
        {"column": "status", "operator": "in", "value": ["answered", "received"]},
        {"column": "deadline_days", "operator": "between", "value": ["10", "20.5"]},
    ]
    assert report.definition["limit"] == builder.DEFAULT_LIMIT
    # What was normalised validates again to the same thing (saved reports).
    assert builder.validate(admin, report.definition).definition == report.definition


# --- Filters per type, grouping, ordering -----------------------------------------------------


def test_text_filters(admin, known_cases):
    Case.objects.filter(pk=known_cases["u1"].pk).update(subject="Bache en la calzada")
    Case.objects.filter(pk=known_cases["s1"].pk).update(subject="")
    u1, s1 = known_cases["u1"].registry_number, known_cases["s1"].registry_number
    every = {case.registry_number for case in known_cases.values()}
    contains = [{"column": "subject", "operator": "contains", "value": "BACHE"}]
    assert registry_numbers(admin, contains) == {u1}
    equals = [{"column": "subject", "operator": "equals", "value": "bache en la calzada"}]
    assert registry_numbers(admin, equals) == {u1}
    assert registry_numbers(admin, [{"column": "subject", "operator": "is_empty"}]) == {s1}
    assert registry_numbers(admin, [{"column": "subject", "operator": "is_not_empty"}]) == (
        every - {s1}
    )
    starts = [{"column": "unit", "operator": "starts_with", "value": "servicios"}]
    assert registry_numbers(admin, starts) == {
        known_cases["s1"].registry_number,
        known_cases["s2"].registry_number,
    }


def test_number_filters(admin, known_cases):
    def numbers_for(operator, value):
        return registry_numbers(
            admin, [{"column": "deadline_days", "operator": operator, "value": value}]
        )

    assert numbers_for("gt", "20") == {
        known_cases["l1"].registry_number,
        known_cases["s2"].registry_number,
    }
    assert numbers_for("between", ["15", "20"]) == {
        known_cases["u2"].registry_number,
        known_cases["s1"].registry_number,
    }
    assert numbers_for("equals", "10") == {known_cases["u1"].registry_number}
    assert len(numbers_for("not_equals", "10")) == 4


def test_date_filters_count_local_days(admin, known_cases):
    today = timezone.localdate()
    last_week = [{"column": "filed_at", "operator": "last_days", "value": "7"}]
    assert registry_numbers(admin, last_week) == {
        known_cases[key].registry_number for key in ("u1", "u2", "s1")
    }
    before = [
        {"column": "filed_at", "operator": "before", "value": str(today - timedelta(days=30))}
    ]
    assert registry_numbers(admin, before) == {
        known_cases["l1"].registry_number,
        known_cases["s2"].registry_number,
    }
    span = [
        {
            "column": "filed_at",
            "operator": "between",
            "value": [str(today - timedelta(days=5)), str(today - timedelta(days=2))],
        }
    ]
    assert registry_numbers(admin, span) == {
        known_cases["u2"].registry_number,
        known_cases["s1"].registry_number,
    }
    on = [{"column": "filed_at", "operator": "equals", "value": str(today - timedelta(days=1))}]
    assert registry_numbers(admin, on) == {known_cases["u1"].registry_number}


def test_choice_filters_and_labels(admin, known_cases):
    answered = [{"column": "status", "operator": "in", "value": ["answered"]}]
    assert registry_numbers(admin, answered) == {
        known_cases["l1"].registry_number,
        known_cases["s2"].registry_number,
    }
    others = [{"column": "status", "operator": "not_in", "value": ["answered", "received"]}]
    assert registry_numbers(admin, others) == {known_cases["u2"].registry_number}
    result = run(
        admin,
        {
            "subject": "cases",
            "columns": ["status", "channel"],
            "filters": [{"column": "channel", "operator": "equals", "value": "phone"}],
        },
    )
    assert rows_of(result) == [["Received", "Phone"]]  # labels, not codes


def test_ordering_by_several_columns(admin, known_cases):
    result = run(
        admin,
        {
            "subject": "cases",
            "columns": ["registry_number", "status"],
            "order_by": [
                {"column": "status", "descending": False},
                {"column": "deadline_days", "descending": True},
            ],
        },
    )
    assert [row[0] for row in rows_of(result)] == [
        known_cases[key].registry_number for key in ("s1", "u1", "u2", "l1", "s2")
    ]


def test_two_level_grouping_with_subtotals_and_grand_total(admin, known_cases):
    result = run(
        admin,
        {
            "subject": "cases",
            "group_by": ["unit", "status"],
            "aggregates": [
                {"column": "deadline_days", "function": "sum"},
                {"column": "deadline_days", "function": "avg"},
            ],
        },
    )
    assert [column.label for column in result.columns] == [
        "Unit",
        "Status",
        "Rows",
        "Sum of Deadline (business days)",
        "Average of Deadline (business days)",
    ]
    sections = list(result.sections)
    assert [(section.rows, section.subtotal) for section in sections] == [
        (
            [["Licencias", "Answered", 1, 30, Decimal("30.00")]],
            ["Subtotal", None, 1, 30, Decimal("30.00")],
        ),
        (
            [
                ["Servicios Sociales", "Received", 1, 15, Decimal("15.00")],
                ["Servicios Sociales", "Answered", 1, 25, Decimal("25.00")],
            ],
            ["Subtotal", None, 2, 40, Decimal("20.00")],
        ),
        (
            [
                ["Urbanismo", "Received", 1, 10, Decimal("10.00")],
                ["Urbanismo", "In progress", 1, 20, Decimal("20.00")],
            ],
            ["Subtotal", None, 2, 30, Decimal("15.00")],
        ),
    ]
    assert result.totals == [["Total", None, 5, 100, Decimal("20.00")]]
    assert result.count == 5


def test_grouping_a_date_groups_by_month(admin, known_cases):
    result = run(admin, {"subject": "cases", "group_by": ["filed_at"]})
    rows = rows_of(result)
    assert sum(row[1] for row in rows) == 5
    assert all(row[0].day == 1 for row in rows)  # the first day of each month
    assert result.columns[0].kind == "month"


def test_ungrouped_totals_sum_and_average_the_chosen_columns(admin, known_cases):
    result = run(
        admin,
        {
            "subject": "cases",
            "columns": ["deadline_days", "registry_number"],
            "aggregates": [
                {"column": "deadline_days", "function": "sum"},
                {"column": "deadline_days", "function": "avg"},
            ],
        },
    )
    # The first column is totalled: the label goes in a column of its own in front.
    assert [column.label for column in result.columns][:2] == [
        "Summary",
        "Deadline (business days)",
    ]
    assert result.totals == [
        ["Total: 5 rows", 100, None],
        ["Average", Decimal("20.00"), None],
    ]


def test_the_preview_stops_at_the_limit_and_keeps_the_true_subtotals(admin, known_cases):
    result = run(
        admin,
        {"subject": "cases", "group_by": ["unit", "status"], "limit": 2},
    )
    sections = list(result.sections)
    assert sum(len(section.rows) for section in sections) == 2
    assert result.truncated
    # Servicios Sociales shows one of its two groups, but its subtotal counts both.
    assert sections[-1].subtotal[2] == 2
    assert result.totals[0][2] == 5
    flat = run(admin, {"subject": "cases", "columns": ["registry_number"], "limit": 3})
    assert len(rows_of(flat)) == 3
    assert flat.truncated
    assert flat.count == 5


def test_money_sums_in_the_base_currency(units, make_user):
    actor = make_user("promotion")
    pipeline = make_pipeline()
    ExchangeRate.objects.create(currency="USD", valid_from=timezone.localdate(), rate=Decimal("2"))
    who = make_person()
    for amount, currency in [("1000", "EUR"), ("500", "USD"), ("250.50", "EUR")]:
        opportunity_create(
            actor=actor,
            title="Patrocinio",
            person=who,
            pipeline=pipeline,
            amount=Decimal(amount),
            currency=currency,
        )
    result = run(
        make_user("management"),
        {
            "subject": "opportunities",
            "group_by": ["currency"],
            "aggregates": [{"column": "amount_base", "function": "sum"}],
        },
    )
    assert rows_of(result) == [["EUR", 2, Decimal("1250.50")], ["USD", 1, Decimal("250.00")]]
    assert result.totals == [["Total", 2 + 1, Decimal("1500.50")]]
    # An amount in its own currency is never summed across currencies.
    with pytest.raises(builder.DefinitionError):
        builder.validate(
            actor,
            {
                "subject": "opportunities",
                "group_by": ["status"],
                "aggregates": [{"column": "amount", "function": "sum"}],
            },
        )


# --- Scoping ----------------------------------------------------------------------------------


def test_a_handler_report_only_has_their_units_cases(make_user, known_cases):
    handler = make_user("case_handler", unit_codes=("urbanismo",))
    result = run(handler, {"subject": "cases", "columns": ["registry_number"]})
    assert {row[0] for row in rows_of(result)} == {
        known_cases[key].registry_number for key in ("u1", "u2", "l1")
    }
    grouped = run(handler, {"subject": "cases", "group_by": ["unit"]})
    assert rows_of(grouped) == [["Licencias", 1], ["Urbanismo", 2]]
    assert grouped.totals[0][1] == 3
    management = make_user("management")
    assert run(management, {"subject": "cases", "group_by": ["unit"]}).count == 5


def test_a_subject_outside_the_users_modules_is_refused(make_user, client_for):
    handler = make_user("case_handler")
    with pytest.raises(builder.DefinitionError) as caught:
        builder.validate(handler, {"subject": "opportunities", "columns": ["title"]})
    assert caught.value.errors == {"subject": ["You may not make reports of this subject."]}
    client = client_for("case_handler")
    assert client.get("/reports/builder/new/?subject=opportunities").status_code == 403
    assert client.get("/reports/builder/new/?subject=cases").status_code == 200
    response = client.post("/reports/builder/new/", {"subject": "visits"})
    assert response.status_code == 403


def test_personal_columns_need_the_citizens_export_permission(make_user):
    make_person("Ana", document_number="12345678Z", email="ana@example.org")
    handler = make_user("case_handler")  # reads citizens, may not export them
    assert "document_number" not in builder.columns_for(handler, "people")
    with pytest.raises(builder.DefinitionError) as caught:
        builder.validate(handler, {"subject": "people", "columns": ["document_number"]})
    assert "may not use" in caught.value.errors["columns"][0]
    # Not as a filter either (it would tell the numbers apart).
    with pytest.raises(builder.DefinitionError):
        builder.validate(
            handler,
            {
                "subject": "people",
                "columns": ["given_name"],
                "filters": [{"column": "document_number", "operator": "starts_with", "value": "1"}],
            },
        )
    service = make_user("citizen_service")
    result = run(
        service, {"subject": "people", "columns": ["given_name", "document_number", "email"]}
    )
    assert rows_of(result) == [["Ana", "12345678Z", "ana@example.org"]]


# --- Exports ----------------------------------------------------------------------------------

GROUPED = {
    "subject": "cases",
    "group_by": ["unit", "status"],
    "aggregates": [{"column": "deadline_days", "function": "sum"}],
}


def export(user, definition, file_format):
    report = builder.validate(user, definition)
    return services.report_export(
        actor=user, report=report, file_format=file_format, title="Casos por unidad"
    )


def test_csv_export_has_the_groups_subtotals_and_total(admin, known_cases):
    exported = export(admin, GROUPED, "csv")
    assert exported.filename.startswith("casos-por-unidad-")
    assert exported.filename.endswith(".csv")
    text = exported.read().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Unit", "Status", "Rows", "Sum of Deadline (business days)"]
    assert rows[1:] == [
        ["Licencias", "Answered", "1", "30"],
        ["Subtotal", "", "1", "30"],
        ["Servicios Sociales", "Received", "1", "15"],
        ["Servicios Sociales", "Answered", "1", "25"],
        ["Subtotal", "", "2", "40"],
        ["Urbanismo", "Received", "1", "10"],
        ["Urbanismo", "In progress", "1", "20"],
        ["Subtotal", "", "2", "30"],
        ["Total", "", "5", "100"],
    ]


def test_xlsx_export_has_the_groups_subtotals_and_total(admin, known_cases):
    exported = export(admin, GROUPED, "xlsx")
    sheet = load_workbook(io.BytesIO(exported.read())).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["Unit", "Status", "Rows", "Sum of Deadline (business days)"]
    assert values[1:] == [
        ["Licencias", "Answered", 1, 30],
        ["Subtotal", None, 1, 30],
        ["Servicios Sociales", "Received", 1, 15],
        ["Servicios Sociales", "Answered", 1, 25],
        ["Subtotal", None, 2, 40],
        ["Urbanismo", "Received", 1, 10],
        ["Urbanismo", "In progress", 1, 20],
        ["Subtotal", None, 2, 30],
        ["Total", None, 5, 100],
    ]
    assert sheet["A10"].font.b
    assert not sheet["A2"].font.b


def test_pdf_export_has_the_groups_subtotals_and_total(admin, known_cases):
    exported = export(admin, GROUPED, "pdf")
    assert exported.content_type == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(exported.read())).pages)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "Casos por unidad" in text
    assert "Servicios Sociales Received 1 15" in lines
    assert "Servicios Sociales Answered 1 25" in lines
    assert "Subtotal 1 30" in lines  # Licencias
    assert "Subtotal 2 40" in lines  # Servicios Sociales
    assert "Subtotal 2 30" in lines  # Urbanismo
    assert "Total 5 100" in lines


def test_exports_neutralise_formulas(admin):
    for name in ('=HYPERLINK("http://x")', "+34", "-1+1", "@SUM(A1)", "Ana"):
        make_person(name)
    definition = {"subject": "people", "columns": ["given_name"], "order_by": []}
    text = export(admin, definition, "csv").read().decode("utf-8-sig")
    cells = {row[0] for row in list(csv.reader(io.StringIO(text)))[1:-1]}
    assert cells == {'\'=HYPERLINK("http://x")', "'+34", "'-1+1", "'@SUM(A1)", "Ana"}
    sheet = load_workbook(io.BytesIO(export(admin, definition, "xlsx").read())).active
    values = {row[0] for row in list(sheet.iter_rows(values_only=True))[1:-1]}
    assert values == cells
    assert all(cell.data_type == "s" for row in sheet.iter_rows(min_row=2) for cell in row[:1])


def test_exports_of_personal_data_are_audited_with_the_row_count(admin, known_cases):
    export(admin, {"subject": "cases", "columns": ["registry_number"]}, "csv").read()
    event = AuditEvent.objects.filter(action="export").latest("id")
    assert event.actor == admin
    assert event.object_type == "reports.cases"
    assert event.changes["rows"] == 5
    assert event.changes["format"] == "csv"
    assert event.changes["report"]["columns"] == ["registry_number"]
    before = AuditEvent.objects.filter(action="export").count()
    export(admin, {"subject": "campaigns", "columns": ["name"]}, "csv").read()
    assert AuditEvent.objects.filter(action="export").count() == before  # no personal data


def test_a_large_csv_export_streams_every_row(admin, monkeypatch):
    monkeypatch.setattr(builder, "EXPORT_CHUNK", 7)  # several chunks of the iterator
    for number in range(40):
        make_person(f"Persona {number:02d}")
    exported = export(admin, {"subject": "people", "columns": ["given_name"], "limit": 5}, "csv")
    rows = list(csv.reader(io.StringIO(exported.read().decode("utf-8-sig"))))
    assert len(rows) == 1 + 40 + 1  # header, every row (the preview limit is not applied), total
    assert rows[-1][0] == "Total: 40 rows"


# --- Saved reports: who sees which --------------------------------------------------------------


def save(user, name="Mis casos", definition=None):
    return services.report_save(
        actor=user,
        name=name,
        definition=definition or {"subject": "cases", "columns": ["registry_number"]},
    )


def test_a_private_report_is_a_404_for_anyone_else(make_user, client_for, known_cases):
    owner = make_user("case_handler")
    report = save(owner)
    other = client_for("case_handler")
    for url in (
        f"/reports/builder/{report.pk}/",
        f"/reports/builder/{report.pk}/edit/",
        f"/reports/builder/{report.pk}/export/csv/",
    ):
        assert other.get(url).status_code == 404
    assert other.post(f"/reports/builder/{report.pk}/delete/").status_code == 404
    assert "Mis casos" not in other.get("/reports/builder/").text
    assert SavedReport.objects.filter(pk=report.pk).exists()


def test_a_shared_report_shows_each_reader_their_own_rows(make_user, client, known_cases):
    owner = make_user("management")
    report = save(owner, "Todos los casos")
    services.report_share(
        actor=owner, report=report, groups=[Group.objects.get(name="case_handler")]
    )
    reader = make_user("case_handler", unit_codes=("servicios-sociales",))
    client.force_login(reader)
    listing = client.get("/reports/builder/")
    assert "Todos los casos" in listing.text
    page = client.get(f"/reports/builder/{report.pk}/")
    assert page.status_code == 200
    assert known_cases["s1"].registry_number in page.text
    assert known_cases["u1"].registry_number not in page.text  # the owner sees it; not them
    exported = client.get(f"/reports/builder/{report.pk}/export/csv/")
    body = b"".join(exported.streaming_content).decode("utf-8-sig")
    assert known_cases["s2"].registry_number in body
    assert known_cases["l1"].registry_number not in body
    # Shared is not theirs: they may not change or delete it.
    assert client.get(f"/reports/builder/{report.pk}/edit/").status_code == 403
    assert client.post(f"/reports/builder/{report.pk}/delete/").status_code == 403
    # Unshared: gone for them.
    services.report_share(actor=owner, report=report, groups=[])
    assert client.get(f"/reports/builder/{report.pk}/").status_code == 404


def test_a_shared_report_a_reader_may_not_run_says_so(make_user, client):
    owner = make_user("management")
    report = save(owner, "Ventas", {"subject": "opportunities", "columns": ["title"]})
    services.report_share(actor=owner, report=report, groups=[Group.objects.get(name="inspector")])
    client.force_login(make_user("inspector"))
    page = client.get(f"/reports/builder/{report.pk}/")
    assert page.status_code == 200
    assert "You may not run this report" in page.text
    response = client.get(f"/reports/builder/{report.pk}/export/csv/")
    assert response.status_code == 302


def test_only_reports_manage_shares_and_schedules(make_user, client):
    handler = make_user("case_handler")
    report = save(handler)
    client.force_login(handler)
    group = Group.objects.get(name="management")
    assert (
        client.post(f"/reports/builder/{report.pk}/share/", {"roles": [group.pk]}).status_code
        == 403
    )
    assert (
        client.post(
            f"/reports/builder/{report.pk}/schedule/",
            {"schedule": "daily", "file_format": "csv", "send_to_owner": "on"},
        ).status_code
        == 403
    )
    assert not report.shared_with.exists()
    with pytest.raises(PermissionDenied):
        services.report_share(actor=handler, report=report, groups=[group])


# --- The builder's pages ------------------------------------------------------------------------


def test_the_builder_previews_a_posted_report(client_for, known_cases):
    client = client_for("administrator", unit_codes=("ayto",))
    response = client.post(
        "/reports/builder/new/",
        {
            "subject": "cases",
            "columns": ["registry_number", "status"],
            "group_1": "unit",
            "aggregates": ["deadline_days:sum"],
            "order_1_direction": "asc",
            "order_2_direction": "asc",
            "limit": "100",
            "filter-TOTAL_FORMS": "2",
            "filter-INITIAL_FORMS": "0",
            "filter-0-column": "status",
            "filter-0-operator": "in",
            "filter-0-choices": ["received", "answered"],
            "filter-1-column": "",
            "action": "preview",
        },
    )
    assert response.status_code == 200
    html = response.text
    assert "Servicios Sociales" in html
    assert "Licencias" in html
    assert "Urbanismo" in html
    assert "report-total" in html
    assert ">4<" in html
    # The chosen filter is shown with the list of its values, the chosen ones selected.
    assert '<option value="received" selected>' in html


def test_the_builder_shows_errors_next_to_fields_and_keeps_what_was_typed(client_for):
    client = client_for("administrator", unit_codes=("ayto",))
    response = client.post(
        "/reports/builder/new/",
        {
            "subject": "cases",
            "columns": ["registry_number"],
            "limit": "100",
            "filter-TOTAL_FORMS": "1",
            "filter-INITIAL_FORMS": "0",
            "filter-0-column": "filed_at",
            "filter-0-operator": "before",
            "filter-0-value": "ayer por la tarde",
            "action": "save",
            "name": "Casos viejos",
        },
    )
    assert response.status_code == 400
    html = response.text
    assert 'value="ayer por la tarde"' in html
    assert "Enter a date as YYYY-MM-DD." in html
    assert 'href="#id_filter-0-value"' in html  # the summary links to the field
    assert 'value="Casos viejos"' in html
    assert not SavedReport.objects.exists()


def test_saving_redirects_with_a_message_and_editing_keeps_the_definition(client_for, known_cases):
    client = client_for("case_handler")
    data = {
        "subject": "cases",
        "columns": ["registry_number", "status"],
        "order_1": "filed_at",
        "order_1_direction": "desc",
        "limit": "50",
        "filter-TOTAL_FORMS": "1",
        "filter-INITIAL_FORMS": "0",
        "filter-0-column": "deadline_days",
        "filter-0-operator": "gte",
        "filter-0-value": "20",
        "action": "save",
        "name": "Plazos largos",
    }
    response = client.post("/reports/builder/new/", data)
    report = SavedReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reports/builder/{report.pk}/"
    assert report.definition == {
        "subject": "cases",
        "columns": ["registry_number", "status"],
        "filters": [{"column": "deadline_days", "operator": "gte", "value": "20"}],
        "group_by": [],
        "aggregates": [],
        "order_by": [{"column": "filed_at", "descending": True}],
        "limit": 50,
    }
    page = client.get(response["Location"])
    assert "The report “Plazos largos” was saved." in page.text
    assert known_cases["u2"].registry_number in page.text  # Urbanismo, 20 days
    assert known_cases["u1"].registry_number not in page.text  # 10 days
    event = AuditEvent.objects.filter(object_type="reports.savedreport").latest("id")
    assert event.action == "create"
    assert event.changes["name"] == "Plazos largos"
    edit = client.get(f"/reports/builder/{report.pk}/edit/")
    assert 'value="20"' in edit.text
    assert 'value="Plazos largos"' in edit.text
    data["name"] = "Plazos muy largos"
    data["filter-0-value"] = "25"
    assert client.post(f"/reports/builder/{report.pk}/edit/", data).status_code == 302
    report.refresh_from_db()
    assert report.name == "Plazos muy largos"
    assert report.definition["filters"][0]["value"] == "25"
    assert SavedReport.objects.count() == 1


def test_deleting_is_post_only_and_audited(client_for, make_user, client):
    owner = make_user("case_handler")
    report = save(owner)
    client.force_login(owner)
    assert client.get(f"/reports/builder/{report.pk}/delete/").status_code == 405
    response = client.post(f"/reports/builder/{report.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/reports/builder/"
    assert not SavedReport.objects.exists()
    assert AuditEvent.objects.filter(action="delete", object_type="reports.savedreport").exists()


def test_sharing_and_scheduling_through_the_page(make_user, client):
    owner = make_user("management", email="direccion@example.org")
    report = save(owner)
    recipient = make_user("case_handler", email="tramitador@example.org")
    client.force_login(owner)
    group = Group.objects.get(name="case_handler")
    response = client.post(f"/reports/builder/{report.pk}/share/", {"roles": [group.pk]})
    assert response.status_code == 302
    assert list(report.shared_with.all()) == [group]
    # Nobody to send to: the error is next to the field, what was chosen is kept.
    response = client.post(
        f"/reports/builder/{report.pk}/schedule/", {"schedule": "weekly", "file_format": "xlsx"}
    )
    assert response.status_code == 400
    assert "Choose who receives the report." in response.text
    assert '<option value="xlsx" selected>' in response.text
    response = client.post(
        f"/reports/builder/{report.pk}/schedule/",
        {"schedule": "weekly", "file_format": "xlsx", "recipients": [recipient.pk]},
    )
    assert response.status_code == 302
    report.refresh_from_db()
    assert (report.schedule, report.file_format, report.send_to_owner) == ("weekly", "xlsx", False)
    assert list(report.recipients.all()) == [recipient]


def test_the_export_view_sends_a_file_named_after_the_report(client_for, make_user, client):
    owner = make_user("case_handler")
    report = save(owner, "Casos abiertos")
    client.force_login(owner)
    response = client.get(f"/reports/builder/{report.pk}/export/xlsx/")
    assert response.status_code == 200
    assert response["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
    assert 'filename="casos-abiertos-' in response["Content-Disposition"]
    assert client.get(f"/reports/builder/{report.pk}/export/doc/").status_code == 404


def test_a_long_pdf_is_made_by_a_document_job(
    make_user, client, known_cases, monkeypatch, settings, tmp_path
):
    from reports import jobs
    from reports.models import DocumentJob
    from reports.views import builder as builder_views

    settings.MEDIA_ROOT = tmp_path / "media"
    queued: list[int] = []
    monkeypatch.setattr(jobs, "_queue", queued.append)
    monkeypatch.setattr(builder_views, "PDF_SYNC_ROWS", 2)  # 5 rows: a long report
    owner = make_user("case_handler", unit_codes=("ayto",))
    report = save(owner, "Todos mis casos", {"subject": "cases", "columns": ["registry_number"]})
    client.force_login(owner)
    first = client.get(f"/reports/builder/{report.pk}/export/pdf/")
    job = DocumentJob.objects.get()
    assert first.status_code == 302
    assert first["Location"] == f"/reports/documents/{job.pk}/"
    assert (job.owner, job.kind, job.params["report"]) == (owner, "report", report.pk)
    # The worker's run (here, in this process) makes the PDF with the owner's scope.
    done = jobs.run_job(job.pk, token="test-run")
    assert done.status == DocumentJob.Status.DONE
    with done.file.open("rb") as handle:
        text = " ".join(page.extract_text() for page in PdfReader(handle).pages)
    assert "Total: 5 rows" in " ".join(text.split())
    assert all(case.registry_number in text for case in known_cases.values())
    event = AuditEvent.objects.filter(action="export", object_type="reports.cases").latest("id")
    assert event.changes["reason"] == "document job"
    # Under the limit: the PDF comes at once.
    monkeypatch.setattr(builder_views, "PDF_SYNC_ROWS", 10)
    response = client.get(f"/reports/builder/{report.pk}/export/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert DocumentJob.objects.count() == 1


def test_the_live_preview_answers_with_the_table_or_the_errors(client_for, known_cases):
    client = client_for("case_handler", unit_codes=("servicios-sociales",))
    data = {
        "subject": "cases",
        "group_1": "status",
        "limit": "100",
        "filter-TOTAL_FORMS": "1",
        "filter-INITIAL_FORMS": "0",
        "filter-0-column": "",
    }
    response = client.post("/reports/builder/preview/", data)
    assert response.status_code == 200
    assert "<table" in response.text
    assert "Preview updated: 2 records." in response.text  # their unit's two cases
    assert 'hx-swap-oob="true"' in response.text
    data.update(
        {"filter-0-column": "filed_at", "filter-0-operator": "after", "filter-0-value": "x"}
    )
    response = client.post("/reports/builder/preview/", data)
    assert response.status_code == 200
    assert "<table" not in response.text
    assert "Enter a date as YYYY-MM-DD." in response.text
    assert client.post("/reports/builder/preview/", {"subject": "visits"}).status_code == 403
    assert client.get("/reports/builder/preview/").status_code == 405
    assert not SavedReport.objects.exists()


def test_a_new_report_starts_with_a_few_columns_and_no_preview(client_for, known_cases):
    client = client_for("case_handler")
    response = client.get("/reports/builder/new/?subject=cases")
    assert response.status_code == 200
    assert "<table" not in response.text  # nothing counted before it is asked for
    inputs = re.findall(r'<input[^>]*name="columns"[^>]*>', response.text)
    checked = [re.search(r'value="([^"]+)"', tag).group(1) for tag in inputs if "checked" in tag]
    assert checked == ["registry_number", "filed_at", "channel", "case_type"]
    assert client.get("/reports/builder/new/").status_code == 302  # no subject: the list
