"""The accessibility statement (RD 1112/2018) and its channel to report barriers, which files a
case of the non-public type "accesibilidad" and shows its receipt like any other filing."""

from __future__ import annotations

import pytest

from cases.antiabuse import HONEYPOT_FIELD
from cases.models import Case, CaseType
from cases.public_views import ACCESSIBILITY_REVIEWED_ON
from tests.cases.public_helpers import ACCESSIBILITY, RECEIPT, old_stamp, reset_limits

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh():
    reset_limits()
    yield
    reset_limits()


def report(**overrides) -> dict:
    data = {
        "given_name": "Luis",
        "first_surname": "Pérez",
        "email": "luis@example.org",
        "page": "/sede/queja/",
        "text": "El lector de pantalla no anuncia el error del campo del documento.",
        "privacy": "on",
        "stamp": old_stamp(),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_the_barrier_reports_type_exists_and_is_not_offered_in_the_list():
    case_type = CaseType.objects.get(code="accesibilidad")
    assert (case_type.kind, case_type.series, case_type.public) == ("complaint", "QS", False)


def test_the_statement_says_status_method_date_and_how_to_report(client):
    response = client.get(ACCESSIBILITY)
    assert response.status_code == 200
    page = response.text
    assert "1112/2018" in page
    for heading in ("status-heading", "gaps-heading", "evaluation-heading", "contact-heading",
                    "enforcement-heading", "report-heading"):  # fmt: skip
        assert f'id="{heading}"' in page, heading
    assert "axe-core" in page
    assert str(ACCESSIBILITY_REVIEWED_ON.year) in page
    assert "WCAG 2.1" in page
    assert 'name="text"' in page
    assert 'name="page"' in page
    # Reporting a barrier must not need an identity document.
    assert 'name="document_number"' in page
    assert 'required id="id_document_number"' not in page
    # Linked from every page of the public site.
    assert 'href="/sede/accesibilidad/"' in client.get("/sede/verificar/").text


def test_a_barrier_report_is_filed_and_shows_its_receipt(client):
    response = client.post(ACCESSIBILITY, report())
    assert response.status_code == 302
    assert response["Location"] == RECEIPT
    case = Case.objects.get()
    assert case.case_type.code == "accesibilidad"
    assert case.registry_number.startswith("QS-")
    assert "/sede/queja/" in case.subject
    assert case.text.startswith("El lector de pantalla")
    assert case.person.given_name == "Luis"
    receipt = client.get(RECEIPT).text
    assert case.registry_number in receipt
    assert "data-tracking-secret" in receipt


def test_a_bad_report_keeps_what_was_typed(client):
    response = client.post(ACCESSIBILITY, report(text="", email="", document_type="dni",
                                                 document_number="12345678A"))  # fmt: skip
    assert response.status_code == 200
    assert not Case.objects.exists()
    page = response.text
    for name in ("text", "email", "document_number"):
        assert f'id="id_{name}_error"' in page, name
    assert 'value="Luis"' in page
    assert 'value="/sede/queja/"' in page
    assert "data-error-summary" in page


def test_the_report_form_is_guarded_like_the_others(client, settings):
    assert client.post(ACCESSIBILITY, report(**{HONEYPOT_FIELD: "x"})).status_code == 200
    settings.SEDE_MIN_FILL_SECONDS = 60
    assert client.post(ACCESSIBILITY, report(stamp=old_stamp(5))).status_code == 200
    assert not Case.objects.exists()
    settings.SEDE_FILING_LIMIT = 2
    assert client.post(ACCESSIBILITY, report()).status_code == 429
