"""The workflow's transitions from the case page: POST only, each calling its service.

Success redirects to the case page with a message. A user who may not take the action gets a
403 before anything is read from the form (``CaseActionDenied`` from the service as well); a
form the service refuses (a ValidationError, or a status that no longer allows it) comes back
on the case page with its errors and what was typed.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cases.forms import TaskCompleteForm, service_errors
from cases.services import case_task_complete
from crm.permissions import module_required

from .detail import Choices, action_form, case_for_user, render_case_page, task_form_prefix
from .workflow import ACTIONS_BY_NAME, may_complete_task


@require_POST
@module_required("cases")
def case_action(request: HttpRequest, pk: int, *, action: str) -> HttpResponse:
    chosen = ACTIONS_BY_NAME[action]
    case = case_for_user(request, pk)
    if not chosen.may(request.user, case):
        raise PermissionDenied
    form = action_form(chosen, case=case, user=request.user, choices=Choices(), data=request.POST)
    if form.is_valid():
        try:
            message = chosen.perform(request.user, case, form.cleaned_data)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, message)
            return redirect("cases:detail", pk=case.pk)
    return render_case_page(request, case, bound=(chosen.name, form), status=400)


@require_POST
@module_required("cases")
def task_complete(request: HttpRequest, pk: int, task_pk: int) -> HttpResponse:
    case = case_for_user(request, pk)
    task = get_object_or_404(case.tasks.select_related("unit"), pk=task_pk)
    task.case = case
    if not may_complete_task(request.user, task):
        raise PermissionDenied
    prefix = task_form_prefix(task.pk)
    form = TaskCompleteForm(request.POST, prefix=prefix, case=case, user=request.user)
    if form.is_valid():
        try:
            case_task_complete(task=task, actor=request.user, outcome=form.cleaned_data["outcome"])
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The task of %(unit)s is done.") % {"unit": task.unit})
            return redirect("cases:detail", pk=case.pk)
    return render_case_page(request, case, bound=(prefix, form), status=400)
