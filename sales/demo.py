"""Demo data of the promotion module (``manage.py seed_demo``, embedded default only):
catalogue, exchange rates, leads from the three sources, opportunities on every stage of the
seeded pipelines, a sent quote and an accepted one with its agreement. Idempotent: it does
nothing when the demo catalogue is already there."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from crm.models import User

DEMO_PRODUCTS = (
    # code, name, kind, category, price, VAT %
    ("stand-feria", "Stand de 9 m² en la Feria de Empresas", "service", "Ferias", "1200", "21"),
    (
        "patrocinio-fiestas",
        "Patrocinio de las fiestas patronales",
        "service",
        "Patrocinios",
        "3000",
        "21",
    ),
    ("mupi-mes", "Espacio publicitario en mupi (un mes)", "service", "Publicidad", "450", "21"),
    (
        "curso-empleo",
        "Curso de formación para el empleo (plaza)",
        "service",
        "Formación",
        "80",
        "0",
    ),
    ("guia-turistica", "Anuncio en la guía turística impresa", "product", "Publicidad", "600", "4"),
)


def _catalogue():
    from sales.models import Product, ProductCategory

    products = {}
    for code, name, kind, category, price, vat in DEMO_PRODUCTS:
        category_row, _created = ProductCategory.objects.get_or_create(name=category)
        products[code], _created = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "category": category_row,
                "price": Decimal(price),
                "vat_rate": Decimal(vat),
            },
        )
    return products


@transaction.atomic
def load() -> list[str]:
    from citizens.models import Organization
    from citizens.services import Contacts, EmailInput, organization_create
    from sales.models import ExchangeRate, LeadSource, Pipeline, Product
    from sales.services import (
        AgreementData,
        lead_convert,
        lead_create,
        opportunity_create,
        opportunity_move,
        quote_accept,
        quote_create,
        quote_send,
    )

    if Product.objects.filter(code="stand-feria").exists():
        return []
    actor = User.objects.filter(username="comercial").first()
    if actor is None:
        return []
    products = _catalogue()
    for currency, rate in (("USD", "1.08"), ("GBP", "0.85")):
        ExchangeRate.objects.get_or_create(
            currency=currency,
            valid_from=timezone.localdate().replace(month=1, day=1),
            defaults={"rate": Decimal(rate)},
        )
    created = ["catalogue"]
    lead_create(
        actor=None,
        source=LeadSource.WEB_FORM,
        given_name="Rocío",
        surnames="Méndez Vidal",
        email="rocio.mendez@example.org",
        organization_name="Asociación de Comerciantes del Centro",
        interest="Patrocinar la campaña de Navidad",
    )
    lead_create(
        actor=actor,
        source=LeadSource.FAIR,
        event="Feria de Empresas 2026",
        organization_name="Quesería Artesana Las Lomas",
        tax_id="B12345674",
        phone="600123456",
        interest="Stand en la próxima feria",
    )
    to_convert = lead_create(
        actor=actor,
        source=LeadSource.STAFF,
        given_name="Tomás",
        surnames="Gil Serrano",
        email="tomas.gil@example.org",
        organization_name="Academia Horizonte",
        interest="Plazas del curso de empleo",
    )
    pipelines = list(Pipeline.objects.order_by("order"))
    if not pipelines:
        return created
    lead_convert(
        lead=to_convert,
        actor=actor,
        pipeline=pipelines[-1],
        title="Convenio de prácticas con Academia Horizonte",
        amount=Decimal("1600"),
        expected_close=timezone.localdate() + timedelta(days=40),
    )
    sponsor = Organization.objects.filter(name="Bodegas del Valle SA").first() or (
        organization_create(
            actor=actor,
            name="Bodegas del Valle SA",
            tax_id="A58818501",
            contacts=Contacts(
                emails=[EmailInput("patrocinios@bodegasdelvalle.example", is_primary=True)]
            ),
        )
    )
    pipeline = pipelines[0]
    stages = list(pipeline.stages.order_by("order"))
    today = timezone.localdate()
    for index, (title, amount, currency) in enumerate(
        (
            ("Patrocinio de las fiestas de agosto", "3000", "EUR"),
            ("Stand de Bodegas del Valle en la feria", "1200", "EUR"),
            ("Patrocinio del festival de jazz", "5000", "USD"),
            ("Anuncio en la guía turística", "600", "EUR"),
        )
    ):
        opportunity = opportunity_create(
            actor=actor,
            title=title,
            organization=sponsor,
            pipeline=pipeline,
            amount=Decimal(amount),
            currency=currency,
            expected_close=today + timedelta(days=20 * (index + 1)),
            lines=[(products["patrocinio-fiestas" if index != 1 else "stand-feria"], Decimal("1"))],
        )
        if stages:
            opportunity_move(
                opportunity=opportunity, stage=stages[index % len(stages)], actor=actor
            )
        if index == 1:
            quote = quote_create(opportunity=opportunity, actor=actor)
            version = quote.versions.get()
            quote_send(
                version=version,
                actor=actor,
                to="patrocinios@bodegasdelvalle.example",
                language="es",
            )
            quote_accept(
                version=version,
                actor=actor,
                agreement=AgreementData(
                    "Convenio de patrocinio de la feria",
                    date(today.year + 1, 1, 1),
                    date(today.year + 1, 12, 31),
                ),
            )
        if index == 0:
            quote = quote_create(opportunity=opportunity, actor=actor)
            quote_send(
                version=quote.versions.get(),
                actor=actor,
                to="patrocinios@bodegasdelvalle.example",
                language="es",
            )
    created.append("funnel")
    return created
