from django.db import models
from django.utils.translation import gettext_lazy as _


class ModuleAccess(models.Model):
    """No table: holds the permissions that decide who uses the campaigns module (see crm.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("Campaigns module")
        permissions = [
            ("access", _("Can use the campaigns module (read)")),
            ("manage", _("Can create and run campaigns and segments")),
            ("all_units", _("Can see the campaigns of every unit")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
