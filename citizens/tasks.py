"""Celery tasks of the citizens module: thin wrappers around citizens.imports.

Queued with ``transaction.on_commit`` by the services. Which worker runs an import is recorded
in the job's row (``ImportJob.claim_token``), not in the broker: a message delivered twice does the
work once.
"""

from __future__ import annotations

import uuid

from citizens import dedupe, imports
from crm.celery import app


@app.task(bind=True)
def run_import(self, job_id: int) -> None:
    """Import the job's rows, batch after batch, from the last committed one on. The task's id
    is the claim: the same message delivered again after its worker died takes the job back."""
    imports.run(job_id, token=self.request.id or uuid.uuid4().hex)


@app.task
def check_import(job_id: int) -> None:
    """The dry run of a job whose columns were just chosen."""
    imports.dry_run(job_id)


@app.task
def resume_stale_imports() -> list[int]:
    """Celery beat, every two minutes: queue again the imports whose worker died."""
    return imports.resume_stale()


@app.task
def find_duplicates() -> int:
    """Celery beat, nightly (and the "scan now" button): the duplicate scan (citizens.dedupe)."""
    return dedupe.find_duplicates()
