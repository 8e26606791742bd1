"""Field work pages: the visits (list, planning, the visit page staff use on a phone to record
the checklist, outcome, photos and documents), the case or opportunity a visit opens, tasks,
meetings and events. Querysets start from ``for_user``: another's visit is a 404 (an inspector
sees only their own); an action the user may not do is a 403."""

from __future__ import annotations

import django_filters
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.forms import service_errors
from cases.services import can_register
from citizens.models import Organization, Person
from crm.audit import log_event
from crm.models import AuditAction
from crm.pagination import keyset_page
from crm.permissions import module_required

from ..fieldwork import (
    can_change_meeting,
    can_change_task,
    can_change_visit,
    can_plan,
    manages,
    meeting_cancel,
    meeting_create,
    meeting_update,
    task_complete,
    task_create,
    task_update,
    visit_cancel,
    visit_open_case,
    visit_open_opportunity,
    visit_plan,
    visit_record,
    visit_update,
)
from ..fieldwork_forms import (
    MeetingForm,
    OpenCaseForm,
    OpenOpportunityForm,
    TaskForm,
    VisitCancelForm,
    VisitForm,
    VisitRecordForm,
    remind_choice,
)
from ..models import Meeting, Task, Visit, VisitFile, VisitStatus

PER_PAGE = 30
VISIT_ORDERING = ["-starts_at", "-id"]
TASK_ORDERING = ["due_at", "id"]
FIND = "find_party"


def _require_plan(request: HttpRequest) -> None:
    if not can_plan(request.user):
        raise PermissionDenied


# --- Visits -------------------------------------------------------------------------------------


class VisitFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"), choices=VisitStatus.choices, empty_label=gettext_lazy("Any")
    )
    mine = django_filters.BooleanFilter(
        label=gettext_lazy("Only mine"),
        method="filter_mine",
        widget=django_filters.widgets.BooleanWidget,
    )

    class Meta:
        model = Visit
        fields = ["status"]

    def filter_mine(self, queryset, name, value):
        return queryset.filter(assignments__user=self.request.user) if value else queryset


@require_GET
@module_required("sales")
def visit_list(request: HttpRequest) -> HttpResponse:
    visits = Visit.objects.for_user(request.user).select_related(
        "visit_type", "person", "organization", "unit"
    )
    filters = VisitFilter(request.GET, queryset=visits, request=request)
    page = keyset_page(
        filters.qs,
        ordering=VISIT_ORDERING,
        cursor=request.GET.get("cursor"),
        per_page=PER_PAGE,
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "sales/fieldwork/visit_list.html",
        {
            "filter": filters,
            "page": page,
            "query": query.urlencode(),
            "can_plan": can_plan(request.user),
        },
    )


def _initial_party(request: HttpRequest) -> dict:
    initial = {}
    for name, model in (("person", Person), ("organization", Organization)):
        value = request.GET.get(name, "")
        if value.isdigit() and model.objects.in_use().filter(pk=int(value)).exists():
            initial[name] = value
    return initial


@require_http_methods(["GET", "POST"])
@module_required("sales")
def visit_new(request: HttpRequest) -> HttpResponse:
    _require_plan(request)
    if request.method != "POST":
        form = VisitForm(initial=_initial_party(request), user=request.user)
        return render(request, "sales/fieldwork/visit_form.html", {"form": form})
    if FIND in request.POST:
        typed = request.POST.dict()
        typed.pop("csrfmiddlewaretoken", None)
        typed["assignees"] = request.POST.getlist("assignees")
        form = VisitForm(initial=typed, user=request.user)
        return render(request, "sales/fieldwork/visit_form.html", {"form": form, "finding": True})
    form = VisitForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            visit = visit_plan(data=form.to_input(), actor=request.user)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The visit has been planned."))
            return redirect("sales:visit_detail", pk=visit.pk)
    return render(request, "sales/fieldwork/visit_form.html", {"form": form}, status=400)


def _visit_or_404(request: HttpRequest, pk: int) -> Visit:
    return get_object_or_404(
        Visit.objects.for_user(request.user).select_related(
            "visit_type", "person", "organization", "unit", "case", "opportunity"
        ),
        pk=pk,
    )


@require_http_methods(["GET", "POST"])
@module_required("sales")
def visit_edit(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _visit_or_404(request, pk)
    if not can_change_visit(request.user, visit):
        raise PermissionDenied
    if not visit.is_planned:
        messages.error(request, _("Only a planned visit can be changed."))
        return redirect("sales:visit_detail", pk=visit.pk)
    initial = {
        "visit_type": visit.visit_type_id,
        "person": visit.person_id or "",
        "organization": visit.organization_id or "",
        "place_address": visit.place_address,
        "latitude": visit.latitude,
        "longitude": visit.longitude,
        "starts_at": timezone.localtime(visit.starts_at),
        "ends_at": timezone.localtime(visit.ends_at),
        "purpose": visit.purpose,
        "assignees": list(visit.assignments.values_list("user_id", flat=True)),
        "unit": visit.unit_id,
    }
    context = {"visit": visit}
    if request.method != "POST":
        form = VisitForm(initial=initial, user=request.user, visit=visit)
        return render(request, "sales/fieldwork/visit_form.html", {**context, "form": form})
    if FIND in request.POST:
        typed = {**initial, **request.POST.dict()}
        typed.pop("csrfmiddlewaretoken", None)
        typed["assignees"] = request.POST.getlist("assignees")
        form = VisitForm(initial=typed, user=request.user, visit=visit)
        return render(request, "sales/fieldwork/visit_form.html", {**context, "form": form})
    form = VisitForm(request.POST, initial=initial, user=request.user, visit=visit)
    if form.is_valid():
        try:
            visit_update(visit=visit, data=form.to_input(), actor=request.user)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The visit has been changed."))
            return redirect("sales:visit_detail", pk=visit.pk)
    return render(request, "sales/fieldwork/visit_form.html", {**context, "form": form}, status=400)


def _visit_page(request: HttpRequest, visit: Visit, *, status: int = 200, **forms) -> HttpResponse:
    user = request.user
    may_change = can_change_visit(user, visit)
    context = {
        "visit": visit,
        "assignees": list(visit.assignees.order_by("first_name", "last_name")),
        "files": list(visit.files.all()),
        "checklist": list(visit.checklist.all()),
        "tasks": list(Task.objects.for_user(user).filter(visit=visit).order_by("due_at", "id")),
        "may_change": may_change,
        "record_form": forms.get("record_form")
        or (VisitRecordForm(visit=visit) if may_change and visit.is_planned else None),
        "cancel_form": forms.get("cancel_form") or VisitCancelForm(),
        "case_form": forms.get("case_form"),
        "opportunity_form": forms.get("opportunity_form"),
        "may_open_case": may_change
        and not visit.case_id
        and (visit.person_id or visit.organization_id)
        and (can_register(user) or user.has_perm("cases.manage")),
        "may_open_opportunity": may_change
        and not visit.opportunity_id
        and (visit.person_id or visit.organization_id)
        and manages(user),
    }
    if context["may_open_case"] and context["case_form"] is None:
        context["case_form"] = OpenCaseForm(
            prefix="case", initial={"subject": visit.purpose[:200], "unit": visit.unit_id}
        )
    if context["may_open_opportunity"] and context["opportunity_form"] is None:
        context["opportunity_form"] = OpenOpportunityForm(
            prefix="opportunity", initial={"title": visit.purpose[:200]}
        )
    return render(request, "sales/fieldwork/visit_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@module_required("sales")
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The visit page; its form records the checklist, outcome, notes and files ("Save"), and
    finishes the visit ("Save and finish")."""
    visit = _visit_or_404(request, pk)
    if request.method != "POST":
        return _visit_page(request, visit)
    if not can_change_visit(request.user, visit):
        raise PermissionDenied
    form = VisitRecordForm(request.POST, request.FILES, visit=visit)
    if form.is_valid():
        finish = "finish" in request.POST
        try:
            visit_record(
                visit=visit,
                actor=request.user,
                answers=form.answers(),
                outcome=form.cleaned_data["outcome"],
                notes=form.cleaned_data["notes"],
                uploads=form.uploads(),
                finish=finish,
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(
                request, _("The visit is done.") if finish else _("The visit has been saved.")
            )
            return redirect("sales:visit_detail", pk=visit.pk)
    return _visit_page(request, visit, record_form=form, status=400)


@require_POST
@module_required("sales")
def visit_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _visit_or_404(request, pk)
    if not can_change_visit(request.user, visit):
        raise PermissionDenied
    form = VisitCancelForm(request.POST)
    if form.is_valid():
        try:
            visit_cancel(visit=visit, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The visit has been cancelled."))
            return redirect("sales:visit_detail", pk=visit.pk)
    return _visit_page(request, visit, cancel_form=form, status=400)


@require_POST
@module_required("sales")
def visit_case(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _visit_or_404(request, pk)
    if not can_change_visit(request.user, visit):
        raise PermissionDenied
    form = OpenCaseForm(request.POST, prefix="case")
    if form.is_valid():
        data = form.cleaned_data
        try:
            case = visit_open_case(
                visit=visit,
                actor=request.user,
                case_type=data["case_type"],
                subject=data["subject"],
                text=data["text"],
                unit=data["unit"],
                attach_files=data["attach_files"],
            )
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(
                request,
                _("Case %(number)s has been registered.") % {"number": case.registry_number},
            )
            return redirect("sales:visit_detail", pk=visit.pk)
    return _visit_page(request, visit, case_form=form, status=400)


@require_POST
@module_required("sales")
def visit_opportunity(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _visit_or_404(request, pk)
    if not (can_change_visit(request.user, visit) and manages(request.user)):
        raise PermissionDenied
    form = OpenOpportunityForm(request.POST, prefix="opportunity")
    if form.is_valid():
        data = form.cleaned_data
        fields = {"pipeline": data["pipeline"], "title": data["title"]}
        if data["amount"] is not None:
            fields["amount"] = data["amount"]
        if data["expected_close"]:
            fields["expected_close"] = data["expected_close"]
        try:
            visit_open_opportunity(visit=visit, actor=request.user, **fields)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The opportunity has been opened."))
            return redirect("sales:visit_detail", pk=visit.pk)
    return _visit_page(request, visit, opportunity_form=form, status=400)


@require_GET
@module_required("sales")
def visit_file(request: HttpRequest, pk: int, file_pk: int) -> HttpResponse:
    """A photo or document of the visit, to who may see the visit (audited)."""
    visit = _visit_or_404(request, pk)
    record = get_object_or_404(VisitFile, pk=file_pk, visit=visit)
    log_event(
        actor=request.user,
        action=AuditAction.READ,
        obj=visit,
        changes={"what": "file", "file": record.pk, "name": record.name},
    )
    with record.file.open("rb") as stored:
        content = stored.read()
    response = HttpResponse(content, content_type=record.content_type)
    inline = request.GET.get("inline") == "1" and record.is_image
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=not inline, filename=record.name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


# --- Tasks --------------------------------------------------------------------------------------


def _task_links(request: HttpRequest, source) -> dict:
    """The person, organisation, visit or opportunity a new task is about (``?person=`` ...),
    each only if the user may see it."""
    from ..models import Opportunity

    links = {}
    for name, queryset in (
        ("person", Person.objects.in_use()),
        ("organization", Organization.objects.in_use()),
        ("visit", Visit.objects.for_user(request.user)),
        ("opportunity", Opportunity.objects.for_user(request.user)),
    ):
        value = str(source.get(name) or "")
        if value.isdigit():
            found = queryset.filter(pk=int(value)).first()
            if found is None:
                raise Http404
            links[name] = found
    return links


@require_GET
@module_required("sales")
def task_list(request: HttpRequest) -> HttpResponse:
    """Open tasks the user may see (their own, and their units' for promotion staff), the
    first due first."""
    tasks = (
        Task.objects.for_user(request.user)
        .open()
        .select_related("assignee", "person", "organization", "visit__visit_type")
    )
    if request.GET.get("mine") == "true":
        tasks = tasks.filter(assignee=request.user)
    page = keyset_page(
        tasks, ordering=TASK_ORDERING, cursor=request.GET.get("cursor"), per_page=PER_PAGE
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "sales/fieldwork/task_list.html",
        {
            "page": page,
            "query": query.urlencode(),
            "mine": request.GET.get("mine") == "true",
            "can_plan": can_plan(request.user),
            "now": timezone.now(),
        },
    )


@require_http_methods(["GET", "POST"])
@module_required("sales")
def task_new(request: HttpRequest) -> HttpResponse:
    _require_plan(request)
    links = _task_links(request, request.POST if request.method == "POST" else request.GET)
    context = {"links": links}
    if request.method != "POST":
        form = TaskForm(user=request.user)
        return render(request, "sales/fieldwork/task_form.html", {**context, "form": form})
    form = TaskForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            task = task_create(data=form.to_input(**links), actor=request.user)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The task has been added."))
            if task.visit_id:
                return redirect("sales:visit_detail", pk=task.visit_id)
            return redirect("sales:task_list")
    return render(request, "sales/fieldwork/task_form.html", {**context, "form": form}, status=400)


@require_http_methods(["GET", "POST"])
@module_required("sales")
def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.for_user(request.user), pk=pk)
    if not can_change_task(request.user, task):
        raise PermissionDenied
    links = {
        name: getattr(task, name)
        for name in ("person", "organization", "visit", "opportunity")
        if getattr(task, f"{name}_id")
    }
    context = {"task": task, "links": links}
    if request.method != "POST":
        form = TaskForm(
            initial={
                "title": task.title,
                "due_at": timezone.localtime(task.due_at),
                "remind": remind_choice(task),
                "assignee": task.assignee_id,
                "unit": task.unit_id,
                "notes": task.notes,
            },
            user=request.user,
        )
        return render(request, "sales/fieldwork/task_form.html", {**context, "form": form})
    form = TaskForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            task_update(task=task, data=form.to_input(**links), actor=request.user)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The task has been changed."))
            return redirect("sales:task_list")
    return render(request, "sales/fieldwork/task_form.html", {**context, "form": form}, status=400)


@require_POST
@module_required("sales")
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.for_user(request.user), pk=pk)
    if not can_change_task(request.user, task):
        raise PermissionDenied
    done = request.POST.get("done", "1") != "0"
    task_complete(task=task, actor=request.user, done=done)
    messages.success(request, _("The task is done.") if done else _("The task is open again."))
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect("sales:task_list")


# --- Meetings and events ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@module_required("sales")
def meeting_new(request: HttpRequest) -> HttpResponse:
    _require_plan(request)
    if request.method != "POST":
        form = MeetingForm(user=request.user)
        return render(request, "sales/fieldwork/meeting_form.html", {"form": form})
    form = MeetingForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            meeting_create(data=form.to_input(), actor=request.user)
        except ValidationError as error:
            service_errors(form, error)
        else:
            messages.success(request, _("The meeting has been added to the calendar."))
            return redirect("sales:calendar")
    return render(request, "sales/fieldwork/meeting_form.html", {"form": form}, status=400)


@require_http_methods(["GET", "POST"])
@module_required("sales")
def meeting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A meeting or event: read by who may see it, changed by its organiser (or promotion staff
    of its unit)."""
    meeting = get_object_or_404(
        Meeting.objects.for_user(request.user).select_related("organizer", "unit"), pk=pk
    )
    may_change = can_change_meeting(request.user, meeting)
    attendees = list(meeting.attendees.order_by("first_name", "last_name"))
    form = None
    status = 200
    if may_change:
        initial = {
            "kind": meeting.kind,
            "title": meeting.title,
            "starts_at": timezone.localtime(meeting.starts_at),
            "ends_at": timezone.localtime(meeting.ends_at),
            "place": meeting.place,
            "attendees": [u.pk for u in attendees if u.pk != request.user.pk],
            "unit": meeting.unit_id,
            "description": meeting.description,
        }
        form = MeetingForm(initial=initial, user=request.user)
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied
        form = MeetingForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                meeting_update(meeting=meeting, data=form.to_input(), actor=request.user)
            except ValidationError as error:
                service_errors(form, error)
            else:
                messages.success(request, _("The meeting has been changed."))
                return redirect("sales:meeting_detail", pk=meeting.pk)
        status = 400
    return render(
        request,
        "sales/fieldwork/meeting_detail.html",
        {"meeting": meeting, "attendees": attendees, "form": form, "may_change": may_change},
        status=status,
    )


@require_POST
@module_required("sales")
def meeting_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting.objects.for_user(request.user), pk=pk)
    if not can_change_meeting(request.user, meeting):
        raise PermissionDenied
    meeting_cancel(meeting=meeting, actor=request.user)
    messages.success(request, _("The meeting has been cancelled."))
    return redirect("sales:meeting_detail", pk=meeting.pk)
