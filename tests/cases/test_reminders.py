"""Deadline reminders and the clock's nightly work (cases.tasks): handlers and unit heads hear
about a case due soon and again when it is overdue, once per case and state, whatever happens
between the claim and the send (a second beat run, a mail server that refuses for a while, a
worker that died, two tasks for the same notice). The real Celery worker and SMTP server where
the behaviour depends on them."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import tasks
from cases.clock import business_days_before, business_days_left, deadline_state
from cases.models import Case, CaseEntry, CaseStatus, CaseType, DeadlineNotice, EntryKind
from cases.services import (
    Filer,
    case_answer,
    case_assign,
    case_file,
    case_request_information,
    display_secret,
    tracking_secret,
)
from crm.calendar import BusinessCalendar, DeadlineState
from crm.models import Membership
from crm.tasks import TransientEmailError

MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
def catalogue(db):
    """The case types the migrations seed (tests/conftest.py puts them back after a flush)."""


@pytest.fixture(autouse=True)
def no_receipts(monkeypatch):
    """Receipts are not what these tests look at: none is queued (nor emailed)."""
    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)


@pytest.fixture
def staff(make_user):
    """Two case handlers of Urbanismo, its head (who handles nothing), a head of another unit
    and a head who left."""
    handler = make_user("case_handler", username="javier", email="javier@ayto.example")
    other = make_user("case_handler", username="rosa", email="rosa@ayto.example")
    head = make_user("management", username="elena", email="elena@ayto.example")
    elsewhere = make_user(
        "management", username="pablo", email="pablo@ayto.example", unit_codes=("licencias",)
    )
    gone = make_user("management", username="luis", email="luis@ayto.example", is_active=False)
    Membership.objects.filter(user__in=[head, elsewhere, gone]).update(is_head=True)
    return {"handler": handler, "other": other, "head": head}


def file_case(units, *, business_days_ago: int, subject: str = "Farola apagada") -> Case:
    """A complaint (20 business days) filed at 10:00 on the ``business_days_ago``-th business
    day before today: 17 is due soon (3 days left), 25 overdue, 2 on time."""
    calendar = BusinessCalendar()
    day = business_days_before(calendar, calendar.today(), business_days_ago)
    return case_file(
        case_type=CaseType.objects.get(code="queja"),
        filer=Filer(given_name="Ana", first_surname="Ruiz", email="ana@example.org"),
        subject=subject,
        text="La farola de la calle Mayor lleva semanas apagada.",
        unit=units["urbanismo"],
        filed_at=datetime.combine(day, time(10), MADRID),
    ).case


def assigned(case: Case, units, handler) -> Case:
    return case_assign(case=case, actor=handler, unit=units["urbanismo"], assignee=handler)


def make_overdue(case: Case) -> None:
    """Time passes: the case's term is now behind it (as 10 more business days would do)."""
    calendar = BusinessCalendar()
    due = business_days_before(calendar, calendar.today(), 2)
    Case.objects.filter(pk=case.pk).update(
        due_date=due, due_soon_from=business_days_before(calendar, due, 5)
    )


def recipients(mail) -> set[str]:
    return set(mail.rcpt_tos)


def about(mails, case: Case):
    """The one message whose subject names the case."""
    [mail] = [mail for mail in mails if case.registry_number in mail.subject]
    return mail


# --- In process: what is claimed, who is told, what is said --------------------------------


@pytest.fixture
def run_now(monkeypatch, django_capture_on_commit_callbacks):
    """Run the beat task here, its notices' tasks too, as the worker would after the commit."""
    monkeypatch.setattr(
        tasks.send_deadline_notice, "delay", lambda notice_id: tasks.send_deadline_notice(notice_id)
    )

    def run() -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return tasks.send_deadline_notices()

    return run


@pytest.mark.django_db
def test_candidates_are_the_cases_due_soon_or_overdue_with_no_notice(units, staff, catalogue):
    soon = assigned(file_case(units, business_days_ago=17), units, staff["handler"])
    late = file_case(units, business_days_ago=25)
    on_time = file_case(units, business_days_ago=2)
    waiting = assigned(file_case(units, business_days_ago=18), units, staff["handler"])
    case_request_information(case=waiting, actor=staff["handler"], text="¿Dónde?")
    answered = file_case(units, business_days_ago=26)
    case_answer(case=answered, actor=staff["handler"], text="Arreglada.")
    today = BusinessCalendar().today()
    for case, state in (
        (soon, DeadlineState.DUE_SOON),
        (late, DeadlineState.OVERDUE),
        (on_time, DeadlineState.ON_TIME),
    ):
        case.refresh_from_db()
        assert deadline_state(case, today) == state

    due_soon = tasks.notice_candidates(DeadlineState.DUE_SOON, today)
    overdue = tasks.notice_candidates(DeadlineState.OVERDUE, today)
    assert list(due_soon) == [soon]
    assert list(overdue) == [late]
    DeadlineNotice.objects.create(case=late, state=DeadlineState.OVERDUE)
    assert not overdue.all().exists()  # a fresh query
    sql = str(overdue.query)
    assert "NOT EXISTS" in sql
    assert "due_date" in sql


@pytest.mark.django_db
def test_claims_go_in_chunks_with_one_query_for_the_candidates(
    units, staff, catalogue, run_now, smtp_mailer, monkeypatch
):
    monkeypatch.setattr(tasks, "NOTICE_CHUNK", 2)
    late = [file_case(units, business_days_ago=25, subject=f"Bache {n}") for n in range(5)]
    with CaptureQueriesContext(connection) as queries:
        counts = run_now()
    assert counts == {"requeued": 0, "due_soon": 0, "overdue": 5}
    sql = [query["sql"] for query in queries.captured_queries]
    candidates = [q for q in sql if "NOT EXISTS" in q and 'FROM "cases_case"' in q]
    assert len(candidates) == 2  # one per state, read through a cursor in chunks
    claims = [q for q in sql if q.startswith('INSERT INTO "cases_deadlinenotice"')]
    assert len(claims) == 3  # 2 + 2 + 1
    smtp_mailer.wait_for(5)
    assert set(DeadlineNotice.objects.values_list("case_id", flat=True)) == {c.pk for c in late}
    assert not DeadlineNotice.objects.filter(sent_at=None).exists()


@pytest.mark.django_db
def test_the_handler_and_the_heads_are_told(units, staff, catalogue, run_now, smtp_mailer):
    soon = assigned(file_case(units, business_days_ago=17), units, staff["handler"])
    late = file_case(units, business_days_ago=25, subject="Bache en la acera")
    file_case(units, business_days_ago=3, subject="A tiempo")
    assert run_now() == {"requeued": 0, "due_soon": 1, "overdue": 1}
    mails = smtp_mailer.wait_for(2)
    # Assigned: its handler and the unit's head (not the head of another unit, nor one who left).
    assert recipients(about(mails, soon)) == {"javier@ayto.example", "elena@ayto.example"}
    # Not assigned: the unit's case handlers, and its head.
    assert recipients(about(mails, late)) == {
        "javier@ayto.example",
        "rosa@ayto.example",
        "elena@ayto.example",
    }
    notices = DeadlineNotice.objects.order_by("case_id")
    assert [(n.case_id, n.state, n.sent_at is not None) for n in notices] == [
        (soon.pk, "due_soon", True),
        (late.pk, "overdue", True),
    ]
    entry = CaseEntry.objects.get(case=late, kind=EntryKind.NOTICE)
    assert "rosa@ayto.example" in entry.text
    assert not entry.public
    # A second run finds nothing to say.
    assert run_now() == {"requeued": 0, "due_soon": 0, "overdue": 0}
    assert len(smtp_mailer.messages) == 2


@pytest.mark.django_db
def test_what_the_reminders_say(units, staff, catalogue, run_now, smtp_mailer, settings):
    settings.LANGUAGE_CODE = "en"
    soon = assigned(file_case(units, business_days_ago=17), units, staff["handler"])
    late = file_case(units, business_days_ago=25, subject="Bache <grande> & hondo")
    run_now()
    mails = smtp_mailer.wait_for(2)
    soon.refresh_from_db()
    late.refresh_from_db()
    url = f"{settings.PUBLIC_BASE_URL}/cases/{soon.pk}/"
    mail = about(mails, soon)
    due = soon.due_date.strftime("%m/%d/%Y")
    assert mail.subject == f"{soon.registry_number} is due soon: answer by {due}"
    text, html = mail.body("plain"), mail.body("html")
    left = business_days_left(soon)
    assert 1 < left <= 5
    assert f"{left} business days of its legal term are left." in text
    assert "Farola apagada" in text
    assert "Handler: javier" in text
    assert url in text
    assert f'href="{url}"' in html
    assert soon.registry_number in html
    # The citizen's tracking secret is never sent to staff.
    secret = tracking_secret(soon)
    assert secret not in text
    assert display_secret(secret) not in text
    assert display_secret(secret) not in html

    mail = about(mails, late)
    assert mail.subject.startswith(f"{late.registry_number} is overdue: its term ended on ")
    text, html = mail.body("plain"), mail.body("html")
    assert re.search(r"It is \d+ business days? overdue\.", text)
    assert "Handler: nobody yet" in text
    assert "Bache <grande> & hondo" in text  # the text part is not HTML-escaped
    assert "Bache &lt;grande&gt; &amp; hondo" in html


@pytest.mark.django_db
def test_due_soon_then_overdue_gives_two_notices(units, staff, catalogue, run_now, smtp_mailer):
    case = assigned(file_case(units, business_days_ago=16), units, staff["handler"])
    assert run_now()["due_soon"] == 1
    make_overdue(case)
    assert run_now()["overdue"] == 1
    assert run_now() == {"requeued": 0, "due_soon": 0, "overdue": 0}
    subjects = [mail.subject for mail in smtp_mailer.wait_for(2)]
    assert len(subjects) == 2
    assert list(
        DeadlineNotice.objects.filter(case=case).order_by("id").values_list("state", flat=True)
    ) == ["due_soon", "overdue"]


@pytest.mark.django_db
def test_a_notice_whose_case_moved_on_is_withdrawn(units, staff, catalogue, smtp_mailer):
    case = assigned(file_case(units, business_days_ago=17), units, staff["handler"])
    notice = DeadlineNotice.objects.create(case=case, state=DeadlineState.DUE_SOON)
    case_answer(case=case, actor=staff["handler"], text="Contestada a tiempo.")
    tasks.send_deadline_notice(notice.pk)
    assert not DeadlineNotice.objects.exists()
    assert smtp_mailer.messages == []
    case.refresh_from_db()
    assert case.status == CaseStatus.ANSWERED


@pytest.mark.django_db
def test_a_failed_send_leaves_the_notice_unsent(units, staff, catalogue, smtp_mailer):
    case = file_case(units, business_days_ago=25)
    notice = DeadlineNotice.objects.create(case=case, state=DeadlineState.OVERDUE)
    smtp_mailer.refuse_next()
    with pytest.raises(TransientEmailError):
        tasks.send_deadline_notice(notice.pk)
    notice.refresh_from_db()
    assert notice.sent_at is None
    assert not CaseEntry.objects.filter(case=case, kind=EntryKind.NOTICE).exists()
    tasks.send_deadline_notice(notice.pk)  # the retry
    tasks.send_deadline_notice(notice.pk)  # a duplicate delivery of the task
    notice.refresh_from_db()
    assert notice.sent_at is not None
    assert len(smtp_mailer.messages) == 1
    assert smtp_mailer.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_notice_being_sent_is_skipped_by_a_second_task(units, staff, catalogue, smtp_mailer):
    """Two tasks for one notice at once: the second finds its row locked and leaves it."""
    case = file_case(units, business_days_ago=25)
    notice = DeadlineNotice.objects.create(case=case, state=DeadlineState.OVERDUE)
    locked, release = threading.Event(), threading.Event()

    def first_task() -> None:
        try:
            with transaction.atomic():
                DeadlineNotice.objects.select_for_update().get(pk=notice.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=first_task)
    holder.start()
    assert locked.wait(timeout=30)
    try:
        tasks.send_deadline_notice(notice.pk)
        assert smtp_mailer.messages == []
    finally:
        release.set()
        holder.join(timeout=30)
    tasks.send_deadline_notice(notice.pk)
    assert len(smtp_mailer.wait_for(1)) == 1


@pytest.mark.django_db
def test_resume_unanswered_cases(units, staff, catalogue):
    calendar = BusinessCalendar()
    today = calendar.today()
    expired = assigned(file_case(units, business_days_ago=20), units, staff["handler"])
    asked = business_days_before(calendar, today, 12)
    case_request_information(case=expired, actor=staff["handler"], text="¿Dónde?", today=asked)
    still = assigned(file_case(units, business_days_ago=5), units, staff["handler"])
    case_request_information(case=still, actor=staff["handler"], text="¿Dónde?", today=today)
    assert tasks.resume_unanswered_cases() == 1
    expired.refresh_from_db()
    still.refresh_from_db()
    assert expired.status == CaseStatus.IN_PROGRESS
    assert expired.suspensions.get().ended_on == calendar.add_business_days(asked, 10)
    assert still.status == CaseStatus.WAITING
    assert tasks.resume_unanswered_cases() == 0


def test_beat_runs_the_clock_tasks():
    from crm.celery import app

    schedule = {
        entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    for name in (
        "cases.tasks.sweep_receipts",
        "cases.tasks.send_deadline_notices",
        "cases.tasks.resume_unanswered_cases",
    ):
        assert name in schedule
        assert name in app.tasks
    assert schedule["cases.tasks.sweep_receipts"] == 60.0
    daily = schedule["cases.tasks.resume_unanswered_cases"]
    assert daily.hour == {0}
    assert len(schedule["cases.tasks.send_deadline_notices"].hour) > 1


# --- The real worker and SMTP server --------------------------------------------------------


def run_beat(worker) -> str:
    """Queue the beat task, wait until the worker ran it; its log line (with what it did)."""
    result = tasks.send_deadline_notices.delay()
    log = worker.wait_for_log(f"send_deadline_notices[{result.id}] succeeded")
    return re.search(rf"send_deadline_notices\[{result.id}\] succeeded in .*", log).group(0)


def settle(worker, smtp_server, count: int) -> None:
    """Wait for ``count`` messages, then until every notice is marked sent."""
    smtp_server.wait_for(count)
    deadline = timezone.now() + timedelta(seconds=30)
    while DeadlineNotice.objects.filter(sent_at=None).exists():
        assert timezone.now() < deadline, worker.log_tail()
        threading.Event().wait(0.1)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_sends_once_per_case_and_state_across_beat_runs(
    celery_worker, smtp_server, units, staff, catalogue
):
    soon = assigned(file_case(units, business_days_ago=17), units, staff["handler"])
    late = file_case(units, business_days_ago=25, subject="Bache")
    file_case(units, business_days_ago=1, subject="A tiempo")
    line = run_beat(celery_worker)
    assert "'due_soon': 1, 'overdue': 1" in line
    settle(celery_worker, smtp_server, 2)
    line = run_beat(celery_worker)
    assert "'requeued': 0, 'due_soon': 0, 'overdue': 0" in line

    make_overdue(soon)  # days pass: the due-soon case is overdue now
    assert "'due_soon': 0, 'overdue': 1" in run_beat(celery_worker)
    settle(celery_worker, smtp_server, 3)
    assert "'due_soon': 0, 'overdue': 0" in run_beat(celery_worker)
    threading.Event().wait(1)  # nothing else arrives
    about_soon = [m for m in smtp_server.messages if soon.registry_number in m.subject]
    about_late = [m for m in smtp_server.messages if late.registry_number in m.subject]
    assert (len(about_soon), len(about_late)) == (2, 1)
    assert DeadlineNotice.objects.filter(sent_at__isnull=False).count() == 3
    assert CaseEntry.objects.filter(kind=EntryKind.NOTICE).count() == 3


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_retries_while_smtp_is_down_and_sends_once(
    celery_worker, smtp_server, units, staff, catalogue
):
    late = file_case(units, business_days_ago=25)
    smtp_server.refuse_next(2)
    run_beat(celery_worker)
    [mail] = smtp_server.wait_for(1, timeout=60)
    settle(celery_worker, smtp_server, 1)
    assert late.registry_number in mail.subject
    assert smtp_server.attempts == 3  # refused twice, then accepted
    assert "retry: Retry in" in celery_worker.log()
    assert "'requeued': 0, 'due_soon': 0, 'overdue': 0" in run_beat(celery_worker)
    threading.Event().wait(1)
    assert len(smtp_server.messages) == 1
    notice = DeadlineNotice.objects.get()
    assert notice.sent_at is not None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_sends_a_notice_claimed_before_a_crash(
    celery_worker, smtp_server, units, staff, catalogue
):
    """The claim committed, then the process died before the send: the next run sends it."""
    late = file_case(units, business_days_ago=25)
    DeadlineNotice.objects.create(
        case=late,
        state=DeadlineState.OVERDUE,
        created_at=timezone.now() - tasks.NOTICE_GRACE - timedelta(minutes=1),
    )
    line = run_beat(celery_worker)
    assert "'requeued': 1, 'due_soon': 0, 'overdue': 0" in line
    settle(celery_worker, smtp_server, 1)
    assert "'requeued': 0" in run_beat(celery_worker)
    threading.Event().wait(1)
    assert len(smtp_server.messages) == 1
    assert DeadlineNotice.objects.get().sent_at is not None


def test_business_days_before_is_the_clock_helper_used_here():
    # The helpers above rely on it: 17 business days before Mon 23 Feb 2026 is Thu 29 Jan
    # (20-16 Feb, 13-9 Feb, 6-2 Feb, 30 and 29 Jan); 1 before a Sunday is the Friday.
    calendar = BusinessCalendar(municipalities=())
    assert business_days_before(calendar, date(2026, 2, 23), 17) == date(2026, 1, 29)
    assert business_days_before(calendar, date(2026, 2, 22), 1) == date(2026, 2, 20)
