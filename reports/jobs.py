"""Document jobs: long documents produced by a Celery worker, with their progress, offered to the
user who asked for them when ready ("My documents", reports.views.documents).

A kind of document is a function registered under a code::

    from reports.jobs import register_kind

    def build_my_report(job: DocumentJob, progress: ProgressCallback) -> tuple[str, str, bytes]:
        ...  # read job.params, call progress(done, total) as the work goes on
        return "informe.pdf", "application/pdf", pdf

    register_kind("my_report", build_my_report)

Register kinds at import time of a module the worker imports: ``<app>/document_kinds.py`` of any
installed app is imported when a kind is asked for and not yet known (reports.tasks imports this
module, which registers ``table``). ``start_job(owner=..., kind=..., title=..., params=...)``
(a service: atomic, audited) records the job and queues ``reports.tasks.run_document_job`` once
the transaction commits.

Exactly once, whatever the broker does: the task's id is the job's claim (``claimed_by``),
taken with ``SELECT ... FOR UPDATE SKIP LOCKED``; a second delivery of the message, or a second
worker, finds the job claimed by someone alive and does nothing. Progress is written in short
transactions of its own (at most every ``PROGRESS_INTERVAL`` seconds), each one also the run's
heartbeat and a check that the claim is still its own (a run that lost it stops). The file is
written only at the end, and the job is marked done in the same transaction that checks the
claim once more; should that fail, the file is deleted: nothing is left half-written. A run whose
worker died (SIGKILL, the machine restarted) shows no heartbeat: ``recover_stale_jobs`` (Celery
beat, every two minutes) queues it again after ``DOCUMENT_JOB_STALE_MINUTES``, up to
``DOCUMENT_JOB_MAX_ATTEMPTS`` runs; then it fails with a message for its owner.

A build that raises ``DocumentJobError`` fails with that message for the owner; any other
exception fails with a general one (the details go to the worker's log).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.audit import log_event
from crm.models import AuditAction
from reports.models import DocumentJob

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
Build = Callable[[DocumentJob, ProgressCallback], tuple[str, str, bytes]]

# Seconds between two progress writes of a run (the first and the last are always written).
PROGRESS_INTERVAL = 1.0
Status = DocumentJob.Status


class DocumentJobError(Exception):
    """A build's failure to tell the owner in these words (translated, no personal data)."""


class ClaimLost(Exception):
    """The run no longer owns its job (it was taken back as stale, and another run has it)."""


@dataclass(frozen=True)
class Kind:
    code: str
    build: Build


_kinds: dict[str, Kind] = {}


def register_kind(code: str, build: Build) -> None:
    """Make ``build(job, progress) -> (filename, content_type, content)`` produce the documents
    of kind ``code``. ``progress(done, total)`` reports how far it is; call it at least every few
    minutes (it is the run's heartbeat: ``DOCUMENT_JOB_STALE_MINUTES`` without one and the job is
    given to another run). It raises ``ClaimLost`` when the job was taken away: let it through."""
    if not code or len(code) > DocumentJob._meta.get_field("kind").max_length:
        raise ValueError(f"A document kind's code must have 1 to 40 characters: {code!r}.")
    _kinds[code] = Kind(code, build)


def find_kind(code: str) -> Kind | None:
    """The registered kind of ``code``, importing the apps' ``document_kinds`` modules first if
    it is not known yet."""
    if code not in _kinds:
        for config in apps.get_app_configs():
            module = f"{config.name}.document_kinds"
            if find_spec(module) is not None:
                import_module(module)
    return _kinds.get(code)


# --- Starting a job -----------------------------------------------------------------------------


def _queue(job_id: int) -> None:
    from reports import tasks

    tasks.run_document_job.delay(job_id)


@transaction.atomic
def start_job(*, owner, kind: str, title: str, params: dict[str, Any]) -> DocumentJob:
    """Ask for a document of ``kind`` for ``owner``; the worker produces it.

    ``params`` (JSON) is what the kind's build reads: keep there what decides the content (the
    report's definition, the filters), not the content itself where it is large. The owner is who
    may download it, so a build must produce only what the owner may see.
    """
    if find_kind(kind) is None:
        raise ValueError(f"No document kind {kind!r} is registered.")
    job = DocumentJob.objects.create(
        owner=owner, kind=kind, title=title[:300], params=params, status=Status.QUEUED,
        heartbeat_at=timezone.now(),
    )  # fmt: skip
    log_event(
        actor=owner,
        action=AuditAction.CREATE,
        obj=job,
        changes={"kind": kind, "title": job.title, "status": job.status},
    )
    transaction.on_commit(partial(_queue, job.pk))
    return job


# --- Running it ---------------------------------------------------------------------------------


def claim(job_id: int, token: str) -> DocumentJob | None:
    """Make ``token`` (the task's id) the one run of the job, or None: done, failed, gone, or
    run by someone alive. The same message delivered again after its worker died takes its job
    back at once; another run only after ``DOCUMENT_JOB_STALE_MINUTES``."""
    stale_after = timedelta(minutes=settings.DOCUMENT_JOB_STALE_MINUTES)
    with transaction.atomic():
        job = DocumentJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None:
            return None  # gone, or another run is writing it right now
        now = timezone.now()
        stale = job.heartbeat_at is None or job.heartbeat_at < now - stale_after
        if not (
            job.status == Status.QUEUED
            or (job.status == Status.RUNNING and (job.claimed_by == token or stale))
        ):
            return None
        job.status, job.claimed_by, job.heartbeat_at = Status.RUNNING, token, now
        job.started_at = job.started_at or now
        job.attempts += 1
        job.progress_done = 0
        job.save(
            update_fields=[
                "status", "claimed_by", "heartbeat_at", "started_at", "attempts", "progress_done"
            ]
        )  # fmt: skip
    return job


class _Progress:
    """The callback a build gets: writes (done, total) and the heartbeat, at most every
    ``PROGRESS_INTERVAL`` seconds, each time in a transaction of its own; raises ClaimLost."""

    def __init__(self, job_id: int, token: str) -> None:
        self.job_id, self.token = job_id, token
        self.written_at: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        last = total > 0 and done >= total
        if self.written_at is not None and not last and now - self.written_at < PROGRESS_INTERVAL:
            return
        self.written_at = now
        total = max(0, int(total))
        done = min(max(0, int(done)), total)
        updated = DocumentJob.objects.filter(
            pk=self.job_id, status=Status.RUNNING, claimed_by=self.token
        ).update(progress_done=done, progress_total=total, heartbeat_at=timezone.now())
        if not updated:
            raise ClaimLost(self.job_id)


def run_job(job_id: int, *, token: str | None = None) -> DocumentJob | None:
    """Produce the job's document (the task ``reports.tasks.run_document_job`` calls this with its
    own id as ``token``); the job when this run finished it, None when it had nothing to do."""
    token = token or uuid.uuid4().hex
    job = claim(job_id, token)
    if job is None:
        logger.info("Document job %s: nothing to do for %s", job_id, token)
        return None
    found = find_kind(job.kind)
    try:
        if found is None:
            raise DocumentJobError(_("This kind of document cannot be produced any more."))
        filename, content_type, content = found.build(job, _Progress(job_id, token))
    except ClaimLost:
        logger.warning("Document job %s: %s lost its claim; stopping", job_id, token)
        return None
    except Exception as error:
        _fail(job_id, token, error)
        if isinstance(error, DocumentJobError):
            return None
        raise
    return _finish(job_id, token, filename=filename, content_type=content_type, content=content)


def _finish(
    job_id: int, token: str, *, filename: str, content_type: str, content: bytes
) -> DocumentJob | None:
    """Keep the file and mark the job done, once: only while the claim is still this run's."""
    job = DocumentJob.objects.get(pk=job_id)
    # Written before the row is locked (writing may take a moment); deleted again unless the
    # transaction below commits with it.
    job.file.save(filename, ContentFile(content), save=False)
    name = job.file.name
    try:
        with transaction.atomic():
            locked = DocumentJob.objects.select_for_update().get(pk=job_id)
            if locked.status != Status.RUNNING or locked.claimed_by != token:
                raise ClaimLost(job_id)
            locked.file.name = name
            now = timezone.now()
            locked.status, locked.claimed_by = Status.DONE, ""
            locked.filename = filename[:255]
            locked.content_type = content_type[:100]
            locked.size = len(content)
            locked.error = ""
            locked.finished_at = locked.heartbeat_at = now
            locked.progress_done = locked.progress_total = max(locked.progress_total, 1)
            locked.save()
            log_event(
                actor=locked.owner,
                action=AuditAction.UPDATE,
                obj=locked,
                changes={
                    "status": Status.DONE,
                    "size": locked.size,
                    "content_type": locked.content_type,
                    "attempts": locked.attempts,
                },
            )
    except BaseException as error:
        job.file.storage.delete(name)
        if isinstance(error, ClaimLost):
            logger.warning("Document job %s: %s lost its claim before the end", job_id, token)
            return None
        raise
    _remove_strays(locked)
    return locked


def _remove_strays(job: DocumentJob) -> None:
    """Delete what an earlier run of the job left in its folder (a worker killed between writing
    its file and committing): the job keeps one file, the one its row names."""
    folder = f"document_jobs/{job.pk}"
    storage = job.file.storage
    try:
        _folders, names = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        path = f"{folder}/{name}"
        if path != job.file.name:
            storage.delete(path)


def _fail(job_id: int, token: str, error: Exception) -> None:
    if isinstance(error, DocumentJobError):
        message = str(error)
    else:
        logger.exception("Document job %s failed", job_id)
        message = _(
            "The document could not be produced. Try again later; if it fails again, tell the "
            "administrator (document %(id)s)."
        ) % {"id": job_id}
    try:
        with transaction.atomic():
            job = DocumentJob.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.status != Status.RUNNING or job.claimed_by != token:
                return
            _mark_failed(job, message, reason=type(error).__name__)
    except Exception:  # the database itself is down: recover_stale_jobs will pick the job up
        logger.exception("Document job %s: could not record its failure", job_id)


def _mark_failed(job: DocumentJob, message: str, *, reason: str) -> None:
    job.status, job.claimed_by, job.error = Status.FAILED, "", message
    job.finished_at = job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "claimed_by", "error", "finished_at", "heartbeat_at"])
    log_event(
        actor=job.owner,
        action=AuditAction.UPDATE,
        obj=job,
        changes={"status": Status.FAILED, "reason": reason, "attempts": job.attempts},
    )


def recover_stale_jobs(*, stale_after: timedelta | None = None) -> list[int]:
    """Queue again the jobs that show no sign of life for ``stale_after``
    (``DOCUMENT_JOB_STALE_MINUTES``): a run whose worker died (a SIGKILLed worker's message comes
    back only after the broker's visibility timeout), or a message that was lost. A job that
    already had ``DOCUMENT_JOB_MAX_ATTEMPTS`` runs fails instead (a document that kills its worker
    every time must not do so forever). Returns the ids queued again."""
    if stale_after is None:
        stale_after = timedelta(minutes=settings.DOCUMENT_JOB_STALE_MINUTES)
    cutoff = timezone.now() - stale_after
    stale = DocumentJob.objects.active().filter(
        Q(heartbeat_at__lte=cutoff) | Q(heartbeat_at__isnull=True)
    )
    queued = []
    for pk in stale.order_by("pk").values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            # A job locked right now is being written by its run: alive.
            job = stale.select_for_update(skip_locked=True).filter(pk=pk).first()
            if job is None:
                continue
            if job.attempts >= settings.DOCUMENT_JOB_MAX_ATTEMPTS:
                _mark_failed(
                    job,
                    _(
                        "The document could not be produced: it was tried %(count)s times. Ask "
                        "for a smaller one, or tell the administrator (document %(id)s)."
                    )
                    % {"count": job.attempts, "id": job.pk},
                    reason="attempts",
                )
                continue
            job.status, job.claimed_by, job.heartbeat_at = Status.QUEUED, "", timezone.now()
            job.save(update_fields=["status", "claimed_by", "heartbeat_at"])
            transaction.on_commit(partial(_queue, pk))
            queued.append(pk)
    if queued:
        logger.warning("Document jobs with no progress queued again: %s", queued)
    return queued


# --- The file -------------------------------------------------------------------------------


@transaction.atomic
def record_download(*, job: DocumentJob, actor) -> None:
    """Audit a download of the job's file (the view serves it)."""
    log_event(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=job,
        changes={"filename": job.filename, "size": job.size, "kind": job.kind},
    )


# --- The "table" kind ---------------------------------------------------------------------------


def build_table(job: DocumentJob, progress: ProgressCallback) -> tuple[str, str, bytes]:
    """A table computed when it was asked for, laid out as a PDF by the worker
    (reports.tabular_pdf). ``params``: ``columns`` (``[{"label", "numeric", "width"}]``),
    ``sections`` (``[{"heading", "rows", "subtotal"}]``), ``totals``, ``subtitle``,
    ``landscape``, ``language`` and ``filename``."""
    from django.utils import translation

    from reports.tabular_pdf import Column, Section, render_table_pdf

    params = job.params
    columns = [
        Column(
            str(column["label"]),
            numeric=bool(column.get("numeric")),
            width=float(column.get("width") or 1),
        )
        for column in params.get("columns", [])
    ]
    if not columns:
        raise DocumentJobError(_("The table has no columns."))
    sections = (
        Section(section.get("heading"), section.get("rows", []), section.get("subtotal"))
        for section in params.get("sections", [])
    )
    language = params.get("language") or settings.LANGUAGE_CODE
    try:
        with translation.override(language):
            pdf = render_table_pdf(
                title=job.title,
                subtitle=str(params.get("subtitle", "")),
                columns=columns,
                sections=sections,
                totals=params.get("totals"),
                landscape=bool(params.get("landscape")),
                progress=progress,
            )
    except ValueError as error:  # a row of the wrong length
        raise DocumentJobError(_("The table's rows do not match its columns.")) from error
    filename = str(params.get("filename") or "tabla.pdf")
    return filename, "application/pdf", pdf


register_kind("table", build_table)
