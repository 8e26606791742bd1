"""Leads: the public interest form, staff entry, status changes with their history, and the
conversion into a person and/or organisation plus an opportunity, matching existing records
(by document, tax id or email) instead of duplicating them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cases.antiabuse import FILINGS
from citizens.models import EmailAddress, Organization, Person
from crm.models import AuditEvent
from sales.models import Lead, LeadEvent, LeadSource, LeadStatus, Opportunity
from sales.services import lead_convert, lead_create, lead_set_status
from tests.sales.funnel_helpers import make_organization, make_person, make_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_public_limits():
    """The public form counts submissions per client address in the shared cache."""
    for address in ("127.0.0.1", "::1"):
        FILINGS.reset(address)
    yield
    for address in ("127.0.0.1", "::1"):
        FILINGS.reset(address)


@pytest.fixture
def promoter(make_user):
    return make_user("promotion", first_name="Rosa")


@pytest.fixture
def pipeline():
    return make_pipeline()


def test_public_interest_form_creates_a_lead(client):
    response = client.get("/sede/interes/")
    assert response.status_code == 200
    assert b'name="interest"' in response.content
    response = client.post(
        "/sede/interes/",
        {
            "given_name": "Luis",
            "organization_name": "Asociación Vecinal Norte",
            "email": "Luis@Example.org",
            "interest": "Patrocinar las fiestas",
            "privacy": "on",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/sede/interes/gracias/"
    lead = Lead.objects.get()
    assert (lead.source, lead.status, lead.email) == ("web_form", "new", "luis@example.org")
    assert lead.created_by is None
    assert LeadEvent.objects.filter(lead=lead, status="new").exists()
    assert AuditEvent.objects.filter(object_type="sales.lead", action="create").exists()
    assert client.get("/sede/interes/gracias/").status_code == 200


def test_public_form_errors_keep_what_was_typed(client):
    response = client.post(
        "/sede/interes/",
        {"given_name": "", "organization_name": "", "tax_id": "B1234", "interest": "Cursos"},
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert "Cursos" in content
    assert 'id="form-errors"' in content
    assert response.context["form"].errors.keys() >= {"given_name", "tax_id", "privacy", "email"}
    assert not Lead.objects.exists()


def test_public_form_honeypot(client):
    response = client.post(
        "/sede/interes/",
        {"given_name": "Bot", "email": "a@b.es", "interest": "x", "privacy": "on", "website": "x"},
    )
    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_staff_entry_and_status_history(client, promoter):
    client.force_login(promoter)
    response = client.post(
        "/sales/leads/new/",
        {
            "source": "fair",
            "event": "Feria de Empresas 2026",
            "given_name": "Marta",
            "surnames": "Gil Ruiz",
            "document_number": "12345678z",
            "email": "marta@example.org",
            "interest": "Stand en la feria",
            "owner": promoter.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    lead = Lead.objects.get()
    assert lead.document_number == "12345678Z"
    assert lead.owner == promoter
    response = client.post(f"/sales/leads/{lead.pk}/status/", {"status": "discarded", "note": ""})
    assert response.status_code == 400
    assert "Say why the lead is discarded." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "new"
    client.post(f"/sales/leads/{lead.pk}/status/", {"status": "contacted", "note": "Llamada"})
    client.post(
        f"/sales/leads/{lead.pk}/status/", {"status": "discarded", "note": "Sin presupuesto"}
    )
    lead.refresh_from_db()
    assert (lead.status, lead.discard_reason) == ("discarded", "Sin presupuesto")
    assert list(lead.events.values_list("status", flat=True)) == ["new", "contacted", "discarded"]
    page = client.get(f"/sales/leads/{lead.pk}/").content.decode()
    assert "Llamada" in page
    assert "Sin presupuesto" in page


def test_bad_dni_is_refused_next_to_the_field(client, promoter):
    client.force_login(promoter)
    response = client.post(
        "/sales/leads/new/",
        {
            "source": "staff",
            "given_name": "Marta",
            "document_number": "12345678A",
            "email": "m@example.org",
        },
    )
    assert response.status_code == 400
    assert "document_number" in response.context["form"].errors
    assert b'value="12345678A"' in response.content


def _lead(**fields) -> Lead:
    return lead_create(actor=None, source=LeadSource.WEB_FORM, **fields)


def test_conversion_creates_person_organisation_and_opportunity(promoter, pipeline):
    lead = _lead(
        given_name="Carmen",
        surnames="López Díaz",
        document_number="12345678Z",
        email="carmen@example.org",
        organization_name="Cooperativa Sur",
        tax_id="B12345674",
        interest="Convenio de prácticas",
    )
    result = lead_convert(lead=lead, actor=promoter, pipeline=pipeline, amount=Decimal("1500"))
    assert result.person_created
    assert result.organization_created
    person, organization = result.person, result.organization
    assert (person.given_name, person.first_surname, person.second_surname) == (
        "Carmen",
        "López",
        "Díaz",
    )
    assert person.document_type == "dni"
    assert organization.tax_id == "B12345674"
    assert EmailAddress.objects.filter(person=person, address="carmen@example.org").exists()
    opportunity = result.opportunity
    assert opportunity.stage == pipeline.stages.order_by("order").first()
    assert (opportunity.person, opportunity.organization) == (person, organization)
    assert opportunity.owner == promoter
    lead.refresh_from_db()
    assert (lead.status, lead.opportunity, lead.person) == ("converted", opportunity, person)
    with pytest.raises(ValidationError):
        lead_convert(lead=lead, actor=promoter, pipeline=pipeline)


@pytest.mark.parametrize("match_by", ["document", "email"])
def test_conversion_reuses_the_existing_person(promoter, pipeline, match_by):
    existing = make_person("Carmen", document_number="12345678Z", email="carmen@example.org")
    lead = _lead(
        given_name="Carmen",
        document_number="12345678Z" if match_by == "document" else "",
        email="CARMEN@example.org" if match_by == "email" else "other@example.org",
        interest="Curso",
    )
    people_before = Person.objects.count()
    result = lead_convert(lead=lead, actor=promoter, pipeline=pipeline)
    assert result.person == existing
    assert not result.person_created
    assert Person.objects.count() == people_before
    assert result.opportunity.person == existing


@pytest.mark.parametrize("match_by", ["tax_id", "email", "name"])
def test_conversion_reuses_the_existing_organisation(promoter, pipeline, match_by):
    existing = make_organization(
        "Talleres Ribera SL",
        tax_id="B12345674" if match_by != "name" else "",
        email="info@ribera.es",
    )
    fields = {
        "tax_id": {"organization_name": "Talleres Ribera", "tax_id": "b-12345674"},
        "email": {"organization_name": "Ribera", "email": "info@ribera.es"},
        "name": {"organization_name": "talleres ribera sl", "email": "x@y.es"},
    }[match_by]
    lead = _lead(interest="Patrocinio", **fields)
    before = Organization.objects.count()
    result = lead_convert(lead=lead, actor=promoter, pipeline=pipeline)
    assert result.organization == existing
    assert not result.organization_created
    assert Organization.objects.count() == before
    assert result.person is None


def test_conversion_is_all_or_nothing(promoter, pipeline, monkeypatch):
    lead = _lead(given_name="Eva", email="eva@example.org", organization_name="Nueva SL")
    import sales.services

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sales.services, "opportunity_create", broken)
    with pytest.raises(RuntimeError):
        lead_convert(lead=lead, actor=promoter, pipeline=pipeline)
    assert not Person.objects.filter(given_name="Eva").exists()
    assert not Organization.objects.filter(name="Nueva SL").exists()
    lead.refresh_from_db()
    assert lead.status == "new"


def test_conversion_from_the_page_and_history_on_the_new_records(client, promoter, pipeline):
    lead = _lead(given_name="Pablo", email="pablo@example.org", interest="Espacio publicitario")
    lead_set_status(lead=lead, actor=promoter, status=LeadStatus.QUALIFIED, note="Muy interesado")
    client.force_login(promoter)
    response = client.post(
        f"/sales/leads/{lead.pk}/convert/",
        {
            "title": "Espacio en el mupi",
            "pipeline": pipeline.pk,
            "amount": "900",
            "currency": "eur",
            "expected_close": "2026-12-31",
        },
    )
    opportunity = Opportunity.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sales/opportunities/{opportunity.pk}/"
    assert opportunity.currency == "EUR"
    page = client.get(response["Location"]).content.decode()
    assert "Muy interesado" in page  # the lead's history on the opportunity
    person_page = client.get(f"/citizens/people/{opportunity.person_id}/").content.decode()
    assert "Espacio en el mupi" in person_page
    assert "Muy interesado" in person_page


def test_convert_form_errors(client, promoter, pipeline):
    lead = _lead(given_name="Pablo", email="pablo@example.org")
    client.force_login(promoter)
    response = client.post(
        f"/sales/leads/{lead.pk}/convert/",
        {"title": "X", "pipeline": pipeline.pk, "amount": "-1", "currency": "EURO"},
    )
    assert response.status_code == 400
    assert set(response.context["convert_form"].errors) == {"amount", "currency"}
    assert not Opportunity.objects.exists()
