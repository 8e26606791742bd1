"""``crm.db.planner_settings``: PostgreSQL settings changed inside the block only, in a
transaction of its own or in a savepoint of the caller's."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction

from crm.db import planner_settings


def setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # autocommit outside the block, as a view runs
def test_outside_a_transaction_the_block_is_one_and_the_settings_end_with_it():
    default = setting("join_collapse_limit")
    assert default != "1"
    with planner_settings(join_collapse_limit=1, jit="off"):
        assert connection.in_atomic_block
        assert setting("join_collapse_limit") == "1"
        assert setting("jit") == "off"
    assert not connection.in_atomic_block
    assert setting("join_collapse_limit") == default
    assert setting("jit") == "on"


@pytest.mark.django_db
def test_inside_a_transaction_the_caller_s_values_come_back_when_the_block_ends():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL join_collapse_limit = 4")
        with planner_settings(join_collapse_limit=1):
            assert setting("join_collapse_limit") == "1"
        assert setting("join_collapse_limit") == "4"


@pytest.mark.django_db
def test_an_error_inside_puts_the_setting_back_and_leaves_the_transaction_usable():
    with transaction.atomic():
        default = setting("join_collapse_limit")
        with (
            pytest.raises(DataError),
            planner_settings(join_collapse_limit=1),
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT 1 / 0")
        assert setting("join_collapse_limit") == default
