"""The public form's submission throughput (docs/benchmarks.md, "Cases"): citizens filing
complaints at ``/sede/queja/`` over HTTP, as fast as a pool of clients can, against gunicorn as a
deployment runs it, with the receipts (PDF with its verification code, then the email) produced
by Celery workers; every receipt email is caught by an SMTP server of the bench's own (aiosmtpd)
and timed from the moment its form was posted.

Each submission is what a citizen's browser does: GET the form (CSRF cookie and token, the
form's signed stamp), then POST it filled in (a new person each time: a DNI nobody has, an email
address of the submission's own), answered by a redirect to the receipt page. The public site's
anti-abuse settings are relaxed for the run (``SEDE_MIN_FILL_SECONDS=0``: the clients do not
wait; ``SEDE_FILING_LIMIT``: every submission comes from 127.0.0.1), nothing else.

Sizes come from the environment: ``BENCH_SUBMISSIONS`` (default 1,000 measured, after 20 for
warming up), ``BENCH_SUBMISSION_CLIENTS`` (default 16 at once), ``BENCH_RECEIPT_WORKERS``
(Celery's processes, default one per core), ``BENCH_RECEIPT_WAIT`` (seconds to wait for the
last receipts, default 600), ``BENCH_SUBMISSION_RATE`` (start the submissions at this many a
second instead of as fast as the clients go: the receipts' latency under a load the machine
keeps up with). The filings stay in the bench database (people, cases, their
receipts); the PDFs go to a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from crm import embedded
from crm.bench import JobTimer, SkipJob, job
from crm.bench.server import DEFAULT_WORKERS, GunicornServer
from crm.bench.stats import percentile

FORM_PATH = "/sede/queja/"
TARGET_RATE = 100  # submissions per second
RECEIPT_TARGET_SECONDS = 10  # p95, from the POST to the email's arrival
WARMUP = 20
NEVER = 1e9  # the "arrival time" of a receipt that never came
# DNIs from the citizens' bench formula, far above its people: nobody has them yet.
DNI_BASE = 20_000_000

_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([\w-]+)=["']([^"']*)["']""")
_AREA = re.compile(r"""<select[^>]*name=["']subject_area["'][^>]*>(.*?)</select>""", re.I | re.S)
_OPTION = re.compile(r"""<option[^>]*value=["'](\d+)["']""", re.I)


def _setting(name: str, value: str | None, default: float) -> float:
    """A size from the environment (``value``, read by the caller), at least 1 when given."""
    number = float(value) if value else default
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")
    return number


def hidden_inputs(html: str) -> dict[str, str]:
    """The name and value of every input of a page that has both (CSRF token, stamp...)."""
    values = {}
    for tag in _INPUT.findall(html):
        attributes = dict(_ATTRIBUTE.findall(tag))
        if "name" in attributes and "value" in attributes:
            values[attributes["name"]] = attributes["value"]
    return values


# --- The SMTP server that times the receipts ---------------------------------------------------


@dataclass
class ReceiptCatcher:
    """An aiosmtpd handler: when each recipient's message arrived, and whether it had a PDF."""

    arrivals: dict[str, float] = field(default_factory=dict)
    with_pdf: int = 0
    messages: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:
        now = time.time()
        content = envelope.original_content or b""
        with self._lock:
            self.messages += 1
            self.with_pdf += b"application/pdf" in content
            for address in envelope.rcpt_tos:
                self.arrivals.setdefault(address.lower(), now)
        return "250 Message accepted for delivery"

    def count(self, addresses: set[str]) -> int:
        with self._lock:
            return len(addresses & self.arrivals.keys())


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[ReceiptCatcher, int]]:
    from aiosmtpd.controller import Controller

    catcher = ReceiptCatcher()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, port
    finally:
        controller.stop()


# --- The Celery workers that issue the receipts ------------------------------------------------


@contextlib.contextmanager
def celery_workers(env: dict[str, str], concurrency: int, log_path: Path) -> Iterator[None]:
    """``celery worker`` (prefork, ``concurrency`` processes) on the bench's queue."""
    from crm.celery import app

    hostname = f"bench-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    command = [
        sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=prefork",
        f"--concurrency={concurrency}", "--loglevel=WARNING", f"--hostname={hostname}",
        f"--queues={env['CELERY_QUEUE']}", "--without-gossip", "--without-mingle",
        "--without-heartbeat",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (our own fixed command)
            command,
            env=env,
            cwd=embedded.BASE_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[hostname], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The Celery worker did not start; see {log_path}.")
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _collect_static(env: dict[str, str]) -> None:
    """The static files with their manifest, as the page scenarios collect them (only when a
    run measures this job alone)."""
    if (Path(env["STATIC_ROOT"]) / "staticfiles.json").exists():
        return
    subprocess.run(  # noqa: S603 (our own fixed command)
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
        env=env,
    )


# --- The clients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    email: str
    posted_at: float  # time.time() when the POST was sent
    post_seconds: float
    form_seconds: float
    status: int


class Citizens:
    """Filled-in complaints, each by a new citizen, sent by a pool of clients."""

    def __init__(self, base_url: str, run: str, subject_area: str) -> None:
        self.base_url = base_url
        self.run = run
        self.subject_area = subject_area

    def data(self, n: int) -> dict[str, str]:
        from citizens.bench import dni_for

        return {
            "given_name": "Lucía",
            "first_surname": "Prueba",
            "second_surname": f"Carga {n}",
            "document_type": "dni",
            "document_number": dni_for(DNI_BASE + int(self.run, 16) % 5_000 * 10_000 + n),
            "email": self.address(n),
            "phone": "",
            "street": "Calle Mayor",
            "street_number": str(1 + n % 90),
            "postcode": "28801",
            "municipality": "Alcalá de Henares",
            "province": "Madrid",
            "subject_area": self.subject_area,
            "subject": "Farola apagada en la calle Mayor",
            "text": (
                "La farola frente al portal lleva una semana apagada y la acera queda a oscuras "
                "por la noche. Ruego que la reparen."
            ),
            "privacy": "on",
        }

    def address(self, n: int) -> str:
        return f"bench-{self.run}-{n}@submissions.example"

    def submit(self, n: int) -> Submission:
        url = self.base_url + FORM_PATH
        with requests.Session() as session:
            started = time.perf_counter()
            page = session.get(url, timeout=60)
            form_seconds = time.perf_counter() - started
            hidden = hidden_inputs(page.text)
            posted_at = time.time()
            started = time.perf_counter()
            answer = session.post(
                url,
                data={**hidden, **self.data(n)},
                headers={"Referer": url},
                allow_redirects=False,
                timeout=60,
            )
            post_seconds = time.perf_counter() - started
        status = answer.status_code
        if status == 302 and not answer.headers.get("Location", "").endswith("/justificante/"):
            status = -302  # redirected somewhere else: not a filing
        return Submission(self.address(n), posted_at, post_seconds, form_seconds, status)

    def send(
        self, numbers: range, clients: int, rate: float | None = None
    ) -> tuple[list[Submission], float]:
        """Send the submissions ``numbers``, ``clients`` at a time: as fast as they go, or
        started at ``rate`` a second (an offered load, whatever the server's pace)."""
        started = time.perf_counter()

        def paced(n: int) -> Submission:
            if rate:
                delay = started + (n - numbers.start) / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            return self.submit(n)

        with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="citizen") as pool:
            submissions = list(pool.map(paced, numbers))
            return submissions, time.perf_counter() - started


def _subject_area(base_url: str) -> str:
    page = requests.get(base_url + FORM_PATH, timeout=60)
    if page.status_code != 200:
        raise RuntimeError(f"{FORM_PATH} answered {page.status_code}.")
    select = _AREA.search(page.text)
    options = _OPTION.findall(select.group(1)) if select else []
    if not options:
        raise RuntimeError(f"{FORM_PATH} has no subject area to choose.")
    return options[0]


def _wait_for_receipts(catcher: ReceiptCatcher, addresses: set[str], seconds: float) -> float:
    """Wait until every address got its receipt (or ``seconds`` pass); the seconds waited."""
    started = time.monotonic()
    while catcher.count(addresses) < len(addresses) and time.monotonic() - started < seconds:
        time.sleep(0.2)
    return time.monotonic() - started


def _ms(values: list[float], p: float) -> float | None:
    return round(percentile(values, p) * 1000, 1) if values else None


def measure(
    *,
    submissions: int,
    clients: int,
    receipt_workers: int,
    wait: float,
    timer: JobTimer | None,
    rate: float | None = None,
) -> dict[str, Any]:
    """Start the SMTP catcher, the workers and gunicorn; send the submissions; wait for their
    receipts; what was measured."""
    from crm.celery import app

    if not os.environ.get("STATIC_ROOT"):
        raise RuntimeError("Run through `make bench`: the bench's environment is missing.")
    run = uuid.uuid4().hex[:8]
    log_dir = embedded.LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="crm-bench-media-") as media,
        smtp_server() as (catcher, port),
    ):
        env = {
            **embedded.services_env(),
            "EMAIL_URL": f"smtp://127.0.0.1:{port}",
            "MEDIA_ROOT": media,
            "SEDE_MIN_FILL_SECONDS": "0",
            "SEDE_FILING_LIMIT": str(10 * (submissions + WARMUP)),
        }
        _collect_static(env)
        app.control.purge()  # what an earlier, interrupted run left on the bench's queue
        with (
            celery_workers(env, receipt_workers, log_dir / "bench-celery.log"),
            GunicornServer(
                env=env,
                log_path=log_dir / "bench-gunicorn.log",
                cwd=embedded.BASE_DIR,
                workers=DEFAULT_WORKERS,
                ready_path=FORM_PATH,
            ) as server,
        ):
            citizens = Citizens(server.base_url, run, _subject_area(server.base_url))
            warmup = min(WARMUP, submissions)
            warm, _seconds = citizens.send(range(warmup), clients)
            _wait_for_receipts(catcher, {s.email for s in warm}, wait)
            numbers = range(warmup, warmup + submissions)
            with timer or contextlib.nullcontext():
                sent, seconds = citizens.send(numbers, clients, rate)
            filed = [s for s in sent if s.status == 302]
            waited = _wait_for_receipts(catcher, {s.email for s in filed}, wait)
    latencies = sorted(
        catcher.arrivals[s.email] - s.posted_at for s in filed if s.email in catcher.arrivals
    )
    missing = len(filed) - len(latencies)
    # A receipt that never came counts as the slowest of all.
    everything = latencies + [NEVER] * missing
    p95 = percentile(everything, 95) if everything else NEVER
    achieved = len(filed) / seconds if seconds else 0.0
    statuses: dict[str, int] = {}
    for s in sent:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    return {
        "submissions": len(sent),
        "filed": len(filed),
        "statuses": statuses,
        "clients": clients,
        "offered_per_second": rate or "as fast as possible",
        "gunicorn_workers": DEFAULT_WORKERS,
        "receipt_workers": receipt_workers,
        "per_second": round(achieved, 1),
        "rate_target_met": achieved >= TARGET_RATE,
        "form_ms_p50": _ms([s.form_seconds for s in sent], 50),
        "post_ms_p50": _ms([s.post_seconds for s in sent], 50),
        "post_ms_p95": _ms([s.post_seconds for s in sent], 95),
        "receipts": len(latencies),
        "receipts_missing": missing,
        "receipts_with_pdf": catcher.with_pdf,
        "receipt_s_p50": round(percentile(latencies, 50), 2) if latencies else None,
        "receipt_s_p95": round(p95, 2) if p95 < NEVER else "missing",
        "receipt_s_max": round(latencies[-1], 2) if latencies else None,
        "receipt_target_met": p95 <= RECEIPT_TARGET_SECONDS,
        "receipts_per_second": round(len(latencies) / (seconds + waited), 1) if latencies else 0.0,
    }


def _form_exists() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("cases_public:form", args=["queja"])
    except NoReverseMatch:
        return False
    return True


@job(
    "public form submissions",
    description=(
        f"Complaints filed at {FORM_PATH} over HTTP by 16 clients at once (form, then POST), "
        "each by a new citizen; the receipts (PDF and email) made by Celery workers and timed "
        f"to their arrival at an SMTP server. Targets: >= {TARGET_RATE} submissions/s, receipt "
        f"email p95 <= {RECEIPT_TARGET_SECONDS} s."
    ),
    target_seconds=1_000 / TARGET_RATE,
)
def public_form_submissions(timer: JobTimer) -> dict[str, Any]:
    if not _form_exists():
        raise SkipJob(f"The public form ({FORM_PATH}) does not exist yet.")
    rate = os.environ.get("BENCH_SUBMISSION_RATE")
    return measure(
        submissions=int(_setting("BENCH_SUBMISSIONS", os.environ.get("BENCH_SUBMISSIONS"), 1_000)),
        clients=int(
            _setting("BENCH_SUBMISSION_CLIENTS", os.environ.get("BENCH_SUBMISSION_CLIENTS"), 16)
        ),
        receipt_workers=int(
            _setting(
                "BENCH_RECEIPT_WORKERS",
                os.environ.get("BENCH_RECEIPT_WORKERS"),
                os.cpu_count() or 2,
            )
        ),
        wait=_setting("BENCH_RECEIPT_WAIT", os.environ.get("BENCH_RECEIPT_WAIT"), 600),
        timer=timer,
        rate=_setting("BENCH_SUBMISSION_RATE", rate, 1) if rate else None,
    )
