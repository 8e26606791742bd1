"""Quotes: lines and stored totals, versions (a sent version never changes; a new one copies
it), the PDF with the body's letterhead (text extracted), the email through a real Celery
worker and SMTP server (logged in the timeline), and acceptance (won + agreement)."""

from __future__ import annotations

import io
import time
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from pypdf import PdfReader

from citizens.models import Interaction
from sales.models import Agreement, QuoteVersion
from sales.quote_mail import quote_pdf
from sales.services import (
    AgreementData,
    QuoteLineData,
    opportunity_create,
    quote_accept,
    quote_create,
    quote_send,
    quote_version_new,
    quote_version_update,
)
from tests.sales.funnel_helpers import make_organization, make_pipeline, make_product


def pdf_text(content: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages
    )


@pytest.fixture
def promoter(make_user):
    return make_user("promotion", first_name="Rosa", email="rosa@ayto.es")


@pytest.fixture
def opportunity(promoter):
    organization = make_organization(email="compras@ribera.es")
    product = make_product("stand", price="1000", vat="21")
    return opportunity_create(
        actor=promoter,
        title="Stand en la feria",
        organization=organization,
        pipeline=make_pipeline(),
        lines=[(product, Decimal("2"))],
    )


LINES = [
    QuoteLineData("Stand de 9 m²", Decimal("2"), Decimal("1000"), Decimal("21"), Decimal("10")),
    QuoteLineData("Curso de formación", Decimal("3"), Decimal("33.335"), Decimal("0")),
    QuoteLineData("Publicación en revista", Decimal("1"), Decimal("250"), Decimal("10")),
]


@pytest.mark.django_db
def test_first_version_copies_the_opportunity_products(opportunity, promoter):
    quote = quote_create(opportunity=opportunity, actor=promoter)
    assert quote.number.startswith("PRE-")
    version = quote.versions.get()
    line = version.lines.get()
    assert (line.description, line.quantity, line.unit_price, line.vat_rate) == (
        "Producto stand",
        Decimal("2"),
        Decimal("1000"),
        Decimal("21"),
    )
    assert (version.total_base, version.total_vat, version.total) == (
        Decimal("2000.00"),
        Decimal("420.00"),
        Decimal("2420.00"),
    )


@pytest.mark.django_db
def test_sent_versions_are_immutable_and_new_versions_copy(opportunity, promoter, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    quote = quote_create(opportunity=opportunity, actor=promoter)
    v1 = quote.versions.get()
    quote_version_update(
        version=v1,
        actor=promoter,
        lines=LINES,
        valid_until=date(2026, 12, 31),
        notes="Pago a 30 días",
        currency="EUR",
    )
    v1.refresh_from_db()
    # 1800 + 100.01 (33.335 x 3 = 100.005 -> 100.01) + 250; VAT 378 + 0 + 25
    assert (v1.total_base, v1.total_vat, v1.total) == (
        Decimal("2150.01"),
        Decimal("403.00"),
        Decimal("2553.01"),
    )
    with pytest.raises(ValidationError):
        quote_version_new(quote=quote, actor=promoter)  # the draft is changed in place
    quote_send(version=v1, actor=promoter, to="compras@ribera.es", language="es")
    with pytest.raises(ValidationError):
        quote_version_update(
            version=v1, actor=promoter, lines=LINES[:1], valid_until=None, notes="", currency="EUR"
        )
    v2 = quote_version_new(quote=quote, actor=promoter)
    v1.refresh_from_db()
    assert (v1.status, v2.status, v2.version) == ("superseded", "draft", 2)
    assert [line.description for line in v2.lines.all()] == [line.description for line in LINES]
    assert (v2.total, v2.notes) == (v1.total, "Pago a 30 días")
    quote_version_update(
        version=v2, actor=promoter, lines=LINES[:1], valid_until=None, notes="", currency="EUR"
    )
    assert v1.lines.count() == 3  # the sent version kept its lines


@pytest.mark.django_db
def test_the_pdf_has_letterhead_lines_and_totals(opportunity, promoter, settings):
    settings.BODY_NAME = "Ayuntamiento de Villaejemplo"
    quote = quote_create(opportunity=opportunity, actor=promoter)
    version = quote.versions.get()
    quote_version_update(
        version=version,
        actor=promoter,
        lines=LINES,
        valid_until=None,
        notes="Validez de 30 días",
        currency="EUR",
    )
    text = pdf_text(quote_pdf(QuoteVersion.objects.get(pk=version.pk), "es"))
    assert "Ayuntamiento de Villaejemplo" in text
    assert quote.number in text
    for expected in ("Talleres Ribera SL", "B12345674", "Stand de 9 m²", "Curso de formación"):
        assert expected in text, expected
    for amount in ("1800,00", "100,01", "2150,01", "378,00", "25,00", "403,00", "2553,01"):
        assert amount in text, amount
    assert "Validez de 30 días" in text


@pytest.mark.django_db
def test_the_pdf_view(client, opportunity, promoter, make_user):
    quote = quote_create(opportunity=opportunity, actor=promoter)
    client.force_login(make_user("data_protection_officer"))
    response = client.get(f"/sales/quotes/{quote.pk}/pdf/", headers={"accept-language": "es"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "2420,00" in pdf_text(response.content)  # Spanish numbers for a Spanish reader


@pytest.mark.django_db
def test_the_quote_page_saves_lines_and_shows_errors(client, opportunity, promoter):
    quote = quote_create(opportunity=opportunity, actor=promoter)
    client.force_login(promoter)
    page = client.get(f"/sales/quotes/{quote.pk}/")
    assert page.status_code == 200
    data = {
        "version": "1",
        "currency": "EUR",
        "valid_until": "",
        "notes": "",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-description": "Cartel",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "",
        "lines-0-vat_rate": "21",
        "lines-1-description": "",
        "lines-1-quantity": "",
    }
    response = client.post(f"/sales/quotes/{quote.pk}/save/", data)
    assert response.status_code == 400
    assert "Give the unit price." in response.content.decode()
    assert 'value="Cartel"' in response.content.decode()
    data["lines-0-unit_price"] = "12.50"
    data["lines-0-discount"] = "50"
    response = client.post(f"/sales/quotes/{quote.pk}/save/", data)
    assert response.status_code == 302
    version = quote.versions.get()
    assert (version.total_base, version.total) == (Decimal("12.50"), Decimal("15.13"))


@pytest.mark.django_db(transaction=True)
def test_sending_emails_the_pdf_and_logs_the_timeline(
    client, opportunity, promoter, celery_worker, smtp_server
):
    quote = quote_create(opportunity=opportunity, actor=promoter)
    client.force_login(promoter)
    response = client.post(
        f"/sales/quotes/{quote.pk}/send/",
        {"version": "1", "to": "compras@ribera.es", "language": "es", "message": "Un saludo"},
    )
    assert response.status_code == 302
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        "compras@ribera.es" in mail.rcpt_tos for mail in smtp_server.messages
    ):
        time.sleep(0.2)
    [mail] = [m for m in smtp_server.messages if "compras@ribera.es" in m.rcpt_tos]
    assert quote.number in mail.subject
    assert "Un saludo" in mail.body("plain")
    assert "Un saludo" in mail.body("html")
    assert "2420,00" in mail.body("plain")
    [attachment] = [
        part for part in mail.message.walk() if part.get_content_type() == "application/pdf"
    ]
    assert quote.number in pdf_text(attachment.get_payload(decode=True))
    version = quote.versions.get()
    assert (version.status, version.sent_to) == ("sent", "compras@ribera.es")
    interaction = Interaction.objects.get(
        related_type="sales.opportunity", related_id=opportunity.pk
    )
    assert interaction.organization_id == opportunity.organization_id
    assert quote.number in interaction.subject
    page = client.get(f"/citizens/organisations/{opportunity.organization_id}/").content.decode()
    assert quote.number in page


@pytest.mark.django_db
def test_accepting_wins_the_opportunity_and_records_an_agreement(
    client, opportunity, promoter, settings
):
    quote = quote_create(opportunity=opportunity, actor=promoter)
    version = quote.versions.get()
    with pytest.raises(ValidationError):
        quote_accept(version=version, actor=promoter)  # not sent yet
    quote_send(version=version, actor=promoter, to="compras@ribera.es", language="es")
    client.force_login(promoter)
    response = client.post(
        f"/sales/quotes/{quote.pk}/accept/",
        {
            "version": "1",
            "create_agreement": "on",
            "title": "Convenio feria",
            "start_date": "2027-01-01",
            "end_date": "2026-01-01",
        },
    )
    assert response.status_code == 400
    assert "The end date is before the start date." in response.content.decode()
    response = client.post(
        f"/sales/quotes/{quote.pk}/accept/",
        {
            "version": "1",
            "create_agreement": "on",
            "title": "Convenio feria",
            "start_date": "2027-01-01",
            "end_date": "2027-12-31",
        },
    )
    assert response.status_code == 302
    opportunity.refresh_from_db()
    assert opportunity.status == "won"
    assert opportunity.amount == Decimal("2000.00")
    assert quote.number in opportunity.reason
    agreement = Agreement.objects.get()
    assert (agreement.title, agreement.start_date, agreement.end_date) == (
        "Convenio feria",
        date(2027, 1, 1),
        date(2027, 12, 31),
    )
    assert agreement.quote_version == version
    page = client.get(f"/citizens/organisations/{opportunity.organization_id}/").content.decode()
    assert "Convenio feria" in page


@pytest.mark.django_db
def test_agreement_without_quote(opportunity, promoter):
    from sales.services import agreement_create

    agreement = agreement_create(
        opportunity=opportunity,
        actor=promoter,
        data=AgreementData("Convenio", date(2027, 1, 1), None),
    )
    assert agreement.amount == opportunity.amount
