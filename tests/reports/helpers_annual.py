"""Helpers of the annual report's and case statistics' tests: cases filed, suspended and answered
on known dates through the cases services (the clock of each test is set by patching
``django.utils.timezone.now`` for the answer, which the service stamps with "now")."""

from __future__ import annotations

from datetime import date, datetime
from unittest import mock
from zoneinfo import ZoneInfo

from cases.models import Case, CaseType, SubjectArea
from cases.services import (
    Filer,
    case_answer,
    case_citizen_reply,
    case_file,
    case_request_information,
)
from crm.models import Unit

MADRID = ZoneInfo("Europe/Madrid")


def madrid(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)


def file(
    filed_at: datetime,
    *,
    unit: str = "urbanismo",
    type_code: str = "queja",
    channel: str = "web_form",
    area: str | None = None,
    municipality: str = "",
) -> Case:
    area_obj = SubjectArea.objects.get(name=area) if area else None
    return case_file(
        case_type=CaseType.objects.get(code=type_code),
        filer=Filer(
            given_name="Ana",
            first_surname="Ruiz",
            email="ana@example.org",
            street="Calle Mayor",
            street_number="1",
            postcode="28801",
            municipality=municipality,
        ),
        subject="Farola apagada",
        text="La farola de la calle Mayor lleva una semana apagada.",
        channel=channel,
        subject_area=area_obj,
        unit=Unit.objects.get(code=unit),
        filed_at=filed_at,
    ).case


def suspend(case: Case, actor, asked: date, replied: date) -> None:
    """Ask the citizen for information on ``asked``; they reply on ``replied``."""
    case_request_information(case=case, actor=actor, text="¿Qué farola?", today=asked)
    case_citizen_reply(case=case, text="La del número 3.", today=replied)


def answer(case: Case, actor, moment: datetime) -> Case:
    """Answer the case as if it were ``moment``."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        case_answer(case=case, actor=actor, text="Respuesta.")
    case.refresh_from_db()
    return case
