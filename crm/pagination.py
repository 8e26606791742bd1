"""Keyset ("seek") pagination: pages by the values of the last row, never by OFFSET, and never
counts the whole set. Page 10,000 costs what page 1 costs, given an index on the ordering."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Lookup, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    next_cursor: str | None  # for the page after this one; None on the last page
    is_first: bool


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The cursor's values, or None when it is missing or malformed (start from the top)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError):
        return None
    if not isinstance(values, list) or len(values) != size:
        return None
    return values


def _after(fields: list[str], values: list[Any], descending: bool) -> Q | Lookup:
    """Rows after ``values`` in the (field, ..., field) order, as ONE row comparison:
    ``(a, b, id) > (x, y, z)``. PostgreSQL seeks straight to it in the ordering's index, where
    the equivalent ``a > x OR (a = x AND ...)`` makes it walk the index from the start.

    The tuple lookups are the ones Django builds for composite primary keys (Django >= 5.2).
    """
    if len(fields) == 1:
        return Q(**{f"{fields[0]}__{'lt' if descending else 'gt'}": values[0]})
    row = Tuple(*(F(field) for field in fields))
    return (TupleLessThan if descending else TupleGreaterThan)(row, tuple(values))


def keyset_page(
    queryset: QuerySet, *, ordering: list[str], cursor: str | None, per_page: int
) -> KeysetPage:
    """One page of ``queryset`` ordered by ``ordering`` (all ascending or all descending, the
    last field unique, e.g. ["-occurred_at", "-id"] or ["last_name", "id"])."""
    descending = ordering[0].startswith("-")
    if any(field.startswith("-") != descending for field in ordering):
        raise ValueError("Keyset ordering must go in one direction.")
    fields = [field.lstrip("-") for field in ordering]
    values = decode_cursor(cursor, len(fields))
    page = queryset.order_by(*ordering)
    if values is not None:
        page = page.filter(_after(fields, values, descending))
    rows = list(page[: per_page + 1])
    items = rows[:per_page]
    next_cursor = None
    if len(rows) > per_page:
        last = items[-1]
        next_cursor = encode_cursor([_value(last, field) for field in fields])
    return KeysetPage(items=items, next_cursor=next_cursor, is_first=values is None)


def _value(row: Any, field: str) -> Any:
    value = row
    for part in field.split("__"):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value
