"""What every module shares: staff users, the tree of units they belong to, and the audit trail."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.fields import ArrayField
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
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

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships"
    )
    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), on_delete=models.CASCADE, related_name="memberships"
    )
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
        db_index=False,  # audit_actor_idx (actor, -id) serves it
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
    # Not indexed: nothing looks an event up by its hash (the chain is walked in id order), and
    # every write would add a random key to two indexes of 64-character strings.
    hash = models.CharField(max_length=64)

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


class AuditAnchor(models.Model):
    """Where the audit trail starts after old events ended (crm.retention): the hash of the last
    event removed, which the first remaining one names as its predecessor."""

    last_id = models.BigIntegerField(unique=True)
    last_hash = models.CharField(max_length=64)
    ended = models.PositiveIntegerField()
    cutoff = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("audit trail anchor")
        verbose_name_plural = _("audit trail anchors")
        ordering = ["-last_id"]

    def __str__(self) -> str:
        return f"#{self.last_id} {self.last_hash[:12]}"


# --- Registry numbers and issued documents (crm.registry, crm.documents) ------------------------


class RegistryCounter(models.Model):
    """The last registry number given in a series and year (Ley 39/2015, art. 16).

    Written only by ``crm.registry.next_registry_number``, under a row lock, in the transaction
    of the filing that takes the number: that is what keeps the numbers free of gaps.
    """

    series = models.CharField(_("series"), max_length=10)
    year = models.PositiveSmallIntegerField(_("year"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("registry counter")
        verbose_name_plural = _("registry counters")
        ordering = ["series", "-year"]
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="registry_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class PrivateStorage(FileSystemStorage):
    """Files under ``MEDIA_ROOT/private/``: they have no URL and are served only by the CRM's own
    views, after their checks (a deployment must never serve that folder)."""

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, os.path.join(settings.MEDIA_ROOT, "private"))

    def url(self, name):
        raise ValueError("Private files have no URL.")


_private_storage = PrivateStorage()


def private_storage() -> PrivateStorage:
    return _private_storage


def issued_document_name(instance: IssuedDocument, filename: str) -> str:
    """A name nobody can guess; it carries neither the verification code nor personal data."""
    return f"documents/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.pdf"


class DocumentKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    ANSWER = "answer", _("Answer")
    QUOTE = "quote", _("Quote")
    REPORT = "report", _("Report")
    OTHER = "other", _("Other document")


class IssuedDocument(models.Model):
    """A PDF the body issued, with its secure verification code (CSV; see crm.documents).

    Anyone holding the code can check the document at the public site and download the copy
    kept here; ``sha256`` lets them compare it with theirs. Issued documents are never changed.
    """

    verification_code = models.CharField(_("verification code"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=DocumentKind.choices)
    title = models.CharField(_("title"), max_length=300)
    file = models.FileField(
        _("PDF file"), upload_to=issued_document_name, storage=private_storage, max_length=255
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    issued_by = models.ForeignKey(
        User,
        verbose_name=_("issued by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # What the document belongs to, named like the audit trail does ("cases.case", "42").
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    language = models.CharField(_("language"), max_length=10)

    class Meta:
        verbose_name = _("issued document")
        verbose_name_plural = _("issued documents")
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="issued_document_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.display_code} {self.title}"

    @property
    def display_code(self) -> str:
        """The code as printed: groups of four, ``ABCD-EFGH-JKMN-PQRS``."""
        code = self.verification_code
        return "-".join(code[start : start + 4] for start in range(0, len(code), 4))


class LocalHoliday(models.Model):
    """A holiday of one municipality (in Spain two a year, set in the regional bulletin),
    entered by administrators. National and regional holidays come from the ``holidays``
    library; crm.calendar joins them (Ley 39/2015, art. 30.6)."""

    municipality = models.CharField(
        _("municipality"),
        max_length=100,
        help_text=_(
            "As written in addresses, e.g. “Alcalá de Henares”; compared without regard to "
            "case or accents."
        ),
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=200, help_text=_("e.g. “San Isidro”."))

    class Meta:
        verbose_name = _("local holiday")
        verbose_name_plural = _("local holidays")
        ordering = ["-date", "municipality"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "date"], name="local_holiday_municipality_date_unique"
            )
        ]
        indexes = [models.Index(fields=["date"], name="local_holiday_date_idx")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.municipality}: {self.name}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from crm.calendar import normalise_municipality

        super().clean()
        if not self.date or not normalise_municipality(self.municipality):
            return
        same_day = LocalHoliday.objects.filter(date=self.date).exclude(pk=self.pk)
        key = normalise_municipality(self.municipality)
        if any(
            normalise_municipality(other) == key
            for other in same_day.values_list("municipality", flat=True)
        ):
            raise ValidationError(
                {"municipality": _("This municipality already has a holiday on that date.")}
            )


def _local_holidays_changed(sender, using=None, **kwargs) -> None:
    # Every process forgets the holiday sets it remembered (crm.calendar).
    from crm.calendar import local_holidays_changed

    local_holidays_changed(using=using or "default")


models.signals.post_save.connect(
    _local_holidays_changed, sender=LocalHoliday, dispatch_uid="crm-local-holiday-saved"
)
models.signals.post_delete.connect(
    _local_holidays_changed, sender=LocalHoliday, dispatch_uid="crm-local-holiday-deleted"
)
