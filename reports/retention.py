"""The reports module's retention rule (crm.retention): the files of document jobs.

A document job's file (a report as PDF, an export) holds what its owner could see when they
asked for it, often personal data; it is a copy made to be downloaded, not a record. It goes
``RETENTION_DOCUMENT_JOBS_DAYS`` after the job finished; the job's row stays (title, kind, dates,
size: what "My documents" and the audit trail refer to), with no file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction

from crm.retention import BATCH, in_batches, register

from .models import DocumentJob


@register("document_job_files")
def end_old_document_job_files(now: datetime) -> int:
    cutoff = now - timedelta(days=settings.RETENTION_DOCUMENT_JOBS_DAYS)

    def next_batch() -> list[int]:
        return list(
            DocumentJob.objects.filter(finished_at__lt=cutoff)
            .exclude(file="")
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", flat=True)[:BATCH]
        )

    def end(ids: list[int]) -> None:
        for job in DocumentJob.objects.filter(id__in=ids).only("id", "file"):
            # The file goes once the transaction that forgets it has committed.
            transaction.on_commit(partial(job.file.storage.delete, job.file.name))
        DocumentJob.objects.filter(id__in=ids).update(file="")

    return in_batches(next_batch, end)
