"""Email sending: one delivery per campaign and person, the suppression list (unsubscribes and
hard bounces), bounce reports and tracking events (campaigns.sending, docs/campaigns.md
"Sending")."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Delivery(models.Model):
    """The campaign's message to one person, frozen at launch with the address it goes to.

    A worker claims pending rows (``claimed_by``), marks one row ``sending`` in the same
    statement that records the previous one's result, hands it to the SMTP server, and so on:
    at most one row per worker is ever in the uncertain state between the server's answer and
    the database commit (see docs/campaigns.md, "Never twice, never lost").
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not sent")

    class Bounce(models.TextChoices):
        HARD = "hard", _("Hard bounce")
        SOFT = "soft", _("Soft bounce")

    # Neither reference is a database constraint. A constraint checks every inserted row at
    # commit, locking the person's row (FOR KEY SHARE writes into its tuple): launching a
    # campaign to 200,000 people spent as long on those checks as on freezing its deliveries.
    # Nothing can leave a delivery behind: people are never deleted (a merge keeps the merged
    # record, a GDPR block clears its data), only draft campaigns, which have no deliveries, are,
    # and Django's CASCADE (run by Django, not by the database) would remove them anyway.
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,  # delivery_once and delivery_campaign_status lead with it
        db_constraint=False,
    )
    # None once the retention job anonymised the delivery (campaigns.retention): the row stays
    # for the campaign's figures, without the person or the address it went to.
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="campaign_deliveries",
        db_constraint=False,
    )
    email = models.CharField(_("email"), max_length=254)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # The worker (task) holding the row, and since when; "" when nobody does.
    claimed_by = models.CharField(max_length=40, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    # A worker died while the message was with the SMTP server: it was sent again (same
    # Message-ID), and may have arrived twice.
    uncertain = models.BooleanField(_("outcome uncertain"), default=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    skip_reason = models.CharField(_("why not sent"), max_length=30, blank=True)
    bounce = models.CharField(_("bounce"), max_length=4, choices=Bounce.choices, blank=True)
    bounced_at = models.DateTimeField(_("bounced"), null=True, blank=True)
    opened_at = models.DateTimeField(_("first opened"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first click"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "person"], name="delivery_once"),
        ]
        indexes = [
            # The workers' claim: the campaign's next unclaimed pending rows, in id order.
            models.Index(
                fields=["campaign", "id"],
                condition=Q(status="pending", claimed_by=""),
                name="delivery_claimable",
            ),
            # Progress counts and the stuck-row sweep. Every index costs each message two
            # updates' worth of writes: there are no more than these.
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.person_id} {self.status}"

    @classmethod
    def received_q(cls) -> Q:
        """Deliveries that reached the person: sent and not bounced hard."""
        return Q(status=cls.Status.SENT) & ~Q(bounce=cls.Bounce.HARD)

    @property
    def message_id(self) -> str:
        from campaigns.mailer import message_id

        return message_id(self.pk)


class Suppression(models.Model):
    """An address no campaign email goes to: the person unsubscribed, or it bounced hard.
    Lifting it (the preference centre) keeps the row, with ``lifted_at``."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")

    address = models.CharField(_("email"), max_length=254)  # lower case
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    created_at = models.DateTimeField(_("since"), default=timezone.now)
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    delivery = models.ForeignKey(
        Delivery,
        verbose_name=_("delivery"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["address"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_active_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_reason_display()})"


class BounceReport(models.Model):
    """One delivery status notification (RFC 3464) read by ``manage.py read_bounces``."""

    delivery = models.ForeignKey(
        Delivery,
        verbose_name=_("delivery"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bounce_reports",
    )
    address = models.CharField(_("email"), max_length=254)
    kind = models.CharField(_("kind"), max_length=4, choices=Delivery.Bounce.choices)
    status = models.CharField(_("status code"), max_length=20)
    action = models.CharField(_("action"), max_length=20, blank=True)
    diagnostic = models.TextField(_("diagnostic"), blank=True)
    # The report's own Message-ID: reading the same mailbox twice records nothing new.
    report_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        constraints = [
            models.UniqueConstraint(
                fields=["report_id", "address"],
                condition=~Q(report_id=""),
                name="bounce_report_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address} {self.status}"


class TrackingEvent(models.Model):
    """An open (the pixel was loaded) or a click (a tracked link followed), for campaigns
    that turned tracking on."""

    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        CLICK = "click", _("Click")

    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices)
    url = models.TextField(_("link"), blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        indexes = [models.Index(fields=["delivery", "kind"], name="tracking_delivery_kind")]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.kind}"
