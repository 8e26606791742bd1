"""Data for the funnel's tests: pipelines, opportunities, products."""

from __future__ import annotations

from decimal import Decimal

from citizens.services import Contacts, EmailInput, organization_create, person_create
from sales.models import Pipeline, Product, Stage


def make_pipeline(
    name: str = "Patrocinios de prueba",
    stages=(("Contacto", 10), ("Propuesta", 50), ("Negociación", 80)),
) -> Pipeline:
    pipeline = Pipeline.objects.create(name=name)
    for order, (stage, probability) in enumerate(stages):
        Stage.objects.create(pipeline=pipeline, name=stage, order=order, probability=probability)
    return pipeline


def make_organization(name: str = "Talleres Ribera SL", tax_id: str = "B12345674", email: str = ""):
    contacts = Contacts(emails=[EmailInput(email, is_primary=True)]) if email else None
    return organization_create(actor=None, name=name, tax_id=tax_id, contacts=contacts)


def make_person(given_name: str = "Ana", document_number: str = "", email: str = ""):
    contacts = Contacts(emails=[EmailInput(email, is_primary=True)]) if email else None
    return person_create(
        actor=None,
        given_name=given_name,
        first_surname="Pérez",
        document_type="dni" if document_number else "",
        document_number=document_number,
        contacts=contacts,
    )


def make_product(code: str = "stand", price: str = "1000", vat: str = "21") -> Product:
    return Product.objects.create(
        code=code, name=f"Producto {code}", price=Decimal(price), vat_rate=Decimal(vat)
    )
