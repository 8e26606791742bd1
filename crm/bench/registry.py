"""What the benchmark knows about: data generators and scenarios, registered by each app.

Every installed app may have a ``<app>/bench.py`` module (the crm app's is ``crm/bench/crm_app.py``,
because ``crm.bench`` is this package). Importing it registers its generators and scenarios with the
decorator :func:`generator` and the function :func:`scenario`; :func:`discover` imports them all,
in ``INSTALLED_APPS`` order, so an app's generators may rely on the data of the apps listed before
it (cases after citizens). Besides page loads (scenarios), an app may register timed jobs: work that
is not a request (an import, a scan), run in the bench process against the bench data and timed.
See docs/benchmarks.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec
from typing import Any

# The bench users (crm.bench.crm_app creates them) exist only in the bench database; they are
# bench-1, bench-2, ..., all with this password. Logged-in scenarios run as BENCH_USER.
BENCH_PASSWORD = "bench-password"  # noqa: S105
BENCH_USER = "bench-1"

# A module name per app, when it is not "<app>.bench".
_BENCH_MODULES = {"crm": "crm.bench.crm_app"}


@dataclass(frozen=True)
class Generator:
    """Creates rows ``start`` .. ``stop - 1`` of one kind of bench data.

    ``count()`` says how many the database has; the runner asks ``create`` for the missing ones
    only, in chunks of ``chunk`` rows (one transaction each), so a run that stops half-way resumes
    where it stopped and a second run with the same sizes creates nothing.

    ``finish()``, when given, runs after the generator's chunks on every run, even when nothing
    was missing, in a transaction of its own: e.g. to build the indexes a bulk load went without
    (a run stopped half-way leaves them to the next run's ``finish``).
    """

    name: str  # a plural noun; also the command-line flag: "people" -> --people
    create: Callable[[int, int], None]
    count: Callable[[], int]
    default: int
    help: str
    chunk: int = 100_000
    finish: Callable[[], None] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


URLs = str | Sequence[str] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Scenario:
    """A named, repeatable page load: the requests cycle through ``urls``."""

    name: str  # e.g. "home page"; --scenario accepts it in any case, spaces or hyphens
    description: str
    urls: URLs  # a path, a list of paths, or a function (run after the data) returning them
    user: str | None = None  # the username to log in as (password BENCH_PASSWORD), None: anonymous
    requests: int = 200  # how many measured requests, unless --requests says otherwise
    expected_status: int = 200
    target_p95_ms: float | None = None  # the page's goal: p95 server time below this
    max_queries: int | None = None  # the page's goal: at most this many SQL queries
    # The goal for the audit trail's writes in each request (Server-Timing "audit"): p95 below.
    target_audit_p95_ms: float | None = None

    @property
    def slug(self) -> str:
        return slugify(self.name)

    def url_list(self) -> list[str]:
        urls = self.urls() if callable(self.urls) else self.urls
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ValueError(f"Scenario {self.name!r} has no URLs to request.")
        return urls


class SkipJob(Exception):
    """Raised by a job that cannot run yet (e.g. the code it measures is not written): the
    runner reports it as skipped, with the message, and goes on."""


class JobTimer:
    """What a job's function gets: ``with timer:`` marks the part to measure (once), so that
    preparing its input and cleaning up are not timed. A job that never enters it is timed
    whole. The runner counts the job's SQL queries in ``queries_run``; ``queries`` is the
    count inside the measured block."""

    def __init__(self) -> None:
        self.seconds: float | None = None
        self.queries: int | None = None
        self.queries_run = 0
        self._started: float | None = None
        self._queries_before = 0

    def __enter__(self) -> JobTimer:
        if self._started is not None:
            raise RuntimeError("A job's timer measures one block only.")
        self._queries_before = self.queries_run
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._started is not None
        self.seconds = time.perf_counter() - self._started
        self.queries = self.queries_run - self._queries_before


JobDetails = Mapping[str, Any] | None


@dataclass(frozen=True)
class Job:
    """A timed piece of work that is not a page load: ``run(timer)`` is called once, in the bench
    process, against the bench database, inside a transaction that is rolled back afterwards (the
    data set stays as it was). It may return figures to report (``{"rows": 100000}``)."""

    name: str  # e.g. "import 100k people"; chosen with --scenario like the scenarios
    description: str
    run: Callable[[JobTimer], JobDetails]
    target_seconds: float | None = None  # the goal: done in less than this

    @property
    def slug(self) -> str:
        return slugify(self.name)


def slugify(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower())


class Registry:
    def __init__(self) -> None:
        self.generators: dict[str, Generator] = {}
        self.scenarios: dict[str, Scenario] = {}
        self.jobs: dict[str, Job] = {}

    def add_generator(self, item: Generator) -> Generator:
        if item.name in self.generators:
            raise ValueError(f"A bench generator named {item.name!r} is already registered.")
        self.generators[item.name] = item
        return item

    def add_scenario(self, item: Scenario) -> Scenario:
        if item.slug in self.scenarios or item.slug in self.jobs:
            raise ValueError(f"A bench scenario named {item.name!r} is already registered.")
        self.scenarios[item.slug] = item
        return item

    def add_job(self, item: Job) -> Job:
        if item.slug in self.scenarios or item.slug in self.jobs:
            raise ValueError(f"A bench scenario named {item.name!r} is already registered.")
        self.jobs[item.slug] = item
        return item

    def select(self, names: Sequence[str]) -> list[Scenario | Job]:
        """The scenarios and jobs named (all of them, scenarios first, in registration order,
        when none is)."""
        everything: dict[str, Scenario | Job] = {**self.scenarios, **self.jobs}
        if not names:
            return list(everything.values())
        unknown = [name for name in names if slugify(name) not in everything]
        if unknown:
            known = ", ".join(repr(item.name) for item in everything.values())
            raise LookupError(f"Unknown scenario {unknown[0]!r}; known scenarios: {known}.")
        return [everything[slug] for slug in dict.fromkeys(map(slugify, names))]


registry = Registry()


def generator(
    name: str,
    *,
    count: Callable[[], int],
    default: int,
    help: str,
    chunk: int = 100_000,
    finish: Callable[[], None] | None = None,
) -> Callable[[Callable[[int, int], None]], Callable[[int, int], None]]:
    """Register ``create(start, stop)`` as the generator of ``name`` (see :class:`Generator`)."""

    def register(create: Callable[[int, int], None]) -> Callable[[int, int], None]:
        registry.add_generator(
            Generator(
                name=name,
                create=create,
                count=count,
                default=default,
                help=help,
                chunk=chunk,
                finish=finish,
            )
        )
        return create

    return register


def scenario(
    name: str,
    *,
    description: str,
    urls: URLs,
    user: str | None = None,
    requests: int = 200,
    expected_status: int = 200,
    target_p95_ms: float | None = None,
    max_queries: int | None = None,
    target_audit_p95_ms: float | None = None,
) -> Scenario:
    """Register a scenario (see :class:`Scenario`)."""
    return registry.add_scenario(
        Scenario(
            name=name,
            description=description,
            urls=urls,
            user=user,
            requests=requests,
            expected_status=expected_status,
            target_p95_ms=target_p95_ms,
            max_queries=max_queries,
            target_audit_p95_ms=target_audit_p95_ms,
        )
    )


def job(
    name: str, *, description: str, target_seconds: float | None = None
) -> Callable[[Callable[[JobTimer], JobDetails]], Callable[[JobTimer], JobDetails]]:
    """Register ``run(timer)`` as a timed job (see :class:`Job`)."""

    def register(run: Callable[[JobTimer], JobDetails]) -> Callable[[JobTimer], JobDetails]:
        registry.add_job(
            Job(name=name, description=description, run=run, target_seconds=target_seconds)
        )
        return run

    return register


def discover() -> Registry:
    """Import every installed app's bench module (once; Django must be set up)."""
    from django.apps import apps

    for config in apps.get_app_configs():
        module_name = _BENCH_MODULES.get(config.name, f"{config.name}.bench")
        if _has_module(module_name):
            import_module(module_name)
    return registry


def _has_module(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ModuleNotFoundError:
        return False
