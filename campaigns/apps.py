from django.apps import AppConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.modules import Module, Panel


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")
    crm_module = Module(
        label="campaigns",
        name=_("Campaigns"),
        description=_(
            "Awareness and service campaigns: target publics, "
            "budgets, objectives and email sending."
        ),
        url_name="campaigns:index",
        permissions=("campaigns.access",),
        icon="megaphone",
    )

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        return [
            Panel(
                title=_("Running campaigns"),
                template_name="_partials/panel_empty.html",
                empty_text=_("No campaign is running."),
            ),
        ]
