"""The server the benchmark measures: gunicorn, as a deployment runs it, on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

# gunicorn's rule of thumb, (2 x cores) + 1, for the 2-core servers the CRM is sized for.
DEFAULT_WORKERS = 2 * 2 + 1


class ServerError(RuntimeError):
    pass


class GunicornServer:
    """``with GunicornServer(env=..., log_path=...) as server:`` serves at ``server.base_url``.

    The listening socket is opened here (on 127.0.0.1, port chosen by the kernel) and handed to
    gunicorn as an inherited file descriptor, so no other process can take the port in between.
    Leaving the block stops gunicorn and its workers, whatever happened inside it.
    """

    def __init__(
        self,
        *,
        env: dict[str, str],
        log_path: Path,
        cwd: Path,
        workers: int = DEFAULT_WORKERS,
        ready_path: str = "/accounts/login/",
        start_timeout: float = 60,
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.workers = workers
        self.ready_path = ready_path
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._log_start = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GunicornServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(2048)
            self.port = listener.getsockname()[1]
            fd = listener.fileno()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                self._log_start = log.tell()
                self.process = subprocess.Popen(  # noqa: S603  (our own fixed command)
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "crm.wsgi:application",
                        f"--bind=fd://{fd}",
                        f"--workers={self.workers}",
                        "--worker-class=sync",
                        "--timeout=60",
                        "--graceful-timeout=5",
                        "--log-level=warning",
                        "--error-logfile=-",
                        # Each gunicorn would share one control socket in the home folder.
                        "--no-control-socket",
                    ],
                    env=self.env,
                    cwd=self.cwd,
                    pass_fds=(fd,),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own process group: stopped by us, all workers with it.
                    start_new_session=True,
                )
        finally:
            listener.close()  # gunicorn has its own copy
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        url = self.base_url + self.ready_path
        while True:
            if self.process.poll() is not None:
                raise ServerError(
                    f"gunicorn exited with status {self.process.returncode} before serving.\n"
                    f"{self.log_tail()}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(url, timeout=5) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            if time.monotonic() > deadline:
                raise ServerError(
                    f"gunicorn did not answer {url} within {self.start_timeout:.0f} s.\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # SIGTERM: gunicorn lets workers finish their request, then exits.
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # Any worker left behind is in gunicorn's own process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 30) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
