"""``crm.db.joins_in_written_order``: the planner keeps the written join order inside the block
only, in a transaction of its own or in a savepoint of the caller's."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction

from crm.db import joins_in_written_order


def join_collapse_limit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW join_collapse_limit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # autocommit outside the block, as a view runs
def test_outside_a_transaction_the_block_is_one_and_the_setting_ends_with_it():
    default = join_collapse_limit()
    assert default != "1"
    with joins_in_written_order():
        assert connection.in_atomic_block
        assert join_collapse_limit() == "1"
    assert not connection.in_atomic_block
    assert join_collapse_limit() == default


@pytest.mark.django_db
def test_inside_a_transaction_the_setting_ends_with_the_block():
    with transaction.atomic():
        default = join_collapse_limit()
        with joins_in_written_order():
            assert join_collapse_limit() == "1"
        assert join_collapse_limit() == default


@pytest.mark.django_db
def test_an_error_inside_puts_the_setting_back_and_leaves_the_transaction_usable():
    with transaction.atomic():
        default = join_collapse_limit()
        with pytest.raises(DataError), joins_in_written_order(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
        assert join_collapse_limit() == default
