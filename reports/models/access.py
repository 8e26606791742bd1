from django.db import models
from django.utils.translation import gettext_lazy as _


class ModuleAccess(models.Model):
    """No table: holds the permissions that decide who uses the reports module (see crm.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("Reports module")
        permissions = [
            ("access", _("Can see the dashboards and reports of the modules they use")),
            ("manage", _("Can share and schedule reports")),
            ("all_units", _("Can see the figures of every module and unit (read-only)")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
