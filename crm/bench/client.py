"""The benchmark's HTTP client: logs in through the real login form, then requests pages from a
pool of threads and records what each response says about itself (bench headers)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests

from crm.bench.stats import Sample, parse_query_count, parse_server_timing

LOGIN_PATH = "/accounts/login/"
_CSRF_INPUT = re.compile(
    r"""<input[^>]*name=["']csrfmiddlewaretoken["'][^>]*value=["']([^"']+)["']""", re.I
)


class LoginError(RuntimeError):
    pass


class BenchClient:
    def __init__(self, base_url: str, *, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def login(self, username: str, password: str) -> dict[str, str]:
        """Log in as a user would (form page, CSRF token, POST); return the session's cookies."""
        with requests.Session() as session:
            url = self.base_url + LOGIN_PATH
            page = session.get(url, timeout=self.timeout)
            match = _CSRF_INPUT.search(page.text)
            if page.status_code != 200 or match is None:
                raise LoginError(f"The login page answered {page.status_code} without a form.")
            answer = session.post(
                url,
                data={
                    "csrfmiddlewaretoken": match.group(1),
                    "username": username,
                    "password": password,
                    "next": "/",
                },
                headers={"Referer": url},
                allow_redirects=False,
                timeout=self.timeout,
            )
            if answer.status_code != 302:
                raise LoginError(
                    f"Logging in as {username!r} failed (HTTP {answer.status_code}): does that "
                    "user exist in the bench database (see the generators)?"
                )
            return session.cookies.get_dict()

    def fetch(self, session: requests.Session, path: str) -> Sample:
        started = time.perf_counter()
        try:
            response = session.get(
                self.base_url + path, allow_redirects=False, timeout=self.timeout
            )
        except requests.RequestException:
            return Sample(path, 0, (time.perf_counter() - started) * 1000, None, None)
        client_ms = (time.perf_counter() - started) * 1000
        return Sample(
            url=path,
            status=response.status_code,
            client_ms=client_ms,
            server_ms=parse_server_timing(response.headers.get("Server-Timing")),
            queries=parse_query_count(response.headers.get("X-SQL-Queries")),
            audit_ms=parse_server_timing(response.headers.get("Server-Timing"), "audit"),
        )

    def run(
        self,
        paths: Sequence[str],
        *,
        count: int,
        concurrency: int,
        cookies: dict[str, str] | None = None,
    ) -> tuple[list[Sample], float]:
        """Make ``count`` requests cycling through ``paths``, ``concurrency`` at a time.

        Returns the samples (in request order) and the wall-clock seconds they took together.
        """
        local = threading.local()
        sessions: list[requests.Session] = []
        lock = threading.Lock()

        def one(index: int) -> Sample:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.cookies.update(cookies or {})
                with lock:
                    sessions.append(session)
            return self.fetch(session, paths[index % len(paths)])

        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench")
        try:
            started = time.perf_counter()
            samples = list(pool.map(one, range(count)))
            elapsed = time.perf_counter() - started
        finally:
            # On Ctrl-C or SIGTERM, drop the requests not yet made instead of making them all.
            pool.shutdown(wait=True, cancel_futures=True)
            for session in sessions:
                session.close()
        return samples, elapsed
