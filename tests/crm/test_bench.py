"""The benchmark harness (crm.bench): end to end on a throwaway database, and its statistics."""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from crm import embedded
from crm.bench.data import copy_objects
from crm.bench.registry import Generator, Job, Registry, Scenario, SkipJob, slugify
from crm.bench.runner import (
    build_data,
    check_target,
    print_job_notes,
    requested_size,
    run_job,
)
from crm.bench.stats import (
    Sample,
    parse_query_count,
    parse_server_timing,
    percentile,
    summarize,
)


def _bench(*args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "crm.embedded", "bench", "--", *args],
        cwd=embedded.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def throwaway_database():
    """A database of this test run's own, never the bench one; dropped afterwards."""
    name = f"{os.environ.get('TEST_DATABASE_NAME') or 'test_crm'}_bench"
    yield name
    embedded.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_make_bench_measures_both_scenarios_and_writes_json(throwaway_database, tmp_path):
    output = tmp_path / "results.json"
    # A tiny data set whatever generators the apps register, a server of two workers.
    common = ["--database", throwaway_database, "--scale", "0.0001", "--workers", "2"]
    measured = [*common, "--requests", "8", "--warmup", "2", "--concurrency", "2"]
    scenarios = ["--scenario", "login page", "--scenario", "home-page"]

    run = _bench(*measured, *scenarios, "--reset", "--output", str(output))

    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(output.read_text())
    assert results["database"] == throwaway_database
    assert results["data"]["users"] == 1
    assert results["server"]["workers"] == 2
    assert set(results["scenarios"]) == {"login page", "home page"}
    for name, scenario in results["scenarios"].items():
        assert scenario["requests"] == 8, name
        assert scenario["errors"] == 0, name
        assert scenario["statuses"] == {"200": 8}, name
        assert 0 < scenario["server_ms"]["p50"] <= scenario["server_ms"]["p95"], name
        assert scenario["requests_per_second"] > 0, name
        assert scenario["queries"]["varies"] is False, name
    # Anonymous: no session to load. Logged in (through the form): at least session and user.
    assert results["scenarios"]["login page"]["queries"]["per_request"] == 0
    assert results["scenarios"]["home page"]["queries"]["per_request"] >= 2
    assert results["scenarios"]["home page"]["user"] == "bench-1"
    for line in ("scenario", "login page", "home page"):
        assert re.search(rf"^{line}\s", run.stdout, re.MULTILINE), run.stdout

    # The server was stopped at the end: nothing listens on its port any more.
    port = int(re.search(r"at http://127\.0\.0\.1:(\d+)", run.stdout).group(1))
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))

    # The data set is kept, and not built twice.
    again = _bench(*common, "--data-only")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "users: 1 already" in again.stdout
    assert "gunicorn" not in again.stdout


def test_unknown_scenario_is_refused_before_any_work(tmp_path):
    run = _bench("--scenario", "no such page", "--output", str(tmp_path / "r.json"))
    assert run.returncode == 1
    assert "Unknown scenario 'no such page'" in run.stdout
    assert "'login page'" in run.stdout
    assert not (tmp_path / "r.json").exists()


def test_the_development_database_is_never_the_bench_one(tmp_path):
    run = _bench("--database", embedded.PG_DATABASE, "--reset", "--output", str(tmp_path / "r"))
    assert run.returncode == 1
    assert "'crm' is not a database for benchmarks" in run.stdout
    assert embedded.psql("SELECT 1 FROM pg_database WHERE datname = 'crm'") == "1"


# --- statistics ---------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks():
    values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]  # order does not matter
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile(values, 1) == pytest.approx(1.09)
    assert percentile([4.0, 4.0, 4.0], 95) == 4.0


def test_percentile_of_one_value_is_that_value():
    assert percentile([7.25], 50) == 7.25
    assert percentile([7.25], 95) == 7.25


@pytest.mark.parametrize("pct", [0, 100, -5])
def test_percentile_outside_1_to_99_is_refused(pct):
    with pytest.raises(ValueError, match="1 to 99"):
        percentile([1, 2, 3], pct)


def test_percentile_of_nothing_is_refused():
    with pytest.raises(ValueError, match="No values"):
        percentile([], 50)


def test_summary_counts_errors_and_flags_varying_query_counts():
    samples = [
        Sample("/", 200, client_ms=2.0, server_ms=1.0, queries=3),
        Sample("/", 200, client_ms=3.0, server_ms=2.0, queries=3),
        Sample("/", 200, client_ms=4.0, server_ms=3.0, queries=5),
        Sample("/", 500, client_ms=9.0, server_ms=8.0, queries=1),  # wrong status
        Sample("/", 200, client_ms=9.0, server_ms=None, queries=None),  # no bench headers
    ]

    summary = summarize(samples, elapsed=0.5, expected_status=200)

    assert summary["requests"] == 5
    assert summary["errors"] == 2
    assert summary["statuses"] == {"200": 4, "500": 1}
    assert summary["requests_per_second"] == 10.0
    assert summary["server_ms"] == {"p50": 2.0, "p95": 2.9, "mean": 2.0, "max": 3.0}
    assert summary["client_ms"] == {"p50": 3.0, "p95": 3.9}
    assert summary["queries"] == {
        "per_request": 3,
        "min": 3,
        "max": 5,
        "varies": True,
        "counts": {"3": 2, "5": 1},
    }


def test_summary_of_steady_queries_does_not_flag_them():
    samples = [Sample("/", 200, 1.0, 0.5, 2) for _ in range(4)]
    summary = summarize(samples, elapsed=1.0, expected_status=200)
    assert summary["queries"]["varies"] is False
    assert summary["queries"]["per_request"] == 2
    assert summary["errors"] == 0


def test_summary_without_good_answers_has_no_timings():
    summary = summarize([Sample("/", 302, 1.0, 0.5, 2)], elapsed=1.0, expected_status=200)
    assert summary["errors"] == 1
    assert summary["server_ms"] is None
    assert summary["queries"] is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("app;dur=12.5", 12.5),
        ("db;dur=3, app;dur=7", 7.0),
        ('app;desc="Django";dur=4.25', 4.25),
        ("app;dur=3", 3.0),
        ("db;dur=3", None),
        ("", None),
        (None, None),
    ],
)
def test_server_timing_header_is_read(header, expected):
    assert parse_server_timing(header) == expected


@pytest.mark.parametrize(("header", "expected"), [("4", 4), ("0", 0), ("", None), (None, None)])
def test_query_count_header_is_read(header, expected):
    assert parse_query_count(header) == expected


# --- registry and data helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "explicit", "scale", "expected"),
    [
        (1_000_000, None, 1.0, 1_000_000),
        (1_000_000, None, 0.001, 1_000),
        (1_000_000, 50, 0.001, 50),  # the flag wins
        (1, None, 0.0001, 1),  # never below one row
        (0, None, 2.0, 0),
        (10, None, 2.5, 25),
    ],
)
def test_requested_size(default, explicit, scale, expected):
    assert requested_size(default, explicit=explicit, scale=scale) == expected


def test_scenarios_are_chosen_by_name_in_any_spelling():
    registry = Registry()
    login = registry.add_scenario(Scenario("login page", "", "/accounts/login/"))
    home = registry.add_scenario(Scenario("home page", "", lambda: ["/", "/?x=1"], user="u"))

    assert registry.select([]) == [login, home]
    assert registry.select(["HOME_page", "home page"]) == [home]
    assert home.url_list() == ["/", "/?x=1"]
    assert login.url_list() == ["/accounts/login/"]
    assert slugify(" Person  list ") == "person-list"
    with pytest.raises(LookupError, match="Unknown scenario 'nope'"):
        registry.select(["nope"])
    with pytest.raises(ValueError, match="already registered"):
        registry.add_scenario(Scenario("Home-Page", "", "/"))


@pytest.mark.django_db
def test_copy_objects_writes_usable_rows():
    User = get_user_model()
    password = make_password("copied-password")
    written = copy_objects(
        User, (User(username=f"copied-{number}", password=password) for number in range(3))
    )

    assert written == 3
    user = User.objects.get(username="copied-2")
    assert user.pk is not None
    assert user.is_active  # the field's default applied
    assert user.date_joined is not None
    assert user.check_password("copied-password")


# --- targets and timed jobs ---------------------------------------------------------------------


def test_jobs_are_chosen_by_name_like_scenarios():
    registry = Registry()
    page = registry.add_scenario(Scenario("home page", "", "/"))
    scan = registry.add_job(Job("duplicate scan", "", lambda timer: None, target_seconds=60))

    assert registry.select([]) == [page, scan]
    assert registry.select(["Duplicate-Scan"]) == [scan]
    with pytest.raises(ValueError, match="already registered"):
        registry.add_scenario(Scenario("duplicate scan", "", "/"))


def _result(p95, queries):
    return {
        "server_ms": {"p95": p95} if p95 is not None else None,
        "queries": {"max": queries} if queries is not None else None,
    }


def test_scenario_targets_say_what_was_missed():
    page = Scenario("person 360", "", "/", target_p95_ms=60, max_queries=15)

    assert check_target(page, _result(41.0, 12)) == {
        "p95_ms": 60,
        "max_queries": 15,
        "audit_p95_ms": None,
        "met": True,
        "missed": [],
    }
    missed = check_target(page, _result(75.5, 17))
    assert missed["met"] is False
    assert missed["missed"] == ["p95 75.5 ms >= 60 ms", "17 queries > 15"]
    assert check_target(page, _result(None, None))["missed"] == ["no successful request"]
    assert check_target(Scenario("login page", "", "/"), _result(5.0, 0)) is None


def test_the_audit_write_target_reads_the_audit_timings():
    denied = Scenario("audit write", "", "/audit/", expected_status=403, target_audit_p95_ms=2)
    result = _result(13.0, 5)

    assert check_target(denied, result)["missed"] == ["no audit write measured"]
    result["audit_ms"] = {"p50": 1.1, "p95": 1.6, "requests_with_audit": 200}
    assert check_target(denied, result) == {
        "p95_ms": None,
        "max_queries": None,
        "audit_p95_ms": 2,
        "met": True,
        "missed": [],
    }
    result["audit_ms"]["p95"] = 2.4
    assert check_target(denied, result)["missed"] == ["audit p95 2.40 ms >= 2 ms"]


@pytest.mark.django_db
def test_a_job_is_timed_in_its_block_and_its_writes_are_rolled_back():
    User = get_user_model()

    def work(timer):
        User.objects.create(username="made-before")  # preparing: not timed
        with timer:
            User.objects.create(username="made-by-the-job")
            User.objects.filter(username__startswith="made-").count()
        return {"made": 2}

    result = run_job(Job("make users", "", work, target_seconds=60))

    assert result["status"] == "ok"
    assert result["details"] == {"made": 2}
    assert 0 < result["seconds"] < 60
    assert result["met_target"] is True
    assert result["queries"] >= 2  # in the block only (Django may add savepoints)
    assert not User.objects.filter(username__startswith="made-").exists()


@pytest.mark.django_db
def test_a_job_without_a_block_is_timed_whole_and_may_miss_its_target():
    def work(timer):
        time.sleep(0.05)

    result = run_job(Job("slow", "", work, target_seconds=0.01))

    assert result["seconds"] >= 0.05
    assert result["met_target"] is False
    assert result["queries"] == 0


@pytest.mark.django_db
def test_a_job_that_cannot_run_yet_is_skipped_and_one_that_fails_is_an_error(capsys):
    def not_yet(timer):
        raise SkipJob("citizens.dedupe does not exist yet")

    def broken(timer):
        get_user_model().objects.create(username="half-done")
        raise RuntimeError("boom")

    skipped = run_job(Job("not yet", "", not_yet, target_seconds=60))
    failed = run_job(Job("broken", "", broken))

    assert skipped["status"] == "skipped"
    assert skipped["error"] == "citizens.dedupe does not exist yet"
    assert skipped["seconds"] is None
    assert failed["status"] == "error"
    assert failed["error"] == "RuntimeError: boom"
    assert "Traceback" in capsys.readouterr().err
    assert not get_user_model().objects.filter(username="half-done").exists()
    assert print_job_notes({"not yet": skipped}) is False
    assert print_job_notes({"broken": failed}) is True


@pytest.mark.django_db
def test_a_generators_finish_step_runs_on_every_run():
    User = get_user_model()
    finished = []
    registry = Registry()
    registry.add_generator(
        Generator(
            name="finished_users",
            create=lambda start, stop: [
                User.objects.create(username=f"finished-{n}") for n in range(start, stop)
            ],
            count=lambda: User.objects.filter(username__startswith="finished-").count(),
            default=3,
            help="",
            finish=lambda: finished.append(True),
        )
    )
    options = argparse.Namespace(scale=1.0, finished_users=None)

    assert build_data(registry, options) == {"finished_users": 3}
    assert build_data(registry, options) == {"finished_users": 3}  # nothing missing
    assert finished == [True, True]
