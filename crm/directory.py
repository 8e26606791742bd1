"""Staff log in with their directory account (OpenLDAP or Active Directory).

``ldap_settings(env)`` turns the ``AUTH_LDAP_*`` / ``LDAP_*`` environment variables into the
settings of django-auth-ldap (``crm/settings.py`` and the tests use it; docs/ldap.md lists them).

``DirectoryBackend`` authenticates against the directory and, at every login, makes the account
what the directory says it is: roles from ``LDAP_ROLE_MAP`` (directory group -> role), units from
``LDAP_UNIT_MAP`` (group -> unit) and ``LDAP_UNIT_ATTRIBUTE`` (an attribute holding unit codes).
A directory account has no usable local password, so only the directory lets it in.

When the directory cannot be asked (down, timing out, refusing our queries) django-auth-ldap sends
``ldap_error``; the request is then marked ``directory_unavailable`` and the login form says so
(``crm.forms.LoginForm``). Local accounts keep logging in through the model backend.
"""

from __future__ import annotations

import logging
from typing import Any

import ldap
import ldap.dn
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.dispatch import receiver
from django_auth_ldap.backend import LDAPBackend, ldap_error
from django_auth_ldap.config import (
    ActiveDirectoryGroupType,
    GroupOfNamesType,
    LDAPSearch,
    NestedActiveDirectoryGroupType,
    NestedGroupOfNamesType,
)

from crm.env import Env

logger = logging.getLogger(__name__)

# AUTH_LDAP_GROUP_TYPE -> (django-auth-ldap group type, filter of the group search)
GROUP_TYPES = {
    "groupOfNames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
    "nestedGroupOfNames": (NestedGroupOfNamesType, "(objectClass=groupOfNames)"),
    "activeDirectory": (ActiveDirectoryGroupType, "(objectClass=group)"),
    "nestedActiveDirectory": (NestedActiveDirectoryGroupType, "(objectClass=group)"),
}
# Errors that mean the directory is not there at all (as opposed to refusing a query).
UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR)


def ldap_settings(env: Env) -> dict[str, Any]:
    """The settings for the directory, from the environment; only the ``LDAP_*`` maps (empty)
    when ``AUTH_LDAP_SERVER_URI`` is not set, i.e. when there is no directory."""
    values: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": env.str("AUTH_LDAP_SERVER_URI", ""),
        # Directory group DN -> role code (crm.roles); group DN -> unit code.
        "LDAP_ROLE_MAP": env.json_object("LDAP_ROLE_MAP"),
        "LDAP_UNIT_MAP": env.json_object("LDAP_UNIT_MAP"),
        # A user attribute whose values are unit codes (e.g. "departmentNumber").
        "LDAP_UNIT_ATTRIBUTE": env.str("LDAP_UNIT_ATTRIBUTE", ""),
    }
    if not values["AUTH_LDAP_SERVER_URI"]:
        return values

    user_base = env.str("AUTH_LDAP_USER_BASE", "")
    if not user_base:
        raise ImproperlyConfigured("AUTH_LDAP_USER_BASE must be set with AUTH_LDAP_SERVER_URI.")
    user_filter = env.str("AUTH_LDAP_USER_FILTER", "(uid=%(user)s)")
    if "%(user)s" not in user_filter:
        raise ImproperlyConfigured(
            f"AUTH_LDAP_USER_FILTER must contain %(user)s, got {user_filter!r}."
        )
    group_base = env.str("AUTH_LDAP_GROUP_BASE", "")
    group_type, group_filter = GROUP_TYPES[
        env.choice("AUTH_LDAP_GROUP_TYPE", "groupOfNames", tuple(GROUP_TYPES))
    ]
    require_group = env.str("AUTH_LDAP_REQUIRE_GROUP", "") or None
    deny_group = env.str("AUTH_LDAP_DENY_GROUP", "") or None
    uses_groups = {
        "LDAP_ROLE_MAP": values["LDAP_ROLE_MAP"],
        "LDAP_UNIT_MAP": values["LDAP_UNIT_MAP"],
        "AUTH_LDAP_REQUIRE_GROUP": require_group,
        "AUTH_LDAP_DENY_GROUP": deny_group,
    }
    if not group_base and any(uses_groups.values()):
        names = ", ".join(name for name, value in uses_groups.items() if value)
        raise ImproperlyConfigured(f"AUTH_LDAP_GROUP_BASE must be set to use {names}.")
    timeout = env.int("AUTH_LDAP_TIMEOUT", 5, minimum=1)

    values.update(
        AUTH_LDAP_BIND_DN=env.str("AUTH_LDAP_BIND_DN", ""),
        AUTH_LDAP_BIND_PASSWORD=env.str("AUTH_LDAP_BIND_PASSWORD", ""),
        AUTH_LDAP_START_TLS=env.bool("AUTH_LDAP_START_TLS", default=False),
        AUTH_LDAP_USER_SEARCH=LDAPSearch(user_base, ldap.SCOPE_SUBTREE, user_filter),
        AUTH_LDAP_USER_ATTR_MAP={"first_name": "givenName", "last_name": "sn", "email": "mail"},
        AUTH_LDAP_CONNECTION_OPTIONS={
            # Seconds to connect, and to wait for each answer: a hung directory must not hang
            # the login page.
            ldap.OPT_NETWORK_TIMEOUT: timeout,
            ldap.OPT_TIMEOUT: timeout,
            # Active Directory answers searches at the domain root with referrals to follow
            # anonymously; never chase them.
            ldap.OPT_REFERRALS: 0,
        },
        # Directory-side access control: only members of REQUIRE_GROUP, and nobody in
        # DENY_GROUP (e.g. the group of disabled accounts), may log in.
        AUTH_LDAP_REQUIRE_GROUP=require_group,
        AUTH_LDAP_DENY_GROUP=deny_group,
    )
    if group_base:
        values["AUTH_LDAP_GROUP_SEARCH"] = LDAPSearch(group_base, ldap.SCOPE_SUBTREE, group_filter)
        values["AUTH_LDAP_GROUP_TYPE"] = group_type()
    return values


def normalize_dn(dn: str) -> str:
    """A DN in a form fit for comparison: lower case, no spaces around the separators."""
    try:
        return ldap.dn.dn2str(ldap.dn.str2dn(dn.lower()))
    except ldap.DECODING_ERROR:
        return dn.strip().lower()


def _mapped(mapping: dict[str, str], group_dns: set[str]) -> set[str]:
    return {code for dn, code in mapping.items() if normalize_dn(dn) in group_dns}


class DirectoryBackend(LDAPBackend):
    """django-auth-ldap's backend, re-applying the directory's roles and units at each login."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        try:
            roles, unit_codes = directory_assignments(user.ldap_user)
        except ldap.LDAPError as error:
            # The directory went away between the password check and the group search: without
            # the groups the account's roles are unknown, so no login.
            ldap_error.send(
                type(self), context="apply_directory", user=user, request=request, exception=error
            )
            return None
        apply_directory(user=user, roles=roles, unit_codes=unit_codes)
        return user


def directory_assignments(ldap_user) -> tuple[set[str] | None, set[str]]:
    """The role codes (None: roles are not managed by the directory) and unit codes the
    directory gives this user, read from their groups and LDAP_UNIT_ATTRIBUTE."""
    role_map: dict[str, str] = settings.LDAP_ROLE_MAP
    unit_map: dict[str, str] = settings.LDAP_UNIT_MAP
    group_dns: set[str] = set()
    if role_map or unit_map:
        group_dns = {normalize_dn(dn) for dn in ldap_user.group_dns}
    # No role map: the directory only authenticates, and roles are given here (admin).
    roles = _mapped(role_map, group_dns) if role_map else None
    unit_codes = _mapped(unit_map, group_dns)
    if settings.LDAP_UNIT_ATTRIBUTE:
        values = (ldap_user.attrs or {}).get(settings.LDAP_UNIT_ATTRIBUTE, [])
        unit_codes |= {value.strip() for value in values if value.strip()}
    return roles, unit_codes


@transaction.atomic
def apply_directory(*, user, roles: set[str] | None, unit_codes: set[str]) -> None:
    """Make ``user`` a directory account with exactly these roles and directory units (local
    memberships stay); unknown roles and units are left out with a log message."""
    from crm.models import Unit
    from crm.roles import ROLES_BY_CODE
    from crm.services import user_set_roles, user_set_units

    if not user.from_directory or user.has_usable_password():
        user.from_directory = True
        # A local password left from before would let the account in with the directory down
        # or after the directory disabled it.
        user.set_unusable_password()
        user.save(update_fields=["from_directory", "password"])

    if roles is not None:
        unknown = roles - ROLES_BY_CODE.keys()
        if unknown:
            logger.error("LDAP_ROLE_MAP names roles that do not exist: %s", sorted(unknown))
        user_set_roles(user=user, roles=roles - unknown)

    units = list(Unit.objects.filter(code__in=unit_codes))
    missing = unit_codes - {unit.code for unit in units}
    if missing:
        logger.warning(
            "The directory gives %s units that do not exist here, ignored: %s",
            user.get_username(),
            sorted(missing),
        )
    user_set_units(user=user, units=units, from_directory=True)


@receiver(ldap_error, dispatch_uid="crm-directory-unavailable")
def note_directory_unavailable(sender, context, user, request, exception, **kwargs) -> None:
    """Remember on the request that the directory could not be asked, for the login form."""
    if isinstance(exception, UNREACHABLE):
        logger.warning("The directory cannot be reached (%s): %r", context, exception)
    else:
        logger.error(
            "The directory refused a query (%s): %r; check the AUTH_LDAP_* settings.",
            context,
            exception,
        )
    if request is not None:
        request.directory_unavailable = True


@checks.register()
def check_role_map(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every role named in LDAP_ROLE_MAP exists (a typo would strip directory users' roles)."""
    from crm.roles import ROLES_BY_CODE

    unknown = sorted(set(getattr(settings, "LDAP_ROLE_MAP", {}).values()) - ROLES_BY_CODE.keys())
    if not unknown:
        return []
    return [
        checks.Error(
            f"LDAP_ROLE_MAP names roles that do not exist: {', '.join(unknown)}.",
            hint=f"Role codes are: {', '.join(ROLES_BY_CODE)}.",
            id="crm.E101",
        )
    ]
