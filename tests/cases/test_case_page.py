"""The case page: what it shows, the audited read, who sees it (another unit's case is a 404),
a fixed number of queries, and the staff downloads of files and documents."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case, CaseEntry
from cases.services import (
    Upload,
    case_assign,
    case_comment,
    case_request_information,
    case_task_add,
)
from crm.documents import issue_document
from crm.models import AuditAction, AuditEvent
from tests.cases.staff import file_case

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def english(settings, tmp_path):
    settings.LANGUAGE_CODE = "en"
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",), first_name="Marta")


@pytest.fixture
def desk(make_user):
    return make_user("citizen_service", unit_codes=("ayto",))


@pytest.fixture
def case(units):
    return file_case(uploads=[Upload(name="foto.pdf", content=PDF, content_type="application/pdf")])


def url(case: Case, suffix: str = "") -> str:
    return f"/cases/{case.pk}/{suffix}"


def test_the_page_shows_the_case_its_filer_deadline_tasks_files_and_history(
    case, handler, desk, client, units
):
    case_assign(case=case, actor=desk, unit=units["urbanismo"], assignee=handler)
    case_comment(case=case, actor=handler, text="Avisado el servicio de alumbrado.")
    case_task_add(case=case, actor=handler, unit=units["servicios-sociales"], description="Visita")
    case_request_information(case=case, actor=handler, text="¿En qué número exactamente?")
    client.force_login(desk)

    response = client.get(url(case))

    assert response.status_code == 200
    text = response.text
    for shown in (
        case.registry_number,
        "Complaint",  # the type
        "Farola apagada",
        "La farola de la calle Mayor 3",
        "Web form",  # the channel
        "Urbanismo",
        "Marta",  # the handler
        "Waiting for the citizen",
        "Ana Ruiz Gil",
        "12345678Z",
        "ana@example.org",
        "Servicios Sociales",  # a task
        "Visita",
        "foto.pdf",
        "Suspended",  # the traffic light of a stopped clock
        "Clock stopped",
        "Citizen's reply due",
    ):
        assert shown in text, shown
    # The person's 360° page.
    assert f'href="/citizens/people/{case.person_id}/"' in text
    # The suspension, with its start.
    suspensions = re.search(r'<ul class="mb-0" id="suspensions">(.*?)</ul>', text, re.S).group(1)
    assert case.suspensions.get().started_on.strftime("%m/%d/%Y") in suspensions
    assert "still stopped" in suspensions
    # History: internal and public entries told apart.
    comment = CaseEntry.objects.get(case=case, kind="comment")
    request = CaseEntry.objects.get(case=case, kind="information_request")
    comment_html = re.search(rf'id="entry-{comment.pk}">(.*?)</li>', text, re.S).group(1)
    request_html = re.search(rf'id="entry-{request.pk}">(.*?)</li>', text, re.S).group(1)
    assert "Internal" in comment_html
    assert "Seen by the citizen" not in comment_html
    assert "Seen by the citizen" in request_html
    assert "Internal" not in request_html
    assert "Avisado el servicio de alumbrado." in comment_html
    # The attachment links to the staff download.
    attachment = case.attachments.get()
    assert f'href="/cases/{case.pk}/attachments/{attachment.pk}/"' in text


def test_reading_the_page_is_audited(case, desk, client):
    client.force_login(desk)
    client.get(url(case))
    event = AuditEvent.objects.filter(action=AuditAction.READ, object_type="cases.case").get()
    assert event.object_id == str(case.pk)
    assert event.actor == desk
    assert event.changes["what"] == "detail"


def test_the_running_clock_shows_days_left_and_the_light(case, client, desk):
    client.force_login(desk)
    text = client.get(url(case)).text
    assert 'data-state="on_time"' in text
    assert re.search(r"\d+ business days left", text)
    assert case.due_date.strftime("%m/%d/%Y") in text


@pytest.mark.parametrize(
    ("role", "unit", "status"),
    [
        ("case_handler", "urbanismo", 200),
        ("case_handler", "ayto", 200),  # a parent unit sees the cases below it
        ("case_handler", "licencias", 404),  # a sub-unit does not see its parent's
        ("case_handler", "servicios-sociales", 404),
        ("citizen_service", "servicios-sociales", 200),  # every unit
        ("data_protection_officer", "servicios-sociales", 200),
        ("communication", "urbanismo", 403),  # no cases module
    ],
)
def test_who_sees_the_case(case, client_for, role, unit, status):
    assert client_for(role, unit_codes=(unit,)).get(url(case)).status_code == status


def test_the_dpo_reads_without_a_single_form(case, client_for):
    text = client_for("data_protection_officer", unit_codes=()).get(url(case)).text
    assert case.registry_number in text
    assert 'id="actions"' not in text
    assert 'method="post" action="/cases/' not in text


def test_a_missing_case_is_a_404(units, client_for):
    assert client_for("citizen_service").get("/cases/999999/").status_code == 404


def test_the_page_costs_the_same_whatever_its_history(
    case, handler, client, django_assert_max_num_queries
):
    client.force_login(handler)
    client.get(url(case))

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(case)).status_code == 200
        return len(captured.captured_queries)

    few = count()
    for number in range(25):
        case_comment(case=case, actor=handler, text=f"Nota {number}")
    assert count() == few
    with django_assert_max_num_queries(30):
        client.get(url(case))


def test_the_case_and_what_it_points_to_are_one_query_planned_in_written_order(
    case, handler, client
):
    # Planning its eleven joins in every order took 30 times longer than running it.
    client.force_login(handler)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url(case)).status_code == 200
    sqls = [query["sql"] for query in captured.captured_queries]
    [read] = [
        index
        for index, sql in enumerate(sqls)
        if sql.startswith('SELECT "cases_case"."id"') and '"citizens_person"' in sql
    ]
    [written_order, back] = [
        index
        for index, sql in enumerate(sqls)
        if sql.startswith("SELECT set_config('join_collapse_limit'")
    ]
    assert sqls[written_order] == "SELECT set_config('join_collapse_limit', '1', true)"
    assert written_order < read < back


# --- Downloads -----------------------------------------------------------------------------------


def test_attachments_come_from_private_storage_to_who_sees_the_case(case, client_for, desk, client):
    attachment = case.attachments.get()
    client.force_login(desk)
    response = client.get(url(case, f"attachments/{attachment.pk}/"))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert "foto.pdf" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.filter(action=AuditAction.READ, object_type="cases.case").get()
    assert event.changes == {"what": "attachment", "attachment": attachment.pk, "name": "foto.pdf"}

    other = client_for("case_handler", unit_codes=("servicios-sociales",))
    assert other.get(url(case, f"attachments/{attachment.pk}/")).status_code == 404
    another_case = file_case()
    assert client.get(url(another_case, f"attachments/{attachment.pk}/")).status_code == 404


def test_the_receipt_and_answer_documents_download(case, desk, client):
    client.force_login(desk)
    assert client.get(url(case, "documents/receipt/")).status_code == 404  # not issued yet
    document = issue_document(
        kind="receipt", title="Justificante", template_name="pdf/base.html", context={}
    )
    Case.objects.filter(pk=case.pk).update(receipt=document)
    page = client.get(url(case)).text
    assert f'href="/cases/{case.pk}/documents/receipt/"' in page
    assert document.display_code in page
    response = client.get(url(case, "documents/receipt/"))
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    assert response["Content-Type"] == "application/pdf"
    assert client.get(url(case, "documents/answer/")).status_code == 404
    assert client.get(url(case, "documents/other/")).status_code == 404
    assert AuditEvent.objects.filter(
        action=AuditAction.READ, object_type="cases.case", changes__what="receipt"
    ).exists()
