"""Import of people and organisations from CSV and XLSX: upload, columns (remembered), dry run,
the run in batches, matching (document → email → phone, never a duplicate), the report of the
rejected rows, bad files, and an import resumed after its worker was SIGKILLed.

Most tests call the services and views in this process; the ``celery_worker`` ones go through a
real worker and Redis."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import redis
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from citizens import import_files, imports, tasks
from citizens.models import (
    CustomField,
    EmailAddress,
    ImportJob,
    ImportMapping,
    ImportRow,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
)
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    organization_create,
    person_create,
)
from crm.models import AuditAction, AuditEvent
from tests.fixtures.browser import assert_accessible, assert_no_console_errors, log_in

Status = ImportJob.Status
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
HEADER = ["Nombre", "Primer apellido", "DNI", "Correo electrónico", "Teléfono", "Municipio"]


def dni(number: int) -> str:
    return f"{number:08d}{DNI_LETTERS[number % 23]}"


def csv_bytes(rows: list[list[str]], *, delimiter=";", encoding="utf-8", bom=False) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# A file with a bit of everything: accents, good rows, and rows that must be rejected.
MIXED_ROWS = [
    HEADER,
    ["José", "Núñez", "12345678Z", "jose@example.org", "600 12 34 56", "Ávila"],
    ["María", "Peña", "", "maria@example.org", "", ""],
    ["Íñigo", "Ortiz", "12345678A", "inigo@example.org", "", ""],  # wrong check letter
    ["Lucía", "Gómez", dni(11), "no-es-un-correo", "", ""],  # bad email
    ["Ramón", "Ruiz", dni(12), "", "12", ""],  # not a phone
    ["", "Sinnombre", dni(13), "", "", ""],  # a new person needs a given name
    ["", "", "", "", "", ""],  # blank: not a row
    ["Ana", "Sanz", "X1234567L", "", "", ""],  # NIE
]


@pytest.fixture(autouse=True)
def english(settings):
    """Our own strings are translated later, in one pass: the tests read the English UI."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def manager(make_user):
    return make_user("citizen_service")


def upload(user, content: bytes, name="personas.csv", kind="person", **options) -> ImportJob:
    return imports.job_create(
        actor=user, kind=kind, upload=SimpleUploadedFile(name, content), **options
    )


def check(job: ImportJob, user, mapping: list[str] | None = None) -> ImportJob:
    """Choose the columns (the suggested ones by default) and run the dry run here."""
    if mapping is None:
        mapping = import_files.suggest_mapping(job.kind, job.headers, {})
    imports.job_set_mapping(job=job, actor=user, mapping=mapping)
    imports.dry_run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.VALIDATED
    return job


def run_here(job: ImportJob, user) -> ImportJob:
    """What the worker does, in this process."""
    imports.job_start(job=job, actor=user)
    imports.run(job.pk, token="test-run")
    job.refresh_from_db()
    return job


def results(job: ImportJob) -> dict[int, str]:
    return dict(job.rows.order_by("row_number").values_list("row_number", "action"))


# --- Reading files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter", "expected_encoding"),
    [
        ("utf-8", False, ";", "utf-8"),
        ("utf-8", True, ",", "utf-8"),
        ("cp1252", False, ",", "windows-1252"),
        ("cp1252", False, ";", "windows-1252"),
    ],
    ids=["utf8-semicolon", "utf8-bom-comma", "cp1252-comma", "cp1252-semicolon"],
)
@pytest.mark.django_db
def test_dry_run_then_import_of_good_and_bad_rows(
    media, manager, encoding, bom, delimiter, expected_encoding
):
    content = csv_bytes(MIXED_ROWS, delimiter=delimiter, encoding=encoding, bom=bom)
    job = upload(manager, content)

    assert (job.encoding, job.delimiter) == (expected_encoding, delimiter)
    assert job.headers == HEADER  # no BOM left in the first column name
    assert job.total_rows == 7
    mapping = import_files.suggest_mapping("person", job.headers, {})
    assert mapping == [
        "given_name",
        "first_surname",
        "document_number",
        "email",
        "phone",
        "municipality",
    ]
    mapping[5] = ""  # an address needs a street too: ignore the municipality

    job = check(job, manager, mapping)

    assert job.dry_run["counts"] == {"create": 3, "update": 0, "skip": 0, "reject": 4}
    assert [row["row"] for row in job.dry_run["rows"]["create"]] == [2, 3, 9]
    rejected = {row["row"]: row["errors"] for row in job.dry_run["rows"]["reject"]}
    assert {row: [error["field"] for error in errors] for row, errors in rejected.items()} == {
        4: ["document_number"],
        5: ["email"],
        6: ["phone"],
        7: ["given_name"],
    }
    assert not Person.objects.exists()  # a dry run writes nothing

    job = run_here(job, manager)

    assert job.status == Status.DONE
    assert not job.file  # deleted once the transaction commits
    assert (job.created_count, job.updated_count, job.skipped_count, job.rejected_count) == (
        3,
        0,
        0,
        4,
    )
    assert job.processed_rows == job.total_rows == 7
    assert results(job) == {
        2: "create",
        3: "create",
        4: "reject",
        5: "reject",
        6: "reject",
        7: "reject",
        9: "create",
    }
    jose = Person.objects.get(document_number="12345678Z")
    assert (jose.given_name, jose.first_surname, jose.document_type) == ("José", "Núñez", "dni")
    assert jose.created_by == manager
    assert list(jose.emailaddress_set.values_list("address", "is_primary")) == [
        ("jose@example.org", True)
    ]
    assert list(jose.phonenumber_set.values_list("number", "kind")) == [("+34600123456", "mobile")]
    # search_text as the services build it: the list finds them.
    assert set(Person.objects.search("jose nunez")) == {jose}
    assert set(Person.objects.search("600123456")) == {jose}
    assert Person.objects.get(document_number="X1234567L").document_type == "nie"
    assert Person.objects.get(given_name="María").document_number == ""
    # The rejected rows keep their values for the report; the others do not.
    assert job.rows.get(row_number=4).values == MIXED_ROWS[3]
    assert job.rows.get(row_number=2).values == []


@pytest.mark.django_db
def test_an_xlsx_file_with_numbers_and_dates_in_its_cells(media, manager):
    header = ["Nombre", "Apellido 1", "Tipo de documento", "Documento", "Móvil", "Nacimiento"]
    content = xlsx_bytes(
        [
            header,
            ["Pilar", "Lago", "Pasaporte", "AB123456", 600123456, datetime(1980, 5, 17)],
            ["Óscar", "Ríos", "DNI", dni(7), 915551234, "17/05/2090"],
            [None, None, None, None, None, None],
            ["Eva", "Mora", None, dni(8), None, "03/02/1975"],
        ]
    )

    job = upload(manager, content, name="personas.xlsx")

    assert (job.file_format, job.encoding, job.delimiter) == ("xlsx", "", "")
    job = run_here(check(job, manager), manager)
    assert results(job) == {2: "create", 3: "reject", 5: "create"}
    pilar = Person.objects.get(given_name="Pilar")
    assert (pilar.document_type, pilar.document_number) == ("passport", "AB123456")
    assert pilar.birth_date == date(1980, 5, 17)
    assert pilar.phonenumber_set.get().number == "+34600123456"
    assert Person.objects.get(given_name="Eva").birth_date == date(1975, 2, 3)
    [error] = job.rows.get(row_number=3).errors
    assert error["field"] == "birth_date"


@pytest.mark.django_db
def test_an_organisation_import_matches_by_tax_id(media, manager):
    existing = organization_create(actor=None, name="Peña El Cierzo", tax_id="G12345674")
    content = csv_bytes(
        [
            ["Razón social", "CIF", "Tipo", "Web", "Email"],
            ["Peña El Cierzo (nueva junta)", "g-12345674", "Asociación", "", "junta@cierzo.org"],
            ["Ferretería López SL", "B12345674", "empresa", "ferreterialopez.es", ""],
            ["Mal CIF SA", "B12345670", "", "", ""],
            ["Tipo raro", "", "Sindicato", "", ""],
        ]
    )
    job = run_here(check(upload(manager, content, kind="organization"), manager), manager)

    assert results(job) == {2: "update", 3: "create", 4: "reject", 5: "reject"}
    existing.refresh_from_db()
    assert existing.name == "Peña El Cierzo (nueva junta)"
    assert existing.kind == "association"
    assert list(existing.emailaddress_set.values_list("address", flat=True)) == ["junta@cierzo.org"]
    shop = Organization.objects.get(tax_id="B12345674")
    assert (shop.kind, shop.website) == ("company", "https://ferreterialopez.es")
    assert Organization.objects.count() == 2
    assert job.rows.get(row_number=4).errors[0]["field"] == "tax_id"
    assert job.rows.get(row_number=5).errors[0]["field"] == "kind"


# --- Matching ---------------------------------------------------------------------------------


@pytest.fixture
def people(db):
    """Existing people: found by document, by email, by phone; two share an email."""

    def make(given_name, document="", emails=(), phones=()):
        return person_create(
            actor=None,
            given_name=given_name,
            document_type="dni" if document else "",
            document_number=document,
            contacts=Contacts(
                emails=[EmailInput(e) for e in emails], phones=[PhoneInput(p) for p in phones]
            ),
        )

    return {
        "ana": make("Ana", dni(1), emails=["ana@example.org"]),
        "bea": make("Bea", emails=["bea@example.org"]),
        "carmen": make("Carmen", phones=["600000003"]),
        "dora": make("Dora", dni(4), emails=["familia@example.org"]),
        "elena": make("Elena", emails=["familia@example.org"]),
    }


@pytest.mark.django_db
def test_matching_by_document_then_email_then_phone(media, manager, people):
    content = csv_bytes(
        [
            ["Nombre", "DNI", "Email", "Teléfono"],
            # 2: the document wins over an email of someone else
            ["Ana María", dni(1), "bea@example.org", ""],
            # 3: by email (no document in the row): Bea gets the document and a phone
            ["", dni(2), "BEA@example.org", "600000002"],
            # 4: by phone
            ["Carmen", "", "carmen@example.org", "+34 600 00 00 03"],
            # 5: the email of a person with another document: someone else, a new person
            ["Fina", dni(6), "ana@example.org", ""],
            # 6: an email two people share, and no document: not guessed
            ["Familia", "", "familia@example.org", ""],
            # 7: nothing new for Ana
            ["Ana María", dni(1), "", ""],
        ]
    )
    job = run_here(check(upload(manager, content), manager), manager)

    assert results(job) == {
        2: "update",
        3: "update",
        4: "update",
        5: "create",
        6: "reject",
        7: "skip",
    }
    ana, bea, carmen = (Person.objects.get(pk=people[key].pk) for key in ("ana", "bea", "carmen"))
    assert ana.given_name == "Ana María"
    assert set(ana.emailaddress_set.values_list("address", flat=True)) == {
        "ana@example.org",
        "bea@example.org",
    }
    assert (bea.document_type, bea.document_number) == ("dni", dni(2))
    assert bea.phonenumber_set.get().number == "+34600000002"
    assert "600000002" in bea.search_text
    assert dni(2).lower() in bea.search_text
    assert set(carmen.emailaddress_set.values_list("address", "is_primary")) == {
        ("carmen@example.org", True)
    }
    fina = Person.objects.get(given_name="Fina")
    assert list(fina.emailaddress_set.values_list("address", flat=True)) == ["ana@example.org"]
    assert job.rows.get(row_number=2).target_id == ana.pk
    assert job.rows.get(row_number=4).target_id == carmen.pk
    assert job.rows.get(row_number=6).errors[0]["field"] == "email"
    assert Person.objects.count() == 6


@pytest.mark.django_db
def test_rows_of_one_file_never_create_two_records_of_the_same_person(media, manager):
    content = csv_bytes(
        [
            ["Nombre", "DNI", "Email", "Teléfono"],
            ["Rosa", dni(21), "rosa@example.org", ""],
            ["Rosa", "", "", "600000021"],  # a new person: no key links her to row 2
            ["Rosa", dni(21), "", "600000022"],  # row 2 again, by document
            ["Rosa M.", "", "rosa@example.org", ""],  # row 2 again, by email
            ["Rosa", "", "", "600000021"],  # row 3 again, by phone
        ]
    )
    job = upload(manager, content)
    job.batch_size = 2  # rows 2-3, 4-5, 6: matches across batches as well as within one
    job.save()
    job = check(job, manager)
    assert job.dry_run["counts"] == {"create": 2, "update": 2, "skip": 1, "reject": 0}

    job = run_here(job, manager)

    assert results(job) == {2: "create", 3: "create", 4: "update", 5: "update", 6: "skip"}
    assert Person.objects.count() == 2
    rosa = Person.objects.get(document_number=dni(21))
    assert rosa.given_name == "Rosa M."
    assert list(rosa.phonenumber_set.values_list("number", flat=True)) == ["+34600000022"]
    assert job.rows.get(row_number=6).target_id == job.rows.get(row_number=3).target_id


@pytest.mark.django_db
def test_importing_the_same_file_again_changes_nothing(media, manager):
    rows = [HEADER]
    rows += [[f"Persona{n}", "Apellido", dni(n), f"p{n}@example.org", "", ""] for n in range(1, 6)]
    run_here(check(upload(manager, csv_bytes(rows)), manager), manager)
    assert Person.objects.count() == 5

    job = upload(manager, csv_bytes(rows))
    job = check(job, manager)
    assert job.dry_run["counts"] == {"create": 0, "update": 0, "skip": 5, "reject": 0}
    job = run_here(job, manager)

    assert (job.created_count, job.skipped_count) == (0, 5)
    assert Person.objects.count() == 5
    assert EmailAddress.objects.count() == 5


@pytest.mark.django_db
def test_erased_and_restricted_people_are_not_touched(media, manager, people):
    Person.objects.filter(pk=people["ana"].pk).update(blocked_at=timezone.now())
    Person.objects.filter(pk=people["bea"].pk).update(restricted_at=timezone.now())
    content = csv_bytes(
        [["Nombre", "DNI", "Email"], ["Ana", dni(1), ""], ["Bea", "", "bea@example.org"]]
    )
    job = run_here(check(upload(manager, content), manager), manager)

    assert results(job) == {2: "reject", 3: "reject"}
    assert Person.objects.get(pk=people["bea"].pk).given_name == "Bea"
    assert Person.objects.count() == 5


@pytest.mark.django_db
def test_addresses_tags_and_custom_fields(media, manager):
    CustomField.objects.create(applies_to="person", key="hijos", label="Hijos", type="number")
    CustomField.objects.create(
        applies_to="person", key="barrio", label="Barrio", type="choice", choices=["Centro"]
    )
    header = ["Nombre", "DNI", "Calle", "Número", "CP", "Municipio", "Etiquetas", "Hijos", "Barrio"]
    street = ["Calle Mayor", "3", "42001", "Soria"]
    content = csv_bytes(
        [
            header,
            ["Teo", dni(31), *street, "Vecino, Voluntario", "2", "centro"],
            ["Teo", dni(31), *street, "mayor", "", ""],
            ["Teo", dni(31), "Plaza Nueva", "", "", "Soria", "", "1,5", ""],
            ["Uxue", dni(32), "Calle Sola", "", "", "", "", "dos", "Afueras"],
        ]
    )
    job = upload(manager, content)
    mapping = import_files.suggest_mapping("person", job.headers, {})
    assert mapping[-2:] == ["custom:hijos", "custom:barrio"]
    job = run_here(check(job, manager, mapping), manager)

    assert results(job) == {2: "create", 3: "update", 4: "update", 5: "reject"}
    teo = Person.objects.get(document_number=dni(31))
    assert teo.tags == ["mayor", "vecino", "voluntario"]
    assert teo.custom == {"hijos": 1.5, "barrio": "Centro"}
    addresses = teo.postaladdress_set.order_by("id").values_list("street", "is_notification")
    assert list(addresses) == [("Calle Mayor", True), ("Plaza Nueva", False)]
    fields = {error["field"] for error in job.rows.get(row_number=5).errors}
    assert fields == {"street", "custom:hijos", "custom:barrio"}
    assert PostalAddress.objects.count() == 2
    assert teo.municipalities == ["soria"]


@pytest.mark.django_db
def test_imported_addresses_give_the_municipalities_the_list_filters_on(media, manager):
    vera = person_create(
        actor=None,
        given_name="Vera",
        document_type="dni",
        document_number=dni(41),
        contacts=Contacts(addresses=[AddressInput(street="Calle Real", municipality="Ávila")]),
    )
    content = csv_bytes(
        [
            ["Nombre", "DNI", "Calle", "Número", "CP", "Municipio"],
            ["Vera", dni(41), "Calle Ancha", "2", "", "Cádiz"],  # an existing person
            ["Zoe", dni(42), "Calle Sol", "", "", "L'Hospitalet de Llobregat"],  # a new one
            ["Zoe", dni(42), "Rambla", "", "", "Cadiz"],  # again, in the same batch
        ]
    )
    job = upload(manager, content)
    mapping = import_files.suggest_mapping("person", job.headers, {})
    job = run_here(check(job, manager, mapping), manager)

    assert results(job) == {2: "update", 3: "create", 4: "update"}
    vera.refresh_from_db()
    assert vera.municipalities == ["avila", "cadiz"]
    zoe = Person.objects.get(document_number=dni(42))
    assert zoe.municipalities == ["cadiz", "l hospitalet de llobregat"]
    assert set(Person.objects.filter(municipalities__contains=["cadiz"])) == {vera, zoe}


# --- Batches, audit, the report ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_whatever_its_size(media, manager):
    """Candidates are looked up with one query per kind of key for the whole batch."""

    def batch_queries(size: int, offset: int) -> int:
        rows = [["Nombre", "DNI", "Email", "Teléfono"]]
        for n in range(offset, offset + size):
            person_create(
                actor=None,
                given_name=f"P{n}",
                document_type="dni",
                document_number=dni(n),
                contacts=Contacts(
                    emails=[EmailInput(f"p{n}@example.org")], phones=[PhoneInput(f"6{n:08d}")]
                ),
            )
            # By document, by email, by phone, and a new person, in turns.
            key = [[dni(n), "", ""], ["", f"p{n}@example.org", ""], ["", "", f"6{n:08d}"]]
            rows.append(
                [f"Nuevo{n}", *key[n % 3]] if n % 4 else [f"Nuevo{n}", dni(n + 5000), "", ""]
            )
        job = check(upload(manager, csv_bytes(rows)), manager)
        imports.job_start(job=job, actor=manager)
        assert imports.claim(job.pk, "count")
        parser = import_files.RowParser(job.kind, job.column_mapping)
        parsed = [parser.parse(number, cells) for number, cells in import_files.read_rows(job)]
        with CaptureQueriesContext(connection) as queries:
            assert imports.commit_batch(job.pk, "count", parsed, manager)
        assert job.rows.count() == size
        return len(queries)

    assert batch_queries(12, 100) == batch_queries(60, 200)


@pytest.mark.django_db
def test_each_batch_writes_one_audit_event_with_its_counts(media, manager):
    rows = [HEADER, *([f"P{n}", "", dni(100 + n), "", "", ""] for n in range(5))]
    rows.append(["X", "", "1", "", "", ""])  # not a document
    job = upload(manager, csv_bytes(rows))
    job.batch_size = 4
    job.save()
    job = run_here(check(job, manager), manager)

    events = AuditEvent.objects.filter(object_type="citizens.importjob", object_id=str(job.pk))
    batches = [e.changes for e in events.order_by("id") if "batch_rows" in e.changes]
    assert batches == [
        {"batch_rows": [2, 5], "created": 4, "updated": 0, "unchanged": 0, "rejected": 0},
        {"batch_rows": [6, 7], "created": 1, "updated": 0, "unchanged": 0, "rejected": 1},
    ]
    assert all(e.actor_id == manager.pk for e in events)
    assert events.filter(action=AuditAction.CREATE).count() == 3  # the upload and two batches


@pytest.mark.django_db
def test_the_report_lists_every_rejected_row_with_its_reasons(media, manager, client):
    rows = [
        HEADER,
        ["José", "Núñez", "12345678Z", "", "", ""],
        ["=HYPERLINK()", "Ruiz", "12345678A", "mal", "", ""],
        ["Eva", "", "", "", "123", ""],
    ]
    job = run_here(check(upload(manager, csv_bytes(rows)), manager), manager)
    client.force_login(manager)

    response = client.get(reverse("citizens:import_rejected_report", args=[job.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="personas-rejected.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    report = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert report[0] == ["Row", *HEADER, "Reasons"]
    assert [line[:7] for line in report[1:]] == [
        ["3", "'=HYPERLINK()", "Ruiz", "12345678A", "mal", "", ""],  # no formula for spreadsheets
        ["4", "Eva", "", "", "", "123", ""],
    ]
    assert report[1][7] == (
        "Column “DNI” (Identity document number): The check letter does not match the number: "
        "check the document. | Column “Correo electrónico” (Email): Enter a valid email address."
    )
    assert report[2][7].startswith("Column “Teléfono” (Phone): ")
    assert len(report) == 3
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).get()
    assert (event.actor_id, event.object_id) == (manager.pk, str(job.pk))

    # The reasons are stored untranslated and shown in the reader's language.
    spanish = client.get(
        reverse("citizens:import_rejected_report", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="es"
    )
    text = b"".join(spanish.streaming_content).decode("utf-8")
    assert "Introduzca una dirección de correo electrónico válida." in text


# --- The pages --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_upload_mapping_and_dry_run_pages(media, manager, client):
    client.force_login(manager)
    url = reverse("citizens:import_upload")
    assert client.get(url).status_code == 200

    content = csv_bytes(MIXED_ROWS, delimiter=",", encoding="cp1252")
    response = client.post(
        url, {"file": SimpleUploadedFile("censo.csv", content), "kind": "person"}
    )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:import_mapping", args=[job.pk])
    assert job.created_by == manager
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Núñez" in page.text  # the preview, read as Windows-1252
    assert '<option value="document_number" selected>' in page.text

    suggested = import_files.suggest_mapping("person", job.headers, {})
    form = {f"column_{i}": target for i, target in enumerate(suggested)}
    form["column_5"] = ""
    response = client.post(reverse("citizens:import_mapping", args=[job.pk]), form)

    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:import_progress", args=[job.pk])
    job.refresh_from_db()
    assert job.status == Status.VALIDATING
    progress = client.get(response["Location"])
    assert 'hx-trigger="every 2s"' in progress.text
    assert "<progress" in progress.text

    imports.dry_run(job.pk)  # what the worker does
    polled = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert polled["HX-Redirect"] == reverse("citizens:import_dry_run", args=[job.pk])
    page = client.get(reverse("citizens:import_dry_run", args=[job.pk]))
    assert page.status_code == 200
    assert "Import 3 rows" in page.text
    assert "The check letter does not match the number" in page.text
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(job.pk)).exists()

    response = client.post(reverse("citizens:import_run", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Status.QUEUED
    # Starting twice does nothing more.
    again = client.post(reverse("citizens:import_run", args=[job.pk]), follow=True)
    assert "This import cannot be started now." in again.text


@pytest.mark.django_db
def test_the_last_mapping_is_remembered_per_user_and_kind(media, manager, make_user, client):
    rows = [["Nombre completo", "Doc.", "Observaciones internas"], ["Ana", dni(1), "x"]]
    first = upload(manager, csv_bytes(rows))
    assert import_files.suggest_mapping("person", first.headers, {}) == ["", "", ""]
    imports.job_set_mapping(job=first, actor=manager, mapping=["given_name", "document_number", ""])
    assert ImportMapping.objects.get(user=manager, kind="person").mapping == {
        "nombre completo": "given_name",
        "doc": "document_number",
        "observaciones internas": "",
    }

    rows = [["NOMBRE COMPLETO", "Observaciones internas", "Doc."], ["B", "", dni(2)]]
    second = upload(manager, csv_bytes(rows))
    client.force_login(manager)
    page = client.get(reverse("citizens:import_mapping", args=[second.pk])).text
    selected = re.findall(
        r'<select name="(column_\d)".*?<option value="([^"]*)" selected>', page, re.S
    )
    assert selected == [
        ("column_0", "given_name"),
        ("column_1", ""),
        ("column_2", "document_number"),
    ]
    assert "already selected" in page

    # Another user, or another kind, starts from scratch.
    other = make_user("promotion")
    assert import_files.remembered_mapping(other, "person") == {}
    assert import_files.remembered_mapping(manager, "organization") == {}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("vacio.csv", b"", "The submitted file is empty."),  # Django's own
        ("basura.csv", bytes(range(256)) * 8, "neither a CSV text file nor an Excel"),
        ("cabecera.csv", b"Nombre;DNI\r\n", "column names but no rows"),
        ("viejo.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old .xls format"),
        ("roto.xlsx", b"PK\x03\x04" + b"\x00" * 100, "cannot be read"),
    ],
    ids=["empty", "binary-garbage", "header-only", "old-xls", "damaged-xlsx"],
)
@pytest.mark.django_db
def test_bad_files_are_refused_with_a_clear_message(media, manager, client, name, content, message):
    client.force_login(manager)
    response = client.post(
        reverse("citizens:import_upload"),
        {"file": SimpleUploadedFile(name, content), "kind": "person"},
    )
    assert response.status_code == 400
    assert message in response.text
    assert not ImportJob.objects.exists()
    assert not list(media.rglob("*.*"))


@pytest.mark.django_db
def test_a_file_too_big_or_in_another_encoding_than_chosen(media, manager, client, settings):
    client.force_login(manager)
    url = reverse("citizens:import_upload")
    content = csv_bytes(MIXED_ROWS, encoding="cp1252")

    settings.IMPORT_MAX_FILE_SIZE = len(content) - 1
    too_big = client.post(url, {"file": SimpleUploadedFile("a.csv", content), "kind": "person"})
    assert too_big.status_code == 400
    assert "The file is larger than" in too_big.text

    settings.IMPORT_MAX_FILE_SIZE = 1024 * 1024
    wrong = client.post(
        url, {"file": SimpleUploadedFile("a.csv", content), "kind": "person", "encoding": "utf-8"}
    )
    assert wrong.status_code == 400
    assert "The file is not in UTF-8" in wrong.text
    assert not ImportJob.objects.exists()

    # The separator and encoding can be chosen, and changed on the columns page.
    job = upload(manager, content, encoding="windows-1252", delimiter=",")
    assert len(job.headers) == 1  # a ";" file read with ",": one column
    response = client.post(
        reverse("citizens:import_mapping", args=[job.pk]),
        {"reread": "1", "encoding": "windows-1252", "delimiter": ";"},
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.headers == HEADER


@pytest.mark.django_db
def test_imports_are_private_to_whoever_uploaded_them(media, manager, client_for):
    job = upload(manager, csv_bytes(MIXED_ROWS))
    other = client_for("promotion")
    for name in ("import_mapping", "import_progress", "import_dry_run", "import_rejected_report"):
        assert other.get(reverse(f"citizens:{name}", args=[job.pk])).status_code == 404
    assert other.post(reverse("citizens:import_run", args=[job.pk])).status_code == 404
    reader = client_for("case_handler")  # reads citizens, may not change them
    assert reader.get(reverse("citizens:import_upload")).status_code == 403
    with pytest.raises(ValueError, match="no URL"):
        job.file.url  # noqa: B018 (never served)
    assert "/private/imports/" in job.file.path


# --- Claims and resumption --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_resumes_after_its_last_committed_row(media, manager):
    rows = [HEADER, *([f"P{n}", "", dni(200 + n), "", "", ""] for n in range(10))]
    job = check(upload(manager, csv_bytes(rows)), manager)
    job.batch_size = 3
    job.save()
    imports.job_start(job=job, actor=manager)
    assert imports.claim(job.pk, "first") is not None
    parser = import_files.RowParser(job.kind, job.column_mapping)
    parsed = [parser.parse(n, c) for n, c in import_files.read_rows(job)][:4]
    assert imports.commit_batch(job.pk, "first", parsed, manager)
    # Another runner may not take it while the first is alive; the same task (redelivered) may.
    assert imports.claim(job.pk, "second") is None
    assert not imports.commit_batch(job.pk, "second", parsed, manager)
    assert imports.claim(job.pk, "first") is not None
    # A committed batch offered again is not done twice.
    assert imports.commit_batch(job.pk, "first", parsed, manager)
    assert ImportRow.objects.filter(job=job).count() == 4

    # The worker died: no progress for a while. resume_imports queues it again.
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    call_command("resume_imports", stdout=io.StringIO())
    job.refresh_from_db()
    assert (job.status, job.claim_token) == (Status.QUEUED, "")
    imports.run(job.pk, token="third")

    job.refresh_from_db()
    assert job.status == Status.DONE
    assert (job.processed_rows, job.created_count, job.last_row) == (10, 10, 11)
    assert sorted(job.rows.values_list("row_number", flat=True)) == list(range(2, 12))
    assert Person.objects.count() == 10


@pytest.mark.django_db
def test_celery_beat_queues_stuck_imports_again(media, manager, settings):
    entry = settings.CELERY_BEAT_SCHEDULE["resume-stale-imports"]
    assert entry["task"] == tasks.resume_stale_imports.name
    stuck, alive = (check(upload(manager, csv_bytes(MIXED_ROWS)), manager) for _ in range(2))
    for job in (stuck, alive):
        imports.job_start(job=job, actor=manager)
        assert imports.claim(job.pk, f"worker-{job.pk}")
    minutes = settings.IMPORT_STALE_MINUTES
    ImportJob.objects.filter(pk=stuck.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=minutes + 1)
    )

    assert tasks.resume_stale_imports() == [stuck.pk]

    assert job_status(stuck.pk).status == Status.QUEUED
    assert job_status(alive.pk).status == Status.RUNNING


@pytest.mark.django_db
def test_a_check_that_fails_goes_back_to_the_columns_page(media, manager, client):
    job = upload(manager, csv_bytes(MIXED_ROWS))
    imports.job_set_mapping(job=job, actor=manager, mapping=["given_name", "", "", "", "", ""])
    job.file.storage.delete(job.file.name)
    with pytest.raises(FileNotFoundError):
        imports.dry_run(job.pk)
    job.refresh_from_db()
    assert job.status == Status.MAPPED
    client.force_login(manager)
    polled = client.get(reverse("citizens:import_progress", args=[job.pk]), HTTP_HX_REQUEST="1")
    assert polled.status_code == 286
    assert reverse("citizens:import_mapping", args=[job.pk]) in polled.text
    page = client.get(reverse("citizens:import_mapping", args=[job.pk]))
    assert "The last check of this file failed" in page.text
    assert "FileNotFoundError" in page.text


@pytest.mark.django_db
def test_a_failed_import_can_be_resumed_from_its_page(media, manager, client):
    job = check(upload(manager, csv_bytes(MIXED_ROWS)), manager)
    imports.job_start(job=job, actor=manager)
    job.file.storage.delete(job.file.name)  # the run will crash
    with pytest.raises(FileNotFoundError):
        imports.run(job.pk, token="crash")
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "FileNotFoundError" in job.last_error
    client.force_login(manager)
    page = client.get(reverse("citizens:import_progress", args=[job.pk]))
    assert "Resume the import" in page.text

    response = client.post(reverse("citizens:import_resume", args=[job.pk]))

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == Status.QUEUED


# --- With a real worker -----------------------------------------------------------------------

# The worker reads files from the default MEDIA_ROOT (its own process, its own settings).


@pytest.fixture
def worker_files():
    """Delete the files of the imports a worker test made (they are in the real MEDIA_ROOT)."""
    yield
    for job in ImportJob.objects.all():
        if job.file:
            job.file.storage.delete(job.file.name)


def wait_for(predicate, timeout=60.0, interval=0.05, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out waiting for {what}")


def job_status(pk: int) -> ImportJob:
    return ImportJob.objects.get(pk=pk)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_worker_checks_and_imports_through_the_pages(
    celery_worker, worker_files, manager, client
):
    client.force_login(manager)
    content = csv_bytes(MIXED_ROWS)
    client.post(
        reverse("citizens:import_upload"),
        {"file": SimpleUploadedFile("w.csv", content), "kind": "person"},
    )
    job = ImportJob.objects.get()
    mapping = import_files.suggest_mapping("person", job.headers, {})
    mapping[5] = ""
    client.post(
        reverse("citizens:import_mapping", args=[job.pk]),
        {f"column_{i}": target for i, target in enumerate(mapping)},
    )
    wait_for(lambda: job_status(job.pk).status == Status.VALIDATED, what="the dry run")
    assert job_status(job.pk).dry_run["counts"]["create"] == 3
    uploaded = Path(job.file.path)
    assert uploaded.exists()

    client.post(reverse("citizens:import_run", args=[job.pk]))
    wait_for(lambda: job_status(job.pk).status == Status.DONE, what="the import")

    job.refresh_from_db()
    assert (job.created_count, job.rejected_count) == (3, 4)
    # The file of personal data goes once imported; the rejected rows keep their values.
    assert not job.file
    assert not uploaded.exists()
    assert job.rows.filter(action="reject").exclude(values=[]).count() == 4
    polled = client.get(reverse("citizens:import_progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert polled.status_code == 286  # htmx stops polling
    assert '<progress id="import-progress-bar"' in polled.text
    assert 'max="7" value="7"' in polled.text
    log = celery_worker.wait_for_log("citizens.tasks.run_import")
    assert "succeeded" in log


ROWS_TO_KILL = 5000


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_import_resumes_after_its_worker_is_killed(celery_worker, worker_files, manager):
    """SIGKILL the worker in the middle of a run: the batch it was writing is rolled back, the
    broker keeps the message unacknowledged (Redis gives it back only after its visibility
    timeout, an hour), and resume_imports queues the job again: it goes on after its last
    committed row, no row twice, none lost."""
    rows = [HEADER]
    for n in range(ROWS_TO_KILL):
        # Every tenth row is an earlier person again (by document), with a phone: an update, not
        # a duplicate.
        person, phone = (n - 7, f"6{n:08d}") if n % 10 == 9 else (n, "")
        email = f"p{person}@example.org"
        rows.append([f"Persona{person}", "Prueba", dni(1000 + person), email, phone, ""])
    job = upload(manager, csv_bytes(rows))
    job.batch_size = 25
    job.save()
    mapping = import_files.suggest_mapping("person", job.headers, {})
    mapping[5] = ""
    imports.job_set_mapping(job=job, actor=manager, mapping=mapping)  # the worker checks it
    wait_for(lambda: job_status(job.pk).status == Status.VALIDATED, what="the dry run")
    expected_people = len({dni(1000 + (n - 7 if n % 10 == 9 else n)) for n in range(ROWS_TO_KILL)})
    assert job_status(job.pk).dry_run["counts"] == {
        "create": expected_people,
        "update": ROWS_TO_KILL - expected_people,
        "skip": 0,
        "reject": 0,
    }

    imports.job_start(job=job, actor=manager)
    wait_for(lambda: job_status(job.pk).processed_rows >= 1000, what="a fifth of the rows")
    celery_worker.process.kill()  # SIGKILL: no warm shutdown, no ack
    celery_worker.process.wait()

    killed = job_status(job.pk)
    assert killed.status == Status.RUNNING
    assert killed.processed_rows < ROWS_TO_KILL
    # Whole batches only: the rows, the people and the counters agree.
    assert ImportRow.objects.filter(job=job).count() == killed.processed_rows
    assert killed.last_row == killed.processed_rows + 1
    assert Person.objects.count() == killed.created_count

    # The broker did not lose the message: it waits, unacknowledged, for the visibility timeout.
    broker = redis.Redis.from_url(settings.REDIS_URL)
    unacked = b"".join(broker.hvals("unacked"))
    assert killed.claim_token.encode() in unacked
    celery_worker.start()
    time.sleep(2)
    assert job_status(job.pk).processed_rows == killed.processed_rows  # no redelivery yet
    call_command("resume_imports", "--stale-minutes", "0", stdout=io.StringIO())
    wait_for(lambda: job_status(job.pk).status == Status.DONE, timeout=120, what="the resumed run")
    assert job_status(job.pk).claim_token == ""

    job.refresh_from_db()
    assert job.processed_rows == job.total_rows == ROWS_TO_KILL
    assert (job.created_count, job.updated_count, job.rejected_count) == (
        expected_people,
        ROWS_TO_KILL - expected_people,
        0,
    )
    numbers = ImportRow.objects.filter(job=job).values_list("row_number", flat=True)
    assert sorted(numbers) == list(range(2, ROWS_TO_KILL + 2))
    assert Person.objects.count() == expected_people
    duplicated = Person.objects.values("document_number").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicated.exists()
    assert EmailAddress.objects.count() == expected_people
    assert PhoneNumber.objects.count() == ROWS_TO_KILL - expected_people


# --- In a browser -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_upload_columns_and_check_pages_are_accessible(
    page, console_errors, celery_worker, worker_files, make_user, tmp_path
):
    make_user("citizen_service", username="gestora")
    log_in(page, "gestora", "correct-horse-battery")
    page.goto(reverse("citizens:import_upload"))
    assert_accessible(page)

    path = tmp_path / "censo.csv"
    path.write_bytes(csv_bytes(MIXED_ROWS, encoding="cp1252"))
    page.locator("input[type=file]").set_input_files(str(path))
    with page.expect_navigation():
        page.locator("main form button.btn-primary").click()
    assert "/columns/" in page.url
    assert_accessible(page)

    page.get_by_label("Municipio", exact=True).select_option("")
    with page.expect_navigation():
        page.locator("main form button.btn-primary").click()
    assert "/progress/" in page.url
    # htmx polls the progress and moves on to the results when the worker has checked the file.
    page.wait_for_url("**/check/", timeout=30_000)
    assert page.get_by_role("heading", level=1).inner_text()
    assert_accessible(page)
    assert_no_console_errors(console_errors)
