"""Scheduled reports (reports.services.scheduled_reports_send, reports.tasks): emailed through a
real SMTP server once per period, however many times or beats run it; each recipient receives
the rows their own scope shows them."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from cases.models import Case
from reports import services
from reports.models import SavedReport, ScheduledRun
from reports.tasks import send_scheduled_reports
from tests.cases.staff import file_case

MADRID = ZoneInfo("Europe/Madrid")
GROUPED = {
    "subject": "cases",
    "group_by": ["unit"],
    "aggregates": [{"column": "deadline_days", "function": "sum"}],
}


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=MADRID)


@pytest.fixture
def cases(units):
    made = []
    for unit, days in [("urbanismo", 10), ("licencias", 20), ("servicios-sociales", 30)]:
        case = file_case(unit=unit)
        Case.objects.filter(pk=case.pk).update(deadline_days=days)
        made.append(case)
    return made


@pytest.fixture
def owner(make_user):
    return make_user("management", email="direccion@example.org", first_name="Marta")


def scheduled(owner, *, schedule="daily", file_format="csv", recipients=(), to_owner=True):
    report = services.report_save(actor=owner, name="Casos por unidad", definition=GROUPED)
    return services.report_schedule(
        actor=owner,
        report=report,
        schedule=schedule,
        file_format=file_format,
        send_to_owner=to_owner,
        recipients=recipients,
    )


def attachment_rows(mail) -> list[list[str]]:
    [part] = list(mail.message.iter_attachments())
    assert part.get_filename().startswith("casos-por-unidad-")
    content = part.get_content()
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.mark.django_db
def test_a_scheduled_report_is_emailed_once_per_period(owner, cases, smtp_mailer):
    report = scheduled(owner)
    assert send_scheduled_reports() == 1  # the task, as beat queues it
    assert send_scheduled_reports() == 0  # again in the same period: nothing
    [mail] = smtp_mailer.wait_for(1)
    period = timezone.localdate().isoformat()
    assert mail.rcpt_tos == ["direccion@example.org"]
    assert mail.subject == f"Report “Casos por unidad” ({period})"
    assert "Hello Marta," in mail.body("plain")
    assert "3 records" in mail.body("plain")
    assert f"/reports/builder/{report.pk}/" in mail.body("html")
    assert attachment_rows(mail) == [
        ["Unit", "Rows", "Sum of Deadline (business days)"],
        ["Licencias", "1", "20"],
        ["Servicios Sociales", "1", "30"],
        ["Urbanismo", "1", "10"],
        ["Total", "3", "60"],
    ]
    run = ScheduledRun.objects.get(report=report)
    assert (run.period, run.status, run.sent_to) == (period, "sent", [owner.pk])


@pytest.mark.django_db
def test_the_next_period_sends_again_and_a_week_is_one_period(owner, cases, smtp_mailer):
    daily = scheduled(owner)
    assert services.scheduled_reports_send(now=at(23)) == 1
    assert services.scheduled_reports_send(now=at(23, 18)) == 0
    assert services.scheduled_reports_send(now=at(24)) == 1
    SavedReport.objects.filter(pk=daily.pk).update(schedule="weekly")
    assert services.scheduled_reports_send(now=at(25)) == 1  # week 48, first time
    assert services.scheduled_reports_send(now=at(29)) == 0  # Sunday, still week 48
    assert services.scheduled_reports_send(now=at(30)) == 1  # Monday of week 49
    SavedReport.objects.filter(pk=daily.pk).update(schedule="monthly")
    assert services.scheduled_reports_send(now=at(30, 20)) == 1  # November
    assert services.scheduled_reports_send(now=at(30, 21)) == 0
    assert len(smtp_mailer.wait_for(5)) == 5
    assert sorted(ScheduledRun.objects.values_list("period", flat=True)) == [
        "2026-11",
        "2026-11-23",
        "2026-11-24",
        "2026-W48",
        "2026-W49",
    ]


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_send_the_period_once(owner, cases, smtp_mailer):
    scheduled(owner)
    start = threading.Barrier(4)
    sent: list[int] = []

    def beat() -> None:
        try:
            start.wait()
            sent.append(services.scheduled_reports_send(now=at(23)))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(sent) == [0, 0, 0, 1]
    smtp_mailer.wait_for(1)
    assert len(smtp_mailer.messages) == 1
    assert ScheduledRun.objects.get().status == "sent"


@pytest.mark.django_db
def test_each_recipient_receives_their_own_rows_or_nothing(owner, cases, make_user, smtp_mailer):
    handler = make_user(
        "case_handler", unit_codes=("servicios-sociales",), email="tramitador@example.org"
    )
    inspector = make_user("inspector", email="inspector@example.org")  # no cases module
    report = scheduled(owner, recipients=[handler, inspector])
    assert services.scheduled_reports_send(now=at(23)) == 2
    mails = {mail.rcpt_tos[0]: mail for mail in smtp_mailer.wait_for(2)}
    assert set(mails) == {"direccion@example.org", "tramitador@example.org"}
    assert attachment_rows(mails["tramitador@example.org"])[1:] == [
        ["Servicios Sociales", "1", "30"],
        ["Total", "1", "30"],
    ]
    assert attachment_rows(mails["direccion@example.org"])[-1] == ["Total", "3", "60"]
    run = ScheduledRun.objects.get(report=report)
    assert run.skipped == [inspector.pk]
    assert sorted(run.sent_to) == sorted([owner.pk, handler.pk])


@pytest.mark.django_db
def test_a_failed_sending_is_tried_again_by_the_next_beat(owner, cases, make_user, smtp_mailer):
    handler = make_user("case_handler", email="tramitador@example.org")
    report = scheduled(owner, file_format="xlsx", recipients=[handler])
    smtp_mailer.refuse_next(1)  # the owner's message is refused
    assert services.scheduled_reports_send(now=at(23)) == 0
    run = ScheduledRun.objects.get(report=report)
    assert (run.status, run.attempts, run.sent_to) == ("failed", 1, [])
    assert "SMTP" in run.last_error
    assert services.scheduled_reports_send(now=at(23, 10)) == 2
    assert services.scheduled_reports_send(now=at(23, 11)) == 0
    assert len(smtp_mailer.wait_for(2)) == 2
    [part] = list(smtp_mailer.messages[0].message.iter_attachments())
    assert part.get_filename().endswith(".xlsx")


@pytest.mark.django_db
def test_a_retry_only_sends_to_whom_was_not_reached(owner, cases, make_user, smtp_mailer):
    handler = make_user("case_handler", email="tramitador@example.org")
    report = scheduled(owner, recipients=[handler])
    # A run that reached the owner, then failed (its worker died after the first message).
    ScheduledRun.objects.create(
        report=report, period="2026-11-23", status="failed", attempts=1, sent_to=[owner.pk]
    )
    assert services.scheduled_reports_send(now=at(23)) == 1
    [mail] = smtp_mailer.wait_for(1)
    assert mail.rcpt_tos == ["tramitador@example.org"]


@pytest.mark.django_db
def test_unscheduled_reports_and_inactive_owners_send_nothing(owner, cases, smtp_mailer):
    report = scheduled(owner, schedule="none")
    assert services.scheduled_reports_send(now=at(23)) == 0
    SavedReport.objects.filter(pk=report.pk).update(schedule="daily")
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    assert services.scheduled_reports_send(now=at(23)) == 0
    assert smtp_mailer.attempts == 0
    assert not ScheduledRun.objects.exists()


def test_the_beat_runs_the_task_every_hour(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["send-scheduled-reports"]
    assert entry["task"] == send_scheduled_reports.name
    assert entry["schedule"].minute == {7}
    assert len(entry["schedule"].hour) == 24


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_the_period_once_however_often_the_task_is_queued(
    owner, cases, celery_worker, smtp_server
):
    report = scheduled(owner, file_format="pdf")
    send_scheduled_reports.delay()
    send_scheduled_reports.delay()  # a second beat, or the broker delivering the message again
    done = re.compile(r"send_scheduled_reports\[[^\]]+\] succeeded in [\d.]+s: (\d+)")
    deadline = time.monotonic() + 60
    while len(done.findall(celery_worker.log())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    # Both runs finished: one sent the email, the other found the period claimed.
    assert sorted(done.findall(celery_worker.log())) == ["0", "1"]
    # (The cases' receipts also reach the SMTP server, from the worker, to the citizen.)
    [mail] = [mail for mail in smtp_server.messages if "direccion@example.org" in mail.rcpt_tos]
    [part] = list(mail.message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(part.get_content())).pages)
    assert "Total 3 60" in " ".join(text.split())
    assert ScheduledRun.objects.get(report=report).status == "sent"
