"""The public forms (sede electrónica): the index, one form per case type, what a filing
creates, bad input shown next to its field with nothing typed lost, matching the citizen with
an existing person, filing for an organisation, hearings and alerts, and the anti-abuse checks
(honeypot, minimum fill time, rate limit per address)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cases.antiabuse import HONEYPOT_FIELD
from cases.models import Case, CaseType, Hearing, SubjectArea
from cases.public_views import SESSION_FILING, SESSION_TRACKING
from citizens.models import Channel, Organization, Person, Relationship
from citizens.services import Contacts, EmailInput, organization_create, person_create
from tests.cases.public_helpers import COMPLAINT, filing_data, old_stamp, reset_limits

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_limits(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    reset_limits()
    yield
    reset_limits()


@pytest.fixture
def area():
    return SubjectArea.objects.get(name="Vía pública y alumbrado")


def post(client, url=COMPLAINT, **overrides):
    return client.post(url, filing_data(**overrides))


# --- The index ---------------------------------------------------------------------------------


def test_the_index_lists_the_public_case_types_with_their_descriptions(client):
    CaseType.objects.filter(code="propuesta").update(public=False)
    response = client.get("/sede/")
    assert response.status_code == 200
    page = response.text
    for code, name in [("queja", "Queja"), ("aviso", "Aviso de incidencia")]:
        assert f'href="/sede/{code}/"' in page
        assert name in page
    assert "Cuéntenos qué servicio no ha funcionado" in page
    # Not offered: switched off by an administrator, and the barrier reports' own type.
    assert 'href="/sede/propuesta/"' not in page
    assert 'href="/sede/accesibilidad/"' in page  # the statement, linked...
    assert "Barrera de accesibilidad" not in page  # ... but not as a form of the list
    assert 'href="/sede/seguimiento/"' in page
    assert 'href="/sede/verificar/"' in page


def test_the_index_speaks_english_with_the_catalogues_english_names(client):
    client.cookies["django_language"] = "en"
    page = client.get("/sede/").text
    assert '<html lang="en">' in page
    assert "Incident alert" in page
    assert "Tell us which service did not work as it should." in page


def test_a_type_not_offered_has_no_form(client):
    assert client.get("/sede/accesibilidad-no/").status_code == 404
    CaseType.objects.filter(code="propuesta").update(public=False)
    assert client.get("/sede/propuesta/").status_code == 404
    assert client.post("/sede/propuesta/", filing_data()).status_code == 404
    assert not Case.objects.exists()


# --- Filing --------------------------------------------------------------------------------------


def test_a_complaint_is_filed_and_the_citizen_sent_to_the_receipt(client, area, units):
    area.unit = units["urbanismo"]
    area.save()
    response = post(client, subject_area=str(area.pk))
    assert response.status_code == 302
    assert response["Location"] == "/sede/justificante/"
    case = Case.objects.get()
    assert re.fullmatch(r"QS-\d{4}-\d{6}", case.registry_number)
    assert case.case_type.code == "queja"
    assert case.channel == Channel.WEB_FORM
    assert case.subject_area == area
    assert case.unit == units["urbanismo"]  # routed by its subject area
    assert case.language == "es"
    assert case.filer["document_number"] == "12345678Z"  # canonical
    assert case.filer["email"] == "ana.ruiz@example.org"
    assert case.filer["municipality"] == "Madrid"
    person = case.person
    assert (person.given_name, person.first_surname, person.second_surname) == (
        "Ana",
        "Ruiz",
        "Gómez",
    )
    assert person.emailaddress_set.get().address == "ana.ruiz@example.org"
    session = client.session
    assert session[SESSION_FILING]["case"] == case.pk
    assert len(session[SESSION_FILING]["secret"]) == 12
    assert session[SESSION_TRACKING] == case.pk


def test_the_form_shows_every_field_labelled_and_the_privacy_notice(client, area):
    page = client.get(COMPLAINT).text
    for name in ("given_name", "first_surname", "document_number", "email", "subject", "text"):
        assert re.search(rf'<label class="form-label[^"]*" for="id_{name}">', page), name
    assert 'autocomplete="given-name"' in page
    assert 'autocomplete="email"' in page
    assert 'type="file" name="attachments"' in page
    assert " multiple" in page
    assert "Ayuntamiento de Ejemplo" in page
    assert "Protección de datos" in page or "Data protection" in page
    assert 'name="privacy"' in page
    assert area.name in page
    # Fields of other kinds of case are not on a complaint's form.
    assert 'name="latitude"' not in page
    assert 'name="hearing"' not in page


def test_a_wrong_dni_letter_is_shown_next_to_its_field_and_nothing_typed_is_lost(client):
    response = post(client, document_number="12345678A", text="Línea uno\n<b>dos</b>")
    assert response.status_code == 200
    assert not Case.objects.exists()
    page = response.text
    # The error next to its field, which points at it.
    error = re.search(
        r'<div class="invalid-feedback[^"]*" id="id_document_number_error">(.*?)</div>', page, re.S
    )
    assert error
    assert "La letra de control no corresponde al número" in error.group(1)
    field = re.search(r'<input[^>]*name="document_number"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field
    assert "id_document_number_error" in re.search(r'aria-describedby="([^"]*)"', field).group(1)
    assert "is-invalid" in field
    assert 'value="12345678A"' in field
    # The summary at the top links to the field; the page title says there is an error.
    assert re.search(r'<div class="alert alert-danger" role="alert" id="error-summary" '
                     r'tabindex="-1" data-error-summary>', page)  # fmt: skip
    assert 'href="#id_document_number"' in page
    assert "<title>Error:" in page
    # What was typed is all there.
    assert 'value="Ana"' in page
    assert 'value="Gómez"' in page
    assert 'value="Calle Mayor"' in page
    assert "Línea uno\n&lt;b&gt;dos&lt;/b&gt;</textarea>" in page
    assert 'name="privacy" class="form-check-input" required id="id_privacy" checked' in page


def test_required_fields_and_a_way_to_answer(client):
    response = post(client, given_name="", first_surname="", email="", phone="", privacy=None)
    page = response.text
    assert not Case.objects.exists()
    for name in ("given_name", "first_surname", "email", "privacy"):
        assert f'id="id_{name}_error"' in page, name
    assert "Indique un correo electrónico o un teléfono" in page or "email or a phone" in page
    assert 'href="#id_privacy"' in page


def test_a_bad_phone_and_email(client):
    page = post(client, phone="123", email="not-an-email").text
    assert 'id="id_phone_error"' in page
    assert 'id="id_email_error"' in page
    assert not Case.objects.exists()


def test_the_form_is_filed_in_the_language_of_the_page(client):
    client.cookies["django_language"] = "en"
    response = post(client, document_number="12345678A")
    assert "The check letter does not match the number" in response.text
    assert post(client).status_code == 302
    assert Case.objects.get().language == "en"


# --- Matching the citizen -----------------------------------------------------------------------


def test_an_existing_person_is_matched_by_document(client):
    existing = person_create(
        actor=None, given_name="Ana", document_type="dni", document_number="12345678Z"
    )
    assert post(client, email="otra@example.org").status_code == 302
    assert Case.objects.get().person == existing
    assert Person.objects.count() == 1


def test_an_existing_person_is_matched_by_email(client):
    existing = person_create(
        actor=None,
        given_name="Ana",
        contacts=Contacts(emails=[EmailInput(address="ana.ruiz@example.org", is_primary=True)]),
    )
    assert post(client, document_number="00000023T").status_code == 302
    assert Case.objects.get().person == existing
    assert Person.objects.count() == 1


def test_a_new_citizen_gets_a_record_once(client):
    assert post(client).status_code == 302
    assert post(client, subject="Otra farola").status_code == 302
    assert Person.objects.count() == 1
    assert Case.objects.count() == 2
    assert {case.person_id for case in Case.objects.all()} == {Person.objects.get().pk}


# --- On behalf of an organisation ----------------------------------------------------------------


def test_filing_for_an_organisation_links_it_and_the_person(client):
    response = post(
        client,
        for_organization="on",
        organization_tax_id="b-12345674",
        organization_name="Asociación Vecinal Centro",
    )
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.organization.tax_id == "B12345674"
    assert case.organization.name == "Asociación Vecinal Centro"
    assert Relationship.objects.filter(person=case.person, organization=case.organization).exists()
    assert case.filer["organization_tax_id"] == "B12345674"


def test_an_existing_organisation_is_reused(client):
    existing = organization_create(actor=None, name="AVC", tax_id="B12345674")
    post(client, for_organization="on", organization_tax_id="B12345674", organization_name="X")
    assert Case.objects.get().organization == existing
    assert Organization.objects.count() == 1


def test_the_organisation_needs_its_tax_id_and_name_when_ticked(client):
    page = post(client, for_organization="on").text
    assert 'id="id_organization_tax_id_error"' in page
    assert 'id="id_organization_name_error"' in page
    page = post(
        client, for_organization="on", organization_tax_id="B12345675", organization_name="X"
    ).text
    assert 'id="id_organization_tax_id_error"' in page
    assert not Case.objects.exists()


def test_organisation_fields_typed_and_then_unticked_are_ignored(client):
    assert post(client, organization_tax_id="B12345674", organization_name="X").status_code == 302
    case = Case.objects.get()
    assert case.organization is None
    assert case.filer["organization_tax_id"] == ""


# --- Hearings and alerts --------------------------------------------------------------------------


@pytest.fixture
def hearings():
    today = timezone.localdate()
    day = timedelta(days=1)
    return {
        "open": Hearing.objects.create(
            title="Ordenanza de terrazas",
            summary="Horarios y superficie de las terrazas.",
            document_url="https://example.org/ordenanza.pdf",
            opens_on=today - 5 * day,
            closes_on=today + 10 * day,
        ),
        "last_day": Hearing.objects.create(
            title="Plan de movilidad", opens_on=today - 30 * day, closes_on=today
        ),
        "closed": Hearing.objects.create(
            title="Reglamento cerrado", opens_on=today - 30 * day, closes_on=today - day
        ),
        "future": Hearing.objects.create(
            title="Reglamento futuro", opens_on=today + day, closes_on=today + 20 * day
        ),
    }


def test_the_hearing_form_lists_the_open_hearings_with_their_closing_dates(client, hearings):
    page = client.get("/sede/alegacion/").text
    assert "Ordenanza de terrazas" in page
    assert "Plan de movilidad" in page
    assert "Reglamento cerrado" not in page
    assert "Reglamento futuro" not in page
    closes = hearings["open"].closes_on
    assert re.search(rf"Ordenanza de terrazas \(abierta hasta el {closes.day} de \w+ de "
                     rf"{closes.year}\)|Ordenanza de terrazas \(open until", page)  # fmt: skip
    assert 'href="https://example.org/ordenanza.pdf"' in page
    assert '<legend class="form-label fw-semibold fs-6">' in page  # the choices in a fieldset


def test_a_contribution_to_an_open_hearing_is_filed_and_a_closed_one_refused(client, hearings):
    page = post(client, "/sede/alegacion/", hearing=str(hearings["closed"].pk)).text
    assert 'id="id_hearing_error"' in page
    assert 'href="#id_hearing_0"' in page
    assert not Case.objects.exists()
    page = post(client, "/sede/alegacion/").text
    assert 'id="id_hearing_error"' in page  # required
    response = post(client, "/sede/alegacion/", hearing=str(hearings["last_day"].pk))
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.hearing == hearings["last_day"]
    assert case.registry_number.startswith("AP-")


def test_without_an_open_hearing_the_page_says_so(client):
    Hearing.objects.create(
        title="Cerrada",
        opens_on=timezone.localdate() - timedelta(days=9),
        closes_on=timezone.localdate() - timedelta(days=1),
    )
    response = client.get("/sede/alegacion/")
    assert response.status_code == 200
    assert "No hay ninguna audiencia pública abierta" in response.text or (
        "No public hearing is open now" in response.text
    )
    assert '<form method="post" enctype' not in response.text
    assert client.post("/sede/alegacion/", filing_data()).status_code == 200
    assert not Case.objects.exists()


def test_an_alert_with_a_point_typed_with_commas(client):
    page = client.get("/sede/aviso/").text
    assert 'name="latitude"' in page
    assert 'name="place_address"' in page
    assert "data-geolocate" in page
    assert " hidden " in page
    response = post(client, "/sede/aviso/", latitude="40,4168", longitude="-3.7038")
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.latitude == Decimal("40.416800")
    assert case.longitude == Decimal("-3.703800")
    assert case.registry_number.startswith("AV-")


def test_an_alert_says_where(client):
    page = post(client, "/sede/aviso/").text
    assert 'id="id_place_address_error"' in page
    page = post(client, "/sede/aviso/", latitude="40.4168").text
    assert 'id="id_longitude_error"' in page
    page = post(client, "/sede/aviso/", latitude="91", longitude="0").text
    assert 'id="id_latitude_error"' in page
    assert 'value="91"' in page
    assert not Case.objects.exists()
    assert post(client, "/sede/aviso/", place_address="Plaza Mayor, 1").status_code == 302
    assert Case.objects.get().place_address == "Plaza Mayor, 1"


# --- Anti-abuse ----------------------------------------------------------------------------------


def test_a_filled_honeypot_refuses_the_form_with_a_message(client, caplog):
    page = client.get(COMPLAINT).text
    honeypot = re.search(rf'<div class="d-none">\s*<label for="id_{HONEYPOT_FIELD}">', page)
    assert honeypot, "the honeypot is not displayed (so not in the accessibility tree either)"
    assert 'tabindex="-1"' in re.search(rf'<input[^>]*name="{HONEYPOT_FIELD}"[^>]*>', page).group(0)
    with caplog.at_level(logging.WARNING, logger="cases.public_views"):
        response = post(client, **{HONEYPOT_FIELD: "http://spam.example"})
    assert response.status_code == 200
    assert not Case.objects.exists()
    assert "un campo que debe quedar vacío" in response.text or "must stay empty" in response.text
    assert "Public form refused (honeypot)" in caplog.text


def test_a_form_sent_too_fast_is_refused_and_can_be_sent_again(client, settings):
    settings.SEDE_MIN_FILL_SECONDS = 30
    shown = client.get(COMPLAINT).text
    stamp = re.search(r'name="stamp" value="([^"]+)"', shown).group(1)
    response = post(client, stamp=stamp)
    assert response.status_code == 200
    assert not Case.objects.exists()
    assert "30 segundos" in response.text or "30 seconds" in response.text
    assert 'value="Ana"' in response.text
    # The form shown again keeps the time it was first shown (not a new wait).
    assert f'name="stamp" value="{stamp}"' in response.text
    assert post(client, stamp=old_stamp(31)).status_code == 302


def test_a_forged_or_missing_stamp_asks_to_send_again(client):
    page = post(client, stamp="forged").text
    assert not Case.objects.exists()
    assert "data-error-summary" in page
    fresh = re.search(r'name="stamp" value="([^"]+)"', page).group(1)
    assert fresh != "forged"
    assert post(client, stamp=None).status_code == 200
    assert not Case.objects.exists()


def test_too_many_filings_from_one_address_get_a_429_page(client, settings):
    settings.SEDE_FILING_LIMIT = 2
    settings.SEDE_FILING_WINDOW_MINUTES = 60
    assert post(client).status_code == 302
    assert post(client, document_number="bad").status_code == 200  # counts too
    response = post(client, subject="Tercera")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Demasiados intentos" in response.text or "Too many attempts" in response.text
    assert Case.objects.count() == 1
    # Another address is not limited.
    other = client.post(COMPLAINT, filing_data(), REMOTE_ADDR="192.0.2.10")
    assert other.status_code == 302
    reset_limits("192.0.2.10")
    # Reading the form is not limited.
    assert client.get(COMPLAINT).status_code == 200
