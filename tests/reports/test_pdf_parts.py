"""Long tables laid out by several processes at once (reports.tabular_pdf): this process lays out
the first part while a helper process lays out the next; the parts join in order with the page
numbers of the whole, a part starts on a new page at a group, a helper that fails leaves its part
to this process, and stopping the rendering or losing its process stops the helpers."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from django.utils.translation import gettext_lazy

from reports import tabular_pdf
from reports.tabular_pdf import Column, Section, render_table_pdf

from .test_pdf_engine import COLUMNS, long_table, page_texts, row_numbers, rows

POPEN = subprocess.Popen  # the real one, when tabular_pdf's is recorded


class Helpers:
    """Every helper process started (the real Popen, recorded)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.folders: list[Path] = []

    def popen(self, command, **kwargs):
        process = POPEN(command, **kwargs)
        self.processes.append(process)
        self.folders.append(Path(command[-1]))
        return process


@pytest.fixture
def parts(monkeypatch, settings) -> Helpers:
    """Tables of 100 lines or more in two parts, each helper's part as long as this process's."""
    settings.PDF_PROCESSES = 2
    monkeypatch.setattr(tabular_pdf, "PARALLEL_FROM_LINES", 100)
    monkeypatch.setattr(tabular_pdf, "HELPER_START_LINES", 0)
    helpers = Helpers()
    monkeypatch.setattr(tabular_pdf.subprocess, "Popen", helpers.popen)
    return helpers


def test_a_long_table_is_laid_out_in_two_parts_at_once(parts, monkeypatch, settings, caplog):
    settings.PDF_PROCESSES = 1
    whole, _calls = long_table(monkeypatch, chunk_lines=37)
    assert parts.processes == []  # one process: no helper
    settings.PDF_PROCESSES = 2
    with caplog.at_level(logging.WARNING, logger="reports.tabular_pdf"):
        pdf, calls = long_table(monkeypatch, chunk_lines=37)

    [helper] = parts.processes
    assert helper.returncode == 0
    assert caplog.records == []  # the helper's part was not laid out here
    assert not parts.folders[0].exists()
    texts, whole_texts = page_texts(pdf), page_texts(whole)
    # 211 lines in two parts: the cut (line 106) moves to the nearest group's row, "Unidad 3"
    # (line 126), which starts a page; the page before it ends the group before, short.
    [seam] = [number for number, text in enumerate(texts) if "Unidad 3" in text]
    assert texts[seam].split("Referencia Asunto Días ")[1].startswith("Unidad 3 QS-00120")
    assert "QS-00119 Asunto número 119 sobre la señal 19 Subtotal 2 40" in texts[seam - 1]
    assert row_numbers(texts[seam - 1])[-1] == 119
    assert len(row_numbers(texts[seam - 1])) < len(row_numbers(whole_texts[1]))
    # Up to the seam, the pages one process gives (the last one cut short); in all, every row
    # once and in order.
    assert [row_numbers(text) for text in texts[: seam - 1]] == [
        row_numbers(text) for text in whole_texts[: seam - 1]
    ]
    short = row_numbers(texts[seam - 1])
    assert row_numbers(whole_texts[seam - 1])[: len(short)] == short
    assert [n for text in texts for n in row_numbers(text)] == list(range(200))
    for number, text in enumerate(texts, start=1):
        assert "Referencia Asunto Días" in text
        assert f"Page {number} of {len(texts)}" in text
    assert texts[0].count("Informe largo") == 2  # the title once, on the first page only
    assert texts[seam].count("Informe largo") == 1
    assert "Total 200" in texts[-1]
    # Progress counted both parts' lines, never going back, to the end.
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)
    assert calls[0] == (0, 212)
    assert calls[-1] == (212, 212)
    assert len(calls) > 4


def test_a_table_without_groups_is_cut_in_the_middle(parts):
    """Also: labels given as lazy translations reach the helper in the active language."""
    columns = [Column(gettext_lazy("Reference")), Column(gettext_lazy("Subject"), width=3)]
    with translation.override("es"):
        pdf = render_table_pdf(
            title=gettext_lazy("Channel"), subtitle="", columns=columns,
            sections=[Section(None, [row[:2] for row in rows(150)])], totals=None,
        )  # fmt: skip
    [helper] = parts.processes
    assert helper.returncode == 0
    texts = page_texts(pdf)
    assert [n for text in texts for n in row_numbers(text)] == list(range(150))
    starts = [row_numbers(text)[0] for text in texts]
    assert 75 in starts  # the helper's part (150 lines, cut at 75) starts a page
    for text in texts:
        assert "Referencia Asunto QS-" in text
        assert "Ayuntamiento de Ejemplo · Canal" in text  # the running footer


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ([sys.executable, "-c", "import sys; sys.exit('no helper today')"], "no helper today"),
        (["/nonexistent/python"], "could not start"),
    ],
)
def test_a_helper_that_fails_leaves_its_part_to_this_process(
    parts, monkeypatch, caplog, command, message
):
    monkeypatch.setattr(tabular_pdf, "HELPER_COMMAND", command)
    with caplog.at_level(logging.WARNING, logger="reports.tabular_pdf"):
        pdf, calls = long_table(monkeypatch, chunk_lines=37)

    assert message in caplog.text
    texts = page_texts(pdf)
    assert [n for text in texts for n in row_numbers(text)] == list(range(200))
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {len(texts)}" in text
    assert "Total 200" in texts[-1]
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)
    assert calls[-1] == (212, 212)
    assert all(not folder.exists() for folder in parts.folders)


def test_stopping_the_rendering_stops_the_helper(parts, monkeypatch):
    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done:
            raise Stop

    monkeypatch.setattr(tabular_pdf, "CHUNK_LINES", 37)
    sections = [
        Section(f"Unidad {group}", rows(40, start=group * 40), [f"Subtotal {group}", "", "40"])
        for group in range(5)
    ]
    with pytest.raises(Stop):
        render_table_pdf(
            title="T", subtitle="", columns=COLUMNS, sections=sections, totals=None,
            progress=stop,
        )  # fmt: skip
    [helper] = parts.processes
    assert helper.returncode is not None  # stopped and waited for, not left running
    assert not parts.folders[0].exists()


# A process that lays out a long table in two parts, its helper's folders under the given one.
ORPHANING = """
import sys
import django
django.setup()
from reports import tabular_pdf
from reports.tabular_pdf import Column, Section, render_table_pdf
tabular_pdf.CHUNK_LINES = 40
rows = [[f"QS-{n:05d}", f"Asunto {n}", str(n)] for n in range(4000)]
render_table_pdf(title="T", subtitle="", columns=[Column("A"), Column("B"), Column("C")],
                 sections=[Section(None, rows)], totals=None)
"""


def helper_pids(folder: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"reports.tabular_pdf" in command and any(
                part.startswith(str(folder).encode()) for part in command
            ):
                pids.append(int(entry.name))
    return pids


def test_a_helper_whose_process_died_stops_and_cleans_up(tmp_path):
    """SIGKILL of the process making the PDF (a worker killed mid-job): its helper stops after
    the chunk in hand and removes its folder instead of laying out a part nobody will read."""
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "PDF_PROCESSES": "2",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "crm.settings"),
    }
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHANING], cwd=django_settings.BASE_DIR, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("crm-pdf-part-*/*.pdf")):  # the helper is at work
            assert parent.poll() is None, "the rendering ended before its helper wrote a chunk"
            assert time.monotonic() < deadline, "the helper wrote no chunk in 2 minutes"
            time.sleep(0.1)
        [folder] = tmp_path.glob("crm-pdf-part-*")
        [pid] = helper_pids(folder)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists(), "the helper kept laying out its part"
        assert not folder.exists()
    finally:
        parent.kill()
        parent.wait()


def test_the_pdf_benchmark_times_the_rendering_and_adds_the_helpers_memory(monkeypatch):
    """``make bench``'s "tabular pdf" job (reports.bench_pdf): the child process sets Django up
    before the timer starts, renders with its helper, and the memory reported is both peaks."""
    from crm.bench.registry import JobTimer
    from reports.bench_pdf import measure

    monkeypatch.setenv("PDF_PROCESSES", "2")
    timer = JobTimer()
    started = time.perf_counter()
    figures = measure(700, timer)  # 700 rows, 12 groups: 725 lines, two parts
    wall = time.perf_counter() - started

    assert figures["rows"] == 700
    assert figures["processes"] == 2
    assert figures["pages"] >= 20
    assert figures["helpers_peak_mb"] > 50  # a helper ran, and its memory is counted
    assert figures["peak_mb"] == round(figures["self_peak_mb"] + figures["helpers_peak_mb"], 1)
    assert figures["seconds"] <= timer.seconds < wall  # the child's own start is not timed
