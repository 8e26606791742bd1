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

    def ready(self) -> None:
        from citizens.gdpr import register_block_step, register_export_section
        from citizens.panels import register_related_links

        from . import integration

        register_related_links("campaigns.campaign", integration.campaign_links)
        register_export_section("campaign_deliveries", integration.person_deliveries)
        register_block_step("campaign_deliveries", integration.forget_delivery_addresses)

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        from . import integration

        if not request.user.has_perm("campaigns.access"):
            return []
        return [integration.running_campaigns(request)]
