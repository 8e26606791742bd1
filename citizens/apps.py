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
        permissions=("citizens.access",),
        icon="people",
    )

    def home_panels(self, request: HttpRequest) -> list[Panel]:
        from citizens.home import open_data_requests, recently_viewed

        panels = [recently_viewed(request)]
        if request.user.has_perm("crm.manage_data_requests"):
            panels.append(open_data_requests(request))
        return panels
