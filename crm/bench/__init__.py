"""The benchmark harness behind ``make bench`` (docs/benchmarks.md).

It builds a scale data set in a database of its own (``crm_bench`` on the embedded PostgreSQL),
starts gunicorn as a deployment would run it, and measures named scenarios: server time
(p50/p95), requests per second and SQL queries per request.

Apps contribute in ``<app>/bench.py``::

    from crm.bench import BENCH_USER, copy_objects, generator, job, scenario

    @generator("people", count=lambda: Person.objects.count(), default=1_000, help="...")
    def create_people(start: int, stop: int) -> None:
        copy_objects(Person, (Person(...) for number in range(start, stop)))

    scenario("person list", description="...", urls="/citizens/people/", user=BENCH_USER)

    @job("import 100k people", description="...", target_seconds=60)
    def import_people(timer):
        path = write_the_file()  # not timed
        with timer:
            run_the_import(path)

Modules: ``registry`` (generators, scenarios, discovery), ``data`` (COPY helper), ``runner``
(the command), ``server`` (gunicorn), ``client`` (HTTP), ``stats`` (percentiles).
"""

from crm.bench.data import copy_objects
from crm.bench.registry import (
    BENCH_PASSWORD,
    BENCH_USER,
    Generator,
    Job,
    JobTimer,
    Scenario,
    SkipJob,
    generator,
    job,
    scenario,
)

__all__ = [
    "BENCH_PASSWORD",
    "BENCH_USER",
    "Generator",
    "Job",
    "JobTimer",
    "Scenario",
    "SkipJob",
    "copy_objects",
    "generator",
    "job",
    "scenario",
]
