"""The cases module's benchmark (docs/benchmarks.md, "Cases"), discovered by crm.bench as
``cases.bench``: the data generator (``data``), the page scenarios (``scenarios``) and the public
form's submission throughput (``submissions``)."""

from . import data, scenarios, submissions

__all__ = ["data", "scenarios", "submissions"]
