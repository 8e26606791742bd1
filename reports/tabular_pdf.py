"""Long tabular PDFs: a title, a description of the filters, and a table of grouped rows with
subtotals and a grand total, on as many pages as it takes (``render_table_pdf``).

The report builder's PDF export and the document jobs (reports.jobs) use it. It renders
``pdf/table_report.html`` through ``crm.pdf.render_pdf``, the one PDF service: the body's name,
"Página X de Y" on every page, fonts with every Spanish character. The column header repeats at
the top of every page (WeasyPrint repeats a ``thead``). A long table is laid out by two
processes at once (``settings.PDF_PROCESSES``), this one and a helper (``python -m
reports.tabular_pdf``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.utils import timezone, translation
from pypdf import PdfReader, PdfWriter
from weasyprint import Page

from crm.pdf import layout_pdf, render_pdf

TEMPLATE = "pdf/table_report.html"

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Column:
    """A column of the table: its header, and how its cells are aligned.

    ``numeric`` columns (counts, sums, amounts) are right-aligned with figures of equal width so
    that digits line up; ``align`` overrides the alignment ("start", "end", "center").
    ``width`` is the column's relative share of the page's width (all columns 1 by default).
    """

    label: str
    numeric: bool = False
    align: Literal["start", "end", "center"] | None = None
    width: float = 1.0

    @property
    def css_class(self) -> str:
        align = self.align or ("end" if self.numeric else "start")
        return {"start": "", "end": "num", "center": "center"}[align]


@dataclass
class Section:
    """A group of rows: an optional heading row above them and an optional subtotal row below.

    ``rows`` and ``subtotal`` hold one formatted string per column (format numbers and dates for
    the reader before: the PDF prints what it is given). A report without groups is one
    ``Section(None, rows)``.
    """

    heading: str | None
    rows: list[list[str]]
    subtotal: list[str] | None = None


# Tables of at least this many lines (about 20 pages, 6 s of one core) are laid out by several
# processes at once (render_table_pdf); a shorter one gains too little over a helper's start.
PARALLEL_FROM_LINES = 600
# Each helper's part is this many lines shorter than this process's, so that both finish at about
# the same time: a helper first starts Python and Django (about 1.5 s), while this process joins
# every chunk's pages as it goes (measured on the benchmark's table, docs/benchmarks.md).
HELPER_START_LINES = 50
# How a helper process is started: this module, by this interpreter (its folder is added).
HELPER_COMMAND = [sys.executable, "-m", "reports.tabular_pdf"]

# Lines per chunk (group rows, rows, subtotals): WeasyPrint lays out a long table in more than
# linear time and keeps all of it in memory, so a long table is rendered a chunk at a time. About
# ten pages of one-line rows: a chunk's time grows little past that, and its memory is freed
# before the next one starts.
CHUNK_LINES = 400
# Only the last lines of a chunk carry an id (what tells which lines a page holds): more than a
# page holds. A last page that begins before them is laid out again with an id on every line.
ANCHORED_LINES = 120


@dataclass(frozen=True)
class _Line:
    index: int
    kind: Literal["group", "row", "subtotal", "total"]
    heading: str = ""
    cells: list[tuple[str, str]] = field(default_factory=list)
    alt: bool = False  # every other row of a section, on a light band


def _cells(values: Sequence[object], classes: list[str]) -> list[tuple[str, str]]:
    if len(values) != len(classes):
        raise ValueError(f"A row has {len(values)} cells for {len(classes)} columns.")
    return [
        ("" if value is None else str(value), css)
        for value, css in zip(values, classes, strict=True)
    ]


def _lines(sections: Iterable[Section], totals: list | None, classes: list[str]) -> list[_Line]:
    lines: list[_Line] = []
    for section in sections:
        if section.heading is not None:
            lines.append(_Line(len(lines), "group", heading=str(section.heading)))
        for number, row in enumerate(section.rows):
            lines.append(_Line(len(lines), "row", cells=_cells(row, classes), alt=number % 2 == 1))
        if section.subtotal is not None:
            lines.append(_Line(len(lines), "subtotal", cells=_cells(section.subtotal, classes)))
    if totals is not None:
        lines.append(_Line(len(lines), "total", cells=_cells(totals, classes)))
    return lines


def _line_indexes(page: Page) -> set[int]:
    """The lines a laid-out page holds (their ids are ``l<index>``)."""
    return {
        int(anchor[1:]) for anchor in page.anchors if anchor[:1] == "l" and anchor[1:].isdigit()
    }


def render_table_pdf(
    *,
    title: str,
    subtitle: str,
    columns: list[Column],
    sections: Iterable[Section],
    totals: list | None,
    landscape: bool = False,
    progress: ProgressCallback | None = None,
) -> bytes:
    """The PDF of a table (see the module's docstring), in the active language.

    ``subtitle`` describes what the table holds (the filters, the period); ``totals`` is the
    grand-total row (one string per column, e.g. ``["Total", "", "1.234"]``) or None.
    ``landscape`` turns the pages for wide tables. Every row, subtotal and total must have one
    cell per column (ValueError otherwise). Cells are escaped: they are text, never HTML.

    ``progress(done, total)`` counts the lines of the table (group rows, rows, subtotals, the
    total) laid out so far, plus one last step for joining and numbering the pages: it goes from
    ``(0, total)`` before any work to ``(total, total)`` when the PDF is ready. It is called from
    this thread between chunks and may raise to stop the rendering (the exception reaches the
    caller, and the helper processes are stopped).

    How: the lines are laid out a chunk (``CHUNK_LINES``) at a time, each chunk a document of its
    own without page numbers; the last page of a chunk is dropped and its lines start the next
    chunk, so that every page but the last is full. A table of ``PARALLEL_FROM_LINES`` lines or
    more is cut into ``settings.PDF_PROCESSES`` parts, at the group nearest each cut when there
    is one: this process lays out the first part while helper processes lay out the others at the
    same time (``_Helper``), and each part after the first starts on a new page. The chunks are
    joined with pypdf, and "Página X de Y" is printed over every page from a document of empty
    pages that has only the numbers, in the same page box (same fonts, same place as every other
    PDF's).
    """
    classes = [column.css_class for column in columns]
    lines = _lines(sections, totals, classes)
    steps = len(lines) + 1
    if progress is not None:
        progress(0, steps)
    weights = sum(column.width for column in columns) or 1
    context = {
        "title": title,
        "subtitle": subtitle,
        "columns": [
            {
                "label": column.label,
                "css_class": column.css_class,
                "percent": f"{100 * column.width / weights:.3f}",
            }
            for column in columns
        ],
        "landscape": landscape,
        "page_numbers": False,
        "BODY_NAME": settings.BODY_NAME,
        "SITE_NAME": settings.SITE_NAME,
    }
    starts = _part_starts(lines, settings.PDF_PROCESSES)
    parts = [lines[start:end] for start, end in itertools.pairwise([*starts, len(lines)])]
    writer = PdfWriter()
    with contextlib.ExitStack() as stack:
        helpers = [stack.enter_context(_Helper(context, part)) for part in parts[1:]]

        def report(done: int) -> None:
            if progress is not None:
                progress(done + sum(helper.done for helper in helpers), steps)

        done = 0
        first_page = {**context, "generated_at": timezone.localtime()}
        for pdf, count in _chunks(first_page, parts[0], first=True):
            writer.append(PdfReader(io.BytesIO(pdf)))
            done += count
            report(done)
        for helper in helpers:
            for pdf in helper.results(lambda: report(done)):
                writer.append(PdfReader(io.BytesIO(pdf)))
    stamp = PdfReader(
        io.BytesIO(
            render_pdf(
                TEMPLATE,
                {
                    **context,
                    "page_numbers": True,
                    "running_footer": False,
                    "stamp": range(len(writer.pages)),
                },
            )
        )
    )
    if len(stamp.pages) != len(writer.pages):  # pragma: no cover -- the template's contract
        raise RuntimeError("The page numbers do not match the pages.")
    for page, numbers in zip(writer.pages, stamp.pages, strict=True):
        page.merge_page(numbers)
        page.compress_content_streams()  # merging leaves the page's content uncompressed
    writer.add_metadata({"/Title": title, "/Producer": "WeasyPrint, pypdf"})
    output = io.BytesIO()
    writer.write(output)
    if progress is not None:
        progress(steps, steps)
    return output.getvalue()


def _chunks(
    context: dict[str, Any], lines: list[_Line], *, first: bool
) -> Iterator[tuple[bytes, int]]:
    """The PDFs of ``lines`` laid out a chunk at a time, each with how many lines it holds: every
    page full but the last one's. ``first``: the part that opens the table (the letterhead and
    the title; an empty table says so)."""
    offset = lines[0].index if lines else 0  # ids are the lines' places in the whole table
    start, size, anchored = 0, CHUNK_LINES, ANCHORED_LINES
    while first or start < len(lines):
        end = min(start + size, len(lines))
        chunk = lines[start:end]
        anchored_from = chunk[-anchored].index if 0 < anchored < len(chunk) else offset + start
        document = layout_pdf(
            TEMPLATE, {**context, "lines": chunk, "first": first, "anchored": anchored_from}
        )
        pages = document.pages
        if end < len(lines):
            if len(pages) < 2:  # the chunk did not fill a page: take more lines
                size *= 2
                continue
            on_last = _line_indexes(pages[-1])
            if min(on_last, default=None) == anchored_from > offset + start:
                anchored = 0  # the last page may begin before the ids: again, an id on each line
                continue
            resume = min(on_last, default=offset + end) - offset
            # Lay the last page out again with what follows, unless its first line began on the
            # page before (a line taller than a page) or nothing would be left of the chunk.
            if start < resume < end and resume + offset not in _line_indexes(pages[-2]):
                pages, end = pages[:-1], resume
        size, anchored = CHUNK_LINES, ANCHORED_LINES
        for page in pages:
            page.anchors.clear()  # the lines' ids would each become a named destination
        pdf = document.copy(pages).write_pdf()
        del document, pages
        yield pdf, end - start
        start, first = end, False


def _part_starts(lines: list[_Line], processes: int) -> list[int]:
    """Where each part of the table starts (see ``render_table_pdf``): ``[0]`` for one part."""
    if processes < 2 or len(lines) < PARALLEL_FROM_LINES:
        return [0]
    groups = [line.index for line in lines if line.kind == "group"]
    share = (len(lines) + HELPER_START_LINES * (processes - 1)) / processes  # this process's
    starts = [0]
    for number in range(1, processes):
        cut = round(share + (number - 1) * (share - HELPER_START_LINES))
        group = min(groups, key=lambda index: abs(index - cut), default=None)
        # A part starts at a group's row when one is near, so that the page left short where
        # two parts meet ends a group; otherwise at the cut itself.
        if group is not None and abs(group - cut) <= len(lines) // (4 * processes):
            cut = group
        if cut > starts[-1]:
            starts.append(cut)
    return starts


class _Helper:
    """A helper process (``python -m reports.tabular_pdf <folder>``) laying out one part of a
    table while this one lays out another.

    The part's context and lines go in ``<folder>/part.json``; the helper writes each chunk's PDF
    as ``<n>-<lines>.pdf`` (renamed into place once written, so a file there is whole) and its
    errors in ``stderr.txt``. ``done`` counts the lines of the chunks written so far. Leaving the
    ``with`` block stops the helper if it still runs and removes the folder; a helper whose
    parent died (its parent's pid changed) stops after its chunk and removes the folder. A
    helper that cannot start or fails is logged and its part laid out here instead: slower, the
    same pages.
    """

    def __init__(self, context: dict[str, Any], lines: list[_Line]) -> None:
        self.context, self.lines = context, lines
        self.process: subprocess.Popen | None = None
        self._written: list[tuple[int, int, Path]] = []  # (n, lines, file), in order
        self._laid_out_here = 0  # lines of the part laid out by this process, after a failure

    def __enter__(self) -> _Helper:
        payload = {
            "language": translation.get_language() or settings.LANGUAGE_CODE,
            "parent": os.getpid(),
            "context": self.context,
            "lines": [dataclasses.asdict(line) for line in self.lines],
        }
        self.folder = Path(tempfile.mkdtemp(prefix="crm-pdf-part-"))  # only we may read it
        env = {"DJANGO_SETTINGS_MODULE": "crm.settings", **os.environ}
        try:
            part = json.dumps(payload, default=str)  # lazy translations: in the active language
            (self.folder / "part.json").write_text(part, encoding="utf-8")
            with (self.folder / "stderr.txt").open("wb") as stderr:
                self.process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
                    [*HELPER_COMMAND, str(self.folder)],
                    cwd=settings.BASE_DIR, env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=stderr,
                )  # fmt: skip
        except OSError:
            logger.exception("A PDF helper process could not start; laying its part out here")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def done(self) -> int:
        """Lines of this part in chunks written so far (also after a failure, not fewer)."""
        self._scan()
        return max(sum(lines for _n, lines, _path in self._written), self._laid_out_here)

    def _scan(self) -> None:
        seen = {path for _n, _lines, path in self._written}
        for path in self.folder.glob("*.pdf"):
            if path not in seen:
                number, lines = (int(value) for value in path.stem.split("-"))
                self._written.append((number, lines, path))
        self._written.sort()

    def results(self, tick: Callable[[], None]) -> Iterator[bytes]:
        """The part's chunks (PDFs) in order, once the helper has finished; ``tick()`` is called
        whenever it has written another chunk while we wait."""
        if self.process is not None:
            written = -1
            while self.process.poll() is None:
                if len(self._written) != written:
                    written = len(self._written)
                    tick()
                try:
                    self.process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    self._scan()
            self._scan()
            if self.process.returncode == 0:
                for _number, _lines, path in self._written:
                    yield path.read_bytes()
                return
            error = (self.folder / "stderr.txt").read_text(errors="replace")[-3000:]
            logger.warning(
                "A PDF helper process failed (exit %s); laying its part out here:\n%s",
                self.process.returncode, error,
            )  # fmt: skip
        for pdf, count in _chunks(self.context, self.lines, first=False):
            yield pdf
            self._laid_out_here += count
            tick()


def _render_part(folder: Path) -> None:
    """What a helper process does (``_Helper``)."""
    payload = json.loads((folder / "part.json").read_text(encoding="utf-8"))
    lines = [_Line(**line) for line in payload["lines"]]
    with translation.override(payload["language"]):
        chunks = _chunks(payload["context"], lines, first=False)
        for number, (pdf, count) in enumerate(chunks, start=1):
            if os.getppid() != payload["parent"]:  # the process that wanted this part is gone
                shutil.rmtree(folder, ignore_errors=True)
                return
            path = folder / f"{number:05d}-{count}.pdf"
            partial = path.with_suffix(".partial")
            partial.write_bytes(pdf)
            partial.replace(path)


if __name__ == "__main__":
    import django

    django.setup()
    _render_part(Path(sys.argv[1]))
