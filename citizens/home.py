"""What the citizens module puts on the staff home page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from citizens.models import DataSubjectRequest, Person
from crm.models import AuditAction, AuditEvent
from crm.modules import Panel

RECENT = 5


def recently_viewed(request: HttpRequest) -> Panel:
    """The people this user opened last, from their own reads in the audit trail."""
    seen: list[int] = []
    reads = (
        AuditEvent.objects.filter(
            actor=request.user, action=AuditAction.READ, object_type="citizens.person"
        )
        .order_by("-id")
        .values_list("object_id", flat=True)[:50]
    )
    for object_id in reads:
        if object_id.isdigit() and int(object_id) not in seen:
            seen.append(int(object_id))
        if len(seen) == RECENT:
            break
    people = Person.objects.in_use().in_bulk(seen)
    return Panel(
        title=_("Recently viewed citizens"),
        template_name="citizens/_panel_recent.html",
        context={"people": [people[pk] for pk in seen if pk in people]},
        empty_text=_("No citizens viewed yet."),
    )


def open_data_requests(request: HttpRequest) -> Panel:
    requests = list(
        DataSubjectRequest.objects.filter(status=DataSubjectRequest.Status.OPEN)
        .select_related("person")
        .order_by("due_date", "id")[:RECENT]
    )
    return Panel(
        title=_("Data-subject requests due first"),
        template_name="citizens/_panel_data_requests.html",
        context={"requests": requests},
        empty_text=_("There are no open requests."),
    )
