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

    def ready(self) -> None:
        from citizens.filters import register_open_cases
        from citizens.models import Organization, Person
        from citizens.panels import (
            register_organization_panel,
            register_person_panel,
            register_related_links,
        )

        from . import integration

        register_person_panel("cases", integration.person_cases, order=10)
        register_organization_panel("cases", integration.organization_cases, order=10)
        register_open_cases(Person, integration.person_has_open_cases)
        register_open_cases(Organization, integration.organization_has_open_cases)
        register_related_links("cases.case", integration.case_links)

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        from . import integration

        if not request.user.has_perm("cases.access"):
            return []
        return [integration.my_cases(request), integration.due_soon(request)]
