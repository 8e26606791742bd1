from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from crm.modules import Module


def _create_roles(sender, using="default", **kwargs) -> None:
    from django.contrib.auth.management import create_permissions

    from crm.roles import sync_roles

    # post_migrate comes once per app; make every app's permissions exist before the roles.
    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    sync_roles()


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM core")
    crm_module = Module(
        label="crm",
        name=_("Audit trail"),
        description=_("Who did what and when: logins, denials, changes and reads."),
        url_name="audit_list",
        icon="shield-check",
        permissions=("crm.view_audit_trail",),
        order=90,
    )

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from crm import signals  # noqa: F401  (connects the audit receivers)
        from crm.middleware import start_session_clock

        user_logged_in.connect(start_session_clock, dispatch_uid="crm-session-clock")

        # Roles are created once with their default permissions, then left to the admin.
        post_migrate.connect(_create_roles, sender=self, dispatch_uid="crm-create-roles")
