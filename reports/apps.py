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

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        return [
            Panel(
                title=_("Indicators"),
                template_name="_partials/panel_empty.html",
                empty_text=_("No indicators to show yet."),
            ),
        ]
