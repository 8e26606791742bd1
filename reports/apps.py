from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.modules import Module, Panel


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")
    crm_module = Module(
        label="reports",
        name=_("Reports"),
        description=_("Dashboards, indicators, reports and the annual complaints report."),
        url_name="reports:index",
        permissions=("reports.access",),
        icon="bar-chart",
    )

    def ready(self) -> None:
        from . import dashboard_tasks  # noqa: F401  (registers the dashboard's Celery tasks)

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        """Today's open cases of the user's scope (the dashboard's own cached figures); users
        who count no cases reach the rest of the dashboard through the navigation."""
        from django.urls import reverse
        from django.utils import timezone

        from .dashboard import open_cases_for

        found = open_cases_for(request.user, timezone.localdate())
        if found is None:
            return []
        return [
            Panel(
                title=_("Indicators"),
                template_name="reports/_dashboard_home_panel.html",
                context={
                    "open": found.data,
                    "as_of": found.computed_at,
                    "url": reverse("reports:index"),
                },
            ),
        ]
