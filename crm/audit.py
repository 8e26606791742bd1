"""The audit trail: one helper writes every event, chained by hashes so tampering shows.

Services call ``log_event(actor=..., action=..., obj=..., changes=...)`` inside their transaction,
so an event exists exactly when the change it records was committed. The request's id and the
client's IP come from the request being served (``AuditContextMiddleware``).

Chain: every event stores the hash of the previous event and its own hash over its content.
Writers take a transaction-level advisory lock, then read the last hash and insert, in one call
of the database function ``crm_audit_append`` (which computes the hash), so the chain never
forks; ids then follow chain order. ``verify_chain()`` walks it in id order and computes each
hash again in Python.

An event that is not part of a change (a read of a citizen's page, a denial, a login) is sent,
while a request is served, on a database connection of its own without waiting for the answer
(``AUDIT_WRITE_EARLY``), so PostgreSQL writes it while the view goes on;
``AuditContextMiddleware`` waits for it to be committed before the response leaves, and answers
with an error instead of the page when it could not be written. An event inside a transaction
is always written in that transaction, so that it is committed exactly when the change it
records is.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import select
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from crm.logging import current_request_id
from crm.models import AuditAction, AuditAnchor, AuditEvent

GENESIS_HASH = "0" * 64
MASK = "***"
_LOCK_KEY = 0x41554449  # "AUDI": the advisory lock that serialises writers of the chain

_request_var: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_request", default=None
)
# Set by AuditContextMiddleware: the request's events written early, to be waited for.
_early_writes: contextvars.ContextVar[_EarlyWrites | None] = contextvars.ContextVar(
    "audit_early_writes", default=None
)
# Set by crm.middleware.BenchHeadersMiddleware: the milliseconds each audit write took.
audit_timings: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "audit_timings", default=None
)


class AuditContextMiddleware:
    """Remember the request being served, for the request id, IP and actor of its events; before
    the response leaves, wait until the events written early are committed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        token = _request_var.set(request)
        writes = _EarlyWrites()
        writes_token = _early_writes.set(writes)
        try:
            response = self.get_response(request)
        finally:
            _early_writes.reset(writes_token)
            _request_var.reset(token)
            # Also after an exception: the events are true, and a failed one must not pass.
            writes.wait()
        return response


def current_request() -> HttpRequest | None:
    return _request_var.get()


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address; behind our own proxy, the address it saw (last X-Forwarded-For)."""
    if request is None:
        return None
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR") or None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, models.QuerySet):
        return sorted(value.values_list("pk", flat=True))
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return str(value)


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, masked: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """``{field: {"old": ..., "new": ...}}`` for the fields that changed; masked ones hidden."""
    hidden = set(masked)
    changes = {}
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        if field in hidden:
            old, new = (
                (MASK if old not in (None, "") else old),
                (MASK if new not in (None, "") else new),
            )
        changes[field] = {"old": _jsonable(old), "new": _jsonable(new)}
    return changes


def object_label(obj: models.Model) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}"


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _payload(event: AuditEvent) -> bytes:
    """What an event's hash is computed over: its content and the previous event's hash, as
    canonical JSON (sorted keys, no spaces, UTF-8)."""
    data = {
        "prev": event.prev_hash,
        "at": event.occurred_at.astimezone(UTC).isoformat(),
        "actor": event.actor_id,
        "username": event.actor_username,
        "roles": list(event.actor_roles),
        "action": event.action,
        "type": event.object_type,
        "id": event.object_id,
        "changes": event.changes,
        "request": event.request_id,
        "ip": event.ip,
    }
    return _canonical(data).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_payload(event)).hexdigest()


# One call of the database function ``crm_audit_append`` (migration crm.0005) writes an event:
# it takes the chain's lock, reads the last link and inserts the next one, hashing the payload of
# ``_payload``. Python sends that payload in three pieces, and the function puts in between the
# two values it reads under the lock: the previous hash (64 hex digits, nothing to escape) and
# the actor's roles (``array_to_json``, which escapes strings as ``json.dumps`` does with
# ``ensure_ascii=False``). With sorted keys the payload is
# ``{"action" … "ip":…,"prev":"<hash>","request":…,"roles":[…],"type" … }``.
_CALL = (
    "FROM crm_audit_append("
    "%(lock)s, %(genesis)s, %(occurred_at)s, %(actor_id)s, %(actor_username)s, %(roles)s, "
    "%(action)s, %(object_type)s, %(object_id)s, %(changes)s, %(request_id)s, %(ip)s, "
    "%(head)s, %(middle)s, %(tail)s)"
)
_APPEND = "SELECT id, actor_roles, prev_hash, hash " + _CALL
# The early writer reads the answer without psycopg's type machinery: the roles as JSON text.
_APPEND_EARLY = "SELECT id, array_to_json(actor_roles), prev_hash, hash " + _CALL


class _EarlyWriter:
    """A database connection of the request's thread for events written early: the call is sent
    at once and its answer read when the response is ready, so PostgreSQL takes the chain's lock,
    inserts and commits while the view prepares the page.

    The call goes out through libpq's asynchronous interface (``psycopg.pq``): psycopg's own
    ``execute`` would wait for the answer. One call is in flight at a time; a second event of the
    same request waits for the first one's answer. The connection is checked, as Django checks a
    request's (``CONN_HEALTH_CHECKS``), when the server has sent something since the last call,
    so a restarted database costs no request an error; a call that fails is not sent again (it
    may have been committed): the error is the request's answer."""

    def __init__(self) -> None:
        self.database = connections.create_connection(DEFAULT_DB_ALIAS)
        self.in_flight: tuple[AuditEvent, Any] | None = None
        self.quoting: psycopg.ClientCursor | None = None  # writes the call's SQL, per connection

    def send(self, params: dict[str, Any], event: AuditEvent, actor) -> None:
        if self.in_flight is not None:
            self.receive()
        database = self.database
        # Closed after an error or at CONN_MAX_AGE, and checked with a round trip when the server
        # has said something since the last call: a session it ends (a restart, a terminated
        # backend) gets a message or an end of file, while an idle session hears nothing.
        database.close_if_unusable_or_obsolete()
        if database.connection is not None and not _has_input(database.connection.pgconn.socket):
            database.health_check_done = True
        database.close_if_health_check_failed()
        with database.wrap_database_errors:
            database.ensure_connection()
            try:
                if self.quoting is None or self.quoting.connection is not database.connection:
                    self.quoting = psycopg.ClientCursor(database.connection)
                query = self.quoting.mogrify(_APPEND_EARLY, params)
                pgconn = database.connection.pgconn
                pgconn.send_query(query.encode())
                while pgconn.flush():  # 1: more to send, once the socket takes it
                    select.select([], [pgconn.socket], [])
            except Exception:
                database.errors_occurred = True
                raise
        self.in_flight = (event, actor)

    def close(self) -> None:
        """Close the connection, from any thread, while nothing is in flight."""
        self.in_flight = None
        self.database.inc_thread_sharing()
        self.database.close()

    def receive(self) -> None:
        """Wait for the call in flight to be committed; raise its error, as Django would."""
        if self.in_flight is None:
            return
        (event, actor), self.in_flight = self.in_flight, None
        database = self.database
        pgconn = database.connection.pgconn
        with database.wrap_database_errors:
            try:
                pgconn.consume_input()
                while pgconn.is_busy():
                    select.select([pgconn.socket], [], [])
                    pgconn.consume_input()
                results = []
                while (result := pgconn.get_result()) is not None:
                    results.append(result)
            except Exception:
                database.errors_occurred = True
                raise
            for result in results:
                if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
                    database.errors_occurred = True
                    raise _error(result)
        answer = results[-1]
        _written(
            event,
            actor,
            (
                int(answer.get_value(0, 0)),
                json.loads(answer.get_value(0, 1)),
                answer.get_value(0, 2).decode(),
                answer.get_value(0, 3).decode(),
            ),
        )


def _error(result: psycopg.pq.abc.PGresult) -> psycopg.Error:
    """The psycopg exception of an error answer, by its SQLSTATE (as ``execute`` would raise)."""
    message = (result.error_message or b"").decode(errors="replace")
    sqlstate = (result.error_field(psycopg.pq.DiagnosticField.SQLSTATE) or b"").decode()
    try:
        error_class = psycopg.errors.lookup(sqlstate)
    except KeyError:
        error_class = psycopg.DatabaseError
    return error_class(message or "the audit event could not be written")


def _has_input(socket: int) -> bool:
    return bool(select.select([socket], [], [], 0)[0])


# Each thread that serves requests has its own writer. A development or test server starts a
# thread per request: the writers of threads that have ended are closed when a new one is made.
_writers: dict[threading.Thread, _EarlyWriter] = {}
_writers_lock = threading.Lock()


def early_writer() -> _EarlyWriter:
    """The calling thread's early writer, made on first use."""
    thread = threading.current_thread()
    writer = _writers.get(thread)
    if writer is None:
        with _writers_lock:
            for ended in [other for other in _writers if not other.is_alive()]:
                _writers.pop(ended).close()
            writer = _writers[thread] = _EarlyWriter()
    return writer


def close_early_writers() -> None:
    """Close every early writer's connection (e.g. before their database is dropped)."""
    with _writers_lock:
        while _writers:
            _writers.popitem()[1].close()


class _EarlyWrites:
    """Whether a request's events go out early, and the wait for them."""

    def __init__(self) -> None:
        self.writer: _EarlyWriter | None = None

    def send(self, params: dict[str, Any], event: AuditEvent, actor) -> None:
        self.writer = early_writer()
        self.writer.send(params, event, actor)

    def wait(self) -> None:
        """Return when every event is committed; raise the write's error, if any."""
        if self.writer is None or self.writer.in_flight is None:
            return
        started = time.perf_counter()
        try:
            self.writer.receive()
        finally:
            timings = audit_timings.get()
            if timings is not None:
                timings.append((time.perf_counter() - started) * 1000)
        # As Django does with the request's connection when the request ends (CONN_MAX_AGE).
        self.writer.database.close_if_unusable_or_obsolete()


def _written(event: AuditEvent, actor, row: tuple) -> None:
    event.pk, event.actor_roles, event.prev_hash, event.hash = row
    event._state.adding = False
    event._state.db = connection.alias
    if actor is not None:
        actor._crm_role_codes = event.actor_roles


def log_event(
    *,
    actor=None,
    action: AuditAction | str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    changes: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the trail, in the caller's transaction (or in one of its own)."""
    started = time.perf_counter()
    request = request or current_request()
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if obj is not None:
        object_type = object_type or object_label(obj)
        object_id = object_id or obj.pk
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor,
        actor_username=actor.get_username() if actor else "",
        actor_roles=getattr(actor, "_crm_role_codes", None) if actor else [],
        action=str(action),
        object_type=object_type,
        object_id=str(object_id) if object_id not in (None, "") else "",
        changes=_jsonable(dict(changes or {})),
        request_id=current_request_id() if current_request_id() != "-" else "",
        ip=client_ip(request),
    )
    # The address as it is stored (an IPv6 one is written in its short form).
    event.ip = AuditEvent._meta.get_field("ip").get_prep_value(event.ip)
    head = _canonical(
        {
            "action": event.action,
            "actor": event.actor_id,
            "at": event.occurred_at.astimezone(UTC).isoformat(),
            "changes": event.changes,
            "id": event.object_id,
            "ip": event.ip,
        }
    )
    tail = _canonical({"type": event.object_type, "username": event.actor_username})
    field = AuditEvent._meta.get_field
    params = {
        "lock": _LOCK_KEY,
        "genesis": GENESIS_HASH,
        "occurred_at": field("occurred_at").get_db_prep_save(event.occurred_at, connection),
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "roles": event.actor_roles,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "changes": field("changes").get_db_prep_save(event.changes, connection),
        "request_id": event.request_id,
        "ip": event.ip,
        "head": head[:-1] + ',"prev":"',
        "middle": '","request":' + _canonical(event.request_id) + ',"roles":',
        "tail": "," + tail[1:],
    }
    writes = _early_writes.get()
    if writes is not None and not connection.in_atomic_block and settings.AUDIT_WRITE_EARLY:
        # Not part of a change, while a request is served: AuditContextMiddleware waits for it.
        writes.send(params, event, actor)
    else:
        # The lock and the read of the last link are two statements in the function: in READ
        # COMMITTED a statement sees what was committed when it started, and the lock's
        # statement may start before the lock is granted, while another writer is still adding
        # its link. Outside a transaction the call is one of its own: the event is committed
        # when it returns.
        with (
            transaction.atomic(savepoint=False)
            if connection.in_atomic_block
            else contextlib.nullcontext(),
            connection.cursor() as cursor,
        ):
            cursor.execute(_APPEND, params)
            _written(event, actor, cursor.fetchone())
    timings = audit_timings.get()
    if timings is not None:
        timings.append((time.perf_counter() - started) * 1000)
    return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def chain_start() -> str:
    """The hash the trail's first event follows: the genesis, or after old events ended
    (crm.retention) the last removed one's, kept by the newest anchor."""
    anchor = AuditAnchor.objects.order_by("-last_id").values_list("last_hash", flat=True).first()
    return anchor or GENESIS_HASH


def verify_chain(
    events: Iterable[AuditEvent] | None = None, *, start: str | None = None
) -> Iterator[ChainBreak]:
    """Every place where the chain does not hold, in id order (nothing: the trail is intact)."""
    if events is None:
        events = AuditEvent.objects.order_by("id").iterator(chunk_size=5000)
    previous = chain_start() if start is None else start
    for event in events:
        if event.prev_hash != previous:
            yield ChainBreak(event.pk, "does not follow the previous event (one was removed?)")
        if compute_hash(event) != event.hash:
            yield ChainBreak(event.pk, "its content does not match its hash (it was changed)")
        previous = event.hash


def hold_chain_lock() -> None:
    """Take the chain's lock now, in the caller's transaction, where ``log_event`` would take it
    later. A transaction that takes another lock (a registry counter's) and also writes the
    trail must take this one first, so that every transaction takes the two in one order and
    none waits for the other in a circle."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
