"""Saved reports of the report builder (reports.builder) and their scheduled runs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SavedReportQuerySet(models.QuerySet):
    def for_user(self, user) -> SavedReportQuerySet:
        """A user's own reports and those shared with a role (group) they hold."""
        if not user.is_authenticated:
            return self.none()
        shared = Q(shared_with__in=user.groups.values("pk"))
        return self.filter(
            Q(owner=user) | Q(pk__in=SavedReport.objects.filter(shared).values("pk"))
        )


class SavedReport(models.Model):
    class Schedule(models.TextChoices):
        NONE = "none", _("Not scheduled")
        DAILY = "daily", _("Every day")
        WEEKLY = "weekly", _("Every week (Mondays)")
        MONTHLY = "monthly", _("Every month (first day)")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX (Excel)"
        PDF = "pdf", "PDF"

    name = models.CharField(_("name"), max_length=150)
    subject = models.CharField(_("subject"), max_length=30)
    definition = models.JSONField(_("definition"), default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="saved_reports",
    )
    shared_with = models.ManyToManyField(
        Group, verbose_name=_("shared with the roles"), blank=True, related_name="+"
    )
    schedule = models.CharField(
        _("schedule"), max_length=10, choices=Schedule.choices, default=Schedule.NONE
    )
    send_to_owner = models.BooleanField(_("send to me"), default=True)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("recipients"), blank=True, related_name="+"
    )
    file_format = models.CharField(
        _("format"), max_length=4, choices=Format.choices, default=Format.CSV
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = SavedReportQuerySet.as_manager()

    class Meta:
        verbose_name = _("saved report")
        verbose_name_plural = _("saved reports")
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["owner", "name"], name="reports_saved_owner_idx"),
            models.Index(
                fields=["schedule"],
                name="reports_saved_scheduled_idx",
                condition=~Q(schedule="none"),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scheduled(self) -> bool:
        return self.schedule != self.Schedule.NONE


class ScheduledRun(models.Model):
    """One period of a scheduled report (``2026-11-23``, ``2026-W47``, ``2026-11``): the row a
    sender claims, so that the report is emailed once per period however many beats, workers
    or retries run (reports.services.scheduled_reports_send)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    report = models.ForeignKey(
        SavedReport, verbose_name=_("report"), on_delete=models.CASCADE, related_name="runs"
    )
    period = models.CharField(_("period"), max_length=10)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    sent_to = models.JSONField(_("sent to (user ids)"), default=list, blank=True)
    skipped = models.JSONField(_("left out (user ids)"), default=list, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        constraints = [
            models.UniqueConstraint(fields=["report", "period"], name="reports_run_once_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.report_id} {self.period}"
