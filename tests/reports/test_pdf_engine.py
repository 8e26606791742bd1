"""The PDF engine (crm.pdf.render_pdf) and long tables (reports.tabular_pdf): Spanish text in the
installed fonts, "Página X de Y" on every page, the verification footer only on issued
documents, and tables with group, subtotal and total rows whose header repeats on every page,
rendered in chunks that join into the same pages one rendering would give."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import pytest
from django.utils import translation
from pypdf import PdfReader

from crm.documents import issue_document
from crm.models import DocumentKind
from crm.pdf import render_pdf
from reports import tabular_pdf
from reports.tabular_pdf import Column, Section, render_table_pdf

SPANISH = "¿Dónde está el pingüino? ¡Año nuevo! Ñandú, acción, crítica: 1.234,56 € «comillas»"
FONTS_TEMPLATE = """{% extends "pdf/base.html" %}
{% block title %}Prueba{% endblock %}
{% block style %}
.serif { font-family: "Liberation Serif"; }
.liberation { font-family: "Liberation Sans"; }
{% endblock %}
{% block content %}
<p>{{ text }}</p>
<p class="liberation">{{ text }}</p>
<p class="serif">{{ text }}</p>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>{% endfor %}
{% endblock %}
"""
COLUMNS = [Column("Referencia"), Column("Asunto", width=3), Column("Días", numeric=True)]


@pytest.fixture
def fonts_template(settings, tmp_path: Path) -> str:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "fonts.html").write_text(FONTS_TEMPLATE, encoding="utf-8")
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], folder]
    settings.TEMPLATES = templates
    return "fonts.html"


def page_texts(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def embedded_fonts(pdf: bytes) -> set[str]:
    """The fonts' names, without subset prefix or dashes ("ABCDEF+DejaVu-Sans" → "DejaVuSans")."""
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"].get("/Font", {}).values():
            name = str(font.get_object()["/BaseFont"]).lstrip("/").split("+")[-1]
            names.add(name.replace("-", ""))
    return names


def rows(count: int, start: int = 0) -> list[list[str]]:
    return [
        [f"QS-{n:05d}", f"Asunto número {n} sobre la señal", str(n % 20)]
        for n in range(start, start + count)
    ]


# --- The engine ---------------------------------------------------------------------------------


def test_spanish_text_prints_in_the_installed_fonts(fonts_template):
    pdf = render_pdf(fonts_template, {"text": SPANISH})

    text = page_texts(pdf)[0]
    assert text.count(SPANISH) == 3  # every character extracted back, in each of the three fonts
    fonts = embedded_fonts(pdf)
    assert {"DejaVuSans", "LiberationSans", "LiberationSerif"} <= fonts
    # Nothing fell back to another font for a missing glyph.
    assert all(re.match(r"(DejaVu|Liberation)", name) for name in fonts), fonts


@pytest.mark.parametrize(
    ("language", "label"), [("es", "Página {page} de {pages}"), ("en", "Page {page} of {pages}")]
)
def test_every_page_says_its_number_and_the_count(fonts_template, language, label):
    paragraphs = ["Texto de relleno para llenar varias páginas del documento. " * 10] * 25
    with translation.override(language):
        pdf = render_pdf(fonts_template, {"text": SPANISH, "paragraphs": paragraphs})

    texts = page_texts(pdf)
    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        assert label.format(page=number, pages=len(texts)) in text


@pytest.mark.django_db
def test_only_issued_documents_carry_the_verification_code_and_qr(
    fonts_template, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    paragraphs = ["Texto de relleno para llenar varias páginas del documento. " * 10] * 12
    plain = render_pdf(fonts_template, {"text": SPANISH, "paragraphs": paragraphs})
    with translation.override("en"):
        document = issue_document(
            kind=DocumentKind.REPORT,
            title="Informe",
            template_name=fonts_template,
            context={"text": SPANISH, "paragraphs": paragraphs},
            language="en",
        )
    with document.file.open("rb") as stored:
        issued = stored.read()

    plain_pages = PdfReader(io.BytesIO(plain)).pages
    assert len(plain_pages) >= 2
    assert all(not page.images for page in plain_pages)
    assert not any("verification code" in text.lower() for text in page_texts(plain))
    issued_pages = PdfReader(io.BytesIO(issued)).pages
    for page, text in zip(issued_pages, page_texts(issued), strict=True):
        assert f"Secure verification code: {document.display_code}" in text
        assert len(page.images) == 1  # the QR code


# --- Long tables --------------------------------------------------------------------------------


def test_group_subtotal_and_total_rows_in_order():
    sections = [
        Section("Urbanismo", rows(3), ["Subtotal Urbanismo", "", "3"]),
        Section("Medio Ambiente", rows(2, start=3), ["Subtotal Medio Ambiente", "", "7"]),
    ]
    with translation.override("en"):
        pdf = render_table_pdf(
            title="Quejas por unidad",
            subtitle="Año 2026 · unidades: todas",
            columns=COLUMNS,
            sections=sections,
            totals=["Total general", "", "10"],
        )

    text = page_texts(pdf)[0]
    expected = [
        "Quejas por unidad",
        "Año 2026 · unidades: todas",
        "Referencia Asunto Días",
        "Urbanismo",
        "QS-00000 Asunto número 0 sobre la señal 0",
        "QS-00002 Asunto número 2 sobre la señal 2",
        "Subtotal Urbanismo 3",
        "Medio Ambiente",
        "QS-00004 Asunto número 4 sobre la señal 4",
        "Subtotal Medio Ambiente 7",
        "Total general 10",
        "Page 1 of 1",
    ]
    positions = [text.find(part) for part in expected]
    assert -1 not in positions, text
    assert positions == sorted(positions), text
    assert re.search(r"Generated on \w+\.? \d+, 2\d\d\d", text), text
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "Quejas por unidad"


def test_cells_are_text_and_rows_must_fit_the_columns():
    pdf = render_table_pdf(
        title="T", subtitle="", columns=COLUMNS,
        sections=[Section(None, [["<b>negrita</b>", "a & b", "1"]])], totals=None,
    )  # fmt: skip
    assert "<b>negrita</b> a & b 1" in page_texts(pdf)[0]
    with pytest.raises(ValueError, match="3 columns"):
        render_table_pdf(
            title="T", subtitle="", columns=COLUMNS, sections=[Section(None, [["a", "b"]])],
            totals=None,
        )  # fmt: skip


def test_an_empty_table_says_so():
    with translation.override("en"):
        pdf = render_table_pdf(title="T", subtitle="", columns=COLUMNS, sections=[], totals=None)
    text = page_texts(pdf)[0]
    assert "No rows." in text
    assert "Page 1 of 1" in text


def long_table(monkeypatch, chunk_lines: int, *, landscape: bool = False) -> tuple[bytes, list]:
    monkeypatch.setattr(tabular_pdf, "CHUNK_LINES", chunk_lines)
    calls: list[tuple[int, int]] = []
    sections = [
        Section(f"Unidad {group}", rows(40, start=group * 40), [f"Subtotal {group}", "", "40"])
        for group in range(5)
    ]
    with translation.override("en"):
        pdf = render_table_pdf(
            title="Informe largo",
            subtitle="",
            columns=COLUMNS,
            sections=sections,
            totals=["Total", "", "200"],
            landscape=landscape,
            progress=lambda done, total: calls.append((done, total)),
        )
    return pdf, calls


def test_a_long_table_repeats_its_header_and_numbers_every_page(monkeypatch):
    pdf, calls = long_table(monkeypatch, chunk_lines=10_000)  # one chunk
    texts = page_texts(pdf)

    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        assert "Referencia Asunto Días" in text, f"page {number}"
        assert f"Page {number} of {len(texts)}" in text
    assert texts[0].count("Informe largo") == 2  # the title, and the footer's
    assert "Informe largo" in texts[1]  # in the footer
    # 200 rows, 5 group rows, 5 subtotals and the total: 211 lines, and the joining.
    assert calls[0] == (0, 212)
    assert calls[-1] == (212, 212)


def row_numbers(text: str) -> list[int]:
    return [int(number) for number in re.findall(r"QS-(\d{5})", text)]


@pytest.mark.parametrize("anchored", [120, 60, 2])
def test_chunks_join_into_the_pages_one_rendering_gives(monkeypatch, anchored):
    """Rendered 37 lines at a time, the table has the same pages, each with the same rows, as
    rendered at once: a chunk's last page is laid out again with what follows, never left short,
    and the page numbers count the whole document. Only a chunk's last ``anchored`` lines carry
    the ids that tell where its last page begins: all of them (120), fewer than a chunk (60), or
    fewer than a page holds (2: the chunk is laid out again with an id on every line)."""
    whole, _calls = long_table(monkeypatch, chunk_lines=10_000)
    monkeypatch.setattr(tabular_pdf, "ANCHORED_LINES", anchored)
    layouts = []

    def layout_pdf(template_name, context):
        if "lines" in context:
            layouts.append((context["lines"][0].index, len(context["lines"])))
        return real_layout_pdf(template_name, context)

    real_layout_pdf = tabular_pdf.layout_pdf
    monkeypatch.setattr(tabular_pdf, "layout_pdf", layout_pdf)
    chunked, calls = long_table(monkeypatch, chunk_lines=37)
    again = len(layouts) - len(set(layouts))  # the same lines laid out twice: every line anchored
    assert again > 0 if anchored == 2 else again == 0
    whole_texts, chunked_texts = page_texts(whole), page_texts(chunked)

    assert len(chunked_texts) == len(whole_texts)
    assert [row_numbers(text) for text in chunked_texts] == [
        row_numbers(text) for text in whole_texts
    ]
    assert [n for text in chunked_texts for n in row_numbers(text)] == list(range(200))
    for number, text in enumerate(chunked_texts, start=1):
        assert "Referencia Asunto Días" in text
        assert f"Page {number} of {len(chunked_texts)}" in text
        assert text.count("Page ") == 1
    assert "Total 200" in chunked_texts[-1]
    # Progress went up chunk by chunk to the end.
    assert len(calls) > 4
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)
    assert calls[-1] == (212, 212)


def test_landscape_turns_the_pages(monkeypatch):
    pdf, _calls = long_table(monkeypatch, chunk_lines=10_000, landscape=True)
    for page in PdfReader(io.BytesIO(pdf)).pages:
        assert float(page.mediabox.width) > float(page.mediabox.height)
    portrait, _calls = long_table(monkeypatch, chunk_lines=10_000)
    first = PdfReader(io.BytesIO(portrait)).pages[0]
    assert float(first.mediabox.width) < float(first.mediabox.height)


def test_a_progress_callback_can_stop_the_rendering():
    class Stop(Exception):
        pass

    def stop(done: int, total: int) -> None:
        if done:
            raise Stop

    with pytest.raises(Stop):
        render_table_pdf(
            title="T", subtitle="", columns=COLUMNS, sections=[Section(None, rows(5))],
            totals=None, progress=stop,
        )  # fmt: skip
