from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.modules import Module, Panel


class CitizensConfig(AppConfig):
    name = "citizens"
    verbose_name = _("Citizens")
    crm_module = Module(
        label="citizens",
        name=_("Citizens"),
        description=_(
            "People and organisations, their contact data, "
            "consents and every interaction in one timeline."
        ),
        url_name="citizens:index",
        icon="people",
    )

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        return [
            Panel(
                title=_("Recently viewed citizens"),
                template_name="_partials/panel_empty.html",
                empty_text=_("No citizens viewed yet."),
            ),
        ]
