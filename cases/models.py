from django.db import models
from django.utils.translation import gettext_lazy as _


class ModuleAccess(models.Model):
    """No table: holds the permissions that decide who uses the cases module (see crm.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("Cases module")
        permissions = [
            ("access", _("Can use the cases module for the cases of their units")),
            ("manage", _("Can handle the cases of their units")),
            ("register", _("Can register cases from any channel for any unit")),
            ("all_units", _("Can see the cases of every unit")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
