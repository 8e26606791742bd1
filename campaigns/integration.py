"""What the campaigns module adds to other pages: the staff home page's "Running campaigns" and
the links of the timeline's entries (interactions of letters, calls, events...) to their
campaign (registered in CampaignsConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.models import User
from crm.modules import Panel

from .models import Campaign

HOME_PANEL_ROWS = 5


def running_campaigns(request: HttpRequest) -> Panel:
    """Campaigns the user sees that are running or paused, the latest started first."""
    found = list(
        Campaign.objects.for_user(request.user)
        .filter(status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED])
        .only("id", "name", "status", "starts_on", "ends_on")
        .order_by("-starts_on", "-id")[: HOME_PANEL_ROWS + 1]
    )
    return Panel(
        title=_("Running campaigns"),
        template_name="campaigns/_home_panel.html",
        context={
            "campaigns": found[:HOME_PANEL_ROWS],
            "more": len(found) > HOME_PANEL_ROWS,
            "list_url": f"{reverse('campaigns:index')}?status=running",
        },
        empty_text=_("No campaign is running."),
    )


def campaign_links(ids: Iterable[int], user: User) -> dict[int, tuple[str, str]]:
    """For the timeline (citizens.panels.register_related_links): each campaign the user may
    see, its name and page."""
    found = Campaign.objects.for_user(user).filter(pk__in=list(ids))
    return {
        pk: (str(_("Campaign “%(name)s”") % {"name": name}), reverse("campaigns:detail", args=[pk]))
        for pk, name in found.values_list("pk", "name")
    }


# --- Data protection (citizens.gdpr) -----------------------------------------------------------


def person_deliveries(person) -> list[dict]:
    """The campaign messages sent (or meant) to a person, for their data export."""
    from .models import Delivery

    rows = (
        Delivery.objects.filter(person=person)
        .select_related("campaign")
        .order_by("id")
        .values(
            "campaign__name",
            "email",
            "status",
            "sent_at",
            "bounce",
            "opened_at",
            "clicked_at",
            "unsubscribed_at",
        )
    )
    return [
        {
            "campaign": row.pop("campaign__name"),
            **{
                key: value.isoformat() if hasattr(value, "isoformat") else value
                for key, value in row.items()
            },
        }
        for row in rows
    ]


def forget_delivery_addresses(person) -> None:
    """A blocked person's frozen addresses go; the rows stay for the campaigns' figures."""
    from .models import Delivery

    Delivery.objects.filter(person=person).exclude(email="").update(email="")
