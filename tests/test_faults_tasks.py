"""The Celery worker SIGKILLed in the middle of the tasks that generate PDFs and send reminders
(issue #9, "Faults"): the receipt of a public filing (its PDF, then its email), the deadline
notices of the legal clock and the reminders of field-work tasks. Each test starts a real worker
(tests/fixtures/services.py) sending to a real SMTP server (aiosmtpd), holds the SMTP server's
answer to one message (or the database's answer to the PDF's row) so that the kill lands while
a task is in progress, kills the worker with SIGKILL (no warm shutdown, no acknowledgement),
starts a new one and runs what beat would run. Then every receipt, notice and reminder reached
the SMTP server exactly once, every row is marked done once, and each filing has one issued
document.

The killed task's message stays unacknowledged in Redis until its visibility timeout (an hour):
recovery cannot wait for it, so the beat's sweeps must find the work from the rows; when the
broker does give the message back, it must do nothing. The tests queue it again to check that.

These tests kill only the worker they started: PostgreSQL and Redis keep running for everyone
(``services``, not ``disruptive``).
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections
from django.utils import timezone

from cases import tasks as case_tasks
from cases.clock import business_days_before
from cases.models import Case, CaseEntry, CaseType, DeadlineNotice, EntryKind
from cases.services import Filer, case_answer, case_file
from crm.calendar import BusinessCalendar, DeadlineState
from crm.models import AuditEvent, DocumentKind, IssuedDocument
from sales import tasks as sales_tasks
from sales.models import Task
from tests.fixtures.services import SmtpGate
from tests.sales.fieldwork_helpers import add_task, team

__all__ = ["team"]

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

MADRID = ZoneInfo("Europe/Madrid")


# --- Helpers ----------------------------------------------------------------------------------


@pytest.fixture
def gate(smtp_server, monkeypatch):
    """gate(accept): the SMTP server accepts ``accept`` messages, then holds the next one."""
    gates: list[SmtpGate] = []

    def install(accept: int) -> SmtpGate:
        held = SmtpGate(smtp_server, accept)
        monkeypatch.setattr(smtp_server, "handle_DATA", held.handle_DATA, raising=False)
        gates.append(held)
        return held

    yield install
    for held in gates:
        held.release.set()


def kill(worker) -> None:
    """SIGKILL the worker: no warm shutdown, the task in progress is not acknowledged."""
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(10)


def wait_until(condition, timeout: float = 60, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"Timed out waiting for {what}.")


def no_backend_of_a_dead_worker() -> bool:
    """The killed worker's database session ended (its transaction rolled back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE %s",
            ["idle in transaction%"],
        )
        return cursor.fetchone()[0] == 0


def run_and_wait(worker, task, *args) -> str:
    """Queue ``task`` and wait until the worker ran it; what it returned (its log line). The
    worker (solo pool) takes messages in order: everything queued before it has run too."""
    result = task.delay(*args)
    log = worker.wait_for_log(f"[{result.id}] succeeded", timeout=120)
    return re.search(rf"\[{result.id}\] succeeded in [^:]*: (.*)", log).group(1)


def wait_for_mail(smtp_server, worker, count: int, timeout: float = 120):
    """``smtp_server.wait_for``, saying what the worker did when the mail does not come."""
    try:
        return smtp_server.wait_for(count, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{worker.log_tail(80)}") from None


def subjects_naming(mails, numbers) -> Counter:
    """How many messages name each of ``numbers`` in their subject."""
    return Counter(number for mail in mails for number in numbers if number in mail.subject)


# --- Receipts (PDF generation, then email) ----------------------------------------------------


def file_complaints(count: int) -> list[Case]:
    """``count`` public filings; each queues its receipt after its commit."""
    case_type = CaseType.objects.get(code="queja")
    return [
        case_file(
            case_type=case_type,
            filer=Filer(given_name=f"Ana{n}", first_surname="Ruiz", email=f"ana{n}@example.org"),
            subject=f"Farola apagada {n}",
            text="La farola de la calle Mayor lleva una semana apagada.",
        ).case
        for n in range(count)
    ]


def assert_one_receipt_each(cases: list[Case], mails) -> None:
    numbers = [case.registry_number for case in cases]
    assert subjects_naming(mails, numbers) == Counter(numbers)
    assert len(mails) == len(cases)
    for mail in mails:
        [attachment] = list(mail.message.iter_attachments())
        assert attachment.get_content().startswith(b"%PDF")
    ids = [str(case.pk) for case in cases]
    documents = IssuedDocument.objects.filter(kind=DocumentKind.RECEIPT, object_id__in=ids)
    assert Counter(documents.values_list("object_id", flat=True)) == Counter(ids)
    for case in Case.objects.filter(pk__in=[case.pk for case in cases]):
        assert case.receipt_id is not None
        assert case.receipt_emailed_at is not None
        assert str(case.receipt.object_id) == str(case.pk)
    # One audit event per issued document (a rolled-back one left none).
    document_ids = [str(pk) for pk in documents.values_list("pk", flat=True)]
    created = AuditEvent.objects.filter(
        object_type="crm.issueddocument", action="create", object_id__in=document_ids
    )
    assert created.count() == len(cases)


def test_receipts_killed_while_emailing_are_each_sent_once(
    celery_worker, smtp_server, gate, monkeypatch
):
    held = gate(accept=3)
    cases = file_complaints(6)
    assert held.held.wait(90), celery_worker.log_tail()
    # The worker waits for the SMTP server's answer to the fourth receipt: kill it now.
    kill(celery_worker)
    held.release.set()
    wait_until(no_backend_of_a_dead_worker, what="the killed worker's session to end")

    emailed = Case.objects.filter(pk__in=[c.pk for c in cases], receipt_emailed_at__isnull=False)
    assert emailed.count() == 3
    assert len(smtp_server.messages) == 3
    # The fourth one's PDF was issued (its own committed step), its email was not recorded.
    fourth = Case.objects.get(pk=cases[3].pk)
    assert fourth.receipt_id is not None
    assert fourth.receipt_emailed_at is None

    celery_worker.start()
    # Beat's sweep (every minute) re-queues the receipts not emailed: here at once.
    monkeypatch.setattr(case_tasks, "RECEIPT_GRACE", timedelta(0))
    assert case_tasks.sweep_receipts() >= 1
    wait_for_mail(smtp_server, celery_worker, 6, timeout=200)
    # Redis gives the killed task's message back after its visibility timeout: a no-op then.
    run_and_wait(celery_worker, case_tasks.issue_receipt, cases[3].pk)
    assert run_and_wait(celery_worker, case_tasks.sweep_receipts) == "0"
    assert_one_receipt_each(cases, smtp_server.messages)


def waiting_backend() -> int | None:
    """The session waiting for a lock to insert an issued document's row, if any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [f'INSERT INTO "{IssuedDocument._meta.db_table}"%'],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_receipt_killed_while_its_pdf_is_stored_is_issued_once(celery_worker, smtp_server):
    """The kill lands inside the PDF's transaction: the PDF was rendered and its row was being
    written. Nothing of it is committed; the sweep issues it again, once."""
    other = connections.create_connection("default")
    other.set_autocommit(False)
    try:
        with other.cursor() as cursor:  # the PDF's INSERT will wait for this lock
            cursor.execute(f"LOCK TABLE {IssuedDocument._meta.db_table} IN SHARE MODE")
        [case] = file_complaints(1)
        wait_until(lambda: waiting_backend() is not None, what="the receipt's INSERT")
        kill(celery_worker)
    finally:
        other.rollback()  # the lock goes: the dead worker's session finds its client gone
        other.close()
    wait_until(no_backend_of_a_dead_worker, what="the killed worker's session to end")
    wait_until(lambda: waiting_backend() is None, what="the killed worker's INSERT to end")

    case.refresh_from_db()
    assert case.receipt_id is None
    assert not IssuedDocument.objects.exists()
    assert smtp_server.messages == []

    celery_worker.start()
    Case.objects.filter(pk=case.pk).update(
        filed_at=timezone.now() - case_tasks.RECEIPT_GRACE - timedelta(seconds=1)
    )
    assert run_and_wait(celery_worker, case_tasks.sweep_receipts) == "1"
    wait_for_mail(smtp_server, celery_worker, 1, timeout=120)
    run_and_wait(celery_worker, case_tasks.issue_receipt, case.pk)  # the redelivery, later
    assert_one_receipt_each([case], smtp_server.messages)


def test_an_answer_killed_while_emailing_is_issued_and_sent_once(
    celery_worker, smtp_server, gate, units, make_user, monkeypatch
):
    """The answer's PDF and its email are one transaction: the kill rolls both back, and the
    sweep (not only the broker, an hour later) issues it again."""
    handler = make_user("case_handler", username="javier", email="javier@ayto.example")
    monkeypatch.setattr(case_tasks.issue_receipt, "delay", lambda case_id: None)  # not here
    case = case_file(
        case_type=CaseType.objects.get(code="queja"),
        filer=Filer(given_name="Ana", first_surname="Ruiz", email="ana@example.org"),
        subject="Farola apagada",
        text="La farola de la calle Mayor lleva una semana apagada.",
        unit=units["urbanismo"],
    ).case
    Case.objects.filter(pk=case.pk).update(receipt_emailed_at=timezone.now())  # (its receipt)
    held = gate(accept=0)
    case_answer(case=case, actor=handler, text="La farola se ha reparado.")
    assert held.held.wait(90), celery_worker.log_tail()
    kill(celery_worker)
    held.release.set()
    wait_until(no_backend_of_a_dead_worker, what="the killed worker's session to end")
    case.refresh_from_db()
    assert case.answered_at is not None
    assert case.answer_document_id is None  # rolled back with the unsent email
    assert not IssuedDocument.objects.filter(kind=DocumentKind.ANSWER).exists()

    celery_worker.start()
    monkeypatch.setattr(case_tasks, "RECEIPT_GRACE", timedelta(0))
    assert case_tasks.sweep_receipts() == 1
    [mail] = wait_for_mail(smtp_server, celery_worker, 1, timeout=120)
    run_and_wait(celery_worker, case_tasks.issue_answer, case.pk)  # the redelivery, later
    assert run_and_wait(celery_worker, case_tasks.sweep_receipts) == "0"

    assert len(smtp_server.messages) == 1
    assert mail.rcpt_tos == ["ana@example.org"]
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename() == f"{case.registry_number}-answer.pdf"
    case.refresh_from_db()
    [document] = IssuedDocument.objects.filter(kind=DocumentKind.ANSWER)
    assert case.answer_document == document
    assert document.object_id == str(case.pk)


# --- Deadline notices (the legal clock's reminders to staff) ----------------------------------


def overdue_cases(units, count: int) -> list[Case]:
    """``count`` complaints of Urbanismo (20 business days) filed 25 business days ago."""
    calendar = BusinessCalendar()
    day = business_days_before(calendar, calendar.today(), 25)
    case_type = CaseType.objects.get(code="queja")
    return [
        case_file(
            case_type=case_type,
            filer=Filer(given_name="Ana", first_surname="Ruiz", email="ana@example.org"),
            subject=f"Bache {n}",
            text="Un bache en la calle Mayor.",
            unit=units["urbanismo"],
            filed_at=datetime.combine(day, datetime.min.time().replace(hour=10), MADRID),
        ).case
        for n in range(count)
    ]


def test_deadline_notices_killed_while_sending_are_each_sent_once(
    celery_worker, smtp_server, gate, units, make_user, monkeypatch
):
    make_user("case_handler", username="javier", email="javier@ayto.example")
    monkeypatch.setattr(case_tasks.issue_receipt, "delay", lambda case_id: None)  # not here
    cases = overdue_cases(units, 5)
    held = gate(accept=2)
    line = run_and_wait(celery_worker, case_tasks.send_deadline_notices)
    assert "'overdue': 5" in line
    assert held.held.wait(60), celery_worker.log_tail()
    kill(celery_worker)
    held.release.set()
    wait_until(no_backend_of_a_dead_worker, what="the killed worker's session to end")

    assert DeadlineNotice.objects.filter(sent_at__isnull=False).count() == 2
    unsent = DeadlineNotice.objects.filter(sent_at=None).order_by("pk")
    assert unsent.count() == 3
    killed = unsent.first()  # the one whose message the SMTP server held
    assert CaseEntry.objects.filter(kind=EntryKind.NOTICE).count() == 2

    celery_worker.start()
    # Beat's hourly run queues again the notices claimed and unsent (after NOTICE_GRACE).
    monkeypatch.setattr(case_tasks, "NOTICE_GRACE", timedelta(0))
    counts = case_tasks.send_deadline_notices()
    # At least the killed one; the two still queued may have been sent meanwhile.
    assert 1 <= counts["requeued"] <= 3
    assert counts[str(DeadlineState.OVERDUE)] == 0
    wait_for_mail(smtp_server, celery_worker, 5, timeout=120)
    run_and_wait(celery_worker, case_tasks.send_deadline_notice, killed.pk)  # the redelivery
    assert "'requeued': 0, 'due_soon': 0, 'overdue': 0" in run_and_wait(
        celery_worker, case_tasks.send_deadline_notices
    )

    numbers = [case.registry_number for case in cases]
    assert subjects_naming(smtp_server.messages, numbers) == Counter(numbers)
    assert len(smtp_server.messages) == 5
    notices = DeadlineNotice.objects.filter(case__in=cases)
    assert notices.count() == 5
    assert not notices.filter(sent_at=None).exists()
    entries = CaseEntry.objects.filter(kind=EntryKind.NOTICE)
    assert Counter(entries.values_list("case_id", flat=True)) == Counter(c.pk for c in cases)


# --- Reminders of field-work tasks -------------------------------------------------------------


def test_task_reminders_killed_while_sending_are_each_sent_once(
    celery_worker, smtp_server, gate, team
):
    ines = team["inspector"]
    now = timezone.now()
    due = [
        add_task(
            ines,
            title=f"Recordatorio {n}",
            due_at=now + timedelta(hours=1),
            remind_at=now - timedelta(minutes=1, seconds=n),
        )
        for n in range(5)
    ]
    held = gate(accept=2)
    sales_tasks.send_task_reminders.delay()
    assert held.held.wait(60), celery_worker.log_tail()
    kill(celery_worker)
    held.release.set()
    wait_until(no_backend_of_a_dead_worker, what="the killed worker's session to end")
    assert len(smtp_server.messages) == 2

    celery_worker.start()
    # Beat's next run (every minute), then the killed messages given back by the broker.
    run_and_wait(celery_worker, sales_tasks.send_task_reminders)
    wait_for_mail(smtp_server, celery_worker, 5, timeout=60)
    assert run_and_wait(celery_worker, sales_tasks.send_task_reminders) == "0"

    titles = [task.title for task in due]
    assert subjects_naming(smtp_server.messages, titles) == Counter(titles)
    assert len(smtp_server.messages) == 5
    assert not Task.objects.filter(pk__in=[t.pk for t in due], reminded_at=None).exists()


def test_a_reminder_the_mail_server_cannot_take_now_is_sent_by_the_next_run(smtp_mailer, team):
    """In process: a 4xx answer rolls the claim back (the next minute's run sends it, once); a
    5xx answer is final (logged, the reminder counts as done, not retried every minute)."""
    ines = team["inspector"]
    now = timezone.now()
    later = add_task(ines, title="Aviso aplazado", due_at=now + timedelta(hours=1), remind_at=now)
    smtp_mailer.refuse_next(1)
    assert sales_tasks.send_task_reminders() == 0
    later.refresh_from_db()
    assert later.reminded_at is None
    assert smtp_mailer.attempts == 1
    assert sales_tasks.send_task_reminders() == 1
    [mail] = smtp_mailer.wait_for(1)
    assert "Aviso aplazado" in mail.subject
    assert sales_tasks.send_task_reminders() == 0

    refused = add_task(
        ines, title="Aviso rechazado", due_at=now + timedelta(hours=1), remind_at=now
    )
    smtp_mailer.refuse_next(1, answer="550 5.1.1 Mailbox unavailable")
    assert sales_tasks.send_task_reminders() == 1
    refused.refresh_from_db()
    assert refused.reminded_at is not None
    assert sales_tasks.send_task_reminders() == 0
    assert len(smtp_mailer.messages) == 1
