"""The public form's throughput benchmark (cases/bench/submissions.py) end to end on a throwaway
database: gunicorn, Celery workers and the bench's SMTP server, a handful of citizens filing
complaints over HTTP, every receipt (with its PDF) caught and timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cases.bench.submissions import hidden_inputs
from crm import embedded

SUBMISSIONS = 6


@pytest.fixture
def throwaway_database():
    name = f"{os.environ.get('TEST_DATABASE_NAME') or 'test_crm'}_submissions"
    yield name
    embedded.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_citizens_file_over_http_and_every_receipt_is_timed(throwaway_database, tmp_path):
    output = tmp_path / "results.json"
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        BENCH_SUBMISSIONS=str(SUBMISSIONS),
        BENCH_SUBMISSION_CLIENTS="2",
        BENCH_RECEIPT_WORKERS="1",
        BENCH_RECEIPT_WAIT="120",
    )
    run = subprocess.run(
        [
            sys.executable, "-m", "crm.embedded", "bench", "--",
            "--database", throwaway_database, "--scale", "0.0001", "--reset",
            "--scenario", "public form submissions", "--output", str(output),
        ],
        cwd=embedded.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(output.read_text())["jobs"]["public form submissions"]
    assert result["status"] == "ok", result
    details = result["details"]
    assert details["submissions"] == SUBMISSIONS
    assert details["filed"] == SUBMISSIONS
    assert details["statuses"] == {"302": SUBMISSIONS}
    assert details["receipts"] == SUBMISSIONS
    assert details["receipts_missing"] == 0
    assert details["receipts_with_pdf"] == 2 * SUBMISSIONS  # the warm-up's too
    assert 0 < details["receipt_s_p50"] <= details["receipt_s_max"] < 120
    assert details["per_second"] > 0
    assert "public form submissions" in run.stdout

    # Filed for real: a new person and a case each, with its receipt issued and emailed.
    rows = embedded.psql(
        "SELECT registry_number, receipt_id IS NOT NULL AND receipt_emailed_at IS NOT NULL,"
        " person_id FROM cases_case WHERE filer->>'email' LIKE '%@submissions.example'",
        database=throwaway_database,
    ).splitlines()
    assert len(rows) == 2 * SUBMISSIONS
    numbers = {row.split("|")[0] for row in rows}
    assert len(numbers) == 2 * SUBMISSIONS
    assert {row.split("|")[1] for row in rows} == {"t"}
    assert len({row.split("|")[2] for row in rows}) == 2 * SUBMISSIONS


def test_hidden_inputs_reads_the_forms_tokens():
    html = (
        '<form><input type="hidden" name="csrfmiddlewaretoken" value="abc">'
        "<input type='hidden' value='s1:x' name='stamp' id='id_stamp'>"
        '<input type="text" name="subject"><input name="given_name" value="Ana"></form>'
    )
    assert hidden_inputs(html) == {
        "csrfmiddlewaretoken": "abc",
        "stamp": "s1:x",
        "given_name": "Ana",
    }
