"""Audit events sent early (``AUDIT_WRITE_EARLY``): a read or a denial during a request is written
on a connection of its own while the view goes on, and is committed before the response leaves;
a page whose event could not be written is not shown; an event inside a transaction stays in it."""

from __future__ import annotations

import contextlib
import threading

import django.db
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from citizens.services import Contacts, EmailInput, person_create
from crm import audit
from crm.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def person():
    return person_create(
        actor=None,
        given_name="Remedios",
        first_surname="Olmedo",
        document_type="dni",
        document_number="12345678Z",
        contacts=Contacts(emails=[EmailInput("remedios@example.org")]),
    )


def appends(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "crm_audit_append" in q["sql"]]


def test_a_read_is_committed_before_the_response_on_a_connection_of_its_own(person, client_for):
    client = client_for("citizen_service")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("citizens:person_detail", args=[person.pk]))

    assert response.status_code == 200
    assert appends(queries) == []  # not on the request's connection
    event = AuditEvent.objects.get(action=AuditAction.READ, object_id=str(person.pk))
    assert event.actor_username == response.wsgi_request.user.username
    assert event.changes == {"what": "detail"}
    assert event.request_id  # the request's context came along
    writer = audit.early_writer()
    assert writer.in_flight is None
    with writer.database.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != connection.cursor().connection.info.backend_pid
    assert list(audit.verify_chain()) == []


def test_a_denial_is_written_early_too(client_for):
    client = client_for("inspector")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/audit/").status_code == 403

    assert appends(queries) == []
    denial = AuditEvent.objects.filter(action=AuditAction.ACCESS_DENIED).latest("id")
    assert denial.changes == {"path": "/audit/"}
    assert denial.actor_roles == ["inspector"]


def test_two_events_of_one_request_are_both_written_in_order():
    """A second event waits for the first one's answer before it is sent."""
    writes = audit._EarlyWrites()
    token = audit._early_writes.set(writes)
    try:
        first = audit.log_event(action=AuditAction.READ, object_type="t.t", object_id=1)
        second = audit.log_event(action=AuditAction.READ, object_type="t.t", object_id=2)
        writes.wait()
    finally:
        audit._early_writes.reset(token)
    assert (first.pk, second.pk) == tuple(
        AuditEvent.objects.filter(object_type="t.t").order_by("id").values_list("pk", flat=True)
    )
    assert second.prev_hash == first.hash
    assert list(audit.verify_chain()) == []


def test_an_event_inside_a_transaction_stays_in_it():
    """Written early it would be committed even though the change it records was rolled back."""
    writes = audit._EarlyWrites()
    token = audit._early_writes.set(writes)
    try:
        with contextlib.suppress(RuntimeError), transaction.atomic():
            audit.log_event(action=AuditAction.UPDATE, object_type="t.t", object_id="rolled-back")
            raise RuntimeError("the change fails after its event")
        writes.wait()
    finally:
        audit._early_writes.reset(token)
    assert writes.writer is None
    assert not AuditEvent.objects.filter(object_id="rolled-back").exists()


def test_a_page_whose_read_could_not_be_written_is_not_shown(person, client_for, monkeypatch):
    client = client_for("citizen_service")
    client.raise_request_exception = False
    url = reverse("citizens:person_detail", args=[person.pk])
    assert client.get(url).status_code == 200
    # The writer's session ends without a word that reaches it (as across a network that
    # drops it): the call fails, and the page with the citizen's data must not go out.
    monkeypatch.setattr(audit, "_has_input", lambda socket: False)
    with audit.early_writer().database.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    reads = AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(person.pk))

    response = client.get(url)

    assert response.status_code == 503
    assert "Olmedo" not in response.content.decode()
    assert reads.count() == 1
    # The next request opens a new connection by itself.
    monkeypatch.undo()
    assert client.get(url).status_code == 200
    assert reads.count() == 2
    assert list(audit.verify_chain()) == []


def test_with_the_setting_off_the_request_writes_its_own_events(person, client_for, settings):
    settings.AUDIT_WRITE_EARLY = False
    client = client_for("citizen_service")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("citizens:person_detail", args=[person.pk])).status_code == 200
    assert len(appends(queries)) == 1
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(person.pk)).exists()


def test_the_writer_of_a_thread_that_has_ended_is_closed():
    """A development or test server serves each request in a thread of its own."""

    def served():
        audit.early_writer().database.ensure_connection()
        writers.append(audit.early_writer())

    audit.close_early_writers()  # this thread's writer of earlier tests too
    writers: list[audit._EarlyWriter] = []
    thread = threading.Thread(target=served)
    thread.start()
    thread.join()
    ended = writers[0]
    assert ended.database.connection is not None

    assert audit.early_writer() is not ended  # this thread's own; the ended one is closed
    assert ended.database.connection is None
    assert thread not in audit._writers


def test_a_session_the_server_ended_is_replaced_before_the_call(person, client_for):
    """A restart or a terminated backend: the server's farewell is read, and the call goes out
    on a new connection, so the request is answered as if nothing had happened."""
    client = client_for("citizen_service")
    url = reverse("citizens:person_detail", args=[person.pk])
    assert client.get(url).status_code == 200
    with audit.early_writer().database.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    assert client.get(url).status_code == 200
    reads = AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(person.pk))
    assert reads.count() == 2


def test_the_writer_keeps_its_connection_no_longer_than_conn_max_age(
    person, client_for, monkeypatch
):
    audit.close_early_writers()
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)  # close after each request
    client = client_for("citizen_service")

    assert client.get(reverse("citizens:person_detail", args=[person.pk])).status_code == 200

    assert audit.early_writer().database.connection is None
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(person.pk)).exists()


def test_an_error_answer_is_raised_as_its_own_kind(person, client_for, monkeypatch):
    """A call PostgreSQL refuses (here: a function that does not exist) is the request's error,
    of the class psycopg would raise, and the page is not shown."""
    client = client_for("citizen_service")
    client.raise_request_exception = False
    monkeypatch.setattr(
        audit, "_APPEND_EARLY", audit._APPEND_EARLY.replace("crm_audit_append(", "crm_no_such(")
    )

    response = client.get(reverse("citizens:person_detail", args=[person.pk]))

    assert response.status_code == 500
    assert "Olmedo" not in response.content.decode()
    client.raise_request_exception = True
    with pytest.raises(django.db.ProgrammingError, match="crm_no_such"):
        client.get(reverse("citizens:person_detail", args=[person.pk]))
    monkeypatch.undo()
    assert client.get(reverse("citizens:person_detail", args=[person.pk])).status_code == 200
