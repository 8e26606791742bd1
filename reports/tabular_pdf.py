"""Long tabular PDFs: a title, a description of the filters, and a table of grouped rows with
subtotals and a grand total, on as many pages as it takes (``render_table_pdf``).

The report builder's PDF export and the document jobs (reports.jobs) use it. It renders
``pdf/table_report.html`` through ``crm.pdf.render_pdf``, the one PDF service: the body's name,
"Página X de Y" on every page, fonts with every Spanish character. The column header repeats at
the top of every page (WeasyPrint repeats a ``thead``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from django.utils import timezone
from pypdf import PdfReader, PdfWriter
from weasyprint import Page

from crm.pdf import layout_pdf, render_pdf

TEMPLATE = "pdf/table_report.html"

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
    caller).

    How: the lines are laid out a chunk (``CHUNK_LINES``) at a time, each chunk a document of its
    own without page numbers; the last page of a chunk is dropped and its lines start the next
    chunk, so that every page but the last is full. The chunks are joined with pypdf, and
    "Página X de Y" is printed over every page from a document of empty pages that has only the
    numbers, in the same page box (same fonts, same place as every other PDF's).
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
        "generated_at": timezone.localtime(),
        "page_numbers": False,
    }
    writer = PdfWriter()
    start, first, size, anchored = 0, True, CHUNK_LINES, ANCHORED_LINES
    while first or start < len(lines):
        end = min(start + size, len(lines))
        chunk = lines[start:end]
        anchored_from = chunk[-anchored].index if 0 < anchored < len(chunk) else start
        document = layout_pdf(
            TEMPLATE, {**context, "lines": chunk, "first": first, "anchored": anchored_from}
        )
        pages = document.pages
        if end < len(lines):
            if len(pages) < 2:  # the chunk did not fill a page: take more lines
                size *= 2
                continue
            on_last = _line_indexes(pages[-1])
            if min(on_last, default=None) == anchored_from > start:
                anchored = 0  # the last page may begin before the ids: again, an id on each line
                continue
            resume = min(on_last, default=end)
            # Lay the last page out again with what follows, unless its first line began on the
            # page before (a line taller than a page) or nothing would be left of the chunk.
            if start < resume < end and resume not in _line_indexes(pages[-2]):
                pages, end = pages[:-1], resume
        size, anchored = CHUNK_LINES, ANCHORED_LINES
        for page in pages:
            page.anchors.clear()  # the lines' ids would each become a named destination
        writer.append(PdfReader(io.BytesIO(document.copy(pages).write_pdf())))
        del document, pages
        if progress is not None:
            progress(end, steps)
        start, first = end, False
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
