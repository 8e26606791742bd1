"""Tasks and their reminders: a reminder that is due is claimed once (``reminded_at`` set by
one UPDATE ... RETURNING), however many beat runs or workers look for it at once, and emailed
once through the real Celery worker and SMTP server; the task pages; who sees which task."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from sales import tasks as reminders
from sales.fieldwork import TaskInput, task_complete, task_update
from sales.models import Task
from tests.sales.fieldwork_helpers import add_task, team

__all__ = ["team"]


def due_task(user, *, minutes_ago: int = 1, **extra) -> Task:
    now = timezone.now()
    return add_task(
        user,
        due_at=now + timedelta(hours=1),
        remind_at=now - timedelta(minutes=minutes_ago),
        **extra,
    )


@pytest.mark.django_db
def test_a_due_reminder_is_claimed_once(team):
    ines = team["inspector"]
    due = due_task(ines)
    due_task(ines, minutes_ago=-30)  # its reminder is in half an hour
    done = due_task(ines, title="Hecha")
    task_complete(task=done, actor=ines)
    add_task(ines, title="Sin aviso")
    assert reminders.claim_due_reminders() == [due.pk]
    assert reminders.claim_due_reminders() == []
    due.refresh_from_db()
    assert due.reminded_at is not None


@pytest.mark.django_db
def test_a_new_reminder_time_is_reminded_again(team):
    ines = team["inspector"]
    task = due_task(ines)
    assert reminders.claim_due_reminders() == [task.pk]
    now = timezone.now()
    task_update(
        task=task,
        data=TaskInput(
            title=task.title,
            due_at=task.due_at,
            assignee=ines,
            remind_at=now - timedelta(seconds=5),
        ),
        actor=ines,
    )
    assert reminders.claim_due_reminders() == [task.pk]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_never_claim_the_same_reminder(team):
    ines = team["inspector"]
    ids = {due_task(ines, title=f"Tarea {n}").pk for n in range(40)}
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = []

    def sweep() -> None:
        try:
            barrier.wait()
            claimed.append(reminders.claim_due_reminders(limit=25))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _twice in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = claimed
    assert not set(first) & set(second)
    rest = reminders.claim_due_reminders()
    assert sorted([*first, *second, *rest]) == sorted(ids)
    assert reminders.claim_due_reminders() == []


def run_sweep(worker) -> int:
    result = reminders.send_task_reminders.delay()
    log = worker.wait_for_log(f"send_task_reminders[{result.id}] succeeded")
    line = re.search(rf"send_task_reminders\[{result.id}\] succeeded in [^:]*: (\d+)", log)
    return int(line.group(1))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_worker_emails_each_reminder_once(celery_worker, smtp_server, team):
    ines = team["inspector"]
    task = due_task(ines, title="Enviar el acta de inspección", notes="Con las fotos")
    due_task(team["other"], minutes_ago=-60, title="Más tarde")
    assert run_sweep(celery_worker) == 1
    [mail] = smtp_server.wait_for(1)
    assert run_sweep(celery_worker) == 0  # a second beat run finds nothing to send
    threading.Event().wait(1.5)
    assert len(smtp_server.messages) == 1
    assert mail.rcpt_tos == ["ines@ayto.example"]
    assert "Enviar el acta de inspección" in mail.subject
    assert "Con las fotos" in mail.body("plain")
    assert f"/sales/tasks/{task.pk}/" in mail.body("plain")
    assert f"/sales/tasks/{task.pk}/" in mail.body("html")
    task.refresh_from_db()
    assert task.reminded_at is not None


@pytest.mark.django_db
def test_beat_runs_the_sweep_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["send-task-reminders"]
    assert entry["task"] == "sales.tasks.send_task_reminders"
    assert entry["schedule"] == 60.0


# --- Pages ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_adding_a_task_with_a_reminder(client, team):
    ines = team["inspector"]
    client.force_login(ines)
    assert client.get("/sales/tasks/new/").status_code == 200
    response = client.post(
        "/sales/tasks/new/",
        {"title": "Llamar al titular", "due_at": "2026-12-01T10:00", "remind": "60",
         "assignee": ines.pk},
    )  # fmt: skip
    assert response.status_code == 302
    task = Task.objects.get()
    assert task.remind_at == task.due_at - timedelta(hours=1)
    assert task.assignee == ines
    listing = client.get("/sales/tasks/").text
    assert "Llamar al titular" in listing


@pytest.mark.django_db
def test_a_bad_task_keeps_what_was_typed(client, team):
    client.force_login(team["inspector"])
    response = client.post(
        "/sales/tasks/new/", {"title": "Llamar", "due_at": "mañana", "assignee": ""}
    )
    assert response.status_code == 400
    assert 'value="Llamar"' in response.text
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_an_inspector_sees_only_their_own_tasks(client, team):
    mine = add_task(team["inspector"], title="La mía")
    theirs = add_task(team["other"], title="La de Óscar")
    client.force_login(team["inspector"])
    listing = client.get("/sales/tasks/").text
    assert "La mía" in listing
    assert "La de Óscar" not in listing
    assert client.get(f"/sales/tasks/{theirs.pk}/").status_code == 404
    assert client.post(f"/sales/tasks/{theirs.pk}/done/").status_code == 404
    assert client.post(f"/sales/tasks/{mine.pk}/done/").status_code == 302
    mine.refresh_from_db()
    assert mine.done_at is not None
    # Promotion staff of the unit see both.
    client.force_login(team["promoter"])
    listing = client.get("/sales/tasks/").text
    assert "La de Óscar" in listing


@pytest.mark.django_db
def test_a_task_about_a_visit_shows_on_its_page(client, team):
    from tests.sales.fieldwork_helpers import plan

    ines = team["inspector"]
    visit = plan(ines)
    client.force_login(ines)
    response = client.post(
        "/sales/tasks/new/",
        {"title": "Volver", "due_at": "2026-12-01T10:00", "assignee": ines.pk,
         "visit": visit.pk},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/sales/visits/{visit.pk}/"
    assert "Volver" in client.get(f"/sales/visits/{visit.pk}/").text
