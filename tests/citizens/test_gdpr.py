"""Consent per purpose with proof, and the data-subject rights: access/portability (JSON and
PDF), restriction, erasure by blocking, each request with its one-month deadline."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from django.utils import timezone
from pypdf import PdfReader

from citizens import gdpr
from citizens.models import (
    BlockedData,
    Consent,
    ConsentPurpose,
    DataSubjectRequest,
    EmailAddress,
    Interaction,
    Person,
)
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    interaction_log,
    person_create,
)
from crm.audit import verify_chain
from crm.models import AuditAction, AuditEvent

DPO = "data_protection_officer"


@pytest.fixture
def purpose(db):
    return ConsentPurpose.objects.create(
        code="newsletter", name="Boletín municipal", text="Acepto recibir el boletín.", version="2"
    )


@pytest.fixture
def person(db):
    person = person_create(
        actor=None,
        given_name="María",
        first_surname="Pérez",
        second_surname="Sanz",
        document_type="dni",
        document_number="12345678Z",
        notes="Prefiere que la llamen por la tarde.",
        contacts=Contacts(
            emails=[EmailInput("maria@example.org")],
            phones=[PhoneInput("600123456")],
            addresses=[AddressInput(street="Calle Mayor", number="3", municipality="Soria")],
        ),
    )
    interaction_log(
        actor=None,
        person=person,
        channel="phone",
        direction="in",
        subject="Consulta sobre el padrón",
        text="Llama para preguntar por su empadronamiento.",
    )
    return person


def test_consent_history_keeps_every_statement_and_the_latest_counts(person, purpose):
    gdpr.consent_record(
        person=person,
        purpose=purpose,
        granted=True,
        source="web_form",
        evidence="form 81",
        actor=None,
    )
    gdpr.consent_record(person=person, purpose=purpose, granted=False, source="email", actor=None)
    assert Consent.objects.filter(person=person).count() == 2
    [current] = gdpr.current_consents(person)
    assert current.granted is False
    assert current.text_version == "2"
    assert person not in gdpr.consenting_people(purpose)
    gdpr.consent_record(person=person, purpose=purpose, granted=True, source="paper", actor=None)
    assert person in gdpr.consenting_people(purpose)


def test_restricted_people_do_not_count_as_consenting(person, purpose):
    gdpr.consent_record(person=person, purpose=purpose, granted=True, source="paper", actor=None)
    gdpr.person_restrict(person=person, actor=None)
    assert person not in gdpr.consenting_people(purpose)


def test_a_request_is_due_one_month_after_receipt(person):
    received = timezone.make_aware(datetime(2026, 1, 31, 10))
    request = gdpr.data_request_open(person=person, kind="access", received_at=received, actor=None)
    assert request.due_date.isoformat() == "2026-02-28"


def test_recording_consent_through_the_page(person, purpose, client_for):
    client = client_for("citizen_service")
    response = client.post(
        f"/citizens/people/{person.pk}/privacy/consent/",
        {"purpose": purpose.pk, "granted": "1", "source": "in_person", "evidence": "hoja 12"},
    )
    assert response.status_code == 302
    consent = Consent.objects.get(person=person)
    assert consent.granted
    assert consent.evidence == "hoja 12"
    assert consent.text_version == "2"
    page = client.get(f"/citizens/people/{person.pk}/privacy/")
    assert "Boletín municipal" in page.text
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(person.pk)).exists()


def test_a_bad_consent_form_keeps_what_was_typed(person, purpose, client_for):
    response = client_for("citizen_service").post(
        f"/citizens/people/{person.pk}/privacy/consent/",
        {"purpose": purpose.pk, "source": "in_person", "evidence": "hoja 12"},
    )
    assert response.status_code == 400
    assert 'value="hoja 12"' in response.text
    assert not Consent.objects.exists()


def test_only_the_data_protection_officer_handles_requests(person, client_for):
    url = f"/citizens/people/{person.pk}/privacy/requests/"
    assert client_for("citizen_service").post(url, {"kind": "access"}).status_code == 403
    response = client_for(DPO).post(url, {"kind": "access", "details": "Por correo"})
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get(person=person)
    assert request.due_date == gdpr.due_date_for(request.received_at)
    queue = client_for(DPO).get("/citizens/data-requests/")
    assert queue.status_code == 200
    assert "María Pérez Sanz" in queue.text
    close = client_for(DPO).post(
        f"/citizens/people/{person.pk}/privacy/requests/{request.pk}/close/",
        {"status": "done", "resolution": "Enviada copia de sus datos."},
    )
    assert close.status_code == 302
    request.refresh_from_db()
    assert request.status == "done"
    assert request.resolved_at


def test_export_as_json_holds_everything(person, purpose, client_for):
    gdpr.consent_record(person=person, purpose=purpose, granted=True, source="paper", actor=None)
    response = client_for(DPO).get(f"/citizens/people/{person.pk}/privacy/export.json")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["person"]["document_number"] == "12345678Z"
    assert data["emails"] == [{"address": "maria@example.org", "label": ""}]
    assert data["phones"][0]["number"] == "+34600123456"
    assert data["consents"][0]["purpose"] == "Boletín municipal"
    assert data["interactions"][0]["subject"] == "Consulta sobre el padrón"
    event = AuditEvent.objects.filter(action=AuditAction.READ).latest("id")
    assert event.changes == {"what": "export-json"}


def test_export_as_pdf_is_readable(person, client_for):
    response = client_for(DPO).get(f"/citizens/people/{person.pk}/privacy/export.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "María Pérez Sanz" in text
    assert "12345678Z" in text
    assert "Consulta sobre el padrón" in text


def test_unknown_export_format_is_not_found(person, client_for):
    assert (
        client_for(DPO).get(f"/citizens/people/{person.pk}/privacy/export.xml").status_code == 404
    )


def test_erasure_blocks_the_data_and_keeps_statistics_and_audit(person, client_for):
    client = client_for(DPO)
    client.post(f"/citizens/people/{person.pk}/privacy/requests/", {"kind": "erasure"})
    # Without the confirmation nothing happens.
    refused = client.post(f"/citizens/people/{person.pk}/privacy/block/", {})
    assert refused.status_code == 400
    assert not Person.objects.get(pk=person.pk).blocked_at
    response = client.post(f"/citizens/people/{person.pk}/privacy/block/", {"confirm": "on"})
    assert response.status_code == 302

    blocked = Person.objects.get(pk=person.pk)
    assert blocked.blocked_at is not None
    assert blocked.given_name == gdpr.BLOCKED_NAME
    assert (blocked.first_surname, blocked.document_number, blocked.notes) == ("", "", "")
    assert blocked.search_text == ""
    assert blocked.municipalities == []
    assert not EmailAddress.objects.filter(person=blocked).exists()
    # Out of ordinary use: searches and lists do not find it.
    assert not Person.objects.in_use().filter(pk=person.pk).exists()
    assert not Person.objects.search("maria perez").exists()
    # Kept apart, for legal claims, with the request that caused it.
    kept = BlockedData.objects.get(person=blocked)
    assert kept.data["person"]["document_number"] == "12345678Z"
    assert kept.request.kind == "erasure"
    # The statistics stay: the interaction is still counted, without what was said.
    interaction = Interaction.objects.get(person=blocked)
    assert (interaction.channel, interaction.text) == ("phone", "")
    # The audit trail is intact and records the blocking.
    assert list(verify_chain()) == []
    assert AuditEvent.objects.filter(
        object_type="citizens.person", object_id=str(person.pk), changes__blocked__new=True
    ).exists()


def test_restriction_through_the_page(person, client_for):
    client = client_for(DPO)
    client.post(f"/citizens/people/{person.pk}/privacy/restriction/", {"restrict": "1"})
    assert Person.objects.get(pk=person.pk).restricted_at is not None
    client.post(f"/citizens/people/{person.pk}/privacy/restriction/", {"restrict": "0"})
    assert Person.objects.get(pk=person.pk).restricted_at is None


def test_the_home_page_lists_open_requests_for_the_officer(person, client_for):
    gdpr.data_request_open(person=person, kind="erasure", actor=None)
    officer = client_for(DPO).get("/")
    assert "María Pérez Sanz" in officer.text
    assert "/citizens/data-requests/" in officer.text
    assert "/citizens/data-requests/" not in client_for("citizen_service").get("/").text
