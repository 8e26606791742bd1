"""Roles: Django groups with permissions. A user may hold several; their permissions add up.

The catalogue below is the starting set. ``sync_roles()`` (run after every migrate and by
``manage.py sync_roles``) creates the groups that are missing with their default permissions;
groups that exist are left as administrators edited them, unless ``reset=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Role:
    code: str  # the group's name: stable, used by LDAP_ROLE_MAP and in code
    label: str | Promise  # shown in the UI
    permissions: tuple[str, ...]  # "app_label.codename"; "*" means every permission
    staff: bool = False  # may use the Django admin


READ_EVERY_MODULE = (
    "citizens.access",
    "cases.access",
    "cases.all_units",
    "campaigns.access",
    "campaigns.all_units",
    "sales.access",
    "reports.access",
    "reports.all_units",
)

ROLES: tuple[Role, ...] = (
    Role("administrator", _("Administrator"), ("*",), staff=True),
    Role(
        "citizen_service",
        _("Citizen service"),
        (
            "citizens.access",
            "citizens.manage",
            "citizens.export",
            "cases.access",
            "cases.register",
            "cases.all_units",
            "reports.access",
        ),
    ),
    Role(
        "case_handler",
        _("Case handler"),
        ("cases.access", "cases.manage", "citizens.access", "reports.access"),
    ),
    Role(
        "communication",
        _("Communication"),
        ("campaigns.access", "campaigns.manage", "citizens.access", "reports.access"),
    ),
    Role(
        "promotion",
        _("Promotion"),
        (
            "sales.access",
            "sales.manage",
            "sales.field_work",
            "citizens.access",
            "citizens.manage",
            "reports.access",
        ),
    ),
    Role("inspector", _("Inspector"), ("sales.field_work", "citizens.access", "reports.access")),
    Role("management", _("Management"), ("reports.access", "reports.manage", "reports.all_units")),
    Role(
        "data_protection_officer",
        _("Data protection officer"),
        ("crm.view_audit_trail", "crm.manage_data_requests", *READ_EVERY_MODULE),
    ),
)

ROLES_BY_CODE = {role.code: role for role in ROLES}


def role_label(code: str) -> str | Promise:
    role = ROLES_BY_CODE.get(code)
    return role.label if role else code


def _permissions(names: tuple[str, ...]) -> list[Permission]:
    if "*" in names:
        return list(Permission.objects.all())
    query = Q()
    for name in names:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query).select_related("content_type"))
    missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"Unknown permissions in the role catalogue: {sorted(missing)}")
    return found


@transaction.atomic
def sync_roles(*, reset: bool = False) -> list[str]:
    """Create the catalogue's groups; with ``reset`` put back their default permissions."""
    touched: list[str] = []
    for role in ROLES:
        group, created = Group.objects.get_or_create(name=role.code)
        if created or reset:
            group.permissions.set(_permissions(role.permissions))
            touched.append(role.code)
    return touched
