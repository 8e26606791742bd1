"""The test harness itself (tests/conftest.py): a transactional test whose database connection
is lost in the middle of its flush still leaves the next test a flushed database with its
roles. Each pair of tests here must run in this order, as pytest runs a file."""

import os
import socket

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from crm.roles import ROLES


def lose_the_socket_at(statement: str):
    """An execute wrapper that, once, closes the connection's socket under it just before the
    first statement starting with ``statement``, as in the rare CI runs this guards against
    (the server logs the client resetting the connection)."""

    def wrapper(execute, sql, params, many, context):
        if sql.startswith(statement):
            connection.execute_wrappers.remove(wrapper)
            ours, peer = socket.socketpair()
            peer.close()
            with ours:  # a socket whose other end is gone keeps the number until libpq's close
                os.dup2(ours.fileno(), connection.connection.pgconn.socket)
        return execute(sql, params, many, context)

    return wrapper


def assert_flushed_with_roles() -> None:
    assert not connection.execute_wrappers
    assert not Group.objects.filter(name="left-behind").exists()
    assert {role.code for role in ROLES} <= set(Group.objects.values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_at_the_flush_truncate_is_flushed_again():
    Group.objects.create(name="left-behind")
    connection.execute_wrappers.append(lose_the_socket_at("TRUNCATE"))


@pytest.mark.django_db(transaction=True)
def test_after_a_connection_lost_at_the_truncate_the_database_is_flushed_with_its_roles():
    assert_flushed_with_roles()


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_as_the_flush_creates_the_roles_is_flushed_again():
    Group.objects.create(name="left-behind")
    connection.execute_wrappers.append(lose_the_socket_at('INSERT INTO "auth_group"'))


@pytest.mark.django_db(transaction=True)
def test_after_a_connection_lost_as_the_roles_are_created_the_database_has_them():
    assert_flushed_with_roles()
