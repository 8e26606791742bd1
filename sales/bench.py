"""The promotion module's bench data and scenarios (docs/benchmarks.md)."""

from . import (
    bench_fieldwork,  # noqa: F401  (visits, tasks, meetings; "calendar month")
    bench_funnel,  # noqa: F401  (opportunities; "pipeline board")
)
