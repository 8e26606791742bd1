from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.modules import Module, Panel


class SalesConfig(AppConfig):
    name = "sales"
    verbose_name = _("Promotion")
    crm_module = Module(
        label="sales",
        name=_("Promotion"),
        description=_("Leads, opportunities, quotes, agreements and field visits."),
        url_name="sales:index",
        permissions=("sales.access", "sales.field_work"),
        icon="briefcase",
    )

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        return [
            Panel(
                title=_("Today's visits and tasks"),
                template_name="_partials/panel_empty.html",
                empty_text=_("Nothing planned for today."),
            ),
        ]
