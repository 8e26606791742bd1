"""The test harness itself (tests/conftest.py): the flush that ends a transactional test is done
again on a new connection when its connection is lost in the middle, so that the next test
still finds a flushed database with its roles."""

import os
import socket

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import TransactionTestCase

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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "statement",
    ["TRUNCATE", 'INSERT INTO "auth_group"'],
    ids=["at-the-truncate", "as-the-roles-are-created"],
)
def test_a_flush_that_loses_its_connection_is_done_again(statement):
    Group.objects.create(name="left-behind")
    connection.execute_wrappers.append(lose_the_socket_at(statement))
    # The flush pytest-django runs after each transactional test.
    TransactionTestCase(methodName="__init__")._fixture_teardown()
    assert not connection.execute_wrappers  # the socket was lost
    assert not Group.objects.filter(name="left-behind").exists()
    assert {role.code for role in ROLES} <= set(Group.objects.values_list("name", flat=True))
