"""The deployment files: Dockerfile, .dockerignore and docker-compose.yml.

Docker cannot run where the tests run, so these tests check what can be checked without an
engine:

- docker-compose.yml against the Compose Specification: with ``docker compose config`` where the
  Compose plugin is installed, and with the compose-spec JSON schema that check-jsonschema ships
  where that package is installed (each validator is skipped, saying why, when it is missing);
- its shape: a health check for every service, one image and one environment for the CRM's
  services, dependencies that wait for health, named volumes, documented variables;
- the health checks themselves, run against a real gunicorn started with the image's command, a
  real Celery worker started with the compose command, and the tests' PostgreSQL and Redis;
- the Dockerfile's stages, what it installs and copies, and that it runs as a non-root user.
"""

from __future__ import annotations

import fnmatch
import http.client
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION = ROOT / "docs" / "configuration.md"
CRM_SERVICES = ("web", "worker", "beat", "migrate")
VARIABLE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- docker-compose.yml -------------------------------------------------------------------------


def load_yaml(text: str) -> Any:
    """PyYAML, or ruamel.yaml (which check-jsonschema brings); skip when .venv has neither."""
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    try:
        from ruamel.yaml import YAML
    except ImportError:
        pytest.skip(
            "No YAML parser in .venv to read docker-compose.yml: add PyYAML (or check-jsonschema, "
            "which brings ruamel.yaml) to the dev dependencies."
        )
    return YAML(typ="safe", pure=True).load(text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(read(COMPOSE_FILE))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_files(service: dict[str, Any]) -> list[str]:
    value = service.get("env_file", [])
    items = [value] if isinstance(value, str | dict) else value
    return [item["path"] if isinstance(item, dict) else item for item in items]


def health_disabled(service: dict[str, Any]) -> bool:
    return str(service.get("healthcheck", {}).get("disable", "")).lower() == "true"


def one_shot_services(compose: dict[str, Any]) -> set[str]:
    """Services some other service waits for to complete successfully."""
    return {
        name
        for service in services(compose).values()
        for name, condition in (service.get("depends_on") or {}).items()
        if isinstance(condition, dict)
        and condition.get("condition") == "service_completed_successfully"
    }


def docker_compose_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    result = subprocess.run(
        [docker, "compose", "version"], capture_output=True, timeout=60, check=False
    )
    return result.returncode == 0


def validate_compose(validator: str, compose_file: Path, tmp_path: Path):
    if validator == "docker compose config":
        if not docker_compose_available():
            pytest.skip("`docker compose version` fails here: the Compose plugin is not installed")
        # A project of its own, with .env.example as its .env, so that nothing local leaks in.
        project = tmp_path / f"project-{uuid.uuid4().hex[:8]}"
        project.mkdir()
        shutil.copy(compose_file, project / "docker-compose.yml")
        shutil.copy(ENV_EXAMPLE, project / ".env")
        command = [
            "docker", "compose", "--project-directory", str(project),
            "--file", str(project / "docker-compose.yml"), "--profile", "ldap", "config", "--quiet",
        ]  # fmt: skip
        env = {**os.environ, "POSTGRES_PASSWORD": "validation-only"}
    else:
        if importlib.util.find_spec("check_jsonschema") is None:
            pytest.skip(
                "check-jsonschema is not installed in .venv: add it to the dev dependencies to "
                "validate docker-compose.yml against the Compose Specification's schema"
            )
        command = [
            sys.executable, "-m", "check_jsonschema",
            "--builtin-schema", "vendor.compose-spec", str(compose_file),
        ]  # fmt: skip
        env = dict(os.environ)
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False
    )


@pytest.mark.parametrize("validator", ["docker compose config", "check-jsonschema"])
def test_the_compose_file_follows_the_compose_specification(validator, tmp_path):
    result = validate_compose(validator, COMPOSE_FILE, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    # The validator does reject a mistake (a misspelt health-check option).
    text = read(COMPOSE_FILE)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("interval:", "intervall:", 1), encoding="utf-8")
    assert read(broken) != text
    assert validate_compose(validator, broken, tmp_path).returncode != 0


def test_every_service_has_a_health_check(compose):
    one_shots = one_shot_services(compose)
    for name, service in services(compose).items():
        assert "healthcheck" in service, f"{name} has no health check"
        if health_disabled(service):
            # Only a one-shot job may go without: the others wait for it to finish instead.
            assert name in one_shots, f"{name} disables its health check but is not a one-shot"
            assert service.get("restart") == "no", f"{name} is a one-shot: restart 'no'"
            continue
        test = service["healthcheck"]["test"]
        assert isinstance(test, list), f"{name}: give the health check as a list"
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert len(test) > 1, name
        # A "$" meant for the container's shell must be "$$", or compose fills it in itself.
        assert not any(re.search(r"(?<!\$)\$(?!\$)", part) for part in test), name


def test_the_crm_services_share_one_image_and_one_environment(compose):
    crm = {name: services(compose)[name] for name in CRM_SERVICES}
    web = crm["web"]
    assert web["image"]
    assert web["build"]["context"] == "."
    assert env_files(web) == [".env"]
    for name, service in crm.items():
        assert service["image"] == web["image"], name
        assert service.get("build") == web["build"], name
        assert env_files(service) == env_files(web), name
        assert service.get("environment") == web.get("environment"), name
    assert crm["worker"]["command"][:4] == ["celery", "-A", "crm", "worker"]
    assert crm["beat"]["command"][:4] == ["celery", "-A", "crm", "beat"]
    assert crm["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "command" not in web  # the image's gunicorn


def test_dependencies_wait_for_health(compose):
    all_services = services(compose)
    one_shots = one_shot_services(compose)
    for name, service in all_services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, condition in depends_on.items():
            expected = (
                "service_completed_successfully" if dependency in one_shots else "service_healthy"
            )
            assert condition["condition"] == expected, f"{name} -> {dependency}"
            assert not health_disabled(all_services[dependency]) or dependency in one_shots
    for name in ("web", "worker", "beat"):
        assert set(all_services[name]["depends_on"]) >= {"db", "redis", "migrate"}, name
    assert set(all_services["migrate"]["depends_on"]) == {"db"}


def test_data_lives_in_named_volumes(compose):
    all_services = services(compose)
    named = set(compose["volumes"])

    def mounts(name: str) -> dict[str, str]:
        pairs = (volume.split(":")[:2] for volume in all_services[name].get("volumes", []))
        return {target: source for source, target in pairs}

    assert mounts("db")["/var/lib/postgresql/data"] in named
    assert mounts("redis")["/data"] in named
    assert "--appendonly" in all_services["redis"]["command"]
    media_root = dockerfile_env()["MEDIA_ROOT"]
    for name in CRM_SERVICES:
        assert mounts(name)[media_root] in named, name


def test_the_directory_is_optional(compose):
    all_services = services(compose)
    assert all_services["ldap"]["profiles"] == ["ldap"]
    assert [name for name, service in all_services.items() if "profiles" in service] == ["ldap"]
    for name, service in all_services.items():
        assert "ldap" not in (service.get("depends_on") or {}), name


def test_published_ports_listen_on_loopback_only(compose):
    for name, service in services(compose).items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the network"


def test_every_variable_compose_passes_is_documented(compose):
    names = set(VARIABLE_REFERENCE.findall(read(COMPOSE_FILE)))
    for service in services(compose).values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        names |= set(environment)
    assert {"POSTGRES_PASSWORD", "DATABASE_URL", "REDIS_URL", "EMAIL_URL"} <= names
    documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`", read(CONFIGURATION), re.MULTILINE))
    missing = sorted(names - documented)
    assert not missing, f"variables docker-compose.yml passes, not in the docs: {missing}"


def test_the_web_health_check_asks_health_on_the_port_gunicorn_binds(compose):
    script = " ".join(services(compose)["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/health/" in script
    command = dockerfile_command()
    assert command[command.index("--bind") + 1] == "0.0.0.0:8000"


# --- The health checks, run for real ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_health_check(
    compose: dict[str, Any], name: str, env: dict[str, str], port: int | None = None
) -> subprocess.CompletedProcess:
    """Run a service's health check as Docker would, in this checkout instead of /app."""
    kind, *rest = services(compose)[name]["healthcheck"]["test"]
    argv = rest if kind == "CMD" else ["/bin/sh", "-c", rest[0]]
    argv = [part.replace("$$", "$") for part in argv]  # compose's escape of a literal $
    if port is not None:
        argv = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in argv]
    return subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def eventually(run, done, seconds: float = 90) -> subprocess.CompletedProcess:
    """Run a health check until ``done(result)`` or time runs out, as Docker retries one during
    the start period (a loaded machine can be slow to answer the first requests); the last
    result."""
    deadline = time.monotonic() + seconds
    while True:
        result = run()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(1)


def listening(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(0.5)
        return client.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def deployment_env(tmp_path) -> dict[str, str]:
    """The environment of the compose services, pointed at the tests' PostgreSQL and Redis:
    a deployment (DATABASE_URL set, HTTPS on) behind a proxy, as .env.example has it."""
    from django.conf import settings

    crm_variables = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", read(ENV_EXAMPLE), re.MULTILINE))
    env = {key: value for key, value in os.environ.items() if key not in crm_variables}
    database = settings.DATABASES["default"]
    database_url = os.environ.get("DATABASE_URL") or (
        f"postgres://{database['USER']}@/{database['HOST']}/postgres"  # the Unix-socket form
    )
    node = f"deploy-{uuid.uuid4().hex[:10]}"
    (tmp_path / "static").mkdir()
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        DJANGO_SETTINGS_MODULE="crm.settings",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        # Control commands (pings) are scoped to the queue: no other worker can answer.
        CELERY_QUEUE=node,
        HOSTNAME=node,  # Docker sets it to the container's host name
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=".example.org",
        BEHIND_PROXY="true",
        EMAIL_URL="smtp://127.0.0.1:25",
        HOME=str(tmp_path),  # gunicorn's control socket goes there
        STATIC_ROOT=str(tmp_path / "static"),
        MEDIA_ROOT=str(tmp_path / "media"),
        WEB_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
    )
    return env


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        stop(process)


@pytest.mark.services
def test_the_health_checks_tell_healthy_from_broken(compose, deployment_env, processes, tmp_path):
    env = deployment_env
    port = free_port()
    web_command = [
        part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in dockerfile_command()
    ]
    worker_command = [
        *services(compose)["worker"]["command"],
        f"--hostname=celery@{env['HOSTNAME']}",
        "--concurrency=1",
    ]
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker")}
    for name, command in (("web", web_command), ("worker", worker_command)):
        with logs[name].open("wb") as log:
            processes.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            )
    web, worker = processes

    def log_of(name: str) -> str:
        return read(logs[name])[-3000:]

    wait_until(lambda: listening(port) or web.poll() is not None, 60, "gunicorn")
    assert web.poll() is None, log_of("web")
    wait_until(
        lambda: (
            worker.poll() is not None or run_health_check(compose, "worker", env).returncode == 0
        ),
        90,
        "the worker to answer its health check",
    )
    assert worker.poll() is None, log_of("worker")

    # Healthy: the web's /health/ (database, Redis and a worker up), the worker, beat's broker.
    for name in ("web", "worker", "beat"):
        result = eventually(
            lambda name=name: run_health_check(compose, name, env, port=port),
            lambda result: result.returncode == 0,
        )
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}{log_of('web')}"

    # HTTPS is on: anything else over plain HTTP is redirected; /health/ is exempt.
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    client.request("GET", "/accounts/login/", headers={"Host": "crm.example.org"})
    response = client.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://crm.example.org/accounts/login/"
    client.close()

    # Broken: without a worker the web is unhealthy (503) and so, of course, is the worker.
    stop(worker)
    result = eventually(
        lambda: run_health_check(compose, "web", env, port=port),
        lambda result: "503" in result.stderr,
    )
    assert result.returncode != 0
    assert "503" in result.stderr
    assert run_health_check(compose, "worker", env).returncode != 0

    # Beat is unhealthy when it cannot reach the broker.
    no_redis = {**env, "REDIS_URL": f"unix://{tmp_path / 'missing.sock'}?db=0"}
    assert run_health_check(compose, "beat", no_redis).returncode != 0


# --- Dockerfile and .dockerignore ---------------------------------------------------------------


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in read(DOCKERFILE).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return tuple(instructions)


def dockerfile_stages() -> list[dict[str, Any]]:
    """Each stage: its image (build arguments resolved), name and instructions."""
    arguments: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            arguments[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda match: arguments[match[1]], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "instructions": []})
        else:
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def runs(stage: dict[str, Any]) -> list[str]:
    return [rest for keyword, rest in stage["instructions"] if keyword == "RUN"]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_stages()[-1]["instructions"]:
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in rest.split())
    return env


def dockerfile_command() -> list[str]:
    commands = [
        rest for keyword, rest in dockerfile_stages()[-1]["instructions"] if keyword == "CMD"
    ]
    return json.loads(commands[-1])


def apt_packages(stage: dict[str, Any]) -> set[str]:
    packages: set[str] = set()
    for command in runs(stage):
        for install in re.findall(r"apt-get install ([^&;]+)", command):
            packages |= {word for word in install.split() if not word.startswith("-")}
    return packages


def test_the_image_builds_from_python_313_slim_bookworm():
    stages = dockerfile_stages()
    assert stages[-1]["image"] == "python:3.13-slim-bookworm"
    assert all(
        stage["image"].startswith(("python:3.13-slim-bookworm", "node:")) for stage in stages
    )


def test_npm_assets_come_from_a_node_stage_without_dev_dependencies():
    stages = dockerfile_stages()
    node = next(stage for stage in stages if stage["image"].startswith("node:"))
    assert any("npm ci --omit=dev" in command for command in runs(node))
    copies = [rest for keyword, rest in stages[-1]["instructions"] if keyword == "COPY"]
    assert any(
        rest.startswith(f"--from={node['name']} ") and rest.endswith("./node_modules")
        for rest in copies
    ), copies


def test_python_dependencies_install_from_the_lock_with_hashes():
    installs = [
        command
        for stage in dockerfile_stages()
        for command in runs(stage)
        if "pip install" in command
    ]
    assert installs
    for command in installs:
        assert "--require-hashes" in command
        assert "--no-deps" in command
        assert re.search(r"-r \S*requirements\.lock\b", command), command


def test_the_runtime_image_has_the_libraries_python_ldap_and_weasyprint_load():
    stages = dockerfile_stages()
    build = next(stage for stage in stages if "pip install" in " ".join(runs(stage)))
    assert {"libldap2-dev", "libsasl2-dev"} <= apt_packages(build)
    runtime = apt_packages(stages[-1])
    assert {"libldap-2.5-0", "libsasl2-2", "gettext"} <= runtime
    # What scripts/setup.sh installs for WeasyPrint (Pango, HarfBuzz, fonts) the image has too.
    setup = read(ROOT / "scripts" / "setup.sh")
    listed = set(re.search(r"packages=\(([^)]*)\)", setup)[1].split())
    weasyprint = {name for name in listed if name.startswith(("libpango", "libharfbuzz", "fonts-"))}
    assert weasyprint
    assert weasyprint <= runtime


def test_translations_and_static_files_are_built_into_the_image():
    build_steps = " ".join(runs(dockerfile_stages()[-1]))
    assert "compilemessages" in build_steps
    assert "collectstatic --noinput" in build_steps
    # As a deployment (DATABASE_URL set), so that WhiteNoise's manifest is written.
    assert re.search(r"DATABASE_URL=\S+ .*collectstatic", build_steps)
    assert dockerfile_env()["STATIC_ROOT"]


def test_the_image_runs_gunicorn_as_a_non_root_user():
    instructions = dockerfile_stages()[-1]["instructions"]
    users = [index for index, (keyword, _) in enumerate(instructions) if keyword == "USER"]
    assert users, "the image runs as root"
    last_user = instructions[users[-1]][1]
    assert last_user not in {"root", "0"}
    assert not [keyword for keyword, _ in instructions[users[-1] :] if keyword == "RUN"]
    command = dockerfile_command()
    assert command[:2] == ["gunicorn", "crm.wsgi:application"]


def dockerignore_patterns() -> list[str]:
    lines = read(DOCKERIGNORE).splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    return any(
        fnmatch.fnmatch(path, pattern) or path.split("/")[0] == pattern
        for pattern in dockerignore_patterns()
        if not pattern.startswith("!")
    )


def test_the_build_context_leaves_out_secrets_and_local_state():
    for path in (".env", ".git", ".venv", "node_modules", ".data"):
        assert ignored(path), path


def test_what_the_image_needs_is_in_the_build_context():
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from="):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert source == "." or not ignored(source), source
    for path in ("manage.py", "crm", "templates", "static", "locale", "requirements.lock"):
        assert (ROOT / path).exists()
        assert not ignored(path), path
