"""Campaigns, their budget lines and objectives.

A campaign's email (subject, HTML and text bodies with merge fields) lives on the campaign; it
is checked when saved and compiled once per campaign by campaigns.messages.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import unit_ids_for_user


class CampaignQuerySet(models.QuerySet):
    def for_user(self, user):
        """Every campaign for holders of ``campaigns.all_units`` (administrators, the data
        protection officer); otherwise those of the user's units and below, those of no unit,
        and the user's own."""
        if not user.is_authenticated or not user.has_perm("campaigns.access"):
            return self.none()
        if user.is_superuser or user.has_perm("campaigns.all_units"):
            return self
        units = unit_ids_for_user(user)
        return self.filter(Q(unit_id__in=units) | Q(unit__isnull=True) | Q(created_by=user))

    def running(self):
        return self.filter(status=Campaign.Status.RUNNING)


class Campaign(models.Model):
    class Kind(models.TextChoices):
        AWARENESS = "awareness", _("Awareness")
        SERVICE = "service", _("Service")
        REGULATION = "regulation", _("New regulation")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        FINISHED = "finished", _("Finished")
        CANCELLED = "cancelled", _("Cancelled")

    class ChannelChoice(models.TextChoices):
        EMAIL = "email", _("Email")
        LETTER = "letter", _("Letter")
        PHONE = "phone", _("Phone")
        EVENT = "event", _("Event")
        SOCIAL = "social", _("Social network")

    name = models.CharField(_("name"), max_length=200)
    # In links to public forms (?campaign=<code>), so that the case filed records the campaign.
    code = models.SlugField(
        _("code"),
        max_length=60,
        unique=True,
        help_text=_("Short name in links, e.g. 'wildfires-2026'."),
    )
    kind = models.CharField(_("type"), max_length=12, choices=Kind.choices, default=Kind.AWARENESS)
    description = models.TextField(_("description"), blank=True)
    unit = models.ForeignKey(
        "crm.Unit",
        verbose_name=_("responsible unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    channels = ArrayField(
        models.CharField(max_length=10, choices=ChannelChoice.choices),
        verbose_name=_("channels"),
        default=list,
        blank=True,
    )
    purpose = models.ForeignKey(
        "citizens.ConsentPurpose",
        verbose_name=_("consent purpose"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Only people who consent to it receive the campaign's email."),
    )
    # The target public: a dynamic segment, a static list, or both (their union).
    segment = models.ForeignKey(
        "campaigns.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    static_list = models.ForeignKey(
        "campaigns.StaticList",
        verbose_name=_("static list"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    # The email (merge fields: campaigns.messages).
    email_subject = models.CharField(_("subject"), max_length=200, blank=True)
    email_html = models.TextField(_("HTML body"), blank=True)
    email_text = models.TextField(_("text body"), blank=True)
    email_language = models.CharField(
        _("language"), max_length=12, choices=settings.LANGUAGES, default="es"
    )
    landing_url = models.URLField(
        _("link to a public form or page"),
        blank=True,
        help_text=_("Merge field {{ form_link }}: this address with the campaign's code."),
    )
    # Privacy first: tracking is off unless the campaign turns it on.
    track_opens = models.BooleanField(_("track opens"), default=False)
    track_clicks = models.BooleanField(_("track clicks"), default=False)
    send_rate = models.PositiveIntegerField(
        _("messages per second"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the installation's default."),
    )
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

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_period_valid"
            )
        ]
        indexes = [
            models.Index(fields=["status", "-starts_on", "-id"], name="campaign_status_start"),
            models.Index(fields=["-starts_on", "-id"], name="campaign_start_order"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def sends_email(self) -> bool:
        return self.ChannelChoice.EMAIL in self.channels

    @property
    def channel_labels(self) -> list[str]:
        labels = dict(self.ChannelChoice.choices)
        return [str(labels.get(channel, channel)) for channel in self.channels]

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.SCHEDULED)


class BudgetLine(models.Model):
    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="budget_lines"
    )
    concept = models.CharField(_("concept"), max_length=200)
    planned = models.DecimalField(
        _("planned"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    actual = models.DecimalField(
        _("actual"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")

    class Meta:
        verbose_name = _("budget line")
        verbose_name_plural = _("budget lines")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.concept

    @property
    def deviation(self) -> Decimal:
        return self.actual - self.planned


class Objective(models.Model):
    """A target for a measurable indicator; its progress is computed from data
    (campaigns.services.objective_progress), never typed in."""

    class Indicator(models.TextChoices):
        REACH = "reach", _("People reached (messages delivered)")
        SENT = "sent", _("Messages sent")
        CASES = "cases", _("Cases and form submissions linked to the campaign")
        INTERACTIONS = "interactions", _("Interactions recorded (letters, calls, events...)")
        OPEN_RATE = "open_rate", _("Open rate (%)")
        CLICK_RATE = "click_rate", _("Click rate (%)")
        UNSUBSCRIBE_RATE = "unsubscribe_rate", _("Unsubscribe rate (%), at most")
        BUDGET_SPENT = "budget_spent", _("Budget spent (%), at most")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="objectives"
    )
    name = models.CharField(_("objective"), max_length=200)
    indicator = models.CharField(_("indicator"), max_length=20, choices=Indicator.choices)
    target = models.DecimalField(
        _("target"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )

    class Meta:
        verbose_name = _("objective")
        verbose_name_plural = _("objectives")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ceiling(self) -> bool:
        """Met while the value stays at or below the target (unsubscribes, spending)."""
        return self.indicator in (self.Indicator.UNSUBSCRIBE_RATE, self.Indicator.BUDGET_SPENT)


class EmailTemplate(models.Model):
    """A reusable email (subject, HTML and text bodies with merge fields): a campaign's email
    starts as a copy of one (campaigns.services.campaign_email_from_template)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    subject = models.CharField(_("subject"), max_length=200)
    html_body = models.TextField(_("HTML body"))
    text_body = models.TextField(_("text body"))
    language = models.CharField(
        _("language"), max_length=12, choices=settings.LANGUAGES, default="es"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("email template")
        verbose_name_plural = _("email templates")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
