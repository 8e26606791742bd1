from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.modules import Module, Panel


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Cases")
    crm_module = Module(
        label="cases",
        name=_("Cases"),
        description=_(
            "Complaints, suggestions, requests and alerts from "
            "every channel, with their legal deadlines."
        ),
        url_name="cases:index",
        permissions=("cases.access", "cases.register"),
        icon="inboxes",
    )

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        return [
            Panel(
                title=_("My cases"),
                template_name="_partials/panel_empty.html",
                empty_text=_("You have no open cases."),
            ),
            Panel(
                title=_("Due soon"),
                template_name="_partials/panel_empty.html",
                empty_text=_("No cases are due in the next five business days."),
            ),
        ]
