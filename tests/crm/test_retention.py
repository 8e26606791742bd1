"""Retention (crm.retention): the nightly job ends what outlived its period, keeps what the law
keeps, leaves the audit trail verifiable, and does nothing twice."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from cases.models import Case, CaseAttachment, CaseEntry
from cases.services import Upload, case_answer, case_close
from citizens import imports
from citizens.gdpr import person_block
from citizens.models import BlockedData, ImportJob, ImportRow
from crm.audit import log_event, verify_chain
from crm.models import AuditAction, AuditAnchor, AuditEvent
from crm.retention import apply_retention
from tests.cases.staff import file_case

pytestmark = pytest.mark.django_db


def years_later(years: float):
    return timezone.now() + timedelta(days=round(365.25 * years) + 1)


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_old_audit_events_end_and_the_trail_stays_verifiable():
    for number in range(5):
        log_event(action=AuditAction.READ, object_type="test", object_id=number)
    newest = AuditEvent.objects.order_by("-id").first()

    done = apply_retention(now=years_later(settings.RETENTION_AUDIT_YEARS))

    assert done["audit_events"] >= 4
    # The newest event is never removed, so the chain's next link still has a predecessor.
    remaining = list(AuditEvent.objects.order_by("id"))
    assert remaining[0].pk == newest.pk
    # The job wrote its own event: "audit_events ended", after the removal.
    assert remaining[-1].object_type == "retention"
    anchor = AuditAnchor.objects.order_by("-last_id").first()
    assert remaining[0].prev_hash == anchor.last_hash
    assert list(verify_chain()) == []

    log_event(action=AuditAction.READ, object_type="test", object_id="after")
    assert list(verify_chain()) == []


def test_recent_audit_events_stay():
    log_event(action=AuditAction.READ, object_type="test", object_id="recent")
    count = AuditEvent.objects.count()
    assert apply_retention()["audit_events"] == 0
    assert AuditEvent.objects.count() == count


def test_the_trail_stays_append_only_outside_the_retention_job():
    event = log_event(action=AuditAction.READ, object_type="test", object_id="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_events_removed_without_an_anchor_break_the_chain():
    first = log_event(action=AuditAction.READ, object_type="test", object_id=1)
    log_event(action=AuditAction.READ, object_type="test", object_id=2)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL crm.audit_retention = 'on'")
        cursor.execute("DELETE FROM crm_auditevent WHERE id <= %s", [first.pk])
    assert list(verify_chain())


def closed_case_with_an_attachment(make_user) -> Case:
    handler = make_user("case_handler")
    case = file_case(
        uploads=[Upload(name="foto.jpg", content=b"\xff\xd8 photo", content_type="image/jpeg")]
    )
    case = case_answer(case=case, actor=handler, text="Reparada el 3 de marzo.")
    return case_close(case=case, actor=handler)


def test_closed_cases_lose_their_personal_content_and_keep_their_registry_entry(
    make_user, media, django_capture_on_commit_callbacks
):
    case = closed_case_with_an_attachment(make_user)
    attachment = CaseAttachment.objects.get(case=case)
    path = media / "private" / attachment.file.name
    assert path.exists()
    open_case = file_case(subject="Bache en la acera")

    # Files go once their rows' end has committed.
    with django_capture_on_commit_callbacks(execute=True):
        done = apply_retention(now=years_later(settings.RETENTION_CLOSED_CASES_YEARS))

    assert done["closed_cases"] == 1
    case.refresh_from_db()
    assert case.filer == {}
    assert case.person_id is None
    assert "farola" not in (case.subject + case.text + case.public_answer).lower()
    assert not CaseAttachment.objects.filter(case=case).exists()
    assert not path.exists()
    assert not CaseEntry.objects.filter(case=case).exclude(text="").exists()
    # The registry entry stays: number, type, dates, unit, status.
    assert case.registry_number
    assert case.official_filed_at
    assert case.closed_at
    assert case.status == "closed"
    # A case still open is untouched; a second run ends nothing more.
    open_case.refresh_from_db()
    assert open_case.subject == "Bache en la acera"
    assert open_case.filer
    assert (
        apply_retention(now=years_later(settings.RETENTION_CLOSED_CASES_YEARS))["closed_cases"] == 0
    )


def test_recently_closed_cases_stay(make_user):
    case = closed_case_with_an_attachment(make_user)
    assert apply_retention()["closed_cases"] == 0
    case.refresh_from_db()
    assert case.filer
    assert CaseAttachment.objects.filter(case=case).exists()


def test_import_files_and_row_values_end_and_the_job_keeps_its_counts(
    make_user, media, django_capture_on_commit_callbacks
):
    user = make_user("citizen_service")
    job = imports.job_create(
        actor=user,
        kind="person",
        upload=SimpleUploadedFile("personas.csv", b"nombre;apellido\nAna;Ruiz\n;\n"),
    )
    stored = media / "private" / job.file.name
    assert stored.exists()
    ImportRow.objects.create(job=job, row_number=2, action="reject", values=["", ""])

    assert apply_retention()["import_files"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        done = apply_retention(
            now=timezone.now() + timedelta(days=settings.RETENTION_IMPORT_DAYS + 1)
        )

    assert done["import_files"] == 1
    job.refresh_from_db()
    assert not job.file
    assert not stored.exists()
    assert not job.rows.exists()
    assert ImportJob.objects.filter(pk=job.pk).exists()


def test_blocked_data_is_destroyed_after_its_keep_until(make_user):
    from citizens.services import person_create

    person = person_create(actor=None, given_name="Lucía", first_surname="Pérez")
    person_block(person=person, actor=make_user("data_protection_officer"))
    assert BlockedData.objects.filter(person=person).exists()

    assert apply_retention()["blocked_data"] == 0
    done = apply_retention(now=years_later(settings.BLOCKED_DATA_KEEP_YEARS))

    assert done["blocked_data"] == 1
    assert not BlockedData.objects.filter(person=person).exists()


def test_expired_sessions_end():
    store = SessionStore()
    store["x"] = 1
    store.set_expiry(60)
    store.create()
    assert apply_retention()["sessions"] == 0
    assert apply_retention(now=timezone.now() + timedelta(minutes=2))["sessions"] == 1
    assert not Session.objects.filter(pk=store.session_key).exists()


def test_the_job_runs_every_night():
    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]
    assert entry["task"] == "crm.tasks.apply_retention"
