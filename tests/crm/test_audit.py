"""The audit trail: what writes it, that nobody can edit it, and that tampering shows."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from crm.audit import GENESIS_HASH, compute_hash, diff, log_event, verify_chain
from crm.models import AuditAction, AuditEvent


def tamper(sql: str, params: list) -> None:
    """What a DBA could do by hand: bypass the triggers and change the table."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


@pytest.fixture
def chain(db, make_user):
    actor = make_user("case_handler")
    events = [
        log_event(actor=actor, action=AuditAction.UPDATE, object_type="x.y", object_id=n)
        for n in range(5)
    ]
    return actor, events


def test_events_are_chained(chain):
    actor, events = chain
    ordered = list(AuditEvent.objects.order_by("id"))
    assert ordered[0].prev_hash == GENESIS_HASH  # the first event of an empty trail
    for previous, event in itertools.pairwise(ordered):
        assert event.prev_hash == previous.hash
    assert events[-1].actor_roles == ["case_handler"]
    assert events[-1].actor_username == actor.username
    assert list(verify_chain()) == []
    call_command("audit_verify")


def test_a_changed_event_breaks_the_chain(chain):
    _, events = chain
    tamper("UPDATE crm_auditevent SET actor_username = %s WHERE id = %s", ["someone", events[2].pk])
    breaks = list(verify_chain())
    assert [found.event_id for found in breaks] == [events[2].pk]
    with pytest.raises(CommandError, match="tampered"):
        call_command("audit_verify")


def test_a_removed_event_breaks_the_chain(chain):
    _, events = chain
    tamper("DELETE FROM crm_auditevent WHERE id = %s", [events[1].pk])
    assert [found.event_id for found in verify_chain()] == [events[2].pk]
    with pytest.raises(CommandError):
        call_command("audit_verify")


@pytest.mark.parametrize(
    "sql", ["UPDATE crm_auditevent SET action = 'login'", "DELETE FROM crm_auditevent"]
)
def test_the_database_refuses_to_edit_events(chain, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)


def test_the_admin_cannot_add_change_or_delete_events(chain, client_for):
    _, events = chain
    client = client_for("administrator")
    assert client.get("/admin/crm/auditevent/").status_code == 200
    assert client.get("/admin/crm/auditevent/add/").status_code == 403
    response = client.post(f"/admin/crm/auditevent/{events[0].pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    response = client.get(f"/admin/crm/auditevent/{events[0].pk}/change/")
    assert response.status_code == 200  # a read-only view
    assert "submit-row" not in response.text or 'name="_save"' not in response.text
    assert AuditEvent.objects.filter(pk=events[0].pk).exists()


def test_diff_masks_personal_values():
    changes = diff(
        {"document": "12345678Z", "city": "Soria"},
        {"document": "87654321X", "city": "Segovia"},
        masked=["document"],
    )
    assert changes == {
        "city": {"old": "Soria", "new": "Segovia"},
        "document": {"old": "***", "new": "***"},
    }


def test_a_change_in_the_admin_is_audited_with_its_fields(units, client_for):
    client = client_for("administrator")
    unit = units["licencias"]
    response = client.post(
        f"/admin/crm/unit/{unit.pk}/change/",
        {
            "name": "Licencias de Obra",
            "code": "licencias",
            "parent": units["urbanismo"].pk,
            "email": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_type="crm.unit")
    assert event.object_id == str(unit.pk)
    assert event.changes == {"name": {"old": "Licencias", "new": "Licencias de Obra"}}
    assert event.actor_username == "administrator"
    assert event.request_id
    assert event.ip == "127.0.0.1"


def test_a_failed_login_is_audited(db, client):
    response = client.post("/accounts/login/", {"username": "nobody", "password": "wrong"})
    assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.changes == {"username": "nobody"}
    assert event.actor is None
    assert event.ip == "127.0.0.1"


def test_a_login_and_a_logout_are_audited(make_user, client):
    user = make_user("inspector")
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    client.post("/accounts/logout/")
    actions = list(AuditEvent.objects.filter(actor=user).values_list("action", flat=True))
    assert AuditAction.LOGIN in actions
    assert AuditAction.LOGOUT in actions


def test_a_denial_is_audited(client_for):
    client = client_for("inspector")
    assert client.get("/campaigns/").status_code == 403
    event = AuditEvent.objects.get(action=AuditAction.ACCESS_DENIED)
    assert event.actor_username == "inspector"
    assert event.changes == {"path": "/campaigns/"}


def test_role_and_unit_changes_are_audited(make_user, units):
    from crm.services import user_set_roles, user_set_units

    user = make_user("inspector")
    AuditEvent.objects.all()  # events so far are from the fixture
    user_set_roles(user=user, roles=["case_handler"])
    user_set_units(user=user, units=[units["servicios-sociales"]])
    events = AuditEvent.objects.filter(object_type="crm.user", object_id=str(user.pk))
    seen = {(event.action, tuple(sorted(event.changes.items()))) for event in events}
    assert (AuditAction.ROLE_REVOKED, (("role", "inspector"),)) in seen
    assert (AuditAction.ROLE_GRANTED, (("role", "case_handler"),)) in seen
    actions = [event.action for event in events]
    assert AuditAction.UNIT_ADDED in actions
    assert AuditAction.UNIT_REMOVED in actions
    assert list(verify_chain()) == []


def test_privilege_flags_are_audited(make_user):
    user = make_user("inspector")
    user.is_active = False
    user.save()
    event = AuditEvent.objects.get(action=AuditAction.PRIVILEGE_CHANGED)
    assert event.changes == {"is_active": {"old": True, "new": False}}


class TestDataProtectionOfficerPage:
    def test_lists_and_filters_events(self, chain, client_for):
        client = client_for("data_protection_officer")
        log_event(action=AuditAction.LOGIN_FAILED, changes={"username": "mallory"})
        response = client.get("/audit/", {"action": "login_failed"})
        assert response.status_code == 200
        assert "mallory" in response.text
        assert "X.y</span> 3" not in response.text
        response = client.get("/audit/", {"object_type": "x.y", "object_id": "3"})
        assert "X.y</span> 3" in response.text
        assert "X.y</span> 2" not in response.text

    def test_pages_by_keyset(self, db, client_for):
        client = client_for("data_protection_officer")
        for n in range(120):
            log_event(action=AuditAction.UPDATE, object_type="p.q", object_id=n)
        first = client.get("/audit/", {"object_type": "p.q"})
        assert "P.q</span> 119" in first.text
        assert "P.q</span> 69" not in first.text
        cursor = first.context["page"].next_cursor
        second = client.get("/audit/", {"object_type": "p.q", "cursor": cursor})
        assert "P.q</span> 69" in second.text
        assert "P.q</span> 70" not in second.text
        assert "P.q</span> 119" not in second.text

    def test_bad_filter_values_are_shown_not_crashed(self, db, client_for):
        response = client_for("data_protection_officer").get("/audit/", {"date_from": "ayer"})
        assert response.status_code == 200
        assert response.context["filter"].errors

    def test_exports_csv_and_audits_the_export(self, chain, client_for):
        client = client_for("data_protection_officer")
        log_event(action=AuditAction.LOGIN_FAILED, changes={"username": "=cmd|' /C calc'!A0"})
        response = client.get("/audit/export/", {"action": "login_failed"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][0] == "id"
        assert len(rows) == 2
        assert rows[1][4] == "login_failed"
        assert not rows[1][7].startswith("=")  # the injected formula is inert
        export = AuditEvent.objects.get(action=AuditAction.EXPORT)
        assert export.changes == {"filters": {"action": "login_failed"}}


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_truncate_the_trail():
    log_event(action=AuditAction.LOGIN_FAILED, changes={"username": "x"})
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE crm_auditevent")


def test_the_officer_reads_record_types_by_their_names(db, client_for):
    log_event(action=AuditAction.READ, object_type="citizens.person", object_id=7)
    page = client_for("data_protection_officer").get("/audit/").text
    assert 'title="citizens.person">Persona</span> 7' in page


def test_awkward_values_hash_as_the_verifier_computes_them(db, make_user, rf):
    # The database function hashes what Python canonicalises: any difference in escaping,
    # key order or number format would break the chain here.
    from django.contrib.auth.models import Group

    actor = make_user("inspector")
    actor.groups.add(Group.objects.create(name='Atención "ciudadana"\\ \n\t\x01 ñ 😀'))
    request = rf.get("/", REMOTE_ADDR="2001:DB8:0:0::1")
    request.user = actor
    changes = {
        "text": 'quote " backslash \\ newline \n tab \t control \x01\x1f del \x7f',
        "accents": "José Ñúñez — 東京 😀",
        "nested": {"b": [1, 2.5, None, True], "a": {"z": "", "prev": "0" * 64}},
        "when": date(2026, 1, 2),
        "amount": Decimal("12.50"),
    }
    first = log_event(
        action=AuditAction.UPDATE,
        object_type="x.y",
        object_id="ñ/1",
        changes=changes,
        request=request,
    )
    second = log_event(action=AuditAction.LOGIN_FAILED, changes={"username": "ünïcödé"})
    stored = AuditEvent.objects.get(pk=first.pk)
    assert stored.ip == "2001:db8::1"  # hashed as stored
    assert stored.actor_roles == sorted(["inspector", 'Atención "ciudadana"\\ \n\t\x01 ñ 😀'])
    assert stored.changes["nested"]["a"]["prev"] == "0" * 64
    assert stored.hash == first.hash == compute_hash(stored)
    assert AuditEvent.objects.get(pk=second.pk).prev_hash == first.hash
    assert list(verify_chain()) == []


@pytest.mark.django_db(transaction=True)
def test_an_event_outside_a_transaction_is_committed_on_its_own(make_user):
    actor = make_user("inspector")
    assert connection.get_autocommit()
    event = log_event(actor=actor, action=AuditAction.READ, object_type="t.t", object_id=1)
    assert not connection.in_atomic_block
    other = connections.create_connection("default")  # another session sees it: committed
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT hash FROM crm_auditevent WHERE id = %s", [event.pk])
            assert cursor.fetchone() == (event.hash,)
    finally:
        other.close()
    assert event.actor_roles == ["inspector"]


def test_an_event_rolls_back_with_its_transaction(chain):
    _, events = chain

    @transaction.atomic
    def change_that_fails() -> None:
        log_event(action=AuditAction.UPDATE, object_type="t.t", object_id="gone")
        raise RuntimeError("the change failed after its event was written")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not AuditEvent.objects.filter(object_type="t.t").exists()
    event = log_event(action=AuditAction.UPDATE, object_type="t.t", object_id="kept")
    assert event.prev_hash == events[-1].hash
    assert list(verify_chain()) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_transaction", [True, False], ids=["in-transaction", "on-its-own"])
def test_concurrent_writers_never_fork_the_chain(make_user, in_transaction):
    import threading

    actor = make_user("case_handler")
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(15):
                with transaction.atomic() if in_transaction else contextlib.nullcontext():
                    log_event(actor=actor, action=AuditAction.READ, object_type="t.t", object_id=n)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.filter(object_type="t.t").count() == 8 * 15
    assert list(verify_chain()) == []
    roles = AuditEvent.objects.filter(object_type="t.t").values_list("actor_roles", flat=True)
    assert all(row == ["case_handler"] for row in roles)
