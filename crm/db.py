"""What the apps share about talking to PostgreSQL beyond the ORM."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections, transaction


@contextlib.contextmanager
def planner_settings(*, using: str = DEFAULT_DB_ALIAS, **values: str | int) -> Iterator[None]:
    """Run the queries inside with PostgreSQL settings of the planner changed for the block only:
    in a transaction of its own, or in a savepoint of the caller's transaction whose values are
    put back when the block ends (on an error, the savepoint's rollback puts them back).

    E.g. ``planner_settings(join_collapse_limit=1)``: the joins in the order the query writes
    them, for a query of one row by its key and a dozen rows it points to, whose search for a
    better order costs more than the query (the case page); ``planner_settings(jit="off")``: no
    compiling of a plan that runs for less time than compiling takes (a segment's count).
    """
    connection = connections[using]
    nested = connection.in_atomic_block
    previous: dict[str, str] = {}
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            for name, value in values.items():
                if nested:
                    cursor.execute("SELECT current_setting(%s)", [name])
                    previous[name] = cursor.fetchone()[0]
                cursor.execute("SELECT set_config(%s, %s, true)", [name, str(value)])
        yield
        if previous:
            with connection.cursor() as cursor:
                for name, value in previous.items():
                    cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
