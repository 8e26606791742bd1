"""The embedded default: project-local PostgreSQL, Redis and a mail catcher under ``.data/``.

``python -m crm.embedded run``   start what is missing, migrate, load demo data, and run the web
                                 server, a Celery worker and Celery beat until Ctrl-C.
``python -m crm.embedded test``  start PostgreSQL and Redis, run pytest with the given arguments.
``python -m crm.embedded bench`` build the bench data set and measure it (crm.bench).
``python -m crm.embedded loadtest``   a mixed workload with Locust against gunicorn (crm.loadtest).
``python -m crm.embedded start|stop|status``   manage the services by hand.

Services configured through ``DATABASE_URL`` / ``REDIS_URL`` / ``EMAIL_URL`` are used as they are
and never started here. Everything this module starts listens on Unix sockets in ``.data/run/``
(the mail catcher on a free loopback port), so it never clashes with other servers on the machine.
Data lives in ``.data/`` and survives restarts.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
RUN_DIR = DATA_DIR / "run"
LOG_DIR = DATA_DIR / "log"
PG_DATA = DATA_DIR / "postgres"
REDIS_DIR = DATA_DIR / "redis"
REDIS_SOCKET = RUN_DIR / "redis.sock"
REDIS_PIDFILE = RUN_DIR / "redis.pid"
PG_PORT = "5432"  # only names the socket file inside .data/run: no TCP port is opened
PG_USER = "crm"
PG_DATABASE = "crm"
PYTHON = sys.executable
MAX_SOCKET_PATH = 100  # Unix socket paths are limited to 107 bytes on Linux

DEMO_LOGINS = (
    ("admin", "administrator"),
    ("atencion", "citizen service"),
    ("tramitador", "case handler"),
    ("campanas", "communication"),
    ("comercial", "promotion"),
    ("inspector", "inspector"),
    ("direccion", "management"),
    ("dpd", "data protection officer"),
)


class EmbeddedError(RuntimeError):
    """A service could not be started; the message says why and what to do."""


def say(message: str) -> None:
    print(f"[crm] {message}", flush=True)


# --- PostgreSQL ------------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    """A PostgreSQL server binary: Debian keeps them in /usr/lib/postgresql/<version>/bin."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return str(candidates[0])
    found = shutil.which(name)
    if found:
        return found
    raise EmbeddedError(
        f"PostgreSQL's {name} was not found. Install the server (apt-get install postgresql) "
        "or set DATABASE_URL to use an existing database."
    )


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its server tools as the postgres system user."""
    if _running_as_root():
        # From /: the postgres user may not be allowed into the current folder.
        return ["runuser", "-u", "postgres", "--", "env", "-C", "/", *command]
    return command


def _postgres_can_enter(path: Path) -> bool:
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)], check=False
    )
    return probe.returncode == 0


def _outside_checkout() -> Path:
    """Where PostgreSQL's folders go when the postgres user cannot enter the checkout (a
    checkout inside a folder closed to other users, like one made by ``mktemp -d``): a folder
    of /tmp named after the checkout, linked from .data/ so every path stays the same."""
    digest = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:12]
    outside = Path(tempfile.gettempdir()) / f"crm-embedded-{digest}"
    outside.mkdir(mode=0o755, exist_ok=True)
    outside.chmod(0o755)
    return outside


def _link_outside(outside: Path) -> None:
    for folder in (PG_DATA, RUN_DIR, LOG_DIR):
        target = outside / folder.name
        target.mkdir(exist_ok=True)
        if folder.is_symlink():
            continue
        if folder.exists():
            if any(folder.iterdir()):
                raise EmbeddedError(
                    f"The postgres system user cannot enter {BASE_DIR}, and {folder} already "
                    "holds files. Give the checkout's parents o+x (chmod o+x ...), or move it."
                )
            folder.rmdir()
        folder.symlink_to(target, target_is_directory=True)


def _prepare_dirs() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    socket_path = RUN_DIR / f".s.PGSQL.{PG_PORT}"
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        raise EmbeddedError(
            f"The checkout's path is too long for Unix sockets ({socket_path}). "
            "Move the checkout to a shorter path, or set DATABASE_URL and REDIS_URL."
        )
    if _running_as_root() and not _postgres_can_enter(DATA_DIR):
        _link_outside(_outside_checkout())
    for path in (RUN_DIR, LOG_DIR, REDIS_DIR):
        path.mkdir(parents=True, exist_ok=True)
    if _running_as_root():
        PG_DATA.mkdir(parents=True, exist_ok=True)
        for path in (PG_DATA, RUN_DIR, LOG_DIR):
            shutil.chown(path, "postgres", "postgres")
        PG_DATA.chmod(0o700)
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-w", str(RUN_DIR.resolve())], check=False
        )
        if probe.returncode != 0:
            raise EmbeddedError(
                f"The postgres system user cannot reach {RUN_DIR}. Give the checkout's parents "
                "o+x (chmod o+x ...), move the checkout, or set DATABASE_URL."
            )


def postgres_running() -> bool:
    if not (PG_DATA / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "status", "-D", str(PG_DATA.resolve())]),
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def postgres_start(*, fast: bool = False) -> bool:
    """Start the project's PostgreSQL if it is not running; True when this call started it."""
    _prepare_dirs()
    if not (PG_DATA / "PG_VERSION").exists():
        say("Creating the PostgreSQL cluster in .data/postgres ...")
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(PG_DATA.resolve()),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if postgres_running():
        return False
    options = [
        "-c listen_addresses=''",
        f"-k {RUN_DIR.resolve()}",
        f"-p {PG_PORT}",
        "-c max_connections=200",
        "-c shared_buffers=512MB",
        "-c work_mem=32MB",
        "-c maintenance_work_mem=512MB",
    ]
    if fast:
        # Tests: durability across an OS crash is not needed; a clean stop still flushes.
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    say("Starting PostgreSQL ...")
    result = subprocess.run(
        _as_postgres(
            [
                _pg_bin("pg_ctl"),
                "start",
                "-D",
                str(PG_DATA.resolve()),
                "-w",
                "-t",
                "60",
                "-l",
                str(LOG_DIR.resolve() / "postgres.log"),
                "-o",
                " ".join(options),
            ]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedError(
            f"PostgreSQL did not start: {result.stdout}{result.stderr}\n"
            f"See {LOG_DIR / 'postgres.log'}."
        )
    ensure_database(PG_DATABASE)
    return True


def psql(sql: str, *, database: str = "postgres") -> str:
    result = subprocess.run(
        ["psql", "-h", str(RUN_DIR), "-p", PG_PORT, "-U", PG_USER, "-d", database, "-tAc", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def ensure_database(name: str) -> None:
    if not name.isidentifier():
        raise EmbeddedError(f"Not a plain database name: {name!r}")
    if psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":  # noqa: S608
        psql(f'CREATE DATABASE "{name}"')


def postgres_stop() -> None:
    if postgres_running():
        say("Stopping PostgreSQL ...")
        subprocess.run(
            _as_postgres(
                [_pg_bin("pg_ctl"), "stop", "-D", str(PG_DATA.resolve()), "-m", "fast", "-w"]
            ),
            check=False,
            stdout=subprocess.DEVNULL,
        )


# --- Redis -----------------------------------------------------------------------------------


def redis_running() -> bool:
    if not REDIS_SOCKET.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(1)
            client.connect(str(REDIS_SOCKET))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_start() -> bool:
    """Start the project's Redis if it is not running; True when this call started it."""
    _prepare_dirs()
    if redis_running():
        return False
    server = shutil.which("redis-server")
    if server is None:
        raise EmbeddedError(
            "redis-server was not found. Install it (apt-get install redis-server) or set "
            "REDIS_URL to use an existing Redis."
        )
    say("Starting Redis ...")
    REDIS_SOCKET.unlink(missing_ok=True)
    subprocess.run(
        [
            server,
            "--port",
            "0",
            "--unixsocket",
            str(REDIS_SOCKET),
            "--unixsocketperm",
            "700",
            "--dir",
            str(REDIS_DIR),
            "--daemonize",
            "yes",
            "--pidfile",
            str(REDIS_PIDFILE),
            "--logfile",
            str(LOG_DIR / "redis.log"),
            # Queued tasks survive a Redis restart: append-only file, synced every second.
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
    )
    deadline = time.monotonic() + 20
    while not redis_running():
        if time.monotonic() > deadline:
            raise EmbeddedError(f"Redis did not start; see {LOG_DIR / 'redis.log'}.")
        time.sleep(0.05)
    return True


def redis_stop() -> None:
    if not REDIS_PIDFILE.exists():
        return
    say("Stopping Redis ...")
    with contextlib.suppress(ValueError, ProcessLookupError):
        pid = int(REDIS_PIDFILE.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)


# --- Demo directory (make run LDAP=demo) -----------------------------------------------------

LDAP_DIR = DATA_DIR / "ldap"
DEMO_DIRECTORY_LDIF = BASE_DIR / "crm" / "demo_directory.ldif"
DEMO_DIRECTORY_SUFFIX = "dc=ayuntamiento,dc=example"
DEMO_DIRECTORY_ROLES = f"ou=roles,ou=groups,{DEMO_DIRECTORY_SUFFIX}"
DEMO_DIRECTORY_DISABLED = f"cn=disabled,ou=groups,{DEMO_DIRECTORY_SUFFIX}"


def demo_directory_groups() -> dict[str, list[str]]:
    """Group DN (lower case) -> uids of its members, read from the demo LDIF."""
    import ldap.dn
    import ldif

    with DEMO_DIRECTORY_LDIF.open("rb") as file:
        records = ldif.LDIFRecordList(file)
        records.parse()
    return {
        dn.lower(): [ldap.dn.str2dn(member.decode())[0][0][1] for member in entry["member"]]
        for dn, entry in records.all_records
        if "member" in entry
    }


def demo_directory_role_map() -> dict[str, str]:
    """LDAP_ROLE_MAP of the demo: each group under ou=roles gives the role it is named after."""
    import ldap.dn

    return {
        dn: ldap.dn.str2dn(dn)[0][0][1]
        for dn in demo_directory_groups()
        if dn.endswith("," + DEMO_DIRECTORY_ROLES)
    }


def demo_directory_logins() -> list[tuple[str, str]]:
    """(uid, what it shows) of the demo directory's accounts, for the banner."""
    groups = demo_directory_groups()
    disabled = groups.get(DEMO_DIRECTORY_DISABLED, [])
    logins = [
        (uid, role.replace("_", " "))
        for dn, role in demo_directory_role_map().items()
        for uid in groups[dn]
        if uid not in disabled
    ]
    return logins + [(uid, "disabled in the directory: cannot log in") for uid in disabled]


def demo_directory_start(workdir: Path = LDAP_DIR) -> tuple[Any, dict[str, str]]:
    """Start Debian's slapd on a free loopback port with the demo directory (its data under
    ``workdir``, removed when it stops); return the server (call ``.stop()``) and the
    environment that points the CRM at it."""
    # python-ldap's controller for throw-away servers (it sets LDAPNOINIT in this process).
    import slapdtest

    class DemoDirectory(slapdtest.SlapdObject):
        TMPDIR = str(workdir)
        suffix = DEMO_DIRECTORY_SUFFIX
        openldap_schema_files = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")

    workdir.mkdir(parents=True, exist_ok=True)
    try:
        server = DemoDirectory()
        server.start()
    except (ValueError, RuntimeError) as error:
        raise EmbeddedError(
            f"The demo directory did not start ({error}). It needs Debian's slapd and "
            "ldap-utils: make setup-test, or apt-get install slapd ldap-utils."
        ) from error
    try:
        server.ldapadd(DEMO_DIRECTORY_LDIF.read_text())
    except RuntimeError:
        server.stop()
        raise
    env = {
        "AUTH_LDAP_SERVER_URI": server.ldap_uri,
        "AUTH_LDAP_BIND_DN": server.root_dn,
        "AUTH_LDAP_BIND_PASSWORD": server.root_pw,
        "AUTH_LDAP_USER_BASE": f"ou=people,{DEMO_DIRECTORY_SUFFIX}",
        "AUTH_LDAP_GROUP_BASE": f"ou=groups,{DEMO_DIRECTORY_SUFFIX}",
        "AUTH_LDAP_DENY_GROUP": DEMO_DIRECTORY_DISABLED,
        "LDAP_ROLE_MAP": json.dumps(demo_directory_role_map()),
        "LDAP_UNIT_ATTRIBUTE": "departmentNumber",
    }
    return server, env


# --- What the embedded default provides --------------------------------------------------------


def services_env() -> dict[str, str]:
    """The environment every child process gets (settings default to .data/ anyway)."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_services(*, fast: bool = False) -> list[str]:
    """Start whichever services are not configured from outside; return the names started."""
    started: list[str] = []
    if not os.environ.get("DATABASE_URL") and postgres_start(fast=fast):
        started.append("postgres")
    if not os.environ.get("REDIS_URL") and redis_start():
        started.append("redis")
    return started


def stop_services(names: Sequence[str]) -> None:
    if "redis" in names:
        redis_stop()
    if "postgres" in names:
        postgres_stop()


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens on it, otherwise any free loopback port."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise EmbeddedError("No free TCP port on 127.0.0.1.")


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], check=True, env=env, cwd=BASE_DIR)


class Supervisor:
    """Run child processes together; when one dies or Ctrl-C comes, stop them all."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        # The web server talks to the terminal; the others write to .data/log/<name>.log.
        output = None if name == "web" else (LOG_DIR / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command,
            env=env,
            cwd=BASE_DIR,
            stdout=output,
            stderr=None if output is None else subprocess.STDOUT,
        )
        self.children.append((name, process))

    def wait(self) -> int:
        def request_stop(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    say(f"{name} exited with status {process.returncode}; stopping everything.")
                    self.stopping = True
                    break
            time.sleep(0.2)
        self.stop()
        return 0

    def stop(self) -> None:
        for _name, process in self.children:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for _name, process in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                process.kill()
                process.wait()


def run() -> int:
    started = start_services()
    env = services_env()
    supervisor = Supervisor()
    directory = None
    try:
        if os.environ.get("LDAP"):
            if os.environ["LDAP"] != "demo":
                raise EmbeddedError("LDAP=demo is the only directory `make run` starts.")
            say("Starting the demo directory (slapd) ...")
            directory, directory_env = demo_directory_start()
            env.update(directory_env)
        if not os.environ.get("EMAIL_URL"):
            mail_port = free_port(int(os.environ.get("MAILCATCHER_PORT", "1025")))
            env["MAILCATCHER_PORT"] = str(mail_port)
            supervisor.spawn(
                "mailcatcher", [PYTHON, "-m", "crm.mailcatcher", "--port", str(mail_port)], env
            )
        say("Applying migrations and loading the demo data ...")
        manage("migrate", "--noinput", "-v", "0", env=env)
        if not os.environ.get("DATABASE_URL"):  # demo logins only on the embedded default
            manage("seed_demo", env=env)
        port = free_port(int(os.environ.get("PORT", "8000")))
        supervisor.spawn(
            "web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], env
        )
        celery = [PYTHON, "-m", "celery", "-A", "crm"]
        supervisor.spawn("worker", [*celery, "worker", "-l", "INFO", "--concurrency", "2"], env)
        supervisor.spawn(
            "beat",
            [*celery, "beat", "-l", "INFO", "-s", str(DATA_DIR / "celerybeat-schedule")],
            env,
        )
        _wait_for_web(port, supervisor)
        _print_banner(port, env)
        return supervisor.wait()
    finally:
        supervisor.stop()
        if directory is not None:
            directory.stop()
        stop_services(started)


def _wait_for_web(port: int, supervisor: Supervisor, timeout: float = 60) -> None:
    """Say the CRM is running only once its web server accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for _name, process in supervisor.children):
            return  # the supervisor reports which one exited
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)


def _print_banner(port: int, env: dict[str, str]) -> None:
    lines = [
        "",
        f"  The CRM is running at http://127.0.0.1:{port}/",
        f"  Administration:        http://127.0.0.1:{port}/admin/",
        "  Demo logins (password 'demo' for every one):",
        *(f"    {user:<12} {role}" for user, role in DEMO_LOGINS),
    ]
    if os.environ.get("LDAP") == "demo":
        lines.append(f"  Demo directory at {env['AUTH_LDAP_SERVER_URI']} (password 'demo'):")
        lines += [f"    {uid:<16} {what}" for uid, what in demo_directory_logins()]
    if "MAILCATCHER_PORT" in env:
        lines.append(
            f"  Outgoing mail is kept in {DATA_DIR / 'mail'} (a Maildir; one file a message)."
        )
    lines += [
        f"  Logs of the worker, beat and services: {LOG_DIR}",
        "  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def test(pytest_args: Sequence[str]) -> int:
    started = start_services(fast=True)
    try:
        return subprocess.run(
            [PYTHON, "-m", "pytest", *pytest_args], env=services_env(), cwd=BASE_DIR, check=False
        ).returncode
    finally:
        stop_services(started)


def manage_with_services(args: Sequence[str]) -> int:
    """``manage.py <args>`` with the embedded services up (backup, restore)."""
    started = start_services()
    try:
        return subprocess.run(
            [PYTHON, str(BASE_DIR / "manage.py"), *args],
            env=services_env(),
            cwd=BASE_DIR,
            check=False,
        ).returncode
    finally:
        stop_services(started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm.embedded", description=__doc__)
    parser.add_argument(
        "command",
        choices=["run", "test", "bench", "loadtest", "manage", "start", "stop", "status"],
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        if options.command == "run":
            return run()
        if options.command == "test":
            args = options.args[1:] if options.args[:1] == ["--"] else options.args
            return test(args)
        if options.command == "manage":
            return manage_with_services(
                options.args[1:] if options.args[:1] == ["--"] else options.args
            )
        if options.command == "bench":  # docs/benchmarks.md
            from crm.bench.runner import run as bench

            return bench(options.args[1:] if options.args[:1] == ["--"] else options.args)
        if options.command == "loadtest":  # docs/loadtest.md
            from crm.loadtest import run as loadtest

            return loadtest(options.args[1:] if options.args[:1] == ["--"] else options.args)
        if options.command == "start":
            start_services()
        elif options.command == "stop":
            stop_services(["postgres", "redis"])
        print(f"postgres: {'running' if postgres_running() else 'stopped'}")
        print(f"redis:    {'running' if redis_running() else 'stopped'}")
    except EmbeddedError as error:
        say(str(error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
