"""Writes on users, roles and units. Auditing of role, unit and privilege changes happens in
crm.signals, so that changes made in the admin are traced the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.db import transaction

from crm.models import Membership, Unit, User
from crm.roles import ROLES_BY_CODE


@dataclass(frozen=True)
class Changes:
    added: tuple[str, ...]
    removed: tuple[str, ...]


@transaction.atomic
def user_set_roles(*, user: User, roles: Iterable[str], actor: User | None = None) -> Changes:
    """Make ``roles`` (role codes) exactly the user's roles; the administrator role brings
    access to the Django admin."""
    wanted = set(roles)
    unknown = wanted - set(ROLES_BY_CODE)
    if unknown:
        raise ValueError(f"Unknown roles: {sorted(unknown)}")
    current = set(user.groups.values_list("name", flat=True))
    groups = {group.name: group for group in Group.objects.filter(name__in=wanted | current)}
    added = sorted(wanted - current)
    removed = sorted(current - wanted)
    if removed:
        user.groups.remove(*(groups[name] for name in removed))
    if added:
        user.groups.add(*(groups[name] for name in added))
    staff = any(ROLES_BY_CODE[code].staff for code in wanted) or user.is_superuser
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])
    return Changes(tuple(added), tuple(removed))


@transaction.atomic
def user_set_units(
    *,
    user: User,
    units: Iterable[Unit],
    from_directory: bool = False,
    actor: User | None = None,
) -> Changes:
    """Make ``units`` the user's memberships of this source (directory or local); memberships
    of the other source are left alone."""
    wanted = {unit.pk: unit for unit in units}
    existing = {
        membership.unit_id: membership
        for membership in Membership.objects.filter(user=user, from_directory=from_directory)
    }
    removed = [existing[unit_id] for unit_id in existing.keys() - wanted.keys()]
    for membership in removed:
        membership.delete()
    added = []
    for unit_id in [unit_id for unit_id in wanted if unit_id not in existing]:  # given order
        membership, created = Membership.objects.get_or_create(
            user=user, unit=wanted[unit_id], defaults={"from_directory": from_directory}
        )
        if created:
            added.append(membership)
    user.__dict__.pop("_crm_unit_ids", None)
    return Changes(
        tuple(sorted(m.unit.code for m in added)), tuple(sorted(m.unit.code for m in removed))
    )
