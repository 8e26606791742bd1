"""``make bench`` (``python -m crm.embedded bench -- [flags]``): build the scale data set in the
bench database, serve it with gunicorn as a deployment would, measure the scenarios, and write the
results to a JSON file. docs/benchmarks.md explains the flags, the scenarios and the results.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from crm import embedded
from crm.bench.client import BenchClient, LoginError
from crm.bench.registry import (
    BENCH_PASSWORD,
    Generator,
    Job,
    JobTimer,
    Registry,
    Scenario,
    SkipJob,
)
from crm.bench.server import DEFAULT_WORKERS, GunicornServer, ServerError
from crm.bench.stats import summarize

DEFAULT_DATABASE = "crm_bench"
DEFAULT_OUTPUT = Path("bench-results.json")
DEFAULT_CONCURRENCY = 4


class BenchError(embedded.EmbeddedError):
    """The benchmark cannot run; the message says why."""


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def count_argument(text: str) -> int:
    """A command-line count: a whole number, 0 or more (``1_000`` allowed)."""
    value = int(text.replace("_", ""))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def positive_argument(text: str) -> int:
    value = count_argument(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _scale(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1_000:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1000, got {text}")
    return value


def _parser(*, add_help: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make bench ARGS=...",
        description="Build the bench data set and measure the scenarios (docs/benchmarks.md).",
        add_help=add_help,
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"the bench database on the embedded PostgreSQL (default {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--reset", action="store_true", help="drop the bench database first and build it anew"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="measure only this scenario (repeatable; default: all of them)",
    )
    parser.add_argument(
        "--requests",
        type=positive_argument,
        metavar="N",
        help="measured requests per scenario (default: each scenario's own number)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_argument,
        default=DEFAULT_CONCURRENCY,
        metavar="C",
        help=f"requests in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--warmup",
        type=count_argument,
        metavar="N",
        help="unmeasured requests before each scenario (default 5 per gunicorn worker)",
    )
    parser.add_argument(
        "--workers",
        type=positive_argument,
        default=DEFAULT_WORKERS,
        help=f"gunicorn workers (default {DEFAULT_WORKERS}: (2 x 2 cores) + 1)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="PATH",
        help=f"where to write the results (default {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--scale",
        type=_scale,
        default=1.0,
        metavar="F",
        help="multiply every generator's default size by F (e.g. 0.001 for a quick smoke run)",
    )
    parser.add_argument(
        "--data-only", action="store_true", help="build the data set, measure nothing"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the generators and scenarios, and stop"
    )
    return parser


def database_url(name: str) -> str:
    """The embedded PostgreSQL over its Unix socket: ``postgres://crm@/<socket dir>/<name>``."""
    return f"postgres://{embedded.PG_USER}@/{quote(str(embedded.RUN_DIR), safe='/')}/{name}"


def bench_env(*, database: str, static_root: Path) -> dict[str, str]:
    """What the bench process and gunicorn run with: a deployment's settings on the bench data."""
    return {
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DATABASE_URL": database_url(database),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "false",
        "HTTPS": "false",
        "BENCH_HEADERS": "true",
        "STATIC_ROOT": str(static_root),
        # Keep out of the way of `make run` sharing the Redis: own cache keys and task queue.
        "CACHE_KEY_PREFIX": database,
        "CELERY_QUEUE": database,
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
    }


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit, so that the server is stopped on the way out."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(argv: Sequence[str]) -> int:
    """The ``bench`` command of ``crm.embedded``: 0 when every request got its answer."""
    try:
        return _run(argv)
    except embedded.EmbeddedError as error:
        say(str(error))
        return 1
    except KeyboardInterrupt:
        say("Interrupted; the server is stopped and no results were written.")
        return 130


def _run(argv: Sequence[str]) -> int:
    if os.environ.get("DATABASE_URL"):
        raise embedded.EmbeddedError(
            "make bench builds its own database on the embedded PostgreSQL; unset DATABASE_URL."
        )
    known, _rest = _parser(add_help=False).parse_known_args(argv)
    if not known.database.isidentifier():
        raise embedded.EmbeddedError(f"Not a plain database name: {known.database!r}")
    if known.database in {embedded.PG_DATABASE, "postgres", "template0", "template1"}:
        raise embedded.EmbeddedError(f"{known.database!r} is not a database for benchmarks.")
    redis_external = bool(os.environ.get("REDIS_URL"))
    with (
        _stop_on_sigterm(),
        tempfile.TemporaryDirectory(prefix="crm-bench-static-") as static_root,
    ):
        # Django reads its settings once: the bench's come first (--help needs the generators).
        os.environ.update(bench_env(database=known.database, static_root=Path(static_root)))
        import django

        django.setup()
        from crm.bench.registry import discover

        registry = discover()
        options = _full_parser(registry).parse_args(argv)
        if options.list:
            _print_registry(registry)
            return 0
        scenarios = _select(registry, options.scenario)
        started: list[str] = []
        try:
            if embedded.postgres_start():
                started.append("postgres")
            if not redis_external and embedded.redis_start():
                started.append("redis")
            return _bench(options, registry, scenarios)
        except (LoginError, ServerError, subprocess.CalledProcessError) as error:
            raise BenchError(str(error)) from error
        finally:
            from django.db import connections

            connections.close_all()
            embedded.stop_services(started)


def _full_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = _parser(add_help=True)
    group = parser.add_argument_group(
        "data set sizes", "Rows of each kind in the bench database (only missing ones are made)."
    )
    for item in registry.generators.values():
        group.add_argument(
            item.flag,
            dest=item.dest,
            type=count_argument,
            metavar="N",
            help=f"{item.help} (default {item.default:_}, times --scale)",
        )
    return parser


def requested_size(default: int, *, explicit: int | None, scale: float) -> int:
    """The size asked for: the flag's, or the default times the scale (at least 1 row)."""
    if explicit is not None:
        return explicit
    return max(min(default, 1), round(default * scale))


def _select(registry: Registry, names: Sequence[str]) -> list[Scenario | Job]:
    try:
        return registry.select(names)
    except LookupError as error:
        raise embedded.EmbeddedError(str(error)) from None


def _print_registry(registry: Registry) -> None:
    print("Generators (flag, default size):")
    for item in registry.generators.values():
        print(f"  {item.flag:<22} {item.default:>12_}  {item.help}")
    print("Scenarios (--scenario NAME):")
    for item in registry.scenarios.values():
        who = f"as {item.user}" if item.user else "anonymous"
        goals = [
            *([f"p95 < {item.target_p95_ms:g} ms"] if item.target_p95_ms is not None else []),
            *([f"<= {item.max_queries} queries"] if item.max_queries is not None else []),
            *(
                [f"audit write p95 < {item.target_audit_p95_ms:g} ms"]
                if item.target_audit_p95_ms is not None
                else []
            ),
        ]
        goal = f" (target {', '.join(goals)})" if goals else ""
        print(f"  {item.name:<22} {item.requests:>5} requests, {who}{goal}: {item.description}")
    if registry.jobs:
        print("Timed jobs (--scenario NAME):")
        for job in registry.jobs.values():
            goal = f"target < {job.target_seconds:g} s" if job.target_seconds else "no target"
            print(f"  {job.name:<22} {goal}: {job.description}")


def _bench(options: argparse.Namespace, registry: Registry, selected: list[Scenario | Job]) -> int:
    from django.core.management import call_command

    if options.reset:
        say(f"Dropping the database {options.database} ...")
        embedded.psql(f'DROP DATABASE IF EXISTS "{options.database}" WITH (FORCE)')
    embedded.ensure_database(options.database)
    say(f"Migrating the database {options.database} ...")
    call_command("migrate", interactive=False, verbosity=0)
    sizes = build_data(registry, options)
    if options.data_only:
        return 0

    scenarios = [item for item in selected if isinstance(item, Scenario)]
    jobs = [item for item in selected if isinstance(item, Job)]
    urls = {item.slug: item.url_list() for item in scenarios}
    warmup = options.warmup if options.warmup is not None else 5 * options.workers
    results: dict[str, Any] = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": options.database,
        "data": sizes,
        "server": {"software": "gunicorn", "workers": options.workers, "worker_class": "sync"},
        "concurrency": options.concurrency,
        "warmup_requests": warmup,
        "load_average": {"start": _load_average(), "end": None},
        "scenarios": {},
        "jobs": {},
    }
    say(f"Load average (1, 5, 15 min): {results['load_average']['start']}")
    if scenarios:
        _measure_pages(options, scenarios, urls, warmup, results)
    if jobs:
        # After the pages, with gunicorn stopped: a job has the machine to itself.
        print_job_header()
        for job in jobs:
            results["jobs"][job.name] = run_job(job)
            print_job_row(job.name, results["jobs"][job.name])
        _vacuum_after_jobs()
    results["load_average"]["end"] = _load_average()
    say(f"Load average (1, 5, 15 min): {results['load_average']['end']}")
    results["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    failed = print_notes(results["scenarios"])
    failed = print_job_notes(results["jobs"]) or failed
    say(f"Results written to {options.output}")
    return 1 if failed else 0


def _measure_pages(
    options: argparse.Namespace,
    scenarios: list[Scenario],
    urls: dict[str, list[str]],
    warmup: int,
    results: dict[str, Any],
) -> None:
    say("Collecting static files ...")
    subprocess.run(  # noqa: S603  (our own fixed command)
        [
            sys.executable,
            str(embedded.BASE_DIR / "manage.py"),
            "collectstatic",
            "--noinput",
            "--verbosity=0",
            "--settings=crm.bench.static_settings",
        ],
        check=True,
        cwd=embedded.BASE_DIR,
        env=embedded.services_env(),
    )
    log_path = embedded.LOG_DIR / "bench-gunicorn.log"
    with GunicornServer(
        env=embedded.services_env(),
        log_path=log_path,
        cwd=embedded.BASE_DIR,
        workers=options.workers,
    ) as server:
        say(f"gunicorn: {options.workers} workers at {server.base_url} (log: {log_path})")
        client = BenchClient(server.base_url)
        print_header()
        for item in scenarios:
            cookies = client.login(item.user, BENCH_PASSWORD) if item.user else None
            if warmup:
                client.run(
                    urls[item.slug], count=warmup, concurrency=options.concurrency, cookies=cookies
                )
            count = options.requests or item.requests
            samples, elapsed = client.run(
                urls[item.slug], count=count, concurrency=options.concurrency, cookies=cookies
            )
            result = {
                "description": item.description,
                "user": item.user,
                "urls": len(urls[item.slug]),
                "expected_status": item.expected_status,
                **summarize(samples, elapsed=elapsed, expected_status=item.expected_status),
            }
            result["target"] = check_target(item, result)
            results["scenarios"][item.name] = result
            print_row(item.name, result)


def check_target(item: Scenario, result: dict[str, Any]) -> dict[str, Any] | None:
    """Whether the scenario met its goals (p95 server time, queries per request, p95 of the
    audit trail's writes), if it has any: ``{"p95_ms": 50, "max_queries": 15,
    "audit_p95_ms": None, "met": False, "missed": ["p95 61.2 ms > 50 ms"]}``.
    Only reported: timings depend on the machine, so a miss does not fail the run."""
    goals = (item.target_p95_ms, item.max_queries, item.target_audit_p95_ms)
    if all(goal is None for goal in goals):
        return None
    missed = []
    server, queries = result["server_ms"], result["queries"]
    if item.target_p95_ms is not None:
        if server is None:
            missed.append("no successful request")
        elif server["p95"] >= item.target_p95_ms:
            missed.append(f"p95 {server['p95']:.1f} ms >= {item.target_p95_ms:g} ms")
    if item.max_queries is not None and queries is not None and queries["max"] > item.max_queries:
        missed.append(f"{queries['max']} queries > {item.max_queries}")
    if item.target_audit_p95_ms is not None:
        audit = result.get("audit_ms")
        if audit is None:
            missed.append("no audit write measured")
        elif audit["p95"] >= item.target_audit_p95_ms:
            missed.append(f"audit p95 {audit['p95']:.2f} ms >= {item.target_audit_p95_ms:g} ms")
    return {
        "p95_ms": item.target_p95_ms,
        "max_queries": item.max_queries,
        "audit_p95_ms": item.target_audit_p95_ms,
        "met": not missed,
        "missed": missed,
    }


def run_job(item: Job) -> dict[str, Any]:
    """Run a timed job once, in a transaction that is rolled back (the data set stays as it
    was), counting its SQL queries; what it did, how long it took and whether it was in time."""
    from django.db import connection, transaction

    timer = JobTimer()

    def count_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        timer.queries_run += 1
        return execute(sql, params, many, context)

    result: dict[str, Any] = {
        "description": item.description,
        "target_seconds": item.target_seconds,
        "status": "ok",
        "seconds": None,
        "queries": None,
        "met_target": None,
        "details": {},
        "error": None,
    }
    try:
        with transaction.atomic():
            try:
                with connection.execute_wrapper(count_query):
                    started = time.perf_counter()
                    details = item.run(timer)
                    whole = time.perf_counter() - started
            finally:
                transaction.set_rollback(True)
    except SkipJob as skip:
        result["status"] = "skipped"
        result["error"] = str(skip)
        return result
    except Exception as error:  # reported, and the run fails; the other jobs still run
        result["status"] = "error"
        result["error"] = f"{type(error).__name__}: {error}"
        print(traceback.format_exc(), file=sys.stderr, flush=True)
        return result
    seconds = timer.seconds if timer.seconds is not None else whole
    result["seconds"] = round(seconds, 3)
    result["queries"] = timer.queries if timer.queries is not None else timer.queries_run
    result["details"] = dict(details or {})
    if item.target_seconds is not None:
        result["met_target"] = seconds < item.target_seconds
    return result


def _vacuum_after_jobs() -> None:
    """The jobs' rolled-back writes leave dead rows and index entries behind: cleaned now, so
    that the next run measures the data set as it was built."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM")


def _load_average() -> list[float] | None:
    """The machine's load (1, 5, 15 minutes) at the end: timings from a busy machine vary."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def build_data(registry: Registry, options: argparse.Namespace) -> dict[str, int]:
    """Run every generator up to its requested size; return the sizes the data set has."""
    from django.db import connection, transaction

    sizes: dict[str, int] = {}
    created_any = False
    for item in registry.generators.values():
        wanted = requested_size(
            item.default, explicit=getattr(options, item.dest), scale=options.scale
        )
        have = item.count()
        if have >= wanted:
            say(f"Data: {item.name}: {have:_} already (asked for {wanted:_}).")
            sizes[item.name] = have
            _finish_generator(item)
            continue
        say(f"Data: {item.name}: {have:_} -> {wanted:_} ...")
        started = time.monotonic()
        for start in range(have, wanted, item.chunk):
            stop = min(start + item.chunk, wanted)
            with transaction.atomic():
                item.create(start, stop)
            if wanted - have > item.chunk:
                say(f"  {item.name}: {stop:_} / {wanted:_}")
        sizes[item.name] = item.count()
        if sizes[item.name] != wanted:
            raise BenchError(
                f"The {item.name} generator was asked for {wanted:_} and the database has "
                f"{sizes[item.name]:_}: its count() and create() disagree."
            )
        _finish_generator(item)
        say(f"Data: {item.name}: done in {time.monotonic() - started:.1f} s.")
        created_any = True
    if created_any:
        # As autovacuum would leave a live server's tables: planner statistics, and a visibility
        # map and hint bits set (else the first pages measured would pay for them, and index-only
        # scans could not be used).
        # (VACUUM cannot run in a transaction: a caller's, in the tests, gets ANALYZE only.)
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        say(f"Data: {command} ...")
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(command)
        say(f"Data: {command} done in {time.monotonic() - started:.1f} s.")
    return sizes


def _finish_generator(item: Generator) -> None:
    from django.db import transaction

    if item.finish is None:
        return
    started = time.monotonic()
    with transaction.atomic():
        item.finish()
    seconds = time.monotonic() - started
    if seconds >= 1:
        say(f"  {item.name}: finished (e.g. indexes built) in {seconds:.1f} s")


def git_commit() -> str | None:
    """The checkout's commit (short), for the results; None outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=embedded.BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


_COLUMNS = "{:<24} {:>8} {:>6} {:>9} {:>9} {:>8} {:>8}  {}"
_JOB_COLUMNS = "{:<24} {:>9} {:>9} {:>8}  {}"


def print_header() -> None:
    print()
    print(
        _COLUMNS.format(
            "scenario", "requests", "errors", "p50 ms", "p95 ms", "req/s", "queries", "target"
        )
    )


def _target_text(target: dict[str, Any] | None) -> str:
    if target is None:
        return ""
    goals = []
    if target["p95_ms"] is not None:
        goals.append(f"p95<{target['p95_ms']:g}")
    if target["max_queries"] is not None:
        goals.append(f"q<={target['max_queries']}")
    if target.get("audit_p95_ms") is not None:
        goals.append(f"audit<{target['audit_p95_ms']:g}")
    return " ".join(goals) + (" ok" if target["met"] else " MISSED")


def print_row(name: str, result: dict[str, Any]) -> None:
    server = result["server_ms"] or {}
    queries = result["queries"]
    if queries is None:
        shown_queries = "-"
    elif queries["varies"]:
        shown_queries = f"{queries['min']}-{queries['max']} !"
    else:
        shown_queries = str(queries["per_request"])
    print(
        _COLUMNS.format(
            name[:24],
            result["requests"],
            result["errors"],
            f"{server['p50']:.2f}" if server else "-",
            f"{server['p95']:.2f}" if server else "-",
            f"{result['requests_per_second']:.1f}" if result["requests_per_second"] else "-",
            shown_queries,
            _target_text(result.get("target")),
        ).rstrip(),
        flush=True,
    )


def print_job_header() -> None:
    print()
    print(_JOB_COLUMNS.format("job", "seconds", "target s", "queries", "result"))


def print_job_row(name: str, result: dict[str, Any]) -> None:
    if result["status"] == "ok":
        if result["met_target"] is None:
            outcome = "done"
        else:
            outcome = "ok" if result["met_target"] else "MISSED"
    else:
        outcome = result["status"]
    target = result["target_seconds"]
    print(
        _JOB_COLUMNS.format(
            name[:24],
            f"{result['seconds']:.2f}" if result["seconds"] is not None else "-",
            f"< {target:g}" if target is not None else "-",
            result["queries"] if result["queries"] is not None else "-",
            outcome,
        ),
        flush=True,
    )


def print_job_notes(jobs: dict[str, dict[str, Any]]) -> bool:
    """The jobs' details and problems; True when some job failed."""
    failed = False
    for name, result in jobs.items():
        if result["status"] == "error":
            failed = True
            print(f"  ! {name}: failed: {result['error']}")
        elif result["status"] == "skipped":
            print(f"  - {name}: skipped: {result['error']}")
        elif result["details"]:
            shown = ", ".join(f"{key} {value}" for key, value in result["details"].items())
            print(f"  {name}: {shown}")
    return failed


def print_notes(scenarios: dict[str, dict[str, Any]]) -> bool:
    """Explain the flags of the table; True when some scenario had errors."""
    print()
    failed = False
    for name, result in scenarios.items():
        if result["errors"]:
            failed = True
            print(
                f"  ! {name}: {result['errors']} of {result['requests']} requests did not answer "
                f"{result['expected_status']} with the bench headers; statuses: "
                f"{result['statuses']}"
            )
        queries = result["queries"]
        if queries and queries["varies"]:
            spread = ", ".join(
                f"{count} queries x {times}" for count, times in queries["counts"].items()
            )
            print(f"  ! {name}: the SQL query count differs between requests ({spread})")
        if result.get("audit_ms"):
            audit = result["audit_ms"]
            print(
                f"  {name}: the audit trail's writes took p50 {audit['p50']:.2f} ms, "
                f"p95 {audit['p95']:.2f} ms of each request"
            )
        target = result.get("target")
        if target and not target["met"]:
            print(f"  ! {name}: target missed: {'; '.join(target['missed'])}")
    if scenarios:
        print("  p50/p95: server time (Server-Timing); req/s: throughput at the given concurrency.")
    return failed
