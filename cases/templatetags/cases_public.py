"""Template helpers of the citizen-facing documents and emails of cases."""

from __future__ import annotations

from django import template

from citizens.models import DocumentType
from crm.documents import normalise_code, verification_url

register = template.Library()

MASK = "*"


@register.filter
def masked_document(filer: dict) -> str:
    """The filer's identity document with four digits shown, as the Spanish Data Protection
    Agency's method for publications has it (LOPDGDD, 7th additional provision): a DNI
    ``12345678Z`` is ``***4567**``, an NIE ``X1234567L`` is ``****4567*``; other documents show
    their last four characters. Empty when no document was given."""
    number = "".join(str((filer or {}).get("document_number") or "").split())
    kind = (filer or {}).get("document_type") or ""
    if not number:
        return ""
    if kind == DocumentType.DNI and len(number) == 9:
        start = 3
    elif kind == DocumentType.NIE and len(number) == 9:
        start = 4
    elif len(number) > 4:
        start = len(number) - 4
    else:
        return MASK * len(number)
    return MASK * start + number[start : start + 4] + MASK * (len(number) - start - 4)


@register.filter
def document_type_label(code: str) -> str:
    return str(DocumentType(code).label) if code in DocumentType.values else ""


@register.filter
def filer_name(filer: dict) -> str:
    parts = ("given_name", "first_surname", "second_surname")
    return " ".join(str((filer or {}).get(part) or "") for part in parts if (filer or {}).get(part))


@register.simple_tag
def document_verification_url(document) -> str:
    """The public page showing ``document`` (an IssuedDocument) by its verification code."""
    code = normalise_code(document.verification_code) if document else None
    return verification_url(code) if code else ""
