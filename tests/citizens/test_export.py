"""Export of the filtered list of people to CSV and XLSX: content, formulas neutralised,
permission, audit, blocked people left out, read in chunks."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from citizens.models import Person
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    person_create,
)
from citizens.views import directory
from crm.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

CSV_URL = "/citizens/export/csv/"
XLSX_URL = "/citizens/export/xlsx/"
SERVICE = "citizen_service"


@pytest.fixture
def client(client_for):
    return client_for(SERVICE)


@pytest.fixture
def people(db):
    jose = person_create(
        actor=None,
        given_name="José",
        first_surname="García",
        second_surname="Núñez",
        document_type="dni",
        document_number="12345678Z",
        tags=["vecino", "mayores"],
        contacts=Contacts(
            emails=[EmailInput("jose@example.org"), EmailInput("pepe@example.net")],
            phones=[PhoneInput("600123456"), PhoneInput("+33 1 42 68 53 00")],
            addresses=[
                AddressInput(street="Calle Mayor", number="1", municipality="Zaragoza"),
                AddressInput(
                    street="Plaza España",
                    number="2",
                    postcode="42001",
                    municipality="Soria",
                    is_notification=True,
                ),
            ],
        ),
    )
    evil = person_create(
        actor=None,
        given_name='=HYPERLINK("http://evil.example","pulse")',
        first_surname="+García",
        second_surname="-1+2",
        tags=["@sum(a1)"],
        contacts=Contacts(emails=[EmailInput("evil@example.org")]),
    )
    ana = person_create(actor=None, given_name="Ana", first_surname="López")
    return jose, evil, ana


def csv_rows(response) -> list[list[str]]:
    assert response.streaming
    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufeff")
    return list(csv.reader(io.StringIO(content[1:])))


def xlsx_content(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def xlsx_rows(response) -> list[list]:
    content = xlsx_content(response)
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    sheet = workbook.worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return rows


def test_csv_has_every_column_of_the_filtered_people(client, people):
    jose, _evil, _ana = people
    response = client.get(CSV_URL, {"q": "jose garcia"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="citizens-')
    header, *rows = csv_rows(response)
    assert len(header) == 11
    assert rows == [
        [
            str(jose.pk),
            "José",
            "García",
            "Núñez",
            "DNI",
            "12345678Z",  # in full: an export is for those allowed to export
            "jose@example.org; pepe@example.net",
            "600 12 34 56; +33 1 42 68 53 00",
            "Plaza España 2, 42001, Soria",
            "mayores, vecino",
            timezone.localtime(jose.created_at)
            .replace(microsecond=0, tzinfo=None)
            .isoformat(sep=" "),
        ]
    ]


def test_csv_follows_the_list_order_and_filters(client, people):
    _jose, evil, ana = people
    Person.objects.filter(pk=ana.pk).update(created_at=timezone.now() - timezone.timedelta(days=3))
    _header, *rows = csv_rows(client.get(CSV_URL))
    assert [row[0] for row in rows] == [str(p.pk) for p in (people[1], people[0], people[2])]
    _header, *rows = csv_rows(client.get(CSV_URL, {"order": "newest"}))
    assert [row[0] for row in rows][-1] == str(ana.pk)
    _header, *rows = csv_rows(client.get(CSV_URL, {"municipality": "soria"}))
    assert [row[0] for row in rows] == [str(people[0].pk)]
    assert evil  # used above


def test_formulas_are_neutralised_in_csv(client, people):
    _header, *rows = csv_rows(client.get(CSV_URL, {"q": "evil@example.org"}))
    (row,) = rows
    assert row[1] == '\'=HYPERLINK("http://evil.example","pulse")'
    assert row[2] == "'+García"
    assert row[3] == "'-1+2"
    assert row[9] == "'@sum(a1)"
    for value in row:
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_xlsx_has_the_same_content_and_no_formulas(client, people):
    jose, _evil, _ana = people
    response = client.get(XLSX_URL)
    assert response.status_code == 200
    assert response["Content-Type"] == directory.XLSX_TYPE
    assert 'filename="citizens-' in response["Content-Disposition"]
    header, *rows = xlsx_rows(response)
    assert len(header) == 11
    by_id = {row[0]: row for row in rows}
    assert set(by_id) == {p.pk for p in people}
    row = by_id[jose.pk]
    assert row[1:9] == [
        "José",
        "García",
        "Núñez",
        "DNI",
        "12345678Z",
        "jose@example.org; pepe@example.net",
        "600 12 34 56; +33 1 42 68 53 00",
        "Plaza España 2, 42001, Soria",
    ]
    assert isinstance(row[10], datetime)
    assert row[10] == timezone.localtime(jose.created_at).replace(microsecond=0, tzinfo=None)
    evil = by_id[people[1].pk]
    assert evil[1].startswith("'=")
    assert evil[2] == "'+García"
    assert evil[9] == "'@sum(a1)"


def test_xlsx_cells_are_text_not_formulas(client, people):
    response = client.get(XLSX_URL, {"q": "evil@example.org"})
    workbook = load_workbook(io.BytesIO(xlsx_content(response)))
    sheet = workbook.worksheets[0]
    assert [cell.data_type for cell in sheet[2][1:4]] == ["s", "s", "s"]


def test_blocked_people_are_not_exported(client, people):
    jose, _evil, _ana = people
    Person.objects.filter(pk=jose.pk).update(blocked_at=timezone.now())
    _header, *rows = csv_rows(client.get(CSV_URL))
    assert str(jose.pk) not in [row[0] for row in rows]
    assert len(rows) == 2
    _header, *xrows = xlsx_rows(client.get(XLSX_URL))
    assert jose.pk not in [row[0] for row in xrows]


@pytest.mark.parametrize("url", [CSV_URL, XLSX_URL])
@pytest.mark.parametrize(
    "role", ["case_handler", "communication", "promotion", "inspector", "data_protection_officer"]
)
def test_only_roles_with_export_may_export(client_for, people, url, role):
    before = AuditEvent.objects.filter(action=AuditAction.EXPORT).count()
    assert client_for(role).get(url).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == before


def test_the_list_offers_export_only_to_those_who_may(client_for, people):
    assert CSV_URL in client_for(SERVICE).get("/citizens/?q=garcia").text
    assert XLSX_URL in client_for("administrator").get("/citizens/").text
    assert CSV_URL not in client_for("case_handler").get("/citizens/").text
    export_link = f'href="{CSV_URL}?q=garcia&amp;tag=vecino"'
    assert (
        export_link
        in client_for(SERVICE, username="other")
        .get("/citizens/", {"q": "garcia", "tag": "vecino"})
        .text
    )


@pytest.mark.parametrize(("url", "file_format"), [(CSV_URL, "csv"), (XLSX_URL, "xlsx")])
def test_every_export_is_audited_with_its_filters(client, people, url, file_format):
    response = client.get(url, {"q": "garcia", "tag": "vecino", "created_from": "2020-01-01"})
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("id")
    assert event.actor_username == SERVICE
    assert event.object_type == "citizens.person"
    assert event.changes == {
        "format": file_format,
        "filters": {"q": "garcia", "tag": "vecino", "created_from": "2020-01-01"},
    }


def test_a_bad_filter_shows_the_list_with_the_error_and_exports_nothing(client, people):
    response = client.get(CSV_URL, {"created_to": "31/02/2024x"})
    assert response.status_code == 200
    assert not response.streaming
    assert 'id="filter-errors"' in response.text
    assert 'value="31/02/2024x"' in response.text
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_a_large_export_is_read_in_chunks(client, people, monkeypatch):
    for index in range(4):
        person_create(
            actor=None,
            given_name=f"Persona {index}",
            contacts=Contacts(emails=[EmailInput(f"p{index}@example.org")]),
        )
    monkeypatch.setattr(directory, "EXPORT_CHUNK", 2)
    with CaptureQueriesContext(connection) as queries:
        _header, *rows = csv_rows(client.get(CSV_URL))
    assert len(rows) == 7
    # Each chunk of 2 people fetches its own emails, phones and addresses: 4 chunks.
    email_queries = [q for q in queries.captured_queries if "citizens_emailaddress" in q["sql"]]
    assert len(email_queries) == 4
