"""Celery tasks of the reports module: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

# --- Report builder: scheduled reports (reports.services.scheduled_reports_send) ---------------


@shared_task(name="reports.tasks.send_scheduled_reports", acks_late=True)
def send_scheduled_reports() -> int:
    """Beat, hourly: email each scheduled report once for its current period (the claimed
    ``ScheduledRun`` row decides, however many beats, workers or retries run it)."""
    from reports.services import scheduled_reports_send

    return scheduled_reports_send()


# --- Document jobs (reports.jobs) --------------------------------------------------------------


@shared_task(name="reports.tasks.run_document_job", bind=True, acks_late=True)
def run_document_job(self, job_id: int) -> None:
    """Produce a document job's file. The task's id is the job's claim: the same message
    delivered again after its worker died takes the job back; any other run finds it claimed."""
    import uuid

    from reports.jobs import run_job

    run_job(job_id, token=self.request.id or uuid.uuid4().hex)


@shared_task(name="reports.tasks.recover_document_jobs")
def recover_document_jobs() -> list[int]:
    """Beat, every two minutes: queue again the document jobs whose worker died."""
    from reports.jobs import recover_stale_jobs

    return recover_stale_jobs()
