"""Target publics: dynamic segments (rules evaluated in SQL when asked: campaigns.segments) and
static lists (people stored as rows: uploaded, or frozen from a segment)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TargetQuerySet(models.QuerySet):
    def for_user(self, user):
        """Segments and lists are shared by the communication team: every user of the module
        sees them all (a campaign's unit decides who sees the campaign)."""
        if not user.is_authenticated or not user.has_perm("campaigns.access"):
            return self.none()
        return self


def _empty_rules() -> dict:
    return {"op": "and", "rules": []}


class Segment(models.Model):
    """A dynamic target public: people matching ``rules`` now (see campaigns.segments for the
    rule language). Nothing stores its members, so a person enters or leaves as their data
    changes."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=_empty_rules)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, editable=False)

    objects = TargetQuerySet.as_manager()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class StaticList(models.Model):
    """A fixed list of people: uploaded (document numbers or emails) or frozen from a segment."""

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Uploaded file")
        FROZEN = "frozen", _("Frozen from a segment")

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("frozen from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="frozen_lists",
    )
    size = models.PositiveIntegerField(_("people"), default=0)
    # Rows of an upload that matched nobody or were malformed: [{"row", "value", "error"}]
    rejected = models.JSONField(_("rejected rows"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    objects = TargetQuerySet.as_manager()

    class Meta:
        verbose_name = _("static list")
        verbose_name_plural = _("static lists")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class StaticListMember(models.Model):
    static_list = models.ForeignKey(StaticList, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(
        "citizens.Person", on_delete=models.CASCADE, related_name="campaign_list_memberships"
    )

    class Meta:
        verbose_name = _("list member")
        verbose_name_plural = _("list members")
        constraints = [
            models.UniqueConstraint(
                fields=["static_list", "person"], name="static_list_member_unique"
            )
        ]
        indexes = [models.Index(fields=["person"], name="static_list_member_person")]

    def __str__(self) -> str:
        return f"{self.static_list_id}: {self.person_id}"


__all__ = ["Segment", "StaticList", "StaticListMember"]
