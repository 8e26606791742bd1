"""What the apps share about talking to PostgreSQL beyond the ORM."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@contextlib.contextmanager
def joins_in_written_order(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Have PostgreSQL join the tables of the queries run inside in the order the query writes
    them (``join_collapse_limit = 1``) instead of searching every order for the cheapest.

    For a query that reads one row and a dozen rows it points to (``select_related`` of many
    foreign keys), that search is nearly all of its cost: on a million people and 200,000 cases
    the case page's query took 13 ms to plan and 0.4 ms to run (every foreign key's index is a
    way in the planner weighs). Use it only where the written order is the good one: the row by
    its primary key first, then each related row by its own key.

    The setting lasts for the block: a transaction of its own, or a savepoint of the caller's
    transaction whose setting is put back when the block ends.
    """
    connection = connections[using]
    nested = connection.in_atomic_block
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL join_collapse_limit = 1")
        yield
        if nested:  # (on an error the savepoint's rollback undoes the SET itself)
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL join_collapse_limit TO DEFAULT")
