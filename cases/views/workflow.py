"""The workflow's actions as the case page offers them: who may do each (the same predicates the
services check), in which statuses it is offered, its form, and the service it calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases import services
from cases.forms import (
    ActionForm,
    AnswerForm,
    AssignForm,
    CommentForm,
    DuplicateForm,
    ForwardForm,
    NoFieldsForm,
    RejectForm,
    RequestInformationForm,
    TaskForm,
)
from cases.models import CLOCK_STATUSES, OPEN_STATUSES, Case, CaseStatus
from crm.models import User, unit_ids_for_user

S = CaseStatus
ALL_STATUSES = tuple(CaseStatus.values)


@dataclass(frozen=True)
class Action:
    name: str  # URL name (cases:<name>), form prefix, element id
    title: str | Promise
    submit: str | Promise
    icon: str
    form_class: type[ActionForm]
    may: Callable[[User, Case], bool]  # the user may do it to this case (else a POST is a 403)
    statuses: tuple[str, ...]  # offered while the case is in one of these
    perform: Callable[[User, Case, dict[str, Any]], str]  # calls the service; the message
    danger: bool = False

    def offered(self, user: User, case: Case) -> bool:
        return case.status in self.statuses and self.may(user, case)


def _assign(user: User, case: Case, data: dict[str, Any]) -> str:
    case = services.case_assign(
        case=case, actor=user, unit=data["unit"], assignee=data["assignee"], note=data["note"]
    )
    if case.assignee is not None:
        return _("The case has been assigned to %(unit)s, %(handler)s.") % {
            "unit": case.unit,
            "handler": case.assignee.get_full_name() or case.assignee.get_username(),
        }
    return _("The case has been assigned to %(unit)s.") % {"unit": case.unit}


def _start(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_start(case=case, actor=user)
    return _("The case is in progress.")


def _request_information(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_request_information(case=case, actor=user, text=data["text"])
    return _("The citizen has been asked for more information; the clock is stopped.")


def _comment(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_comment(case=case, actor=user, text=data["text"])
    return _("The internal comment has been added.")


def _answer(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_answer(case=case, actor=user, text=data["text"])
    return _("The answer has been sent: the citizen will get it as a document by email.")


def _close(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_close(case=case, actor=user)
    return _("The case has been closed.")


def _reject(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_reject(case=case, actor=user, reason=data["reason"])
    return _("The case has been rejected.")


def _duplicate(user: User, case: Case, data: dict[str, Any]) -> str:
    original = data["original"]
    services.case_mark_duplicate(case=case, actor=user, original=original, note=data["note"])
    return _("The case has been marked as a duplicate of %(number)s.") % {
        "number": original.registry_number
    }


def _forward(user: User, case: Case, data: dict[str, Any]) -> str:
    services.case_forward(
        case=case, actor=user, administration=data["administration"], note=data["note"]
    )
    return _("The case has been forwarded to %(to)s.") % {"to": data["administration"]}


def _task_add(user: User, case: Case, data: dict[str, Any]) -> str:
    task = services.case_task_add(
        case=case, actor=user, unit=data["unit"], description=data["description"]
    )
    return _("%(unit)s has a task in this case now.") % {"unit": task.unit}


def _may_route(user: User, case: Case) -> bool:
    return services.can_handle(user, case) or services.can_assign(user, case)


ACTIONS: tuple[Action, ...] = (
    Action(
        "start",
        gettext_lazy("Start working on it"),
        gettext_lazy("Start"),
        "play-circle",
        NoFieldsForm,
        services.can_handle,
        (S.RECEIVED, S.ASSIGNED),
        _start,
    ),
    Action(
        "assign",
        gettext_lazy("Assign to a unit and handler"),
        gettext_lazy("Assign"),
        "person-check",
        AssignForm,
        services.can_assign,
        OPEN_STATUSES,
        _assign,
    ),
    Action(
        "answer",
        gettext_lazy("Answer the citizen"),
        gettext_lazy("Send the answer"),
        "send",
        AnswerForm,
        services.can_handle,
        CLOCK_STATUSES,
        _answer,
    ),
    Action(
        "request_information",
        gettext_lazy("Ask the citizen for more information"),
        gettext_lazy("Ask the citizen"),
        "question-circle",
        RequestInformationForm,
        services.can_handle,
        CLOCK_STATUSES,
        _request_information,
    ),
    Action(
        "comment",
        gettext_lazy("Add an internal comment"),
        gettext_lazy("Add the comment"),
        "chat-left-text",
        CommentForm,
        services.can_comment,
        ALL_STATUSES,
        _comment,
    ),
    Action(
        "task_add",
        gettext_lazy("Involve another unit (task)"),
        gettext_lazy("Add the task"),
        "diagram-3",
        TaskForm,
        _may_route,
        OPEN_STATUSES,
        _task_add,
    ),
    Action(
        "close",
        gettext_lazy("Close the case"),
        gettext_lazy("Close"),
        "archive",
        NoFieldsForm,
        services.can_handle,
        (S.ANSWERED,),
        _close,
    ),
    Action(
        "duplicate",
        gettext_lazy("Mark as a duplicate"),
        gettext_lazy("Mark as a duplicate"),
        "files",
        DuplicateForm,
        services.can_handle,
        OPEN_STATUSES,
        _duplicate,
        danger=True,
    ),
    Action(
        "forward",
        gettext_lazy("Forward to another administration"),
        gettext_lazy("Forward"),
        "box-arrow-up-right",
        ForwardForm,
        services.can_handle,
        OPEN_STATUSES,
        _forward,
        danger=True,
    ),
    Action(
        "reject",
        gettext_lazy("Reject"),
        gettext_lazy("Reject"),
        "x-circle",
        RejectForm,
        services.can_handle,
        OPEN_STATUSES,
        _reject,
        danger=True,
    ),
)
ACTIONS_BY_NAME = {action.name: action for action in ACTIONS}


def may_complete_task(user: User, task) -> bool:
    """cases.services.case_task_complete's rule: handlers of the task's unit or of the case."""
    if user.is_superuser:
        return True
    if not user.has_perm("cases.manage"):
        return False
    return task.unit_id in unit_ids_for_user(user) or services.can_handle(user, task.case)
