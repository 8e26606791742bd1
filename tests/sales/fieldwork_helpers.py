"""What the field work tests share: a visit type with its checklist, visits, tasks, meetings,
and a small team (an inspector, a second inspector, a promoter of Urbanismo; an inspector of
another unit)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sales.fieldwork import (
    MeetingInput,
    TaskInput,
    VisitInput,
    meeting_create,
    task_create,
    visit_plan,
)
from sales.models import ChecklistItem, VisitType

MADRID = ZoneInfo("Europe/Madrid")
PASSWORD = "correct-horse-battery"


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def make_visit_type(code: str = "inspeccion-prueba") -> VisitType:
    visit_type = VisitType.objects.create(code=code, name="Inspección de local")
    for order, text in enumerate(("Licencia expuesta", "Extintores revisados")):
        ChecklistItem.objects.create(visit_type=visit_type, text=text, order=order)
    return visit_type


def plan(actor, *, visit_type=None, starts_at=None, hours: int = 1, assignees=None, **extra):
    starts_at = starts_at or at(2026, 11, 10)
    data = VisitInput(
        visit_type=visit_type or VisitType.objects.get(code="inspeccion-prueba"),
        place_address=extra.pop("place_address", "Calle Mayor 1, Madrid"),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        purpose=extra.pop("purpose", "Inspección anual"),
        assignees=assignees or [actor],
        **extra,
    )
    return visit_plan(data=data, actor=actor)


def add_task(actor, *, due_at=None, assignee=None, remind_at=None, **extra):
    due_at = due_at or at(2026, 11, 12, 9)
    data = TaskInput(
        title=extra.pop("title", "Enviar el acta"),
        due_at=due_at,
        assignee=assignee or actor,
        remind_at=remind_at,
        **extra,
    )
    return task_create(data=data, actor=actor)


def add_meeting(actor, *, starts_at=None, attendees=(), kind="meeting", **extra):
    starts_at = starts_at or at(2026, 11, 11, 12)
    data = MeetingInput(
        kind=kind,
        title=extra.pop("title", "Reunión de coordinación"),
        starts_at=starts_at,
        ends_at=extra.pop("ends_at", starts_at + timedelta(hours=1)),
        attendees=list(attendees),
        place=extra.pop("place", "Sala 2"),
        **extra,
    )
    return meeting_create(data=data, actor=actor)


@pytest.fixture
def team(make_user, units):
    """An inspector and a second one, a promoter of Urbanismo (promotion role: sees the unit's
    field work) and an inspector of Servicios Sociales."""
    make_visit_type()
    return {
        "inspector": make_user(
            "inspector", username="ines", first_name="Inés", email="ines@ayto.example"
        ),
        "other": make_user("inspector", username="oscar", email="oscar@ayto.example"),
        "promoter": make_user("promotion", username="pilar", email="pilar@ayto.example"),
        "elsewhere": make_user("inspector", username="eva", unit_codes=("servicios-sociales",)),
    }
