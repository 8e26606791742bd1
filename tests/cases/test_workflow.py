"""The services of the workflow: who may do what, which status follows, the clock and the
history each transition leaves (views are tested in test_views*.py)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from cases.models import CaseEntry, CaseStatus, CaseType, EntryKind
from cases.services import (
    CaseActionDenied,
    Filer,
    InvalidTransition,
    case_answer,
    case_assign,
    case_citizen_reply,
    case_close,
    case_comment,
    case_file,
    case_forward,
    case_mark_duplicate,
    case_reject,
    case_request_information,
    case_resume_unanswered,
    case_start,
    case_task_add,
    case_task_complete,
    check_tracking_secret,
)
from citizens.models import Interaction, Person
from crm.models import AuditEvent, Unit

pytestmark = pytest.mark.django_db

ANA = Filer(
    given_name="Ana",
    first_surname="Ruiz",
    document_type="dni",
    document_number="12345678Z",
    email="ana@example.org",
)


def file(**overrides):
    fields = {
        "case_type": CaseType.objects.get(code="queja"),
        "filer": ANA,
        "subject": "Farola apagada",
        "text": "La farola de la calle Mayor 3 lleva una semana apagada.",
        # Routed by its subject area to Urbanismo, as most filings are.
        "unit": Unit.objects.get(code="urbanismo"),
        **overrides,
    }
    return case_file(**fields)


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",))


@pytest.fixture
def case(units):
    return file(unit=None).case


def routed(case, units, handler, actor=None):
    return case_assign(case=case, actor=actor or handler, unit=units["urbanismo"], assignee=handler)


def test_filing_creates_the_person_once_and_the_timeline_entry(units):
    first = file()
    second = file(filer=Filer(given_name="Ana", email="ANA@Example.org"))
    third = file(
        filer=Filer(
            given_name="A.", document_type="dni", document_number="12345678-z", phone="600123123"
        )
    )

    assert first.new_person
    assert not second.new_person
    assert not third.new_person
    assert Person.objects.count() == 1
    assert {first.case.person_id, second.case.person_id, third.case.person_id} == {
        first.case.person_id
    }
    numbers = [f.case.registry_number for f in (first, second, third)]
    year = first.case.filed_at.year
    assert numbers == [f"QS-{year}-00000{n}" for n in (1, 2, 3)]
    interaction = Interaction.objects.get(related_type="cases.case", related_id=first.case.pk)
    assert interaction.person_id == first.case.person_id
    assert interaction.channel == "web_form"
    assert interaction.direction == "in"
    assert first.case.entries.get().kind == EntryKind.FILED
    assert AuditEvent.objects.filter(object_type="cases.case", action="create").count() == 3


def test_the_tracking_secret_opens_only_its_case(units):
    one, other = file(), file()
    assert check_tracking_secret(one.case, one.tracking_secret)
    assert check_tracking_secret(one.case, one.tracking_secret.lower())
    assert not check_tracking_secret(one.case, other.tracking_secret)
    assert not check_tracking_secret(one.case, "")
    assert one.tracking_secret not in str(one.case.__dict__)


def test_bad_identification_is_a_form_error_by_field(units):
    with pytest.raises(ValidationError) as raised:
        file(filer=Filer(given_name="", document_type="dni", document_number="12345678A"))
    assert set(raised.value.message_dict) == {"given_name", "document_number", "email"}


def test_the_happy_path_with_a_request_for_information(units, handler):
    filing = file()
    case = routed(filing.case, units, handler)
    assert case.status == CaseStatus.ASSIGNED
    assert case.assignee == handler
    case = case_start(case=case, actor=handler)
    assert case.status == CaseStatus.IN_PROGRESS
    due = case.due_date

    case_request_information(case=case, actor=handler, text="¿Qué farola?", today=date(2026, 12, 1))
    case.refresh_from_db()
    assert case.status == CaseStatus.WAITING
    assert case.due_date is None
    # 10 business days; in Madrid 7 (Constitution Day moved from Sunday) and 8 Dec are holidays
    assert case.reply_due_date == date(2026, 12, 17)

    case_citizen_reply(case=case, text="La del número 3", today=date(2026, 12, 3))
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.reply_due_date is None
    assert case.due_date == _shifted(due, business_days=2)  # 2 and 3 Dec did not count

    case_answer(case=case, actor=handler, text="Arreglada, gracias.")
    case.refresh_from_db()
    assert case.status == CaseStatus.ANSWERED
    assert case.answered_at is not None
    case = case_close(case=case, actor=handler)
    assert case.status == CaseStatus.CLOSED
    assert case.closed_at is not None

    kinds = list(case.entries.values_list("kind", "public"))
    assert kinds == [
        (EntryKind.FILED, True),
        (EntryKind.ASSIGNMENT, False),
        (EntryKind.STATUS, False),
        (EntryKind.INFORMATION_REQUEST, True),
        (EntryKind.CITIZEN_REPLY, True),
        (EntryKind.ANSWER, True),
        (EntryKind.STATUS, False),
    ]
    statuses = [
        event.changes["status"]
        for event in AuditEvent.objects.filter(
            object_type="cases.case", object_id=str(case.pk)
        ).order_by("id")
        if "status" in event.changes
    ]
    assert statuses[-1] == ["answered", "closed"]


def _shifted(day, *, business_days):
    from crm.calendar import BusinessCalendar

    return BusinessCalendar().add_business_days(day, business_days)


def test_an_unanswered_request_resumes_the_clock_after_the_term(units, handler):
    case = routed(file().case, units, handler)
    case_request_information(
        case=case, actor=handler, text="Falta el lugar", today=date(2026, 12, 1)
    )
    case.refresh_from_db()
    assert not case_resume_unanswered(case=case, today=date(2026, 12, 17))
    assert case_resume_unanswered(case=case, today=date(2026, 12, 18))
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    suspension = case.suspensions.get()
    assert (suspension.started_on, suspension.ended_on) == (date(2026, 12, 1), date(2026, 12, 17))


def test_handlers_of_another_unit_may_not_touch_the_case(units, handler, make_user):
    case = routed(file().case, units, handler)
    outsider = make_user("case_handler", unit_codes=("servicios-sociales",))
    for action in (
        lambda: case_start(case=case, actor=outsider),
        lambda: case_answer(case=case, actor=outsider, text="x"),
        lambda: case_comment(case=case, actor=outsider, text="x"),
        lambda: case_request_information(case=case, actor=outsider, text="x"),
    ):
        with pytest.raises(CaseActionDenied):
            action()
    assert case.entries.count() == 2  # filed, assigned: nothing written


def test_citizen_service_routes_but_does_not_answer(units, handler, make_user):
    desk = make_user("citizen_service", unit_codes=())
    case = routed(file().case, units, handler, actor=desk)
    assert case.unit == units["urbanismo"]
    with pytest.raises(CaseActionDenied):
        case_answer(case=case, actor=desk, text="x")
    dpo = make_user("data_protection_officer", unit_codes=())
    with pytest.raises(CaseActionDenied):
        case_assign(case=case, actor=dpo, unit=units["licencias"])


def test_a_handler_must_belong_to_the_unit_they_are_given(units, handler, make_user):
    other = make_user("case_handler", unit_codes=("servicios-sociales",))
    with pytest.raises(ValidationError) as raised:
        case_assign(case=file().case, actor=handler, unit=units["urbanismo"], assignee=other)
    assert "assignee" in raised.value.message_dict


def test_transitions_follow_the_status(units, handler):
    case = routed(file().case, units, handler)
    with pytest.raises(InvalidTransition):
        case_close(case=case, actor=handler)
    with pytest.raises(InvalidTransition):
        case_citizen_reply(case=case, text="no me han preguntado")
    case_answer(case=case, actor=handler, text="Respuesta")
    with pytest.raises(InvalidTransition):
        case_reject(case=case, actor=handler, reason="tarde")


@pytest.mark.parametrize(
    ("end", "status"),
    [
        (lambda case, actor: case_reject(case=case, actor=actor, reason="Anónima"), "rejected"),
        (
            lambda case, actor: case_forward(case=case, actor=actor, administration="AEAT"),
            "forwarded",
        ),
    ],
)
def test_ending_a_waiting_case_closes_its_suspension(units, handler, end, status):
    case = routed(file().case, units, handler)
    case_request_information(case=case, actor=handler, text="¿Dónde?")
    case = end(case, handler)
    assert case.status == status
    assert case.closed_at is not None
    assert case.suspensions.get().ended_on is not None
    assert case.entries.last().public


def test_a_duplicate_points_to_the_original(units, handler):
    original = routed(file().case, units, handler)
    copy = routed(file().case, units, handler)
    with pytest.raises(ValidationError):
        case_mark_duplicate(case=copy, actor=handler, original=copy)
    copy = case_mark_duplicate(case=copy, actor=handler, original=original)
    assert copy.status == CaseStatus.DUPLICATE
    assert copy.duplicate_of == original
    assert original.registry_number in copy.entries.last().text


def test_a_task_lets_another_unit_see_and_work_on_the_case(units, handler, make_user):
    from cases.models import Case

    social = make_user("case_handler", unit_codes=("servicios-sociales",))
    case = routed(file().case, units, handler)
    assert not Case.objects.for_user(social).filter(pk=case.pk).exists()
    task = case_task_add(
        case=case, actor=handler, unit=units["servicios-sociales"], description="Informe social"
    )
    assert Case.objects.for_user(social).filter(pk=case.pk).exists()
    case_comment(case=case, actor=social, text="Lo miramos")
    case_task_complete(task=task, actor=social, outcome="Informe enviado")
    task.refresh_from_db()
    assert task.done_at is not None
    with pytest.raises(InvalidTransition):
        case_task_complete(task=task, actor=social, outcome="otra vez")
    assert list(
        CaseEntry.objects.filter(case=case, kind=EntryKind.TASK).values_list("actor", flat=True)
    ) == [handler.pk, social.pk]


def test_sub_unit_handlers_see_the_parent_units_cases_only_downwards(units, make_user):
    from cases.models import Case

    parent = make_user("case_handler", unit_codes=("urbanismo",))
    child = make_user("case_handler", unit_codes=("licencias",))
    in_child = file(unit=units["licencias"]).case
    in_parent = file(unit=units["urbanismo"]).case
    assert set(Case.objects.for_user(parent)) == {in_child, in_parent}
    assert set(Case.objects.for_user(child)) == {in_child}
