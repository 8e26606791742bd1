"""Leads imported from CSV and Excel files, read by the citizens import's machinery: columns
recognised by name, rows checked like the lead form, all or nothing."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sales.models import Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def promoter_client(client, make_user):
    client.force_login(make_user("promotion"))
    return client


def csv_file(text: str, encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile("feria.csv", text.encode(encoding), content_type="text/csv")


def test_a_csv_from_a_fair(promoter_client):
    upload = csv_file(
        "Nombre;Apellidos;Correo electrónico;Teléfono;Empresa;CIF;Interés;Otra\n"
        "Ana;Ruiz Gil;ana@example.org;600 123 456;;;Cursos;x\n"
        ";;info@ribera.es;;Talleres Ribera;B12345674;Stand;y\n",
        encoding="windows-1252",
    )
    response = promoter_client.post(
        "/sales/leads/import/", {"file": upload, "event": "Feria de Empresas"}
    )
    assert response.status_code == 302
    leads = list(Lead.objects.order_by("id"))
    assert [(lead.given_name, lead.organization_name) for lead in leads] == [
        ("Ana", ""),
        ("", "Talleres Ribera"),
    ]
    assert leads[0].phone == "+34600123456"
    assert leads[1].tax_id == "B12345674"
    assert {(lead.source, lead.event, lead.status) for lead in leads} == {
        ("import", "Feria de Empresas", "new")
    }


def test_a_bad_row_imports_nothing(promoter_client):
    upload = csv_file(
        "nombre,email,dni\nAna,ana@example.org,12345678Z\nLuis,luis@example.org,12345678A\n"
        ",,\nEva,,\n"
    )
    response = promoter_client.post("/sales/leads/import/", {"file": upload})
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="import-errors"' in content
    errors = dict(response.context["result"].errors)
    assert set(errors) == {3, 5}  # row numbers as in the file (the header is row 1)
    assert not Lead.objects.exists()


def test_an_excel_file(promoter_client):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Surnames", "Email"])
    sheet.append(["Carmen", "López", "carmen@example.org"])
    data = io.BytesIO()
    workbook.save(data)
    upload = SimpleUploadedFile("leads.xlsx", data.getvalue())
    response = promoter_client.post("/sales/leads/import/", {"file": upload})
    assert response.status_code == 302
    assert Lead.objects.get().surnames == "López"


def test_a_file_without_known_columns(promoter_client):
    response = promoter_client.post("/sales/leads/import/", {"file": csv_file("foo,bar\n1,2\n")})
    assert response.status_code == 400
    assert "No column was recognised" in response.content.decode()
    assert not Lead.objects.exists()
