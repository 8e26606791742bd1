"""Helpers of the report builder's tests elsewhere (tests/test_permissions.py): saved reports of
another user, shared with every role or with none."""

from __future__ import annotations

from collections.abc import Callable


def saved_report_url(suffix: str = "", *, shared: bool = True) -> Callable[[], str]:
    """A report of cases saved by a management user, shared with every role (or private)."""

    def build() -> str:
        from django.contrib.auth.models import Group

        from crm.models import User
        from crm.services import user_set_roles
        from reports.services import report_save, report_share

        owner = User.objects.create_user(username=f"owner-{User.objects.count()}")
        user_set_roles(user=owner, roles=["management"])
        report = report_save(
            actor=owner,
            name="Casos por unidad",
            definition={"subject": "cases", "group_by": ["unit"]},
        )
        if shared:
            report_share(actor=owner, report=report, groups=Group.objects.all())
        return f"/reports/builder/{report.pk}/{suffix}"

    return build
