"""Registry numbers (Ley 39/2015, art. 16): sequential, gap-free, per series and year.

Every filing gets an entry number such as ``QS-2026-000123``: the series (a short code per kind
of filing: ``QS`` complaints and suggestions, ...), the year and a number that starts at 1 every
year and never skips or repeats.

``next_registry_number`` must run inside the caller's transaction, the one that stores the
filing. It increments the series' counter row with an ``UPDATE ... RETURNING``, which locks that
row until the transaction ends (the lock ``SELECT ... FOR UPDATE`` would take); the first number
of a series and year creates the row with ``INSERT ... ON CONFLICT DO NOTHING``. A concurrent
filing of the same series waits for the lock: if the first transaction commits, the second gets
the next number; if it rolls back, its number was never consumed and the second gets it. So the
numbers of committed filings are exactly 1, 2, 3, ... with no gap. A database sequence would be
faster, but a rolled-back transaction would burn its value and leave a gap.

The price is that filings of one series are serialised from the moment they take a number until
they commit: take the number late and keep that transaction short (render PDFs after the commit).
docs/registry.md has the whole story.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.transaction import TransactionManagementError

from crm.models import RegistryCounter

SERIES = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")
NUMBER_DIGITS = 6  # the formatted number's zero padding; bigger numbers simply grow longer
FORMATTED = re.compile(r"^(?P<series>[A-Z][A-Z0-9]{0,9})-(?P<year>\d{4})-(?P<number>\d{6,10})$")
MAX_LENGTH = 10 + 1 + 4 + 1 + 10  # of a formatted number, for the CharFields that store one


@dataclass(frozen=True)
class RegistryNumber:
    """One registry entry's number. ``registered_at`` is the database server's time when the
    number was taken (under the counter's lock, so a later number never has an earlier time);
    a number read back with ``parse`` has none."""

    series: str
    year: int
    number: int
    registered_at: datetime | None = field(default=None, compare=False)

    @property
    def formatted(self) -> str:
        return f"{self.series}-{self.year:04d}-{self.number:0{NUMBER_DIGITS}d}"

    def __str__(self) -> str:
        return self.formatted

    @classmethod
    def parse(cls, text: str) -> RegistryNumber:
        """``"QS-2026-000123"`` (any case, spaces around) → the number; ValueError otherwise."""
        match = FORMATTED.match(text.strip().upper())
        if not match or int(match["number"]) < 1:
            raise ValueError(f"Not a registry number: {text!r} (expected like QS-2026-000123).")
        return cls(match["series"], int(match["year"]), int(match["number"]))


def _check(series: str, year: int) -> None:
    if not SERIES.match(series):
        raise ValueError(
            f"A registry series is 1 to 10 capital letters or digits, starting with a letter;"
            f" got {series!r}."
        )
    if not 1 <= year <= 9999:
        raise ValueError(f"A registry year has four digits; got {year!r}.")


def next_registry_number(*, series: str, year: int) -> RegistryNumber:
    """The next number of ``series`` in ``year``, consumed only if the caller's transaction
    commits. Call it inside ``transaction.atomic()``, as late as possible in that transaction."""
    _check(series, year)
    if not connection.in_atomic_block:
        raise TransactionManagementError(
            "next_registry_number() must run inside the transaction that stores the filing "
            "(transaction.atomic()): in autocommit its number could be lost, leaving a gap."
        )
    table = connection.ops.quote_name(RegistryCounter._meta.db_table)
    increment = (
        f"UPDATE {table} SET last_number = last_number + 1 WHERE series = %s AND year = %s "  # noqa: S608
        "RETURNING last_number, clock_timestamp()"
    )
    with connection.cursor() as cursor:
        # Nearly always the row exists: one statement, which also takes the row's lock.
        cursor.execute(increment, [series, year])
        row = cursor.fetchone()
        if row is None:
            # The first number of the series this year. A concurrent first filing waits here for
            # the other's insert to commit or roll back, then updates the row it finds.
            cursor.execute(
                f"INSERT INTO {table} (series, year, last_number) VALUES (%s, %s, 0) "  # noqa: S608
                "ON CONFLICT (series, year) DO NOTHING",
                [series, year],
            )
            cursor.execute(increment, [series, year])
            row = cursor.fetchone()
    number, registered_at = row
    return RegistryNumber(series=series, year=year, number=number, registered_at=registered_at)
