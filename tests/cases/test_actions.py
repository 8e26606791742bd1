"""Every transition of the workflow through the case page's POST actions: who may (role and
unit), what each writes, errors shown with what was typed, tasks that open the case to another
unit."""

from __future__ import annotations

import re

import pytest

from cases.models import Case, CaseEntry, CaseStatus, CaseTask, EntryKind
from cases.services import case_answer, case_assign, case_start
from crm.models import AuditEvent
from tests.cases.staff import file_case

pytestmark = pytest.mark.django_db

ACTION_URLS = [
    "assign",
    "start",
    "request-information",
    "comment",
    "answer",
    "close",
    "reject",
    "duplicate",
    "forward",
    "tasks/new",
]


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",), first_name="Marta")


@pytest.fixture
def desk(make_user):
    return make_user("citizen_service", unit_codes=("ayto",))


@pytest.fixture
def case(units):
    return file_case()


def post(client, case: Case, action: str, data: dict | None = None, **kwargs):
    return client.post(f"/cases/{case.pk}/{action}/", data or {}, **kwargs)


def reload(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def flashed(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def test_the_whole_workflow_through_the_page(case, desk, handler, client, units):
    client.force_login(desk)
    response = post(
        client,
        case,
        "assign",
        {
            "assign-unit": units["urbanismo"].pk,
            "assign-assignee": handler.pk,
            "assign-note": "Urge",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/"
    assert reload(case).status == CaseStatus.ASSIGNED
    assert reload(case).assignee == handler
    assert "The case has been assigned to Urbanismo, Marta." in flashed(response)

    client.force_login(handler)
    assert post(client, case, "start").status_code == 302
    assert reload(case).status == CaseStatus.IN_PROGRESS

    response = post(client, case, "comment", {"comment-text": "Solo para el equipo"})
    assert response.status_code == 302
    entry = CaseEntry.objects.get(case=case, kind=EntryKind.COMMENT)
    assert entry.text == "Solo para el equipo"
    assert not entry.public

    response = post(
        client,
        case,
        "request_information".replace("_", "-"),
        {"request_information-text": "¿Dónde?"},
    )
    assert response.status_code == 302
    assert reload(case).status == CaseStatus.WAITING
    assert reload(case).due_date is None

    # While waiting, answering is not offered and is refused with the status' error.
    page = client.get(f"/cases/{case.pk}/").text
    assert 'id="action-answer"' not in page
    response = post(client, case, "answer", {"answer-text": "Arreglada"})
    assert response.status_code == 400
    assert "This cannot be done to a case that is waiting for the citizen." in response.text

    from cases.services import case_citizen_reply

    case_citizen_reply(case=reload(case), text="En el número 3")
    response = post(client, case, "answer", {"answer-text": "La farola ya funciona."})
    assert response.status_code == 302
    answered = reload(case)
    assert answered.status == CaseStatus.ANSWERED
    assert answered.public_answer == "La farola ya funciona."
    assert answered.answered_at is not None

    assert post(client, case, "close").status_code == 302
    assert reload(case).status == CaseStatus.CLOSED
    page = client.get(f"/cases/{case.pk}/").text
    assert 'id="action-close"' not in page
    assert 'id="action-comment"' in page

    kinds = list(CaseEntry.objects.filter(case=case).values_list("kind", flat=True))
    assert kinds == [
        "filed",
        "assignment",
        "status",
        "comment",
        "information_request",
        "citizen_reply",
        "answer",
        "status",
    ]
    assert AuditEvent.objects.filter(object_type="cases.case", action="update").count() >= 6


@pytest.mark.parametrize(
    ("action", "data", "status", "check"),
    [
        ("reject", {"reject-reason": "Anónima"}, CaseStatus.REJECTED, "Anónima"),
        (
            "forward",
            {"forward-administration": "Comunidad de Madrid", "forward-note": ""},
            CaseStatus.FORWARDED,
            "Forwarded to Comunidad de Madrid.",
        ),
    ],
)
def test_ending_actions(case, handler, client, action, data, status, check):
    client.force_login(handler)
    response = post(client, case, action, data)
    assert response.status_code == 302
    ended = reload(case)
    assert ended.status == status
    assert ended.closed_at is not None
    entry = CaseEntry.objects.filter(case=case).last()
    assert entry.public
    assert entry.text == check


def test_mark_duplicate_by_registry_number(case, handler, client):
    original = file_case(subject="La misma farola")
    client.force_login(handler)
    response = post(
        client, case, "duplicate", {"duplicate-original": original.registry_number.lower()}
    )
    assert response.status_code == 302
    assert reload(case).duplicate_of == original
    assert reload(case).status == CaseStatus.DUPLICATE


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("QS-1999-000001", "No case you may see has this number."),
        ("la de ayer", "This is not a registry number"),
    ],
)
def test_a_wrong_original_is_shown_with_what_was_typed(case, handler, client, typed, error):
    client.force_login(handler)
    response = post(
        client, case, "duplicate", {"duplicate-original": typed, "duplicate-note": "Igual"}
    )
    assert response.status_code == 400
    assert error in response.text
    assert f'value="{typed}"' in response.text
    assert "Igual</textarea>" in response.text
    assert re.search(
        r'<details class="card mb-2 crm-quick-form" id="action-duplicate" open>', response.text
    )
    assert 'id="action-errors"' in response.text
    assert reload(case).status == CaseStatus.RECEIVED


def test_a_case_cannot_duplicate_itself(case, handler, client):
    client.force_login(handler)
    response = post(client, case, "duplicate", {"duplicate-original": case.registry_number})
    assert response.status_code == 400
    assert "A case cannot duplicate itself." in response.text


def test_service_errors_keep_what_was_typed(case, handler, client):
    client.force_login(handler)
    response = post(
        client, case, "forward", {"forward-administration": "   ", "forward-note": "Nota"}
    )
    assert response.status_code == 400
    assert "Nota</textarea>" in response.text
    response = post(client, case, "comment", {"comment-text": ""})
    assert response.status_code == 400
    assert 'id="action-comment" open' in response.text


def test_an_assignee_outside_the_unit_is_refused_on_the_form(case, desk, client, make_user, units):
    other = make_user("case_handler", unit_codes=("servicios-sociales",), username="pedro")
    client.force_login(desk)
    response = post(
        client, case, "assign", {"assign-unit": units["urbanismo"].pk, "assign-assignee": other.pk}
    )
    assert response.status_code == 400
    assert "This person does not belong to the unit." in response.text
    assert reload(case).assignee is None


def test_actions_are_post_only(case, handler, client):
    client.force_login(handler)
    for action in ACTION_URLS:
        assert client.get(f"/cases/{case.pk}/{action}/").status_code == 405, action


# --- Who may ------------------------------------------------------------------------------------


def test_citizen_service_routes_but_does_not_answer(case, desk, client):
    client.force_login(desk)
    page = client.get(f"/cases/{case.pk}/").text
    assert 'id="action-assign"' in page
    assert 'id="action-task_add"' in page
    assert 'id="action-comment"' in page
    for hidden in ("answer", "start", "request_information", "reject", "close"):
        assert f'id="action-{hidden}"' not in page, hidden
    response = post(client, case, "answer", {"answer-text": "Hola"})
    assert response.status_code == 403
    assert "Acceso denegado" in response.text or "Access denied" in response.text
    assert reload(case).status == CaseStatus.RECEIVED


@pytest.mark.parametrize("action", ACTION_URLS)
def test_the_dpo_may_read_but_every_post_is_a_403(case, client_for, action):
    client = client_for("data_protection_officer", unit_codes=())
    assert client.get(f"/cases/{case.pk}/").status_code == 200
    response = client.post(f"/cases/{case.pk}/{action}/", {})
    assert response.status_code == 403
    assert reload(case).status == CaseStatus.RECEIVED


@pytest.mark.parametrize("action", ACTION_URLS)
def test_a_handler_of_another_unit_gets_a_404(case, client_for, action):
    client = client_for("case_handler", unit_codes=("servicios-sociales",))
    assert client.post(f"/cases/{case.pk}/{action}/", {}).status_code == 404


def test_nothing_is_offered_on_a_closed_case_but_comments(case, handler, client):
    case_start(case=case, actor=handler)
    case_answer(case=reload(case), actor=handler, text="Hecho")
    client.force_login(handler)
    page = client.get(f"/cases/{case.pk}/").text
    offered = set(re.findall(r'id="action-([a-z_]+)"', page))
    assert offered == {"comment", "close"}


# --- Tasks for other units ------------------------------------------------------------------------


def test_a_task_opens_the_case_to_another_unit(case, handler, client, client_for, make_user, units):
    social = make_user("case_handler", unit_codes=("servicios-sociales",), username="social")
    client.force_login(social)
    assert client.get(f"/cases/{case.pk}/").status_code == 404

    client.force_login(handler)
    response = post(
        client,
        case,
        "tasks/new",
        {"task_add-unit": units["servicios-sociales"].pk, "task_add-description": "Informe"},
    )
    assert response.status_code == 302
    task = CaseTask.objects.get(case=case)
    assert task.unit == units["servicios-sociales"]

    client.force_login(social)
    page = client.get(f"/cases/{case.pk}/")
    assert page.status_code == 200
    assert "Informe" in page.text
    assert f'action="/cases/{case.pk}/tasks/{task.pk}/complete/"' in page.text
    assert case.registry_number in client.get("/cases/").text  # in their queue too
    # They may comment and do their task, not answer the case.
    assert 'id="action-answer"' not in page.text
    assert post(client, case, "answer", {"answer-text": "x"}).status_code == 403
    assert post(client, case, "comment", {"comment-text": "Visitado"}).status_code == 302
    response = client.post(
        f"/cases/{case.pk}/tasks/{task.pk}/complete/", {f"task-{task.pk}-outcome": "Hecho"}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.done_at is not None
    assert task.outcome == "Hecho"
    # Done twice: the error is shown on the page.
    response = client.post(f"/cases/{case.pk}/tasks/{task.pk}/complete/", {})
    assert response.status_code == 400
    assert "This task is already done." in response.text
    assert '<details class="mt-2" open>' in response.text


def test_a_task_of_a_unit_not_involved_cannot_be_completed(case, handler, client, make_user, units):
    from cases.services import case_task_add

    task = case_task_add(
        case=case, actor=handler, unit=units["servicios-sociales"], description="Informe"
    )
    client.force_login(make_user("case_handler", unit_codes=("licencias",), username="lic"))
    assert client.post(f"/cases/{case.pk}/tasks/{task.pk}/complete/").status_code == 404
    dpo = make_user("data_protection_officer", unit_codes=(), username="dpo")
    client.force_login(dpo)
    assert client.post(f"/cases/{case.pk}/tasks/{task.pk}/complete/").status_code == 403
    other_case = file_case()
    client.force_login(handler)
    assert client.post(f"/cases/{other_case.pk}/tasks/{task.pk}/complete/").status_code == 404


def test_reassigning_keeps_the_status(case, handler, desk, client, units):
    case_assign(case=case, actor=desk, unit=units["urbanismo"], assignee=handler)
    case_start(case=reload(case), actor=handler)
    client.force_login(desk)
    response = post(client, case, "assign", {"assign-unit": units["licencias"].pk})
    assert response.status_code == 302
    moved = reload(case)
    assert moved.unit == units["licencias"]
    assert moved.assignee is None
    assert moved.status == CaseStatus.IN_PROGRESS
