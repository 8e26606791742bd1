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

    def ready(self) -> None:
        from citizens.panels import (
            register_organization_panel,
            register_person_panel,
            register_related_links,
        )

        from . import fieldwork_panels, integration, quote_mail  # noqa: F401 (the quote task)

        register_person_panel("sales", integration.person_sales, order=20)
        register_organization_panel("sales", integration.organization_sales, order=20)
        register_related_links("sales.opportunity", integration.opportunity_links)
        register_person_panel("sales_fieldwork", fieldwork_panels.person_fieldwork, order=30)
        register_organization_panel(
            "sales_fieldwork", fieldwork_panels.organization_fieldwork, order=30
        )
        register_related_links("sales.visit", fieldwork_panels.visit_links)

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        from . import fieldwork_panels, integration

        panels = []
        if request.user.has_perm("sales.access"):
            panels.append(integration.closing_soon(request))
        today = fieldwork_panels.today_panel(request)
        if today is not None:
            panels.append(today)
        return panels
