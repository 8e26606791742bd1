"""Benchmark of long PDFs (docs/benchmarks.md, "Reports"): ``tabular pdf``.

A 100-page tabular report (``reports.tabular_pdf.render_table_pdf``): synthetic rows, no
database, grouped by unit with a subtotal each and a grand total, landscape, Spanish text. It is
rendered in a child process (``python -m reports.bench_pdf``), so that the peak memory measured
is the PDF's alone and not the bench process's: the child's maximum resident set size plus its
PDF helper processes' (``settings.PDF_PROCESSES``). The time is the rendering's in the child
once Django is set up there, as in a running worker. Targets: under 20 s and under 500 MB.

``BENCH_PDF_ROWS`` changes the number of rows (default: ``ROWS``, a little over 100 pages).
Run alone: ``.venv/bin/python -m reports.bench_pdf [rows]`` prints the figures as JSON.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm.bench import JobTimer, job

TARGET_SECONDS = 20
TARGET_MEGABYTES = 500
PAGES = 100
ROWS = 2900  # 101 landscape pages of one-line rows (about 29 a page), groups and subtotals apart
ROWS_PER_GROUP = 60
BASE_DIR = Path(__file__).resolve().parent.parent

UNITS = [
    "Urbanismo y Vía Pública",
    "Atención a la Ciudadanía",
    "Medio Ambiente y Limpieza",
    "Hacienda y Tributos",
    "Educación, Cultura y Deportes",
    "Servicios Sociales e Igualdad",
    "Policía Local y Movilidad",
]
SUBJECTS = [
    "Señalización deficiente en la calle Peñalara",
    "¿Cuándo se repara el alumbrado público?",
    "Queja por el ruido nocturno en la plaza Mayor",
    "Sugerencia: más bancos en el parque «El Retiro»",
    "Cobro indebido de la tasa de basuras (€)",
    "¡Agradecimiento al personal de la biblioteca!",
    "Pingüinos de pegatina en la fachada del colegio",
]
CHANNELS = ["Sede electrónica", "Presencial", "Teléfono", "Correo electrónico"]
STATUSES = ["Contestada", "En trámite", "Pendiente de información", "Cerrada"]


def _amount(cents: int) -> str:
    whole, part = divmod(cents, 100)
    return f"{whole:,}".replace(",", ".") + f",{part:02d}"


def synthetic_sections(rows: int):
    """Sections of ``rows`` rows, ``ROWS_PER_GROUP`` per unit, each with a subtotal."""
    from reports.tabular_pdf import Section

    sections, total_days, total_cents = [], 0, 0
    for start in range(0, rows, ROWS_PER_GROUP):
        body, days_sum, cents_sum = [], 0, 0
        for number in range(start, min(start + ROWS_PER_GROUP, rows)):
            days, cents = number % 23, (number * 7919) % 250_000
            body.append(
                [
                    f"QS-2026-{number + 1:06d}",
                    f"{1 + number % 28:02d}/{1 + number % 12:02d}/2026",
                    SUBJECTS[number % len(SUBJECTS)],
                    CHANNELS[number % len(CHANNELS)],
                    STATUSES[number % len(STATUSES)],
                    str(days),
                    _amount(cents),
                ]
            )
            days_sum, cents_sum = days_sum + days, cents_sum + cents
        unit = UNITS[(start // ROWS_PER_GROUP) % len(UNITS)]
        group = start // ROWS_PER_GROUP + 1
        subtotal = ["Subtotal", "", f"{len(body)} casos", "", "", str(days_sum), _amount(cents_sum)]
        sections.append(Section(f"{unit} · grupo {group}", body, subtotal))
        total_days, total_cents = total_days + days_sum, total_cents + cents_sum
    totals = ["Total", "", f"{rows} casos", "", "", str(total_days), _amount(total_cents)]
    return sections, totals


def render(rows: int) -> dict[str, Any]:
    """Render the report of ``rows`` rows here; its figures (pages, seconds, bytes)."""
    from django.utils import translation
    from pypdf import PdfReader

    from reports.tabular_pdf import Column, render_table_pdf

    columns = [
        Column("Referencia", width=1.3),
        Column("Fecha", width=0.9),
        Column("Asunto", width=3.6),
        Column("Canal", width=1.4),
        Column("Estado", width=1.6),
        Column("Días", numeric=True, width=0.6),
        Column("Importe (€)", numeric=True, width=1.0),
    ]
    sections, totals = synthetic_sections(rows)
    with translation.override("es"):
        started, cpu_started = time.perf_counter(), time.process_time()
        pdf = render_table_pdf(
            title="Quejas y sugerencias por unidad",
            subtitle="Año 2026 · todas las unidades · datos sintéticos de la prueba de rendimiento",
            columns=columns,
            sections=sections,
            totals=totals,
            landscape=True,
        )
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    return {"rows": rows, "pages": len(PdfReader(io.BytesIO(pdf)).pages), "seconds": seconds,
            "cpu_seconds": cpu_seconds, "bytes": len(pdf)}  # fmt: skip


def _rows(name: str = "BENCH_PDF_ROWS") -> int:
    value = int(os.environ.get(name) or ROWS)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")
    return value


def measure(rows: int, timer: JobTimer | None = None) -> dict[str, Any]:
    """Render in a child process; its figures and peak memory (MB).

    The child sets Django up and then waits for a line on its standard input: ``timer`` (if
    given) measures from that line to the child's answer, the rendering as a warm worker does it
    (its helper processes' start included), not the child's own start. The peak memory is the
    child's maximum resident set size plus its helpers' (``PDF_PROCESSES``), which run at the
    same time: the sum of their peaks, so never less than the real peak of them together.
    """
    env = {"DJANGO_SETTINGS_MODULE": "crm.settings", **os.environ}
    with tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "reports.bench_pdf", str(rows), "--wait"],
            cwd=BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True,
        )  # fmt: skip
        with child:
            ready = answer = child.stdout.readline()
            if ready.strip() == "ready":
                with timer or contextlib.nullcontext():
                    child.stdin.write("go\n")
                    child.stdin.flush()
                    answer = child.stdout.readline()
        if child.returncode != 0 or ready.strip() != "ready":
            stderr.seek(0)
            raise RuntimeError(f"The PDF benchmark's child failed:\n{stderr.read()[-3000:]}")
    figures = json.loads(answer)
    figures["peak_mb"] = round(figures["self_peak_mb"] + figures["helpers_peak_mb"], 1)
    return figures


@job(
    "tabular pdf",
    description=(
        "A 100-page tabular PDF (landscape, grouped rows with subtotals and a grand total, "
        "synthetic Spanish rows, no database) rendered by reports.tabular_pdf in a child "
        "process: seconds and peak memory. Targets: under 20 s and under 500 MB."
    ),
    target_seconds=TARGET_SECONDS,
)
def tabular_pdf(timer: JobTimer) -> dict[str, Any]:
    rows = _rows()
    figures = measure(rows, timer)
    if figures["pages"] < PAGES and rows == ROWS:
        raise RuntimeError(f"The report has {figures['pages']} pages, not {PAGES}.")
    figures["memory_target_mb"] = TARGET_MEGABYTES
    figures["memory_ok"] = figures["peak_mb"] < TARGET_MEGABYTES
    return figures


def main(argv: list[str]) -> None:
    """``python -m reports.bench_pdf [rows] [--wait]``: render and print the figures as JSON;
    ``--wait``: print ``ready`` once Django is set up and start on a line read from stdin."""
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    django.setup()
    numbers = [arg for arg in argv[1:] if arg != "--wait"]
    rows = int(numbers[0]) if numbers else _rows()
    if "--wait" in argv:
        print("ready", flush=True)
        sys.stdin.readline()
    figures = render(rows)
    figures["seconds"] = round(figures["seconds"], 2)
    figures["cpu_seconds"] = round(figures["cpu_seconds"], 2)
    figures["processes"] = settings.PDF_PROCESSES
    figures["self_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # The largest helper's peak, once per helper (they run at the same time; none before them).
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures["helpers_peak_mb"] = round(helper * (settings.PDF_PROCESSES - 1), 1)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main(sys.argv)
