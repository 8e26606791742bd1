"""What every module shares: staff users, the tree of units they belong to, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.fields import ArrayField
from django.core.cache import cache
from django.db import models
from django.utils.translation import gettext_lazy as _

UNIT_TREE_CACHE_KEY = "crm:unit-tree:v1"


class User(AbstractUser):
    """A member of staff. Roles are Django groups (see crm.roles); units come by Membership."""

    from_directory = models.BooleanField(
        _("managed by the directory"),
        default=False,
        help_text=_("Roles and units of directory accounts are set at each login from LDAP."),
    )

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"

    def role_codes(self) -> list[str]:
        return sorted(group.name for group in self.groups.all())


class UnitQuerySet(models.QuerySet):
    def for_user(self, user) -> UnitQuerySet:
        """The units whose records this user sees: their own units and every unit below them."""
        if user.is_superuser:
            return self.all()
        return self.filter(pk__in=unit_ids_for_user(user))


class Unit(models.Model):
    """A department that handles records, in a tree (Ayuntamiento → Urbanismo → Licencias)."""

    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=60, unique=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    email = models.EmailField(_("email"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = UnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's membership of a unit; heads get the unit's deadline alerts."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="memberships")
    is_head = models.BooleanField(_("head of unit"), default=False)
    from_directory = models.BooleanField(_("set by the directory"), default=False)

    class Meta:
        verbose_name = _("unit membership")
        verbose_name_plural = _("unit memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "unit"], name="membership_user_unit_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.unit}"


def unit_tree() -> dict[int | None, list[int]]:
    """Children of every unit (None: the roots), cached; units are few and change rarely."""
    tree = cache.get(UNIT_TREE_CACHE_KEY)
    if tree is None:
        tree = {}
        for unit_id, parent_id in Unit.objects.values_list("id", "parent_id"):
            tree.setdefault(parent_id, []).append(unit_id)
        cache.set(UNIT_TREE_CACHE_KEY, tree, timeout=3600)
    return tree


def forget_unit_tree() -> None:
    cache.delete(UNIT_TREE_CACHE_KEY)


def with_descendants(unit_ids: Iterable[int]) -> frozenset[int]:
    tree = unit_tree()
    seen: set[int] = set()
    pending = list(unit_ids)
    while pending:
        unit_id = pending.pop()
        if unit_id in seen:
            continue
        seen.add(unit_id)
        pending.extend(tree.get(unit_id, ()))
    return frozenset(seen)


def unit_ids_for_user(user) -> frozenset[int]:
    """The user's units and their sub-units, remembered on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_crm_unit_ids", None)
    if cached is None:
        own = Membership.objects.filter(user=user).values_list("unit_id", flat=True)
        cached = with_descendants(own)
        user._crm_unit_ids = cached
    return cached


class AuditAction(models.TextChoices):
    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    DELETE = "delete", _("deleted")
    READ = "read", _("read personal data")
    EXPORT = "export", _("exported")
    LOGIN = "login", _("logged in")
    LOGIN_FAILED = "login_failed", _("failed login")
    LOCKED_OUT = "locked_out", _("locked out")
    LOGOUT = "logout", _("logged out")
    ACCESS_DENIED = "access_denied", _("access denied")
    ROLE_GRANTED = "role_granted", _("role granted")
    ROLE_REVOKED = "role_revoked", _("role revoked")
    UNIT_ADDED = "unit_added", _("unit added")
    UNIT_REMOVED = "unit_removed", _("unit removed")
    PRIVILEGE_CHANGED = "privilege_changed", _("privileges changed")


class AuditEvent(models.Model):
    """One append-only event of the audit trail (ENS op.exp.8); see crm.audit.

    Each event carries the hash of the previous one, so that changing or removing any event
    breaks the chain (``manage.py audit_verify``). A database trigger refuses UPDATE and DELETE.
    """

    occurred_at = models.DateTimeField(_("time (UTC)"), db_index=True)
    actor = models.ForeignKey(
        User,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_username = models.CharField(_("username"), max_length=150, blank=True)
    actor_roles = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    action = models.CharField(_("action"), max_length=30, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]
        permissions = [
            ("view_audit_trail", _("Can see and export the audit trail")),
            ("manage_data_requests", _("Can handle data-subject requests")),
        ]
        indexes = [
            models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_idx"),
            models.Index(fields=["actor", "-id"], name="audit_actor_idx"),
            models.Index(fields=["action", "-id"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"#{self.pk} {self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action}"
        )
