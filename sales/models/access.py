from django.db import models
from django.utils.translation import gettext_lazy as _


class ModuleAccess(models.Model):
    """No table: holds the permissions that decide who uses the sales module (see crm.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("Promotion module")
        permissions = [
            ("access", _("Can use the promotion module (read)")),
            ("manage", _("Can handle leads, opportunities, quotes and agreements")),
            ("field_work", _("Can see and record their own visits and tasks")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)
