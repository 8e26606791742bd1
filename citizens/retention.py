"""The citizens module's retention rules (crm.retention): import files and blocked data."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from crm.retention import BATCH, in_batches, register

from .models import BlockedData, ImportJob, ImportRow


@register("import_files")
def end_old_import_files(now: datetime) -> int:
    """Imports finished ``RETENTION_IMPORT_DAYS`` ago, or abandoned before running that long
    ago: their file and the values of their rows go (rejected rows keep what the file had, for
    correcting it). The job stays with its counts."""
    cutoff = now - timedelta(days=settings.RETENTION_IMPORT_DAYS)
    Status = ImportJob.Status
    finished = Q(status__in=[Status.DONE, Status.FAILED], finished_at__lt=cutoff)
    abandoned = Q(
        status__in=[Status.UPLOADED, Status.MAPPED, Status.VALIDATED], created_at__lt=cutoff
    )
    with_data = Q(file__gt="") | Exists(ImportRow.objects.filter(job=OuterRef("pk")))

    def next_batch() -> list[int]:
        return list(
            ImportJob.objects.filter((finished | abandoned) & with_data)
            .order_by("id")
            .values_list("id", flat=True)[:BATCH]
        )

    def end(ids: list[int]) -> None:
        for job in ImportJob.objects.filter(id__in=ids).only("id", "file"):
            if job.file:
                # The file goes once the transaction that forgets it has committed.
                transaction.on_commit(partial(job.file.storage.delete, job.file.name))
        ImportRow.objects.filter(job_id__in=ids).delete()
        ImportJob.objects.filter(id__in=ids).update(file="")

    return in_batches(next_batch, end)


@register("blocked_data")
def end_expired_blocked_data(now: datetime) -> int:
    """Data of erased people kept apart (LOPDGDD art. 32) past its ``keep_until``: destroyed.
    The pseudonymised person record stays, so that the audit trail's references still hold."""
    today = timezone.localdate(now)
    return in_batches(
        lambda: list(
            BlockedData.objects.filter(keep_until__lt=today)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        ),
        lambda ids: BlockedData.objects.filter(pk__in=ids).delete(),
    )
