"""Shared fixtures. Real services: PostgreSQL and Redis are started by `make test`
(crm.embedded); a Celery worker, an SMTP server and Chromium are started by fixtures."""

import os

import pytest
from django.test import Client

from crm.roles import ROLES

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Test sessions share the Redis of `make run` and of each other: keys of their own (this
# variable reaches the processes the tests start; `own_cache_keys` below, this one).
CACHE_KEY_PREFIX = f"test-{os.getpid()}"
os.environ["CACHE_KEY_PREFIX"] = CACHE_KEY_PREFIX

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.browser", "tests.fixtures.ldap"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, plus: before the test database is dropped, end the sessions that
    threads and processes of the tests may have left on it (the drop would fail)."""
    yield
    from django.db import connection

    from crm.audit import close_early_writers

    close_early_writers()
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True, scope="session")
def own_cache_keys():
    """The settings were read before this file: give this process's cache its own prefix."""
    import copy

    from django.conf import settings
    from django.test import override_settings

    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = CACHE_KEY_PREFIX
    with override_settings(CACHES=caches):
        yield


@pytest.fixture(autouse=True, scope="session")
def flush_past_the_audit_trigger():
    """Transactional tests end with Django's flush, a TRUNCATE that the audit trail's trigger
    refuses (as it should in production). Only here, the flush runs with triggers off."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **options):
        statements = original(self, style, tables, **options)
        if not statements:
            return statements
        return [
            "SET session_replication_role = replica",
            *statements,
            "SET session_replication_role = DEFAULT",
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(autouse=True, scope="session")
def flush_again_after_a_lost_connection():
    """A transactional test ends with a flush on this thread's connection. Rarely (a few full
    CI runs, always in the flush of ``test_builder_browser`` or of the test after it) that
    connection's socket is closed by this process in the middle of the flush, the cause not
    found yet, and the next tests then miss the roles the flush re-creates. The flush is done
    again on a new connection, and the run's output says so (on the real standard error: a
    warning would be an error here, and captured output is not shown). tests/test_harness.py
    closes a socket that way on purpose."""
    import sys

    from django.db import connections
    from django.db.utils import InterfaceError, OperationalError
    from django.test.testcases import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def lost_connection(error: BaseException | None) -> bool:
        while error is not None:  # the flush command wraps a failed TRUNCATE in CommandError
            if isinstance(error, OperationalError | InterfaceError):
                return True
            error = error.__cause__
        return False

    def _fixture_teardown(self):
        try:
            original(self)
        except Exception as error:
            if not lost_connection(error):
                raise
            test = os.environ.get("PYTEST_CURRENT_TEST")
            print(
                f"\n[tests] The flush after {test} lost its database connection ({error}); "
                "flushing again on a new one.",
                file=sys.__stderr__,
                flush=True,
            )
            for connection in connections.all(initialized_only=True):
                connection.close()
            original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", _fixture_teardown)
        yield


# The data migrations that seed catalogues: (app, migration module).
SEEDING_MIGRATIONS = [
    ("cases", "0003_catalogue"),
    ("cases", "0004_accessibility_case_type"),
    ("sales", "0003_default_pipelines"),
    ("sales", "0005_visit_types"),
]


def seed_catalogues() -> None:
    """Put back what the data migrations seed (case types, subject areas), as they do it."""
    import importlib

    from django.apps import apps

    for app, migration in SEEDING_MIGRATIONS:
        importlib.import_module(f"{app}.migrations.{migration}").create(apps, None)


@pytest.fixture(autouse=True)
def seeded_catalogues(request):
    """A transactional test (a real worker, a browser) ends with a flush that empties every
    table, the catalogues the migrations seeded included: the tests after it get them back."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = (
        "transactional_db" in names
        or "live_server" in names
        or bool(marker and marker.kwargs.get("transaction"))
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        _reconnect_if_broken()
    elif "db" in names or marker:
        request.getfixturevalue("db")
    else:
        yield
        return
    from cases.models import CaseType

    if not CaseType.objects.exists():
        seed_catalogues()
    yield
    if transactional:
        _reconnect_if_broken()  # before pytest-django's flush, which would fail on it


def _reconnect_if_broken() -> None:
    """Outside a transaction, drop this thread's database connection if the server ended it
    (a test that restarted PostgreSQL or ended sessions on purpose, e.g. the fault tests):
    requests check theirs (CONN_HEALTH_CHECKS), a test's own thread never does."""
    from django.db import connection

    usable = connection.connection is None or connection.in_atomic_block or connection.is_usable()
    if not usable:
        connection.close()


@pytest.fixture(autouse=True)
def fresh_dashboard():
    """The dashboard keeps its figures in the shared cache for minutes: another test's, made
    from other data, must not be what this test's pages show."""
    forget_dashboard_figures()
    yield
    forget_dashboard_figures()


def forget_dashboard_figures() -> None:
    """Only the dashboard's keys: the cache shares Redis with the Celery broker, so a flush
    would drop queued tasks."""
    from django.core.cache import cache

    from reports.dashboard import CACHE_PREFIX

    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key(f"{CACHE_PREFIX}:*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def fresh_unit_tree():
    """Each test rolls its units back, but the cached tree lives in Redis: start afresh."""
    from crm.models import forget_unit_tree

    forget_unit_tree()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing is slow on purpose; tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-password", first_name="Laura", last_name="Vidal Soler"
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


ROLE_CODES = [role.code for role in ROLES]


@pytest.fixture
def units(db):
    """A small tree: ayto → urbanismo → licencias, and ayto → servicios-sociales."""
    from crm.models import Unit

    ayto = Unit.objects.create(code="ayto", name="Ayuntamiento")
    urbanismo = Unit.objects.create(code="urbanismo", name="Urbanismo", parent=ayto)
    licencias = Unit.objects.create(code="licencias", name="Licencias", parent=urbanismo)
    sociales = Unit.objects.create(
        code="servicios-sociales", name="Servicios Sociales", parent=ayto
    )
    return {unit.code: unit for unit in (ayto, urbanismo, licencias, sociales)}


@pytest.fixture
def make_user(db, units, django_user_model):
    """make_user(role="case_handler", units=("urbanismo",)): a user with roles and units."""
    from crm.services import user_set_roles, user_set_units

    def make(role=None, *, roles=(), unit_codes=("urbanismo",), username=None, **fields):
        wanted = [*roles, *([role] if role else [])]
        base = username or ("-".join(wanted) or "nobody")
        taken = django_user_model.objects.filter(username__startswith=base).count()
        user = django_user_model.objects.create_user(
            username=base if not taken else f"{base}-{taken + 1}",
            password="correct-horse-battery",
            **fields,
        )
        user_set_roles(user=user, roles=wanted)
        user_set_units(user=user, units=[units[code] for code in unit_codes])
        return user

    return make


@pytest.fixture
def client_for(make_user):
    """client_for("dpd-role-code"): a test client logged in as a new user with that role;
    client_for(None): anonymous."""

    def make(role=None, **kwargs):
        client = Client()
        if role is not None or "roles" in kwargs:
            client.force_login(make_user(role, **kwargs))
        return client

    return make
