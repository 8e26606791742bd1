"""``make loadtest``'s harness (crm/loadtest.py, crm/bench/load_workload.py) end to end on a small
throwaway data set: gunicorn, a Celery worker, the SMTP catcher, staff logged in through the login
form and Locust for a few seconds. Nothing here asserts a timing (they depend on the machine):
the report must have its lines, no request may fail, and the filings must be real cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from crm import embedded
from crm.loadtest import (
    RESULTS_END,
    RESULTS_START,
    ROLE_ROTATION,
    saturation_note,
    session_roles,
    summarize,
    write_report,
)

HAND_WRITTEN_TOP = "# Load test\n\nWritten by hand, kept as it is.\n\n"
HAND_WRITTEN_BOTTOM = "\n\n## Analysis\n\nAlso by hand.\n"
# Pages that every short run reaches: opened by several roles or weighted high (a page opened
# by one session alone, like the home page, may get no request in a few seconds).
COMMON_STAFF_PAGES = {"people list", "person 360", "case queue", "case page", "opportunity list"}
PUBLIC_ENDPOINTS = {
    ("public form", "GET"),
    ("public form submission", "POST"),
    ("public receipt page", "GET"),
}


@pytest.fixture
def throwaway_database():
    """A database of the test run's own, migrated and filled by the load test (``--reset``)."""
    name = f"{os.environ.get('TEST_DATABASE_NAME') or 'test_crm'}_loadtest"
    yield name
    embedded.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_short_run_reports_every_endpoint_and_files_real_cases(throwaway_database, tmp_path):
    database = throwaway_database
    output = tmp_path / "results.json"
    report = tmp_path / "loadtest.md"
    report.write_text(
        f"{HAND_WRITTEN_TOP}{RESULTS_START}\nthe previous run\n{RESULTS_END}{HAND_WRITTEN_BOTTOM}"
    )
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    run = subprocess.run(
        [
            sys.executable, "-m", "crm.embedded", "loadtest", "--",
            "--database", database, "--scale", "0.0001", "--reset",
            "--duration", "10", "--users", "5", "--staff-rate", "20",
            "--submission-rate", "2", "--spawn-rate", "100", "--workers", "2",
            "--output", str(output), "--report", str(report),
        ],
        cwd=embedded.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    results = json.loads(output.read_text())

    # Per endpoint: the staff's pages and the public form's three steps, and not one error.
    endpoints = {(item["name"], item["method"]): item for item in results["endpoints"]}
    assert {(name, "GET") for name in COMMON_STAFF_PAGES} <= endpoints.keys()
    assert endpoints.keys() >= PUBLIC_ENDPOINTS
    for item in results["endpoints"]:
        assert item["requests"] + item["outside_window"] > 0
        assert item["failures"] == 0, item
        if item["requests"]:
            assert 0 < item["p50_ms"] <= item["p95_ms"] <= item["p99_ms"] <= item["max_ms"]
    for name in COMMON_STAFF_PAGES:
        assert endpoints[(name, "GET")]["requests"] > 0
    assert endpoints[("public form", "GET")]["requests"] > 0
    assert results["errors"] == []
    assert results["failures_whole_run"] == 0
    totals = results["totals"]
    assert totals["all"]["failures"] == 0
    assert totals["all"]["requests"] == totals["staff"]["requests"] + totals["public"]["requests"]
    assert totals["staff"]["per_second"] > 0
    assert [target["what"] for target in results["targets"]] == [
        "staff pages",
        "public submissions (at the same time)",
        "errors",
    ]
    assert results["targets"][2]["met"] is True
    assert results["host"]["cores"] == os.cpu_count()
    assert results["load_average_before"] is not None
    assert results["workload"]["staff_users"] == 5
    assert results["server"]["worker_class"] == "sync"

    # The filings are real: each answered with the receipt's redirect is a case of a new person.
    submissions = results["submissions"]
    assert submissions["filed"] == endpoints[("public form submission", "POST")]["requests"]
    assert submissions["filed_whole_run"] > 0
    assert submissions["filed_with_case"] == submissions["filed_whole_run"]
    domain = submissions["email_domain"]
    assert domain.endswith(".loadtest.example")
    query = "SELECT registry_number, person_id FROM cases_case WHERE filer->>'email' LIKE "
    rows = embedded.psql(
        query + f"'%@{domain}'",
        database=database,
    ).splitlines()
    assert len(rows) == submissions["cases_created"] == submissions["filed_whole_run"]
    assert len({row.split("|")[0] for row in rows}) == len(rows)  # registry numbers
    assert len({row.split("|")[1] for row in rows}) == len(rows)  # one new person each

    # The report: the hand-written parts kept, the results block replaced with every line.
    text = report.read_text()
    assert text.startswith(HAND_WRITTEN_TOP + RESULTS_START)
    assert text.endswith(RESULTS_END + HAND_WRITTEN_BOTTOM)
    assert "the previous run" not in text
    lines = text.splitlines()
    for (name, method), item in endpoints.items():
        row = f"| {item['group']} | {name} | {method} | {item['requests']} | 0 | "
        assert any(line.startswith(row) for line in lines), row
    assert "| **everyone** | **all** |" in text
    assert text.count("target met") + text.count("target missed") == 3
    assert f"{os.cpu_count()} cores" in text
    assert "Load average before the run" in text
    assert "[loadtest] Report:" in run.stdout


def test_the_summary_counts_the_window_splits_staff_and_public_and_keeps_every_error():
    def records(name, method, times, *, at, error=None):
        return [[name, method, at + i * 0.01, ms, error] for i, ms in enumerate(times)]

    stats = {
        "window": {"start": 1000.0, "end": 1010.0},
        "records": [
            # While the users started: not measured, but its error counts.
            *records("person 360", "GET", [5000], at=999.0, error="HTTP 500 as promotion"),
            *records("person 360", "GET", [40] * 90 + [120] * 10, at=1001.0),
            *records("public form", "GET", [30] * 20, at=1002.0),
            *records("public form submission", "POST", [80] * 18, at=1006.0),
            *records("public form submission", "POST", [90] * 2, at=1007.0, error="HTTP 429"),
            # Citizens finishing their filing after the window: not measured.
            *records("public receipt page", "GET", [20] * 3, at=1011.0),
        ],
        "filed": list(range(21)),
    }
    summary = summarize(stats)
    assert summary["measured_seconds"] == 10
    staff = summary["totals"]["staff"]
    assert staff["requests"] == 100
    assert staff["failures"] == 0
    assert staff["per_second"] == 10.0
    assert staff["p50_ms"] == 40
    assert staff["p95_ms"] == 120
    assert staff["max_ms"] == 120
    assert staff["mean_ms"] == 48.0
    assert summary["totals"]["public"]["requests"] == 40
    assert summary["totals"]["all"]["failures"] == 2
    assert summary["submissions"] == {
        "posted": 20, "filed": 18, "per_second": 1.8, "filed_whole_run": 21,
    }  # fmt: skip
    assert [(item["group"], item["name"], item["requests"], item["outside_window"])
            for item in summary["endpoints"]] == [
        ("staff", "person 360", 100, 1),
        ("public", "public form", 20, 0),
        ("public", "public form submission", 20, 0),
        ("public", "public receipt page", 0, 3),
    ]  # fmt: skip
    assert summary["failures_whole_run"] == 3
    assert summary["requests_whole_run"] == 144
    assert summary["errors"] == [
        {"method": "GET", "name": "person 360", "error": "HTTP 500 as promotion", "occurrences": 1},
        {"method": "POST", "name": "public form submission", "error": "HTTP 429", "occurrences": 2},
    ]


def test_the_report_block_is_added_once_then_replaced(tmp_path):
    report = tmp_path / "report.md"
    report.write_text("# Written by hand\n")
    results = _fake_results()
    write_report(report, results, tmp_path / "results.json")
    first = report.read_text()
    assert first.startswith("# Written by hand\n\n" + RESULTS_START)
    assert first.rstrip().endswith(RESULTS_END)
    write_report(report, results, tmp_path / "results.json")
    assert report.read_text() == first
    assert first.count(RESULTS_START) == 1
    assert "did not keep up" not in first  # 1 staff request/s offered, 1 served


def test_a_saturated_server_is_said_to_be_one():
    results = _fake_results()
    assert saturation_note(results) is None
    results["workload"].update(citizens=600, submission_rate_offered=100)
    results["submissions"]["per_second"] = 6.1
    note = saturation_note(results)
    assert "6.1 of 100 submissions/s" in note
    assert "each of the 601 simulated users waits for its answer" in note


def test_staff_sessions_follow_the_role_rotation():
    roles = session_roles(20, set(ROLE_ROTATION))
    assert roles.count("citizen_service") == 6
    assert roles.count("case_handler") == 6
    assert roles.count("promotion") == 4
    assert roles.count("administrator") == 2
    assert roles.count("inspector") == 2
    assert session_roles(3, {"promotion"}) == ["promotion"] * 3
    assert session_roles(5, set()) == []


def _fake_results():
    figures = {
        "requests": 10, "failures": 0, "per_second": 1.0, "p50_ms": 5, "p95_ms": 9, "p99_ms": 9,
        "mean_ms": 5.5, "max_ms": 9,
    }  # fmt: skip
    return {
        "started_at": "2026-11-23T02:00:00+00:00",
        "git_commit": "abc1234",
        "host": {"cores": 2, "cpu_model": "A CPU", "ram_gib": 24, "python": "3.13.0"},
        "load_average_before": [0.5, 0.4, 0.3],
        "load_average_after": [1.5, 0.6, 0.4],
        "database": "crm_bench",
        "data": {"people": 100},
        "server": {
            "workers": 5, "worker_class": "sync", "receipt_workers": 1,
            "sede_filing_limit": 100, "sede_min_fill_seconds": 4,
        },
        "workload": {
            "staff_users": 1, "staff_roles": {"administrator": 1}, "staff_rate_offered": 1,
            "citizens": 0, "submission_rate_offered": 0, "citizen_cycle_seconds": 6,
            "ramp_seconds": 1,
        },
        "measured_seconds": 10,
        "targets": [{"what": "errors", "target": "0", "measured": "0 of 10", "met": True}],
        "requests_whole_run": 10,
        "failures_whole_run": 0,
        "endpoints": [{"group": "staff", "name": "home page", "method": "GET", **figures}],
        "totals": {"staff": figures, "public": figures, "all": figures},
        "submissions": {
            "posted": 0, "filed": 0, "per_second": 0, "filed_whole_run": 0, "filed_with_case": 0,
            "cases_created": 0, "receipts_emailed_during_run": 0,
        },
        "errors": [],
        "cpu": {"busy_cores": 1, "cores": 2, "cores_by_process": {"gunicorn": 1}},
    }  # fmt: skip
