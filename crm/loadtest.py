"""``make loadtest`` (``python -m crm.embedded loadtest -- [flags]``): a mixed workload against a
production-like server on the benchmark data set, for a set time, with Locust (docs/loadtest.md).

1. The bench data set (``make bench``'s database, ``crm_bench``) is built if it is missing, by
   ``make bench --data-only`` itself; load-test accounts of the roles the bench lacks are added.
2. A production-like server: gunicorn (sync workers, (2 x cores) + 1), ``DEBUG`` off, the static
   files collected with their manifest and served by WhiteNoise, no bench headers; a Celery worker
   issuing the receipts of the filings; an SMTP server of its own catching the receipts' emails.
3. Staff members are logged in through the real login form (one session each); then Locust
   (crm/bench/load_workload.py) runs headless: staff browsing lists, 360° pages and cases at an
   offered rate, and citizens filing complaints on the public form at an offered rate.
4. Throughput, p50/p95/p99 and errors per endpoint, the targets (issue #9: >= 300 staff requests/s
   at p95 < 100 ms and >= 100 public submissions/s at the same time, zero errors) and where the
   CPU went go to a JSON file (``.data/loadtest-results.json``) and to the results block of
   docs/loadtest.md.

The public forms' anti-abuse stays as in production (honeypot left empty, the minimum fill time
waited for), except the per-address limit of filings: every simulated citizen comes from
127.0.0.1, so the load-test server (only it) runs with ``SEDE_FILING_LIMIT`` above the run's
number of filings.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from crm import embedded
from crm.bench.runner import (
    DEFAULT_DATABASE,
    bench_env,
    count_argument,
    git_commit,
    positive_argument,
)
from crm.bench.server import DEFAULT_WORKERS
from crm.bench.stats import percentile

STAFF_TARGET_RPS = 300
STAFF_TARGET_P95_MS = 100
SUBMISSIONS_TARGET_RPS = 100
DEFAULT_OUTPUT = embedded.DATA_DIR / "loadtest-results.json"
DEFAULT_REPORT = embedded.BASE_DIR / "docs" / "loadtest.md"
WORKLOAD = Path(__file__).resolve().parent / "bench" / "load_workload.py"
RESULTS_START = "<!-- results -->"
RESULTS_END = "<!-- /results -->"

FORM_PATH = "/sede/queja/"
RECEIPT_PATH = "/sede/justificante/"
# New citizens' DNIs: numbers of the citizens' bench formula (a bijection of 0..10^8 - 1) far
# above its people (0..~1M) and the submissions benchmark's (20M..70M): nobody has them yet. Each
# run takes a block of its own among DNI_BLOCKS.
DNI_BASE = 70_000_000
DNI_BLOCK = 100_000  # DNIs a run may use at most
DNI_BLOCKS = 300  # DNI_BASE + 300 x 100,000 = 10^8
# Each citizen starts a filing every (minimum fill time + CYCLE_EXTRA) seconds: the time a
# person takes beyond the minimum (0.2-1 s in the workload) plus the three requests.
CYCLE_EXTRA = 2.0

# The roles of the staff sessions, in the proportions they are handed out (10 sessions: 3
# citizen service, 3 case handlers, 2 promotion, 1 administrator, 1 inspector).
ROLE_ROTATION = (
    "citizen_service", "case_handler", "promotion", "citizen_service", "case_handler",
    "administrator", "citizen_service", "case_handler", "promotion", "inspector",
)  # fmt: skip
LOADTEST_ACCOUNTS = {"citizen_service": "loadtest-atencion", "promotion": "loadtest-comercial"}
ACCOUNTS_PER_ROLE = 3


class LoadTestError(embedded.EmbeddedError):
    """The load test cannot run; the message says why."""


def say(message: str) -> None:
    print(f"[loadtest] {message}", flush=True)


def _rate(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _positive_rate(text: str) -> float:
    value = _rate(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make loadtest ARGS=...",
        description=(
            "A mixed workload (staff pages, public submissions) with Locust against gunicorn "
            "on the bench data set (docs/loadtest.md). Flags it does not know go to "
            "`make bench --data-only` (data set sizes: --scale, --people N, ...)."
        ),
    )
    add = parser.add_argument
    add(
        "--duration",
        type=positive_argument,
        default=60,
        metavar="S",
        help="seconds measured, after every simulated user has started (default 60)",
    )
    add(
        "--users",
        type=count_argument,
        default=30,
        metavar="N",
        help="staff members browsing at once, each with a session of their own (default 30)",
    )
    add(
        "--staff-rate",
        type=_rate,
        default=STAFF_TARGET_RPS,
        metavar="R",
        help=f"staff requests a second offered, shared by the staff users "
        f"(default {STAFF_TARGET_RPS})",
    )
    add(
        "--submission-rate",
        type=_rate,
        default=SUBMISSIONS_TARGET_RPS,
        metavar="R",
        help=f"public submissions a second offered (default {SUBMISSIONS_TARGET_RPS}); the "
        "number of citizens follows from it and the minimum fill time",
    )
    add(
        "--spawn-rate",
        type=_positive_rate,
        default=100,
        metavar="R",
        help="simulated users started a second (default 100)",
    )
    add(
        "--workers",
        type=positive_argument,
        default=DEFAULT_WORKERS,
        help=f"gunicorn sync workers (default {DEFAULT_WORKERS}: (2 x 2 cores) + 1)",
    )
    add(
        "--receipt-workers",
        type=count_argument,
        default=1,
        metavar="N",
        help="Celery processes issuing the receipts (default 1; 0: none, receipts stay queued)",
    )
    add(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"the bench database (default {DEFAULT_DATABASE}, as make bench)",
    )
    add("--reset", action="store_true", help="build the bench database anew first")
    add(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="PATH",
        help="the JSON results (default .data/loadtest-results.json)",
    )
    add(
        "--report",
        type=Path,
        default=DEFAULT_REPORT,
        metavar="PATH",
        help="the Markdown report whose results block is replaced (default docs/loadtest.md)",
    )
    add("--no-report", action="store_true", help="write the JSON file only")
    return parser  # fmt: skip


def run(argv: Sequence[str]) -> int:
    """The ``loadtest`` command of ``crm.embedded``: 0 when no request failed."""
    try:
        return _run(argv)
    except embedded.EmbeddedError as error:
        say(str(error))
        return 1
    except KeyboardInterrupt:
        say("Interrupted; everything started is stopped and no results were written.")
        return 130


def _run(argv: Sequence[str]) -> int:
    if os.environ.get("DATABASE_URL"):
        raise LoadTestError(
            "make loadtest uses the bench database on the embedded PostgreSQL; unset DATABASE_URL."
        )
    options, data_flags = parser().parse_known_args(argv)
    if options.database in {embedded.PG_DATABASE, "postgres", "template0", "template1"}:
        raise LoadTestError(f"{options.database!r} is not a database for load tests.")
    if not options.database.isidentifier():
        raise LoadTestError(f"Not a plain database name: {options.database!r}")
    if not options.users and not options.submission_rate:
        raise LoadTestError("Nothing to do: no staff users and no submissions.")
    if options.users and not options.staff_rate:
        raise LoadTestError("Staff users need a --staff-rate above 0 (or --users 0).")
    started: list[str] = []
    with _stop_on_sigterm(), tempfile.TemporaryDirectory(prefix="crm-loadtest-") as workdir:
        try:
            if embedded.postgres_start():
                started.append("postgres")
            if not os.environ.get("REDIS_URL") and embedded.redis_start():
                started.append("redis")
            build_data(options, data_flags)
            env = bench_env(database=options.database, static_root=Path(workdir) / "static")
            # Production-like: no bench headers (their middleware counts every query).
            env["BENCH_HEADERS"] = "false"
            os.environ.update(env)
            import django

            django.setup()
            return _load_test(options, Path(workdir))
        finally:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            embedded.stop_services(started)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM and SIGHUP raise SystemExit, so that the server, the worker and Locust are
    stopped on the way out (as ``make bench`` does)."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_data(options: argparse.Namespace, data_flags: Sequence[str]) -> None:
    """``make bench --data-only``: migrate and build what is missing of the data set."""
    command = [sys.executable, "-m", "crm.embedded", "bench", "--", "--data-only",
               "--database", options.database, *(["--reset"] if options.reset else []),
               *data_flags]  # fmt: skip
    say(f"Data set: {' '.join(command[3:])}")
    result = subprocess.run(command, cwd=embedded.BASE_DIR, env=dict(os.environ), check=False)  # noqa: S603
    if result.returncode != 0:
        raise LoadTestError("Building the bench data set failed (see above).")


# --- Who browses what --------------------------------------------------------------------------


def ensure_accounts() -> dict[str, list[str]]:
    """Usernames per role (password BENCH_PASSWORD): the bench's own users where it has them,
    ``loadtest-*`` accounts (made here once) for the roles it lacks."""
    from django.contrib.auth.hashers import make_password
    from django.db.models import Count

    from cases.models import Case
    from crm.bench import BENCH_PASSWORD, BENCH_USER
    from crm.models import User
    from crm.roles import sync_roles
    from crm.services import user_set_roles

    accounts: dict[str, list[str]] = {"administrator": [BENCH_USER]}
    sync_roles()
    password = None
    for role, prefix in LOADTEST_ACCOUNTS.items():
        names = [f"{prefix}-{k}" for k in range(1, ACCOUNTS_PER_ROLE + 1)]
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        for name in names:
            if name not in existing:
                password = password or make_password(BENCH_PASSWORD)
                user = User.objects.create(
                    username=name, password=password, email=f"{name}@loadtest.example"
                )
                user_set_roles(user=user, roles=[role])
        accounts[role] = names
    # The case handlers of the unit with most cases (the bench's cases-<unit>-1..3).
    busiest = Case.objects.values("unit__code").annotate(n=Count("id")).order_by("-n").first() or {}
    handlers = list(
        User.objects.filter(username__startswith=f"cases-{busiest.get('unit__code')}-")
        .order_by("username")
        .values_list("username", flat=True)
    )
    if handlers:
        accounts["case_handler"] = handlers
    inspectors = [f"fieldwork-{k}" for k in range(1, ACCOUNTS_PER_ROLE + 1)]
    found = set(User.objects.filter(username__in=inspectors).values_list("username", flat=True))
    if found:
        accounts["inspector"] = [name for name in inspectors if name in found]
    return accounts


def _spread(model: Any, count: int, queryset: Any = None) -> list[int]:
    """Primary keys of ``count`` rows spread over the table (or a user's part of it)."""
    from django.db.models import Max, Min

    rows = queryset if queryset is not None else model.objects.all()
    bounds = rows.aggregate(first=Min("pk"), last=Max("pk"))
    first, last = bounds["first"], bounds["last"]
    if first is None:
        return []
    wanted = sorted({first + (last - first) * i // max(count - 1, 1) for i in range(count)})
    # The first row at or after each point (ids have holes: merged people, other tests).
    picked = []
    for pk in wanted:
        found = rows.filter(pk__gte=pk).order_by("pk").values_list("pk", flat=True).first()
        if found is not None and found not in picked:
            picked.append(found)
    return picked


def page(name: str, urls: Sequence[str], weight: int) -> dict[str, Any]:
    return {"name": name, "urls": list(urls), "weight": weight}


def staff_pages(accounts: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Each role's pages, weighted by how often a person of that role opens them."""
    from cases.bench.scenarios import handler_queue_urls, queue_by_unit_urls, queue_urls
    from cases.models import Case
    from citizens.bench import deep_page_urls, search_urls
    from citizens.models import Person
    from crm.models import User
    from sales.models import Pipeline, Stage

    people = [f"/citizens/people/{pk}/" for pk in _spread(Person, 50, Person.objects.in_use())]
    cases = [f"/cases/{pk}/" for pk in _spread(Case, 40)]
    try:
        filtered_queue = queue_by_unit_urls()
    except RuntimeError:  # no bench unit
        filtered_queue = []
    people_lists = ["/citizens/", *deep_page_urls(page_number=20, pages=5)]
    opportunities = ["/sales/opportunities/", "/sales/opportunities/?status=open"]
    boards = []
    for pipeline in Pipeline.objects.order_by("pk")[:3]:
        boards.append(f"/sales/board/{pipeline.pk}/")
        opportunities += [
            f"/sales/opportunities/?stage={pk}"
            for pk in Stage.objects.filter(pipeline=pipeline).values_list("pk", flat=True)[:5]
        ]
    pages = {
        "administrator": [
            page("home page", ["/"], 1),
            page("case queue", queue_urls(), 2),
            page("case queue filtered", filtered_queue, 2),
            page("case page", cases, 3),
            page("person 360", people, 2),
        ],
        "citizen_service": [
            page("people list", people_lists, 2),
            page("people search", search_urls(), 3),
            page("person 360", people, 4),
            page("case queue filtered", filtered_queue, 1),
            page("case page", cases, 1),
        ],
        "promotion": [
            page("opportunity list", opportunities, 4),
            page("pipeline board", boards, 2),
            page("person 360", people, 2),
        ],
    }
    if "case_handler" in accounts:
        handler = User.objects.get(username=accounts["case_handler"][0])
        theirs = Case.objects.for_user(handler)
        pages["case_handler"] = [
            page("case queue", handler_queue_urls(), 3),
            page("case page", [f"/cases/{pk}/" for pk in _spread(Case, 30, theirs)], 4),
            page("person 360", people, 1),
        ]
    if "inspector" in accounts:
        months = [f"/sales/calendar/?view=month&date=2026-{month:02d}-15" for month in (1, 6, 11)]
        pages["inspector"] = [
            page("visit list", ["/sales/visits/"], 2),
            page("calendar month", months, 2),
            page("person 360", people, 1),
        ]
    return {
        role: [item for item in items if item["urls"]]
        for role, items in pages.items()
        if role in accounts
    }


def session_roles(users: int, roles: set[str]) -> list[str]:
    """The role of each of ``users`` staff sessions, in ROLE_ROTATION's proportions."""
    rotation = [role for role in ROLE_ROTATION if role in roles]
    return [rotation[i % len(rotation)] for i in range(users)] if rotation else []


def log_in(base_url: str, usernames: Sequence[str]) -> list[dict[str, str]]:
    """A session per username, each through the login form (CSRF token, POST, redirect)."""
    from crm.bench import BENCH_PASSWORD
    from crm.bench.client import BenchClient

    client = BenchClient(base_url)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda name: client.login(name, BENCH_PASSWORD), usernames))


def warm_up(base_url: str, sessions: list[dict[str, Any]], pages: dict[str, list]) -> None:
    """The first URLs of every planned page once as its role (the workers connect and load
    their templates; a page that does not answer 200 stops the run here, before anything is
    measured)."""
    first = {}
    for session in sessions:
        first.setdefault(session["role"], session["cookies"])
    jobs = [
        (role, url, cookies)
        for role, cookies in first.items()
        for item in pages[role]
        for url in item["urls"][:3]
    ]

    def get(job: tuple[str, str, dict]) -> tuple[str, str, int]:
        role, url, cookies = job
        answer = requests.get(base_url + url, cookies=cookies, allow_redirects=False, timeout=120)
        return role, url, answer.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        for role, url, status in pool.map(get, jobs):
            if status != 200:
                raise LoadTestError(f"{url} answered {status} to {role} in the warm-up.")
    for _ in range(10):
        answer = requests.get(base_url + FORM_PATH, timeout=120)
        if answer.status_code != 200:
            raise LoadTestError(f"{FORM_PATH} answered {answer.status_code} in the warm-up.")


def subject_area(base_url: str) -> str:
    html = requests.get(base_url + FORM_PATH, timeout=60).text
    select = re.search(r"""<select[^>]*name=["']subject_area["'][^>]*>(.*?)</select>""", html, re.S)
    options = re.findall(r"""<option[^>]*value=["'](\d+)["']""", select.group(1) if select else "")
    if not options:
        raise LoadTestError(f"{FORM_PATH} has no subject area to choose.")
    return options[0]


# --- Where the CPU goes -------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds of the processes of the machine, by who they are (gunicorn and its workers,
    the Celery worker, Locust, PostgreSQL, Redis, anything else), sampled every second between
    ``start()`` and ``stop()``."""

    GROUPS = ("gunicorn", "celery", "locust", "postgres", "redis", "other")

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots  # group -> pid of its top process
        self.seconds = dict.fromkeys(self.GROUPS, 0.0)
        self.busy = 0.0
        self.elapsed = 0.0
        self._last: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _group(self, process: Any, pids: dict[int, str]) -> str:
        if process.pid in pids:
            return pids[process.pid]
        name = process.info.get("name") or ""
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("redis"):
            return "redis"
        return "other"

    def _sample(self) -> dict[tuple[int, float], tuple[str, float]]:
        import psutil

        pids: dict[int, str] = {}
        for group, pid in self.roots.items():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                for process in [root, *root.children(recursive=True)]:
                    pids[process.pid] = group
        seen = {}
        for process in psutil.process_iter(["name", "cpu_times", "create_time"]):
            times = process.info.get("cpu_times")
            if times is None:
                continue
            key = (process.pid, process.info.get("create_time") or 0.0)
            seen[key] = (self._group(process, pids), times.user + times.system)
        return seen

    def _loop(self) -> None:
        import psutil

        cpu = psutil.cpu_times()
        previous_busy = sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0)
        previous_at = time.monotonic()
        self._last = {key: value for key, (_g, value) in self._sample().items()}
        while not self._stop.wait(1.0):
            sample = self._sample()
            for key, (group, value) in sample.items():
                self.seconds[group] += max(0.0, value - self._last.get(key, value))
            self._last = {key: value for key, (_g, value) in sample.items()}
            cpu = psutil.cpu_times()
            busy = sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0)
            self.busy += busy - previous_busy
            previous_busy = busy
            now = time.monotonic()
            self.elapsed += now - previous_at
            previous_at = now

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        elapsed = self.elapsed or 1.0
        return {
            "seconds": round(self.elapsed, 1),
            "cores": os.cpu_count(),
            "busy_cores": round(self.busy / elapsed, 2),
            "cores_by_process": {
                group: round(seconds / elapsed, 2) for group, seconds in self.seconds.items()
            },
        }


# --- The run ------------------------------------------------------------------------------------


def _load_test(options: argparse.Namespace, workdir: Path) -> int:
    from django.conf import settings

    from cases.antiabuse import FILINGS
    from cases.bench.submissions import celery_workers, smtp_server
    from crm.celery import app

    say("Planning the staff's pages ...")
    accounts = ensure_accounts()
    pages = staff_pages(accounts)
    roles = session_roles(options.users, set(pages))
    counters = dict.fromkeys(accounts, 0)
    usernames = []
    for role in roles:
        usernames.append(accounts[role][counters[role] % len(accounts[role])])
        counters[role] += 1

    min_fill = settings.SEDE_MIN_FILL_SECONDS
    cycle = min_fill + CYCLE_EXTRA
    citizens = math.ceil(options.submission_rate * cycle)
    total_users = len(roles) + citizens
    ramp = math.ceil(total_users / options.spawn_rate)
    run_seconds = ramp + options.duration
    # Each citizen files at most once per cycle (and once more at the start).
    documents = min(DNI_BLOCK, citizens * (math.ceil(run_seconds / cycle) + 2))
    filing_limit = max(settings.SEDE_FILING_LIMIT, 2 * documents)
    run_id = uuid.uuid4().hex[:8]
    email_domain = f"{run_id}.loadtest.example"

    from citizens.bench import dni_for

    dni_start = DNI_BASE + int(run_id, 16) % DNI_BLOCKS * DNI_BLOCK
    say(f"Collecting static files into {workdir / 'static'} ...")
    subprocess.run(  # noqa: S603 (our own fixed command)
        [sys.executable, str(embedded.BASE_DIR / "manage.py"), "collectstatic", "--noinput",
         "--verbosity=0", "--settings=crm.bench.static_settings"],
        check=True, cwd=embedded.BASE_DIR, env=embedded.services_env(),
    )  # fmt: skip
    media = workdir / "media"
    media.mkdir()
    app.control.purge()  # what an earlier, interrupted run left on the bench's queue
    # The filings an earlier run made from 127.0.0.1 this hour do not count against this one.
    FILINGS.reset("127.0.0.1")
    log_dir = embedded.LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started_at": _now(),
        "git_commit": git_commit(),
        "host": host(),
        "load_average_before": _load_average(),
        "database": options.database,
        "data": data_sizes(),
    }
    say(f"Load average before (1, 5, 15 min): {results['load_average_before']}")
    with smtp_server() as (catcher, smtp_port):
        env = {
            **embedded.services_env(),
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "MEDIA_ROOT": str(media),
            "SEDE_FILING_LIMIT": str(filing_limit),
        }
        with contextlib.ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as starter:
            from crm.bench.server import GunicornServer

            # The Celery worker starts while gunicorn does (each takes seconds to be ready).
            worker = starter.submit(
                stack.enter_context,
                celery_workers(env, options.receipt_workers, log_dir / "loadtest-celery.log")
                if options.receipt_workers
                else contextlib.nullcontext(),
            )
            server = stack.enter_context(
                GunicornServer(
                    env=env,
                    log_path=log_dir / "loadtest-gunicorn.log",
                    cwd=embedded.BASE_DIR,
                    workers=options.workers,
                    ready_path=FORM_PATH,
                )
            )
            worker.result()
            say(f"gunicorn: {options.workers} sync workers at {server.base_url}")
            say(f"Logging in {len(usernames)} staff sessions through the login form ...")
            cookies = log_in(server.base_url, usernames)
            sessions = [
                {"role": role, "username": name, "cookies": jar}
                for role, name, jar in zip(roles, usernames, cookies, strict=True)
            ]
            say("Warming up (every kind of page) ...")
            warm_up(server.base_url, sessions, pages)
            plan = {
                "staff": {
                    "sessions": sessions,
                    "pages": pages,
                    "rate_per_user": options.staff_rate / len(roles) if roles else 0,
                },
                "citizens": {
                    "count": citizens,
                    "cycle": cycle,
                    "min_fill_seconds": min_fill,
                    "form": FORM_PATH,
                    "receipt": RECEIPT_PATH,
                    "subject_area": subject_area(server.base_url),
                    "email": "citizen-{n}@" + email_domain,
                    "documents": [dni_for(dni_start + n) for n in range(documents)],
                },
            }
            plan_path = workdir / "plan.json"
            plan_path.write_text(json.dumps(plan))
            stats_path = workdir / "stats.json"
            classes = [*(["Staff"] if roles else []), *(["Citizen"] if citizens else [])]
            command = [sys.executable, "-m", "locust", "-f", str(WORKLOAD), "--headless",
                       "--host", server.base_url, "-u", str(total_users),
                       "-r", f"{options.spawn_rate:g}", "-t", f"{run_seconds}s",
                       # At the end, a citizen half-way through a filing finishes it.
                       "--stop-timeout", f"{cycle + 30:g}",
                       "--only-summary", "--loglevel", "WARNING",
                       "--plan", str(plan_path), "--records", str(stats_path),
                       "--exit-code-on-error", "0", *classes]  # fmt: skip
            say(
                f"Locust: {len(roles)} staff ({options.staff_rate:g} requests/s offered) and "
                f"{citizens} citizens ({options.submission_rate:g} submissions/s offered, a "
                f"filing every {cycle:g} s each), {ramp} s to start them, then "
                f"{options.duration} s measured ..."
            )
            locust_log = log_dir / "loadtest-locust.log"
            with locust_log.open("ab") as log:
                locust = subprocess.Popen(  # noqa: S603 (our own fixed command)
                    command,
                    cwd=embedded.BASE_DIR,
                    env=dict(os.environ),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
                meter = CpuMeter(
                    {"gunicorn": server.process.pid, "locust": locust.pid}
                    | _celery_root(server.process.pid)
                )
                try:
                    # The CPU is measured while the load is on: from the end of the start-up
                    # to the end of --duration (not while the last citizens finish).
                    if _wait(locust, ramp):
                        meter.start()
                        _wait(locust, options.duration)
                    cpu = meter.stop()
                    returncode = locust.wait(run_seconds + cycle + 120)
                except BaseException:
                    meter.stop()
                    locust.kill()
                    locust.wait()
                    raise
            if returncode != 0 or not stats_path.exists():
                raise LoadTestError(f"Locust exited with status {returncode}; see {locust_log}.")
            receipts = catcher.messages
        stats = json.loads(stats_path.read_text())

    from cases.models import Case

    # Each filing answered with the receipt's redirect is a new citizen's case in the database.
    filed_emails = [plan["citizens"]["email"].format(n=n) for n in stats.get("filed", [])]
    filed_cases = Case.objects.filter(filer__email__in=filed_emails).count()
    # Every case of the run's citizens (a filing cut off by the end of the run would show here).
    cases_created = Case.objects.filter(filer__email__endswith="@" + email_domain).count()
    results.update(
        summarize(stats),
        finished_at=_now(),
        load_average_after=_load_average(),
        server={
            "software": "gunicorn",
            "workers": options.workers,
            "worker_class": "sync",
            "receipt_workers": options.receipt_workers,
            "debug": False,
            "static_files": "WhiteNoise, hashed names from the manifest",
            "sede_filing_limit": filing_limit,
            "sede_min_fill_seconds": min_fill,
        },
        workload={
            "duration_seconds": options.duration,
            "ramp_seconds": ramp,
            "staff_users": len(roles),
            "staff_roles": {role: roles.count(role) for role in sorted(set(roles))},
            "staff_rate_offered": options.staff_rate,
            "citizens": citizens,
            "submission_rate_offered": options.submission_rate,
            "citizen_cycle_seconds": cycle,
            "spawn_rate": options.spawn_rate,
        },
        cpu=cpu,
    )
    results["submissions"].update(
        filed_with_case=filed_cases,
        cases_created=cases_created,
        receipts_emailed_during_run=receipts,
        email_domain=email_domain,
    )
    results["targets"] = targets(results)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print_summary(results)
    say(f"Results written to {options.output}")
    if not options.no_report:
        write_report(options.report, results, options.output)
        say(f"Report: {options.report}")
    failed = results["failures_whole_run"] > 0
    if filed_cases != len(filed_emails):
        say(
            f"! {len(filed_emails)} filings answered with the receipt's redirect, but "
            f"{filed_cases} of them have their case in the database."
        )
        failed = True
    return 1 if failed else 0


def _wait(process: subprocess.Popen, seconds: float) -> bool:
    """Wait ``seconds`` for the ramp-up; False when the process ended before."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return True
    return False


def _celery_root(gunicorn_pid: int) -> dict[str, int]:
    """The Celery worker started for this run: a child of ours running ``celery``."""
    import psutil

    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.pid != gunicorn_pid and "celery" in " ".join(child.cmdline()):
                return {"celery": child.pid}
    return {}


# --- The figures --------------------------------------------------------------------------------


def _figures(records: list[list[Any]], seconds: float) -> dict[str, Any]:
    """Requests, failures, requests/s, p50/p95/p99, mean and max of response times (ms)."""
    times = [record[3] for record in records]
    figures: dict[str, Any] = {
        "requests": len(records),
        "failures": sum(1 for record in records if record[4] is not None),
        "per_second": round(len(records) / seconds, 1) if seconds > 0 else None,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "mean_ms": None,
        "max_ms": None,
    }
    if times:
        figures.update(
            p50_ms=round(percentile(times, 50), 1),
            p95_ms=round(percentile(times, 95), 1),
            p99_ms=round(percentile(times, 99), 1),
            mean_ms=round(statistics.fmean(times), 1),
            max_ms=round(max(times), 1),
        )
    return figures


def is_public(name: str) -> bool:
    return name.startswith("public ")


def summarize(stats: dict[str, Any]) -> dict[str, Any]:
    """Per endpoint and in total (staff, public, all), over the requests started while
    measuring: requests, failures, requests/s, p50/p95/p99, mean and max; the submissions; the
    errors of the whole run (while the users started, measuring, and finishing at the end)."""
    window = stats["window"]
    if "start" not in window or "end" not in window:
        raise LoadTestError("Locust ended before every simulated user had started.")
    start, end = window["start"], window["end"]
    seconds = end - start
    records = stats["records"]
    inside = [record for record in records if start <= record[2] < end]
    keys = sorted(
        {(record[0], record[1]) for record in records}, key=lambda key: (is_public(key[0]), key)
    )
    endpoints = []
    for name, method in keys:
        mine = [record for record in inside if record[0] == name and record[1] == method]
        endpoints.append(
            {
                "group": "public" if is_public(name) else "staff",
                "name": name,
                "method": method,
                **_figures(mine, seconds),
                "outside_window": sum(
                    1 for record in records if record[0] == name and record[1] == method
                )
                - len(mine),
            }
        )
    staff = [record for record in inside if not is_public(record[0])]
    public = [record for record in inside if is_public(record[0])]
    posts = [record for record in public if record[1] == "POST"]
    filed = sum(1 for record in posts if record[4] is None)
    errors = Counter((record[1], record[0], record[4]) for record in records if record[4])
    return {
        "measured_seconds": round(seconds, 1),
        "endpoints": endpoints,
        "totals": {
            "staff": _figures(staff, seconds),
            "public": _figures(public, seconds),
            "all": _figures(inside, seconds),
        },
        "requests_whole_run": len(records),
        "failures_whole_run": sum(errors.values()),
        "submissions": {
            "posted": len(posts),
            "filed": filed,
            "per_second": round(filed / seconds, 1) if seconds > 0 else None,
            "filed_whole_run": len(stats.get("filed", [])),
        },
        "errors": [
            {"method": method, "name": name, "error": error, "occurrences": count}
            for (method, name, error), count in sorted(errors.items())
        ],
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    staff = results["totals"]["staff"]
    rate, p95 = staff["per_second"] or 0, staff["p95_ms"]
    submissions = results["submissions"]["per_second"] or 0
    failures = results["failures_whole_run"]
    offered_staff = results["workload"]["staff_rate_offered"]
    offered_public = results["workload"]["submission_rate_offered"]
    # Filings whose answer never came (Locust stopped their citizen at the end): no error was
    # recorded, but nobody would call that a success.
    unanswered = max(
        0, results["submissions"]["cases_created"] - results["submissions"]["filed_whole_run"]
    )
    return [
        {
            "what": "staff pages",
            "target": f">= {STAFF_TARGET_RPS} requests/s at p95 < {STAFF_TARGET_P95_MS} ms",
            "measured": f"{_ms(rate)} requests/s ({_ms(offered_staff)} offered) at p95 "
            f"{_ms(p95)} ms",
            "met": rate >= STAFF_TARGET_RPS and p95 is not None and p95 < STAFF_TARGET_P95_MS,
        },
        {
            "what": "public submissions (at the same time)",
            "target": f">= {SUBMISSIONS_TARGET_RPS} submissions/s",
            "measured": f"{_ms(submissions)} submissions/s ({_ms(offered_public)} offered)",
            "met": submissions >= SUBMISSIONS_TARGET_RPS,
        },
        {
            "what": "errors",
            "target": "0",
            "measured": f"{failures} of {results['requests_whole_run']} requests"
            + (f", {unanswered} filings unanswered at the end" if unanswered else ""),
            "met": failures == 0 and not unanswered,
        },
    ]


# --- The machine --------------------------------------------------------------------------------


def host() -> dict[str, Any]:
    import psutil

    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu_model": model or platform.processor() or None,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
    }


def data_sizes() -> dict[str, int]:
    from cases.models import Case
    from citizens.models import Person
    from sales.models import Opportunity, Visit

    return {
        "people": Person.objects.count(),
        "cases": Case.objects.count(),
        "opportunities": Opportunity.objects.count(),
        "visits": Visit.objects.count(),
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


# --- Output -------------------------------------------------------------------------------------

_COLUMNS = "{:<30} {:>6} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7}"


def _ms(value: Any) -> str:
    """A time or a rate for people: 12.3, 456, 14,976."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")


def print_summary(results: dict[str, Any]) -> None:
    print()
    print(_COLUMNS.format("endpoint", "method", "requests", "errors", "req/s", "p50 ms",
                          "p95 ms", "p99 ms"))  # fmt: skip
    rows = [(f"{e['name']}", e["method"], e) for e in results["endpoints"]]
    rows += [(f"= {group} (all)", "", results["totals"][group]) for group in ("staff", "public")]
    rows.append(("= everything", "", results["totals"]["all"]))
    for name, method, figures in rows:
        print(
            _COLUMNS.format(
                name[:30], method, figures["requests"], figures["failures"],
                _ms(figures["per_second"]), _ms(figures["p50_ms"]), _ms(figures["p95_ms"]),
                _ms(figures["p99_ms"]),
            )
        )  # fmt: skip
    print()
    for target in results["targets"]:
        outcome = "met" if target["met"] else "MISSED"
        print(f"  {target['what']}: {target['measured']} (target {target['target']}): {outcome}")
    for error in results["errors"]:
        print(f"  ! {error['method']} {error['name']}: {error['error']} x {error['occurrences']}")
    note = saturation_note(results)
    if note:
        print(f"  {note}")
    cpu = results["cpu"]
    split = ", ".join(f"{group} {cores:g}" for group, cores in cpu["cores_by_process"].items())
    print(f"  CPU: {cpu['busy_cores']:g} of {cpu['cores']} cores busy ({split})")


def results_markdown(results: dict[str, Any], output: Path) -> str:
    """The generated part of docs/loadtest.md: the latest run."""
    host_, workload, server = results["host"], results["workload"], results["server"]
    started = results["started_at"].replace("T", " ").replace("+00:00", " UTC")
    data = ", ".join(f"{value:,} {name}" for name, value in results["data"].items())
    roles = ", ".join(
        f"{count} {role.replace('_', ' ')}" for role, count in workload["staff_roles"].items()
    )
    lines = [
        f"**Run of {started}**, git commit `{results['git_commit'] or 'unknown'}` (plus the "
        "working tree as it was).",
        "",
        f"- Machine: {host_['cores']} cores ({host_['cpu_model'] or 'unknown CPU'}), "
        f"{host_['ram_gib']:g} GiB RAM, Python {host_['python']}.",
        f"- Load average before the run (1, 5, 15 min): {_triple(results['load_average_before'])}"
        f"; after: {_triple(results['load_average_after'])}.",
        f"- Data set (`{results['database']}`): {data}.",
        f"- Server: gunicorn, {server['workers']} {server['worker_class']} workers, DEBUG off, "
        f"static files by WhiteNoise; {server['receipt_workers']} Celery process(es) for the "
        f"receipts. `SEDE_FILING_LIMIT={server['sede_filing_limit']}` for this server only (every "
        f"citizen comes from 127.0.0.1); `SEDE_MIN_FILL_SECONDS={server['sede_min_fill_seconds']}`"
        " as in production, waited for by every citizen.",
        f"- Workload: {workload['staff_users']} staff sessions ({roles}) offered "
        f"{workload['staff_rate_offered']:g} requests/s; {workload['citizens']} citizens offered "
        f"{workload['submission_rate_offered']:g} submissions/s (one every "
        f"{workload['citizen_cycle_seconds']:g} s each); {workload['ramp_seconds']} s to start "
        f"them, then {results['measured_seconds']:g} s measured.",
        "",
        "| Target | Measured | Result |",
        "|---|---|---|",
    ]
    for target in results["targets"]:
        outcome = "target met" if target["met"] else "**target missed**"
        lines.append(f"| {target['what']}: {target['target']} | {target['measured']} | {outcome} |")
    lines += [
        "",
        "| Who | Endpoint | Method | Requests | Errors | Requests/s | p50 ms | p95 ms | p99 ms "
        "| max ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in results["endpoints"]:
        lines.append(_row(e["group"], e["name"], e["method"], e))
    for group in ("staff", "public"):
        lines.append(_row(f"**{group}**", "**all**", "", results["totals"][group]))
    lines.append(_row("**everyone**", "**all**", "", results["totals"]["all"]))
    note = saturation_note(results)
    if note:
        lines += ["", note]
    submissions = results["submissions"]
    lines += [
        "",
        f"Submissions while measuring: {submissions['posted']} posted, {submissions['filed']} "
        "filed (answered with the redirect to the receipt). In the whole run (with the filings "
        f"finished after the window): {submissions['filed_whole_run']} filed, "
        f"{submissions['filed_with_case']} of them found as cases in the database, "
        f"{submissions['cases_created']} cases of the run's citizens in all"
        + (
            f" ({submissions['cases_created'] - submissions['filed_whole_run']} filings whose "
            "answer had not come when the run stopped the last users)"
            if submissions["cases_created"] > submissions["filed_whole_run"]
            else ""
        )
        + "; "
        f"{submissions['receipts_emailed_during_run']} receipt emails (PDF attached) sent by the "
        "worker before the run ended. Requests started after the window (citizens finishing "
        "their filing) are not in the table; their errors would be counted.",
    ]
    if results["errors"]:
        lines += ["", "Errors:", ""]
        lines += [
            f"- {error['method']} {error['name']}: {error['error']} (x {error['occurrences']})"
            for error in results["errors"]
        ]
    cpu = results["cpu"]
    split = ", ".join(
        f"{group} {cores:g}" for group, cores in cpu["cores_by_process"].items() if cores
    )
    lines += [
        "",
        f"CPU during the measured part: {cpu['busy_cores']:g} of {cpu['cores']} cores busy on "
        f'average; cores used by {split} ("other": processes outside the test, e.g. other '
        "work on the machine).",
        "",
        f"Every figure is in `{_relative(output)}` (written by the run).",
    ]
    return "\n".join(lines)


def saturation_note(results: dict[str, Any]) -> str | None:
    """What the figures mean when the server did not keep up with the offered load."""
    workload = results["workload"]
    staff = results["totals"]["staff"]["per_second"] or 0
    submissions = results["submissions"]["per_second"] or 0
    behind = (workload["staff_users"] and staff < 0.9 * workload["staff_rate_offered"]) or (
        workload["citizens"] and submissions < 0.9 * workload["submission_rate_offered"]
    )
    if not behind:
        return None
    users = workload["staff_users"] + workload["citizens"]
    return (
        f"The server did not keep up with the load offered ({_ms(staff)} of "
        f"{_ms(workload['staff_rate_offered'])} staff requests/s, {_ms(submissions)} of "
        f"{_ms(workload['submission_rate_offered'])} submissions/s): each of the {users} "
        "simulated users waits for its answer, so the times above are mostly waiting in "
        "gunicorn's queue, and the rates are what the server carries with this mix."
    )


def _relative(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(embedded.BASE_DIR))
    return str(path)


def _triple(values: list[float] | None) -> str:
    return ", ".join(f"{value:g}" for value in values) if values else "unknown"


def _row(who: str, name: str, method: str, figures: dict[str, Any]) -> str:
    return (
        f"| {who} | {name} | {method} | {figures['requests']} | {figures['failures']} | "
        f"{_ms(figures['per_second'])} | {_ms(figures['p50_ms'])} | {_ms(figures['p95_ms'])} | "
        f"{_ms(figures['p99_ms'])} | {_ms(figures['max_ms'])} |"
    )


def write_report(path: Path, results: dict[str, Any], output: Path) -> None:
    """Replace the block between the results markers of ``path`` (the rest is written by hand
    and left as it is); a file without the markers gets them, with the block, at its end."""
    block = f"{RESULTS_START}\n{results_markdown(results, output)}\n{RESULTS_END}"
    text = path.read_text() if path.exists() else ""
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(RESULTS_END) :]
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
