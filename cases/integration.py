"""What the cases module adds to other pages: the panels of the 360° pages of people and
organisations, the lists' "has open cases" filter, the links of the timeline's entries to their
case, and the staff home page's "My cases" and "Due soon" (registered in CasesConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from citizens.models import Organization, Person
from crm.calendar import DeadlineState
from crm.models import User, unit_ids_for_user
from crm.modules import Panel

from .models import Case

RECORD_PANEL_ROWS = 10
HOME_PANEL_ROWS = 5
PANEL_FIELDS = (
    "id",
    "registry_number",
    "status",
    "due_date",
    "filed_at",
    "filer",
    "subject",
    "case_type__name",
    "case_type__translations",
)


def _rows(cases: Iterable[Case]) -> list:
    from .views.common import Calendars

    calendars = Calendars()
    return [(case, calendars.deadline(case)) for case in cases]


def _record_panel(user: User, *, title, cases, register_url: str | None) -> Panel | None:
    if not user.has_perm("cases.access"):
        return None
    found = list(
        cases.select_related("case_type")
        .only(*PANEL_FIELDS)
        .order_by("-filed_at", "-id")[: RECORD_PANEL_ROWS + 1]
    )
    return Panel(
        title=title,
        template_name="cases/_record_panel.html",
        context={
            "rows": _rows(found[:RECORD_PANEL_ROWS]),
            "more": len(found) > RECORD_PANEL_ROWS,
            "register_url": register_url,
        },
        empty_text=_("No cases you may see."),
    )


def person_cases(person: Person, user: User) -> Panel | None:
    """The person's cases the user may see (their units', or all with ``cases.all_units``)."""
    from .views.queue import user_may_register

    register_url = None
    if user.has_perm("cases.access") and user_may_register(user):
        register_url = f"{reverse('cases:new')}?person={person.pk}"
    return _record_panel(
        user,
        title=_("Cases"),
        cases=Case.objects.for_user(user).filter(person=person),
        register_url=register_url,
    )


def organization_cases(organization: Organization, user: User) -> Panel | None:
    return _record_panel(
        user,
        title=_("Cases"),
        cases=Case.objects.for_user(user).filter(organization=organization),
        register_url=None,
    )


def person_has_open_cases() -> Exists:
    return Exists(Case.objects.open().filter(person=OuterRef("pk")))


def organization_has_open_cases() -> Exists:
    return Exists(Case.objects.open().filter(organization=OuterRef("pk")))


def case_links(ids: Iterable[int], user: User) -> dict[int, tuple[str, str]]:
    """For the timeline (citizens.panels.register_related_links): each case the user may see,
    its registry number and page."""
    found = Case.objects.for_user(user).filter(pk__in=list(ids))
    return {
        pk: (str(_("Case %(number)s") % {"number": number}), reverse("cases:detail", args=[pk]))
        for pk, number in found.values_list("pk", "registry_number")
    }


# --- Home page ---------------------------------------------------------------------------------


def my_cases(request: HttpRequest) -> Panel:
    """Open cases assigned to the user, the first due first."""
    cases = (
        Case.objects.for_user(request.user)
        .open()
        .filter(assignee=request.user)
        .select_related("case_type")
        .only(*PANEL_FIELDS)
        .order_by("due_date", "id")
    )
    found = list(cases[: HOME_PANEL_ROWS + 1])
    return Panel(
        title=_("My cases"),
        template_name="cases/_home_panel.html",
        context={
            "rows": _rows(found[:HOME_PANEL_ROWS]),
            "more": len(found) > HOME_PANEL_ROWS,
            "queue_url": f"{reverse('cases:index')}?view=mine",
        },
        empty_text=_("You have no open cases."),
    )


def due_soon(request: HttpRequest) -> Panel:
    """Cases of the user's units (and their own) due within five business days, the first
    due first; every case for who belongs to no unit but sees them all."""
    from .views.common import Calendars

    user = request.user
    cases = Case.objects.for_user(user)
    units = unit_ids_for_user(user)
    if units:
        cases = cases.filter(Q(unit_id__in=units) | Q(assignee=user))
    today = Calendars().today
    cases = (
        cases.deadline_state(DeadlineState.DUE_SOON, today)
        .select_related("case_type")
        .only(*PANEL_FIELDS)
        .order_by("due_date", "id")
    )
    found = list(cases[: HOME_PANEL_ROWS + 1])
    query = "deadline=due_soon" + ("&unit=mine" if units else "")
    return Panel(
        title=_("Due soon"),
        template_name="cases/_home_panel.html",
        context={
            "rows": _rows(found[:HOME_PANEL_ROWS]),
            "more": len(found) > HOME_PANEL_ROWS,
            "queue_url": f"{reverse('cases:index')}?{query}",
        },
        empty_text=_("No cases are due in the next five business days."),
    )
