"""The reports module's own navigation: its pages, those the user may use."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from reports.scope import may_see

register = template.Library()


@register.inclusion_tag("reports/_nav.html", takes_context=True)
def reports_nav(context: template.Context, current: str) -> dict:
    """Links to the dashboard, the report builder, the annual complaints report (for users who
    count cases) and the user's documents; ``current`` is the page's own (aria-current)."""
    user = context["request"].user
    pages = [("dashboard", _("Dashboard"), reverse("reports:index"))]
    pages.append(("builder", _("Report builder"), reverse("reports:report_list")))
    if may_see(user, "cases"):
        pages.append(("annual", _("Annual complaints report"), reverse("reports:annual")))
    pages.append(("documents", _("My documents"), reverse("reports:documents")))
    return {"pages": pages, "current": current}
