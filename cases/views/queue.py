"""The queue: every case the user may see, whatever the channel it came through, newest first.

A page costs the same number of queries wherever it is and whatever it holds: the filters'
choices (types, units, handlers, subject areas), the user's saved views, and one keyset query
whose rows bring their type, unit and handler along (no COUNT, no query per row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from cases.filters import BUILT_IN_BY_KEY, BUILT_IN_VIEWS, CaseFilter, saved_query
from cases.models import Case, CaseStatus, SavedView
from cases.services import can_register, saved_view_delete, saved_view_save
from crm.pagination import keyset_page
from crm.permissions import module_required

from .common import Calendars, Deadline, filer_name

PER_PAGE = 50
ORDERING = ["-filed_at", "-id"]
# Only what the rows show: the text of each case stays in the database.
LIST_FIELDS = (
    "id",
    "registry_number",
    "filed_at",
    "channel",
    "subject",
    "filer",
    "status",
    "due_date",
    "case_type__id",
    "case_type__name",
    "case_type__translations",
    "unit__id",
    "unit__name",
    "assignee__id",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
)


@dataclass(frozen=True, slots=True)
class QueueRow:
    """What a row of the queue shows, as text. Built here rather than looked up by the
    template: fifty rows of related lookups, display methods and date filters cost the page
    more than its query."""

    case_id: int
    url: str
    registry_number: str
    case_type: str
    subject: str
    filer: str
    unit: str
    handler: str  # "" when unassigned
    status: str
    filed_iso: str
    filed: str
    deadline: SafeString


def queue_rows(cases: list[Case], calendars: Calendars) -> list[QueueRow]:
    statuses = {value: str(label) for value, label in CaseStatus.choices}
    # Rows share deadlines and filing days: each badge and date is formatted once a page.
    badges: dict[Deadline, SafeString] = {}
    days: dict[date, str] = {}
    rows = []
    for case in cases:
        filed_at = timezone.localtime(case.filed_at)
        if (filed_on := filed_at.date()) not in days:
            days[filed_on] = formats.date_format(filed_on, "SHORT_DATE_FORMAT")
        deadline = calendars.deadline(case)
        if deadline not in badges:
            badges[deadline] = deadline.badge
        assignee = case.assignee
        rows.append(
            QueueRow(
                case_id=case.pk,
                url=reverse("cases:detail", args=[case.pk]),
                registry_number=case.registry_number,
                case_type=case.case_type.label,
                subject=case.subject,
                filer=filer_name(case),
                unit=(case.unit.name if case.unit else "") or "—",
                handler=(assignee.get_full_name() or assignee.username) if assignee else "",
                status=statuses.get(case.status, case.status),
                filed_iso=filed_at.isoformat(),
                filed=days[filed_on],
                deadline=badges[deadline],
            )
        )
    return rows


class SavedViewForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name of the view"), max_length=100)
    query = forms.CharField(widget=forms.HiddenInput, required=False, max_length=1000)


def user_may_register(user) -> bool:
    """Whether the user registers filings made through other channels (for some unit)."""
    return can_register(user) or user.has_perm("cases.manage")


def _view_data(request: HttpRequest) -> tuple[QueryDict, str]:
    """The filters to apply: a view's (``?view=``: built-in, or one the user saved) or the
    request's own; and the view's key."""
    key = request.GET.get("view", "")
    if key in BUILT_IN_BY_KEY:
        return BUILT_IN_BY_KEY[key].data(), key
    if key.isdigit():
        saved = SavedView.objects.filter(user=request.user, pk=int(key)).first()
        if saved is not None:
            return QueryDict(saved.query), key
    return request.GET, ""


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


@require_GET
@module_required("cases")
def case_list(request: HttpRequest) -> HttpResponse:
    data, current_view = _view_data(request)
    calendars = Calendars()
    filterset = CaseFilter(
        data,
        queryset=Case.objects.for_user(request.user),
        request=request,
        user=request.user,
        today=calendars.today,
    )
    cases = filterset.qs if filterset.is_valid() else Case.objects.none()
    page = keyset_page(
        cases.select_related("case_type", "unit", "assignee").only(*LIST_FIELDS),
        ordering=ORDERING,
        cursor=request.GET.get("cursor"),
        per_page=PER_PAGE,
    )
    rows = queue_rows(page.items, calendars)
    filters = saved_query(data)
    context = {
        "filter": filterset,
        "page": page,
        "rows": rows,
        "query": _query_without_cursor(request),
        "built_in_views": BUILT_IN_VIEWS,
        "saved_views": list(SavedView.objects.filter(user=request.user).only("id", "name")),
        "current_view": current_view,
        "view_form": SavedViewForm(initial={"query": filters}),
        "filters_in_use": bool(filters),
        "may_register": user_may_register(request.user),
    }
    return render(request, "cases/case_list.html", context)


@require_POST
@module_required("cases")
def saved_view_create(request: HttpRequest) -> HttpResponse:
    """Save the queue's current filters (sent as a hidden query string) under a name."""
    form = SavedViewForm(request.POST)
    if form.is_valid():
        query = saved_query(QueryDict(form.cleaned_data["query"]))
        try:
            view = saved_view_save(user=request.user, name=form.cleaned_data["name"], query=query)
        except ValidationError as error:
            for message in error.message_dict.get("name", error.messages):
                form.add_error("name", message)
        else:
            messages.success(
                request, _("The view “%(name)s” has been saved.") % {"name": view.name}
            )
            return redirect(f"{reverse('cases:index')}?view={view.pk}")
    messages.error(
        request,
        _("The view could not be saved: %(errors)s")
        % {"errors": " ".join(form.errors.get("name", [])) or _("check its name.")},
    )
    # Back to the queue with the filters that were on it.
    filters = saved_query(QueryDict(form.data.get("query", "")))
    return redirect(f"{reverse('cases:index')}?{filters}" if filters else "cases:index")


@require_POST
@module_required("cases")
def saved_view_remove(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, user=request.user)
    saved_view_delete(view=view, actor=request.user)
    messages.success(request, _("The view “%(name)s” has been deleted.") % {"name": view.name})
    return redirect("cases:index")
