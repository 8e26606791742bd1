"""Document jobs (reports.jobs): asked for, claimed by one run only, produced with progress, kept
in private storage, offered to their owner alone ("My documents"), failed with a message, queued
again when their worker dies (a real worker SIGKILLed mid-job finishes it exactly once), and
their files removed by retention."""

from __future__ import annotations

import io
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from crm.models import AuditAction, AuditEvent
from crm.retention import apply_retention
from reports import jobs
from reports.jobs import ClaimLost, DocumentJobError, claim, recover_stale_jobs, run_job, start_job
from reports.models import DocumentJob
from tests.fixtures.browser import assert_accessible, assert_no_console_errors, log_in

Status = DocumentJob.Status
COLUMNS = [
    {"label": "Referencia"},
    {"label": "Asunto", "width": 3},
    {"label": "Días", "numeric": True},
]


def table_params(rows: int, *, groups: int = 1, language: str = "es") -> dict:
    per_group = max(1, rows // groups)
    sections = []
    for group in range(groups):
        numbers = range(group * per_group, (group + 1) * per_group)
        sections.append(
            {
                "heading": f"Unidad {group}",
                "rows": [
                    [f"QS-{n:06d}", f"Queja número {n} sobre la señal", str(n % 20)]
                    for n in numbers
                ],
                "subtotal": [f"Subtotal {group}", "", str(per_group)],
            }
        )
    return {
        "columns": COLUMNS,
        "sections": sections,
        "totals": ["Total", "", str(per_group * groups)],
        "subtitle": "Año 2026",
        "language": language,
        "filename": "quejas-2026.pdf",
    }


def job_folder(job: DocumentJob) -> Path:
    return Path(django_settings.MEDIA_ROOT) / "private" / "document_jobs" / str(job.pk)


def files_of(job: DocumentJob) -> list[Path]:
    folder = job_folder(job)
    return sorted(folder.iterdir()) if folder.exists() else []


def done_events(job: DocumentJob):
    return AuditEvent.objects.filter(
        object_type="reports.documentjob", object_id=str(job.pk), changes__status="done"
    )


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Jobs queued to Celery (on commit), instead of sending them."""
    sent: list[int] = []
    monkeypatch.setattr(jobs, "_queue", sent.append)
    return sent


@pytest.fixture
def owner(make_user):
    return make_user("case_handler", username="owner")


@pytest.fixture
def job(owner, queued, django_capture_on_commit_callbacks) -> DocumentJob:
    with django_capture_on_commit_callbacks(execute=True):
        return start_job(owner=owner, kind="table", title="Quejas de 2026", params=table_params(60))


# --- Starting and running, in this process ------------------------------------------------------


def test_starting_a_job_records_it_audits_it_and_queues_it_on_commit(
    owner, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        job = start_job(owner=owner, kind="table", title="Quejas", params=table_params(5))
        assert queued == []  # not before the commit

    for callback in callbacks:
        callback()
    assert queued == [job.pk]
    assert (job.status, job.owner, job.kind, job.attempts) == (Status.QUEUED, owner, "table", 0)
    event = AuditEvent.objects.get(object_type="reports.documentjob", object_id=str(job.pk))
    assert event.action == AuditAction.CREATE
    assert event.actor == owner
    assert event.changes["kind"] == "table"
    with pytest.raises(ValueError, match="No document kind"):
        start_job(owner=owner, kind="no-such-kind", title="X", params={})


def test_a_run_produces_the_file_in_private_storage_and_marks_the_job_done(job, media):
    done = run_job(job.pk, token="run-1")

    job.refresh_from_db()
    assert done == job
    assert job.status == Status.DONE
    assert (job.filename, job.content_type) == ("quejas-2026.pdf", "application/pdf")
    assert job.claimed_by == ""
    assert job.attempts == 1
    assert job.progress_total > 0
    assert job.progress_done == job.progress_total
    assert job.percent == 100
    assert job.finished_at is not None
    [stored] = files_of(job)
    assert Path(job.file.path) == stored
    assert stored.is_relative_to(media / "private")
    assert "quejas" not in stored.name  # the stored name says nothing
    assert job.size == stored.stat().st_size
    with pytest.raises(ValueError, match="no URL"):
        job.file.url  # noqa: B018 -- private files are never served directly
    text = " ".join(PdfReader(stored).pages[0].extract_text().split())
    assert "Quejas de 2026" in text
    assert "Subtotal 0 60" in " ".join(PdfReader(stored).pages[-1].extract_text().split())
    assert done_events(job).count() == 1


def test_a_job_is_done_once_whatever_runs_it_again(job, media):
    run_job(job.pk, token="run-1")
    assert run_job(job.pk, token="run-1") is None  # the same message again
    assert run_job(job.pk, token="run-2") is None  # another one
    job.refresh_from_db()
    assert job.attempts == 1
    assert len(files_of(job)) == 1
    assert done_events(job).count() == 1


def test_a_file_left_by_a_killed_run_goes_when_the_job_is_done(job, media):
    """A worker killed between writing its file and committing leaves the file behind: the run
    that finishes the job keeps only its own."""
    job_folder(job).mkdir(parents=True)
    (job_folder(job) / "0123456789abcdef.pdf").write_bytes(b"%PDF- half")
    run_job(job.pk, token="run-2")
    job.refresh_from_db()
    assert files_of(job) == [Path(job.file.path)]


def test_two_runs_never_hold_the_same_job(job, media, settings):
    first = claim(job.pk, "run-1")
    assert first is not None
    assert claim(job.pk, "run-2") is None  # run-1 is alive

    # run-1 shows no life for longer than DOCUMENT_JOB_STALE_MINUTES: run-2 takes the job...
    DocumentJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=settings.DOCUMENT_JOB_STALE_MINUTES + 1)
    )
    assert claim(job.pk, "run-2") is not None
    # ... and run-1, waking up, can neither report progress nor finish.
    with pytest.raises(ClaimLost):
        jobs._Progress(job.pk, "run-1")(1, 10)
    assert jobs._finish(job.pk, "run-1", filename="x.pdf", content_type="application/pdf",
                        content=b"%PDF-")is None  # fmt: skip
    assert files_of(job) == []  # its file went again
    job.refresh_from_db()
    assert (job.status, job.claimed_by, job.attempts) == (Status.RUNNING, "run-2", 2)


def test_progress_is_written_as_the_work_goes(job, media, monkeypatch):
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL", 0)

    def build(job_row, progress):
        for step in range(4):
            progress(step, 3)
            row = DocumentJob.objects.get(pk=job_row.pk)
            seen.append((row.progress_done, row.progress_total))
        return "x.txt", "text/plain", b"hecho"

    jobs.register_kind("steps", build)
    DocumentJob.objects.filter(pk=job.pk).update(kind="steps")
    run_job(job.pk, token="run-1")

    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    job.refresh_from_db()
    assert job.status == Status.DONE
    with job.file.open("rb") as stored:
        assert stored.read() == b"hecho"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("boom: /srv/secret"), "The document could not be produced. Try again later"),
        (DocumentJobError("The table has no columns."), "The table has no columns."),
    ],
)
def test_a_failure_is_recorded_with_a_message_and_leaves_no_file(
    job, media, error, message, caplog
):
    def build(job_row, progress):
        progress(1, 2)
        raise error

    jobs.register_kind("failing", build)
    DocumentJob.objects.filter(pk=job.pk).update(kind="failing")
    if isinstance(error, DocumentJobError):
        assert run_job(job.pk, token="run-1") is None
    else:
        with pytest.raises(RuntimeError):
            run_job(job.pk, token="run-1")

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error.startswith(message)
    assert "secret" not in job.error
    assert not job.file
    assert files_of(job) == []
    assert job.finished_at is not None
    event = AuditEvent.objects.filter(object_id=str(job.pk), changes__status="failed").get()
    assert event.changes["reason"] == type(error).__name__


def test_a_table_whose_rows_do_not_fit_its_columns_fails_with_a_message(owner, queued, media):
    params = table_params(3)
    params["sections"][0]["rows"][1] = ["solo una celda"]
    job = start_job(owner=owner, kind="table", title="Mal", params=params)
    run_job(job.pk, token="run-1")
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, "The table's rows do not match its columns.")


def test_recovery_queues_again_the_jobs_of_dead_workers_then_gives_up(
    job, queued, settings, django_capture_on_commit_callbacks
):
    queued.clear()
    claim(job.pk, "dead-run")
    assert recover_stale_jobs() == []  # it showed life a moment ago

    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_jobs(stale_after=timedelta(0)) == [job.pk]
    assert queued == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.claimed_by) == (Status.QUEUED, "")

    # A job that killed its worker DOCUMENT_JOB_MAX_ATTEMPTS times fails instead.
    for attempt in range(settings.DOCUMENT_JOB_MAX_ATTEMPTS - 1):
        claim(job.pk, f"dead-run-{attempt}")
        recover_stale_jobs(stale_after=timedelta(0))
    job.refresh_from_db()
    assert job.attempts == settings.DOCUMENT_JOB_MAX_ATTEMPTS
    assert job.status == Status.FAILED
    assert "tried 3 times" in job.error


def test_the_recovery_runs_on_celery_beat_and_kinds_are_found_in_document_kinds_modules(
    settings, monkeypatch
):
    from reports import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["recover-document-jobs"]
    assert entry["task"] == tasks.recover_document_jobs.name
    assert entry["schedule"] <= 60 * settings.DOCUMENT_JOB_STALE_MINUTES
    # The builder's "report" kind lives in reports/document_kinds.py: found when asked for.
    monkeypatch.setattr(jobs, "_kinds", {"table": jobs._kinds["table"]})
    monkeypatch.delitem(sys.modules, "reports.document_kinds", raising=False)
    assert jobs.find_kind("report") is not None
    assert jobs.find_kind("no-such-kind") is None


# --- Pages ---------------------------------------------------------------------------------------


def test_my_documents_lists_only_mine_newest_first(client, owner, make_user, queued, media):
    other = make_user("case_handler", username="other")
    mine = [
        start_job(owner=owner, kind="table", title=f"Mío {n}", params=table_params(2))
        for n in range(3)
    ]
    start_job(owner=other, kind="table", title="Ajeno", params=table_params(2))
    run_job(mine[0].pk, token="run-1")
    client.force_login(owner)

    response = client.get(reverse("reports:documents"))

    assert response.status_code == 200
    text = response.text
    assert "Ajeno" not in text
    positions = [text.index(f"Mío {n}") for n in (2, 1, 0)]
    assert positions == sorted(positions)
    assert reverse("reports:document_download", args=[mine[0].pk]) in text
    assert reverse("reports:document_download", args=[mine[1].pk]) not in text


def test_my_documents_pages_by_keyset(client, owner, queued, monkeypatch):
    from reports.views import documents

    monkeypatch.setattr(documents, "PER_PAGE", 2)
    for n in range(5):
        start_job(owner=owner, kind="table", title=f"Documento {n}", params={})
    client.force_login(owner)

    first = client.get(reverse("reports:documents"))
    assert "Documento 4" in first.text
    assert "Documento 2" not in first.text
    cursor = first.context["page"].next_cursor
    second = client.get(reverse("reports:documents"), {"cursor": cursor})
    assert [job.title for job in second.context["page"].items] == ["Documento 2", "Documento 1"]


def test_the_job_page_polls_while_running_and_stops_when_done(client, owner, job, media):
    client.force_login(owner)
    url = reverse("reports:document", args=[job.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert 'hx-trigger="every 2s"' in page.text
    assert 'aria-live="polite"' in page.text
    assert '<progress id="document-progress"' in page.text
    assert 'aria-labelledby="document-progress-label"' in page.text
    claim(job.pk, "run-1")
    jobs._Progress(job.pk, "run-1")(3, 12)
    polled = client.get(url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    assert 'max="12" value="3"' in polled.text
    assert "25 % done." in polled.text

    jobs._finish(job.pk, "run-1", filename="a.pdf", content_type="application/pdf", content=b"%PDF")
    polled = client.get(url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 286  # htmx stops polling
    assert reverse("reports:document_download", args=[job.pk]) in polled.text
    assert 'id="document-announcement" hx-swap-oob="innerHTML"' in polled.text
    assert "The document is ready." in polled.text
    done_page = client.get(url)
    assert "hx-trigger" not in done_page.text
    assert "htmx" not in done_page.text


def test_a_failed_job_page_shows_its_message(client, owner, job, media):
    claim(job.pk, "run-1")
    jobs._fail(job.pk, "run-1", DocumentJobError("Demasiadas filas."))
    client.force_login(owner)
    page = client.get(reverse("reports:document", args=[job.pk]))
    assert "Demasiadas filas." in page.text
    assert "hx-trigger" not in page.text


def test_the_owner_downloads_the_file_unstored_and_audited(client, owner, job, media):
    run_job(job.pk, token="run-1")
    job.refresh_from_db()
    client.force_login(owner)

    response = client.get(reverse("reports:document_download", args=[job.pk]))

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    assert response.content == Path(job.file.path).read_bytes()
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    assert 'attachment; filename="quejas-2026.pdf"' in response["Content-Disposition"]
    event = AuditEvent.objects.get(object_id=str(job.pk), action=AuditAction.EXPORT)
    assert event.actor == owner
    assert event.changes["filename"] == "quejas-2026.pdf"


@pytest.mark.parametrize("role", ["case_handler", "management", "administrator"])
def test_another_users_document_does_not_exist_for_them(client, job, media, make_user, role):
    run_job(job.pk, token="run-1")
    client.force_login(make_user(role, username=f"someone-{role}"))

    for name in ("reports:document", "reports:document_download"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    assert "Quejas de 2026" not in client.get(reverse("reports:documents")).text
    assert not AuditEvent.objects.filter(object_id=str(job.pk), action=AuditAction.EXPORT)


def test_a_document_not_ready_cannot_be_downloaded(client, owner, job, media):
    client.force_login(owner)
    assert client.get(reverse("reports:document_download", args=[job.pk])).status_code == 404


# --- Retention -----------------------------------------------------------------------------------


def test_retention_removes_old_files_and_keeps_the_job(
    job, owner, queued, media, settings, django_capture_on_commit_callbacks
):
    run_job(job.pk, token="run-1")
    recent = start_job(owner=owner, kind="table", title="Reciente", params=table_params(2))
    run_job(recent.pk, token="run-2")
    DocumentJob.objects.filter(pk=job.pk).update(
        finished_at=timezone.now() - timedelta(days=settings.RETENTION_DOCUMENT_JOBS_DAYS + 1)
    )
    [stored] = files_of(job)

    with django_capture_on_commit_callbacks(execute=True):
        done = apply_retention()

    assert done["document_job_files"] == 1
    assert not stored.exists()
    job.refresh_from_db()
    assert (job.status, job.file.name, job.filename) == (Status.DONE, "", "quejas-2026.pdf")
    assert not job.ready
    assert len(files_of(recent)) == 1
    assert apply_retention()["document_job_files"] == 0


# --- With a real worker --------------------------------------------------------------------------
# The worker writes files under the default MEDIA_ROOT (its own process, its own settings).


@pytest.fixture
def worker_files():
    """Delete the files the worker tests made (they are in the real MEDIA_ROOT)."""
    yield
    for job in DocumentJob.objects.all():
        if job.file:
            job.file.storage.delete(job.file.name)
        folder = job_folder(job)
        if folder.exists() and not any(folder.iterdir()):
            folder.rmdir()


def wait_for(predicate, timeout=120.0, interval=0.05, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out waiting for {what}")


def status_of(pk: int) -> DocumentJob:
    return DocumentJob.objects.get(pk=pk)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_worker_makes_the_document_with_progress_and_the_owner_downloads_it(
    celery_worker, worker_files, owner, client
):
    job = start_job(
        owner=owner, kind="table", title="Quejas por unidad", params=table_params(900, groups=3)
    )
    progress = set()

    def finished() -> bool:
        row = status_of(job.pk)
        if row.status == Status.RUNNING:
            progress.add((row.progress_done, row.progress_total))
        return row.status in (Status.DONE, Status.FAILED)

    wait_for(finished, timeout=240, what="the document")
    job.refresh_from_db()
    assert job.status == Status.DONE, job.error
    assert len({done for done, _total in progress}) >= 2  # seen going up while it ran
    assert all(0 <= done <= total for done, total in progress)
    assert min(done for done, _total in progress) < job.progress_total
    client.force_login(owner)
    response = client.get(reverse("reports:document_download", args=[job.pk]))
    assert response.status_code == 200
    pages = PdfReader(io.BytesIO(response.content)).pages
    assert len(pages) > 10
    assert "Total 900" in " ".join(pages[-1].extract_text().split())
    assert "run_document_job" in celery_worker.wait_for_log("succeeded")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_is_killed_is_run_again_and_done_exactly_once(
    celery_worker, worker_files, owner
):
    """SIGKILL the worker in the middle of a document: no file is left and the job stays
    "running" with a heartbeat that ages; the broker keeps the message unacknowledged (for its
    visibility timeout, an hour). The recovery queues the job again, and another run makes it:
    one file, status done, one "done" event, two attempts."""
    job = start_job(
        owner=owner, kind="table", title="Quejas largas", params=table_params(1500, groups=5)
    )
    wait_for(lambda: status_of(job.pk).progress_done > 0, timeout=240, what="a first chunk")
    celery_worker.process.kill()  # SIGKILL: no warm shutdown, no ack
    celery_worker.process.wait()

    killed = status_of(job.pk)
    assert killed.status == Status.RUNNING
    assert 0 < killed.progress_done < killed.progress_total
    assert killed.attempts == 1
    assert files_of(killed) == []
    celery_worker.start()
    time.sleep(2)
    assert status_of(job.pk).claimed_by == killed.claimed_by  # nobody took it meanwhile

    assert recover_stale_jobs(stale_after=timedelta(0)) == [job.pk]
    wait_for(lambda: status_of(job.pk).status == Status.DONE, timeout=300, what="the second run")

    job.refresh_from_db()
    assert job.attempts == 2
    assert job.claimed_by == ""
    assert len(files_of(job)) == 1
    assert done_events(job).count() == 1
    pages = PdfReader(job.file.path).pages
    assert "Total 1500" in " ".join(pages[-1].extract_text().split())


# --- In a browser -------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_job_page_is_accessible_and_updates_itself(
    page, console_errors, make_user, queued, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    user = make_user("case_handler", username="gestora")
    job = start_job(owner=user, kind="table", title="Quejas de 2026", params=table_params(30))
    claim(job.pk, "run-1")
    jobs._Progress(job.pk, "run-1")(1, 4)
    log_in(page, "gestora", "correct-horse-battery")

    page.goto(reverse("reports:document", args=[job.pk]))
    progress = page.get_by_role("progressbar")  # named by its label (axe checks it has a name)
    assert progress.get_attribute("value") == "1"
    assert progress.get_attribute("aria-labelledby") == "document-progress-label"
    assert_accessible(page)

    jobs._Progress(job.pk, "run-1")(3, 4)
    page.wait_for_function(
        "() => document.getElementById('document-progress').getAttribute('value') === '3'",
        timeout=10_000,
    )
    jobs._finish(job.pk, "run-1", filename="a.pdf", content_type="application/pdf", content=b"%PDF")
    download = page.locator(f"a[href='{reverse('reports:document_download', args=[job.pk])}']")
    download.wait_for(timeout=10_000)
    assert page.locator("#document-announcement").inner_text().strip()
    assert_accessible(page)

    page.goto(reverse("reports:documents"))
    assert_accessible(page)
    assert_no_console_errors(console_errors)
