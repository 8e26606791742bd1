"""The files of a report (reports.builder): CSV, XLSX and PDF, each with its grouped rows, the
groups' subtotals and the grand total.

CSV and XLSX are written row by row into a temporary file (XLSX in openpyxl's write-only mode),
so a report of a million rows never sits in memory; the PDF goes through
``reports.tabular_pdf.render_table_pdf``. Every text cell a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return at its start) is written with a leading
apostrophe, with the same helper the citizens' exports use.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.text import slugify
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from citizens.views.directory import neutralise

from . import builder
from .builder import OutputColumn, Result

CSV = "csv"
XLSX = "xlsx"
PDF = "pdf"
FORMATS = (CSV, XLSX, PDF)
CONTENT_TYPES = {
    CSV: "text/csv; charset=utf-8",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    PDF: "application/pdf",
}
SPOOL = 1024 * 1024  # bytes kept in memory before the temporary file goes to disk
LANDSCAPE_FROM = 6  # columns


class _TemporaryFile(tempfile.SpooledTemporaryFile):
    """Closed when dropped: a download the client never read (it went away) must not keep the
    file open until the process ends."""

    def __del__(self) -> None:
        self.close()


@dataclass
class ExportedFile:
    filename: str
    content_type: str
    file: IO[bytes]  # at position 0
    rows: int  # the records the report counts

    def read(self) -> bytes:
        """The whole file (then closed)."""
        with self.file:
            self.file.seek(0)
            return self.file.read()


def filename(title: str, file_format: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{slugify(title)[:60] or 'report'}-{stamp}.{file_format}"


# --- Rows: the data rows, then each section's subtotal, then the totals ------------------------


@dataclass(frozen=True)
class Line:
    kind: str  # "row", "subtotal", "total"
    cells: list[Any]


def lines(result: Result) -> Iterator[Line]:
    for section in result.sections:
        for row in section.rows:
            yield Line("row", row)
        if section.subtotal is not None:
            yield Line("subtotal", section.subtotal)
    for row in result.totals:
        yield Line("total", row)


# --- CSV ---------------------------------------------------------------------------------------


def _csv_value(column: OutputColumn, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m") if column.kind == "month" else value.isoformat()
    return str(value)


def write_csv(result: Result, output: IO[bytes]) -> None:
    text = io.TextIOWrapper(output, encoding="utf-8", newline="", write_through=True)
    text.write("\ufeff")  # so that spreadsheets read the file as UTF-8 (accents)
    writer = csv.writer(text)
    writer.writerow([neutralise(column.label) for column in result.columns])
    for line in lines(result):
        writer.writerow(
            [
                _csv_value(column, value)
                for column, value in zip(result.columns, line.cells, strict=True)
            ]
        )
    text.flush()
    text.detach()


# --- XLSX --------------------------------------------------------------------------------------

XLSX_FORMATS = {
    "date": "yyyy-mm-dd",
    "moment": "yyyy-mm-dd hh:mm",
    "month": "yyyy-mm",
    "money": "#,##0.00",
    "number": "#,##0.##",
}


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def write_xlsx(result: Result, output: IO[bytes], *, title: str) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(
        title=re.sub(r"[\\/*?:\[\]]", " ", title).strip(" '")[:31] or "Report"
    )
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(column: OutputColumn, value: Any, *, strong: bool = False) -> WriteOnlyCell:
        item = WriteOnlyCell(sheet, value=_xlsx_value(value))
        if column.kind in XLSX_FORMATS and not isinstance(value, str):
            item.number_format = XLSX_FORMATS[column.kind]
        if strong:
            item.font = bold
        return item

    header = OutputColumn("", "text")
    sheet.append([cell(header, column.label, strong=True) for column in result.columns])
    for line in lines(result):
        strong = line.kind != "row"
        sheet.append(
            [
                cell(column, value, strong=strong)
                for column, value in zip(result.columns, line.cells, strict=True)
            ]
        )
    workbook.save(output)


# --- PDF ---------------------------------------------------------------------------------------


def display_value(column: OutputColumn, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return date_format(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return date_format(
            value, "YEAR_MONTH_FORMAT" if column.kind == "month" else "SHORT_DATE_FORMAT"
        )
    if isinstance(value, Decimal):
        places = 2 if column.kind == "money" or value != value.to_integral() else 0
        return number_format(value, places, use_l10n=True, force_grouping=True)
    if isinstance(value, int):
        return number_format(value, use_l10n=True, force_grouping=True)
    return str(value)


@dataclass
class DisplaySection:
    heading: str | None
    rows: list[list[str]]
    subtotal: list[str] | None


def display_sections(result: Result) -> tuple[list[DisplaySection], list[list[str]]]:
    """The result's sections and total rows as the reader reads them (localised strings)."""

    def formatted(row: list[Any]) -> list[str]:
        return [
            display_value(column, value) for column, value in zip(result.columns, row, strict=True)
        ]

    sections = [
        DisplaySection(
            section.heading,
            [formatted(row) for row in section.rows],
            formatted(section.subtotal) if section.subtotal is not None else None,
        )
        for section in result.sections
    ]
    return sections, [formatted(row) for row in result.totals]


def render_pdf(
    result: Result,
    *,
    title: str,
    subtitle: str,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    from .tabular_pdf import Column, Section, render_table_pdf

    shown, totals = display_sections(result)
    sections = [Section(item.heading, item.rows, item.subtotal) for item in shown]
    # An ungrouped report's averages come after its total row: as a closing row of their own.
    sections += [Section(None, [], row) for row in totals[1:]]
    return render_table_pdf(
        title=title,
        subtitle=subtitle,
        columns=[Column(column.label, numeric=column.numeric) for column in result.columns],
        sections=sections,
        totals=totals[0] if totals else None,
        landscape=len(result.columns) >= LANDSCAPE_FROM,
        progress=progress,
    )


# --- One entry point ---------------------------------------------------------------------------


def export(
    user,
    report: builder.Report,
    file_format: str,
    *,
    title: str,
    progress: Callable[[int, int], None] | None = None,
) -> ExportedFile:
    """The whole report, as ``user`` may see it, in ``file_format`` (no audit: the caller,
    reports.services.report_export, writes it)."""
    if file_format not in FORMATS:
        raise ValueError(f"Unknown export format {file_format!r}")
    result = builder.run(user, report, preview=False, title=title)
    output: IO[bytes] = _TemporaryFile(max_size=SPOOL)  # returned open: the caller closes it
    if file_format == CSV:
        write_csv(result, output)
    elif file_format == XLSX:
        write_xlsx(result, output, title=title)
    else:
        output.write(
            render_pdf(result, title=title, subtitle=builder.describe(report), progress=progress)
        )
    output.seek(0)
    return ExportedFile(
        filename(title, file_format), CONTENT_TYPES[file_format], output, result.count
    )
