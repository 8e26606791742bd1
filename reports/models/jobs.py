"""Document jobs: a long document (a report's PDF, a big export) produced by a Celery worker and
offered to its owner for download when ready (reports.jobs; docs/reports.md, "PDF documents and
document jobs")."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import private_storage


def document_job_file_name(instance: DocumentJob, filename: str) -> str:
    """A name nobody can guess, in a folder of the job's own (its file is the only one there);
    it carries neither the title nor personal data. The name people download is ``filename``."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    if not extension.isalnum() or len(extension) > 8:
        extension = "bin"
    return f"document_jobs/{instance.pk}/{uuid.uuid4().hex}.{extension}"


class DocumentJobQuerySet(models.QuerySet):
    def for_user(self, user) -> DocumentJobQuerySet:
        """A document holds what its owner could see when they asked for it: only they see it
        (nobody else, administrators included: they have the audit trail)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)

    def active(self) -> DocumentJobQuerySet:
        return self.filter(status__in=(DocumentJob.Status.QUEUED, DocumentJob.Status.RUNNING))


class DocumentJob(models.Model):
    """One document asked for by a user and produced by a worker (see reports.jobs).

    ``claimed_by`` (the Celery task's id) says which run owns the job while it runs, and
    ``heartbeat_at`` when that run last showed life; a job whose run died is queued again by
    ``reports.jobs.recover_stale_jobs``. The file is kept in private storage (no URL; served by
    the download view to its owner only) until ``RETENTION_DOCUMENT_JOBS_DAYS`` after it was made.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Being produced")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    # A code registered with reports.jobs.register_kind ("table", "report"...).
    kind = models.CharField(_("kind"), max_length=40)
    title = models.CharField(_("title"), max_length=300)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    progress_done = models.PositiveIntegerField(_("steps done"), default=0)
    progress_total = models.PositiveIntegerField(_("steps"), default=0)
    file = models.FileField(
        _("file"),
        upload_to=document_job_file_name,
        storage=private_storage,
        max_length=255,
        blank=True,
    )
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    # What went wrong, in words for the owner (the details are in the worker's log).
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("asked for"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Runs that claimed the job (a run whose worker died counts).
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = DocumentJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("document job")
        verbose_name_plural = _("document jobs")
        indexes = [
            # "My documents", newest first, by keyset (created_at, id).
            models.Index(fields=["owner", "-created_at", "-id"], name="document_job_owner_recent"),
            # The recovery of runs whose worker died.
            models.Index(
                fields=["status", "heartbeat_at"],
                name="document_job_active",
                condition=models.Q(status__in=["queued", "running"]),
            ),
            # Retention: finished jobs by age.
            models.Index(fields=["finished_at"], name="document_job_finished"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def percent(self) -> int:
        """How far the work is, 0 to 100 (100 once done)."""
        if self.status == self.Status.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def ready(self) -> bool:
        """Done, and its file still kept."""
        return self.status == self.Status.DONE and bool(self.file)

    @property
    def kept_until(self) -> datetime | None:
        """When retention removes the file (reports.retention)."""
        if self.finished_at is None:
            return None
        return self.finished_at + timedelta(days=settings.RETENTION_DOCUMENT_JOBS_DAYS)
