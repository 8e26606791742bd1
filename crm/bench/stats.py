"""Figures of a scenario's measured requests: percentiles, throughput, SQL queries per request."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_METRIC = r"(?:^|,)\s*{name}\s*;(?:[^,]*;)?\s*dur=([0-9]+(?:\.[0-9]+)?)"


@dataclass(frozen=True)
class Sample:
    """One measured request."""

    url: str
    status: int
    client_ms: float  # as the benchmark client saw it (network and queueing included)
    server_ms: float | None  # Django's own time, from the Server-Timing header
    queries: int | None  # SQL queries the request ran, from the X-SQL-Queries header
    audit_ms: float | None = None  # time spent writing the audit trail (Server-Timing "audit")


def parse_server_timing(header: str | None, metric: str = "app") -> float | None:
    """A metric's duration in ms from a ``Server-Timing`` header (``app``: Django's whole time;
    ``audit``: the audit trail's writes), if it has one."""
    if not header:
        return None
    match = re.search(_METRIC.format(name=re.escape(metric)), header)
    return float(match.group(1)) if match else None


def parse_query_count(header: str | None) -> int | None:
    if header is None or not header.strip().isdigit():
        return None
    return int(header)


def percentile(values: Sequence[float], pct: int) -> float:
    """The ``pct``-th percentile (1..99), interpolating between the closest ranks.

    The "inclusive" method: the same as numpy's default and spreadsheets' PERCENTILE.INC, so the
    50th percentile is the median and a single value is every percentile.
    """
    if not 1 <= pct <= 99:
        raise ValueError(f"Percentiles go from 1 to 99, not {pct}.")
    if not values:
        raise ValueError("No values to take a percentile of.")
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _ms(value: float) -> float:
    return round(value, 3)


def summarize(samples: Sequence[Sample], *, elapsed: float, expected_status: int) -> dict[str, Any]:
    """The figures the runner prints and writes to the JSON file for one scenario.

    Only the requests answered with ``expected_status`` and the bench headers count for the
    timings and queries; the others are ``errors``. Throughput counts every request.
    """
    good = [
        sample
        for sample in samples
        if sample.status == expected_status
        and sample.server_ms is not None
        and sample.queries is not None
    ]
    statuses = Counter(str(sample.status) for sample in samples)
    summary: dict[str, Any] = {
        "requests": len(samples),
        "errors": len(samples) - len(good),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(samples) / elapsed, 1) if elapsed > 0 else None,
        "server_ms": None,
        "client_ms": None,
        "queries": None,
    }
    if not good:
        return summary
    server = [sample.server_ms for sample in good if sample.server_ms is not None]
    client = [sample.client_ms for sample in good]
    queries = [sample.queries for sample in good if sample.queries is not None]
    counts = Counter(queries)
    summary["server_ms"] = {
        "p50": _ms(percentile(server, 50)),
        "p95": _ms(percentile(server, 95)),
        "mean": _ms(statistics.fmean(server)),
        "max": _ms(max(server)),
    }
    summary["client_ms"] = {
        "p50": _ms(percentile(client, 50)),
        "p95": _ms(percentile(client, 95)),
    }
    summary["queries"] = {
        "per_request": counts.most_common(1)[0][0],
        "min": min(queries),
        "max": max(queries),
        # The same page should run the same queries every time; when it does not, something
        # (a cache, a lazy load, an N+1 over varying data) deserves a look.
        "varies": len(counts) > 1,
        "counts": {str(count): times for count, times in sorted(counts.items())},
    }
    audit = [sample.audit_ms for sample in good if sample.audit_ms is not None]
    if audit:
        summary["audit_ms"] = {
            "p50": _ms(percentile(audit, 50)),
            "p95": _ms(percentile(audit, 95)),
            "requests_with_audit": len(audit),
        }
    return summary
