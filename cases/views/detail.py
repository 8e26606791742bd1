"""The case page: registry data, filer, deadline, tasks, files, documents and the full history,
with the forms of the actions the user may take; the staff downloads of the case's files and
documents; the knowledge base's search from the case.

Another unit's case is a 404 (``Case.objects.for_user``). Every read of the page and every
download is audited (``case_read``). The page costs a fixed number of queries whatever the
length of its history.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from cases.filters import case_handlers
from cases.forms import ActionForm, ArticleSearchForm, AssignForm, TaskCompleteForm, TaskForm
from cases.knowledge import fill_placeholders, placeholder_values, search_articles
from cases.models import Case, CaseAttachment, KnowledgeArticle
from cases.services import case_read
from crm.db import planner_settings
from crm.models import Unit, User
from crm.permissions import module_required

from .common import Calendars, filer_name
from .workflow import ACTIONS, ACTIONS_BY_NAME, Action, may_complete_task

PAGE_RELATED = (
    "case_type",
    "subject_area",
    "unit",
    "assignee",
    "person",
    "organization",
    "duplicate_of",
    "receipt",
    "answer_document",
    "registered_by",
    "hearing",
)
DOCUMENTS = {"receipt": "receipt", "answer": "answer_document"}


def case_for_user(request: HttpRequest, pk: int) -> Case:
    """The case with what its page shows, if the user may see it (404 otherwise).

    Its eleven joins are planned in the order written, the case by its key first: PostgreSQL's
    search for a better order, weighing every index of the cases' and the people's tables, took
    13 ms where the query takes 0.4 ms."""
    with planner_settings(join_collapse_limit=1):
        return get_object_or_404(
            Case.objects.for_user(request.user).select_related(*PAGE_RELATED), pk=pk
        )


class Choices:
    """The units and handlers the forms of one page offer, read once (and only if needed)."""

    def __init__(self) -> None:
        self._units: list[Unit] | None = None
        self._handlers: list[User] | None = None

    @property
    def units(self) -> list[Unit]:
        if self._units is None:
            self._units = list(Unit.objects.filter(is_active=True).order_by("name"))
        return self._units

    @property
    def handlers(self) -> list[User]:
        if self._handlers is None:
            self._handlers = list(case_handlers())
        return self._handlers


def action_form(
    action: Action,
    *,
    case: Case,
    user: User,
    choices: Choices,
    data: Any = None,
    initial: dict[str, Any] | None = None,
) -> ActionForm:
    kwargs: dict[str, Any] = {
        "data": data,
        "prefix": action.name,
        "case": case,
        "user": user,
        "initial": initial,
    }
    if action.form_class is AssignForm:
        kwargs.update(units=choices.units, handlers=choices.handlers)
    elif action.form_class is TaskForm:
        kwargs["units"] = choices.units
    return action.form_class(**kwargs)


def task_form_prefix(task_pk: int) -> str:
    return f"task-{task_pk}"


def _article_text(request: HttpRequest, case: Case, today) -> tuple[KnowledgeArticle | None, str]:
    """The answer drafted from ``?article=<id>``, its placeholders filled with the case's."""
    article_id = request.GET.get("article", "")
    if not article_id.isdigit():
        return None, ""
    article = KnowledgeArticle.objects.filter(active=True, pk=int(article_id)).first()
    if article is None:
        return None, ""
    values = placeholder_values(case, user=request.user, today=today)
    return article, fill_placeholders(article.body, values)


def render_case_page(
    request: HttpRequest,
    case: Case,
    *,
    bound: tuple[str, ActionForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page; ``bound`` is the form (by name) of a POST that failed, shown with its errors
    and what was typed."""
    user = request.user
    calendars = Calendars()
    choices = Choices()
    bound_name, bound_form = bound if bound else ("", None)

    tasks = list(case.tasks.select_related("unit", "assignee"))
    for task in tasks:
        task.case = case
    attachments = list(case.attachments.all())
    by_entry: dict[int | None, list[CaseAttachment]] = defaultdict(list)
    for attachment in attachments:
        by_entry[attachment.entry_id].append(attachment)
    entries = list(case.entries.select_related("actor"))
    for entry in entries:
        entry.files = by_entry.get(entry.pk, [])

    article, article_text = None, ""
    actions = []
    for action in ACTIONS:
        if not action.offered(user, case) and action.name != bound_name:
            continue  # (a refused form stays in sight with its errors, offered or not now)
        if action.name == bound_name:
            form = bound_form
        else:
            initial = None
            if action.name == "answer":
                article, article_text = _article_text(request, case, calendars.today)
                initial = {"text": article_text} if article_text else None
            form = action_form(action, case=case, user=user, choices=choices, initial=initial)
        actions.append((action, form, reverse(f"cases:{action.name}", args=[case.pk])))
    task_forms = {}
    for task in tasks:
        prefix = task_form_prefix(task.pk)
        if bound_name == prefix:
            task_forms[task.pk] = bound_form
        elif task.done_at is None and may_complete_task(user, task):
            task_forms[task.pk] = TaskCompleteForm(prefix=prefix, case=case, user=user)
    for task in tasks:
        task.complete_form = task_forms.get(task.pk)
        task.complete_url = reverse("cases:task_complete", args=[case.pk, task.pk])

    person_url = None
    if case.person_id and user.has_perm("citizens.access"):
        person_url = reverse("citizens:person_detail", args=[case.person_id])
    context = {
        "case": case,
        "filer": case.filer or {},
        "filer_name": filer_name(case),
        "person_url": person_url,
        "deadline": calendars.deadline(case),
        "suspensions": list(case.suspensions.all()),
        "tasks": tasks,
        "attachments": attachments,
        "entries": entries,
        "actions": actions,
        "bound_name": bound_name,
        "article": article,
        "article_form": ArticleSearchForm(),
        "documents": [
            (kind, getattr(case, field))
            for kind, field in DOCUMENTS.items()
            if getattr(case, field)
        ],
    }
    return render(request, "cases/case_detail.html", context, status=status)


@require_GET
@module_required("cases")
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = case_for_user(request, pk)
    case_read(actor=request.user, case=case)
    return render_case_page(request, case)


@require_GET
@module_required("cases")
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponse:
    """A file of the case, from private storage, to staff who may see the case (audited)."""
    case = get_object_or_404(Case.objects.for_user(request.user), pk=pk)
    attachment = get_object_or_404(CaseAttachment, pk=attachment_pk, case=case)
    case_read(
        actor=request.user,
        case=case,
        what="attachment",
        details={"attachment": attachment.pk, "name": attachment.name},
    )
    return _download(attachment.file, attachment.name, attachment.content_type)


@require_GET
@module_required("cases")
def document_download(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """The receipt or the answer document issued for the case (the PDF kept, as issued)."""
    if kind not in DOCUMENTS:
        raise Http404
    case = get_object_or_404(
        Case.objects.for_user(request.user).select_related(DOCUMENTS[kind]), pk=pk
    )
    document = getattr(case, DOCUMENTS[kind])
    if document is None:
        raise Http404
    case_read(
        actor=request.user,
        case=case,
        what=kind,
        details={"document": document.verification_code},
    )
    return _download(document.file, f"{case.registry_number}-{kind}.pdf", "application/pdf")


def _download(file, filename: str, content_type: str) -> HttpResponse:
    # Read whole (files are at most a few MB): nothing stays open if the client goes away.
    with file.open("rb") as stored:
        content = stored.read()
    response = HttpResponse(content, content_type=content_type or "application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    # Files come from citizens: never let a browser run or sniff them as something else.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@module_required("cases")
def article_search(request: HttpRequest, pk: int) -> HttpResponse:
    """Knowledge-base articles for the case's answer (``?q=`` words of the title or text); with
    htmx only the results, in place on the case page."""
    case = get_object_or_404(
        Case.objects.for_user(request.user).select_related("subject_area"), pk=pk
    )
    form = ArticleSearchForm(request.GET)
    text = form.cleaned_data["q"] if form.is_valid() else ""
    context = {
        "case": case,
        "article_form": form,
        "articles": list(search_articles(case, text)),
        "searched": text,
        "may_answer": ACTIONS_BY_NAME["answer"].offered(request.user, case),
    }
    if request.headers.get("HX-Request"):
        return render(request, "cases/_article_results.html", context)
    return render(request, "cases/article_search.html", context)
