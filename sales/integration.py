"""What the funnel adds to other pages: the panels of the 360° pages of people and
organisations (their opportunities, quotes, agreements and the leads they came from), the
timeline's links to opportunities, and the staff home page's "My opportunities closing soon".
Registered in SalesConfig.ready; field work's panels are in ``fieldwork_panels``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from citizens.models import Organization, Person
from crm.models import User
from crm.modules import Panel

from .models import Agreement, Lead, LeadEvent, Opportunity

PANEL_ROWS = 10
HOME_ROWS = 5
CLOSING_SOON_DAYS = 30


def _panel(user: User, *, opportunities, agreements, leads, new_url: str | None) -> Panel | None:
    if not user.has_perm("sales.access"):
        return None
    found = list(
        opportunities.select_related("stage", "pipeline").order_by("-created_at", "-id")[
            : PANEL_ROWS + 1
        ]
    )
    lead_list = list(leads.order_by("-created_at", "-id")[:PANEL_ROWS])
    return Panel(
        title=_("Promotion"),
        template_name="sales/_record_panel.html",
        context={
            "opportunities": found[:PANEL_ROWS],
            "more": len(found) > PANEL_ROWS,
            "agreements": list(agreements.order_by("-start_date", "-id")[:PANEL_ROWS]),
            "leads": lead_list,
            "lead_events": list(
                LeadEvent.objects.filter(lead__in=lead_list).select_related("actor")[:30]
            ),
            "new_url": new_url if user.has_perm("sales.manage") else None,
        },
        empty_text=_("No opportunities, agreements or leads."),
    )


def person_sales(person: Person, user: User) -> Panel | None:
    return _panel(
        user,
        opportunities=Opportunity.objects.for_user(user).filter(person=person),
        agreements=Agreement.objects.filter(opportunity__person=person),
        leads=Lead.objects.for_user(user).filter(person=person),
        new_url=f"{reverse('sales:opportunity_new')}?person={person.pk}",
    )


def organization_sales(organization: Organization, user: User) -> Panel | None:
    return _panel(
        user,
        opportunities=Opportunity.objects.for_user(user).filter(organization=organization),
        agreements=Agreement.objects.filter(opportunity__organization=organization),
        leads=Lead.objects.for_user(user).filter(organization=organization),
        new_url=f"{reverse('sales:opportunity_new')}?organization={organization.pk}",
    )


def opportunity_links(ids: Iterable[int], user: User) -> dict[int, tuple[str, str]]:
    """For the timeline: each opportunity the user may see, its title and page."""
    found = Opportunity.objects.for_user(user).filter(pk__in=list(ids))
    return {
        pk: (
            str(_("Opportunity: %(title)s") % {"title": title}),
            reverse("sales:opportunity_detail", args=[pk]),
        )
        for pk, title in found.values_list("pk", "title")
    }


def closing_soon(request: HttpRequest) -> Panel:
    """The user's open opportunities expected to close in the next 30 days (or overdue)."""
    today = timezone.localdate()
    opportunities = (
        Opportunity.objects.for_user(request.user)
        .open()
        .filter(owner=request.user, expected_close__lte=today + timedelta(days=CLOSING_SOON_DAYS))
        .select_related("stage", "pipeline")
        .order_by("expected_close", "id")
    )
    found = list(opportunities[: HOME_ROWS + 1])
    return Panel(
        title=_("My opportunities closing soon"),
        template_name="sales/_home_panel.html",
        context={
            "opportunities": found[:HOME_ROWS],
            "more": len(found) > HOME_ROWS,
            "today": today,
            "list_url": f"{reverse('sales:opportunity_list')}?owner=me&status=open&order=close",
        },
        empty_text=_("None of your open opportunities closes in the next 30 days."),
    )
