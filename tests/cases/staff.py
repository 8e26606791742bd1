"""Helpers of the staff-side tests (queue, case page, registering, 360° integration)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from cases.models import Case, CaseType
from cases.services import Filer, case_file
from crm.models import Unit

PASSWORD = "correct-horse-battery"

ANA = Filer(
    given_name="Ana",
    first_surname="Ruiz",
    second_surname="Gil",
    document_type="dni",
    document_number="12345678Z",
    email="ana@example.org",
    municipality="Madrid",
)
LUIS = Filer(given_name="Luis", first_surname="Pardo", email="luis@example.org")


def file_case(*, unit: str | None = "urbanismo", type_code: str = "queja", **overrides) -> Case:
    """A filing as the public site makes it (no actor), routed to ``unit``."""
    fields = {
        "case_type": CaseType.objects.get(code=type_code),
        "filer": ANA,
        "subject": "Farola apagada",
        "text": "La farola de la calle Mayor 3 lleva una semana apagada.",
        "unit": Unit.objects.get(code=unit) if unit else None,
        **overrides,
    }
    return case_file(**fields).case


def set_filed(case: Case, *, days_ago: int) -> Case:
    """Move a case's filing time back (test setup: the queue orders by it)."""
    moment = timezone.now() - timedelta(days=days_ago)
    Case.objects.filter(pk=case.pk).update(filed_at=moment, official_filed_at=moment)
    case.refresh_from_db()
    return case
