"""Issued documents with a secure verification code (CSV): the PDF carries the code, the public
verification address and a QR code of it on every page; the public page verifies codes and
hands out the kept copy, with no login, a rate limit, and accessibly (axe-core in Chromium)."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import logging
import re
from pathlib import Path

import pytest
import qrcode
from django.conf import settings as django_settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation
from PIL import Image
from playwright.sync_api import expect
from pypdf import PdfReader

from crm.documents import (
    CODE_ALPHABET,
    display_code,
    issue_document,
    new_verification_code,
    normalise_code,
    verification_context,
)
from crm.models import AuditAction, AuditEvent, DocumentKind, IssuedDocument, Unit
from crm.public_views import ATTEMPTS_LIMIT, attempts_key
from tests.crm.test_settings import django_setup, settings_value
from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors

VERIFY = "/sede/verificar/"
TITLE = "Respuesta a la queja QS-2026-000123"
TWO_PAGES = """{% extends "pdf/base.html" %}
{% block title %}{{ document_title }}{% endblock %}
{% block content %}
<h1>{{ document_title }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>{% endfor %}
{% endblock %}
"""
PARAGRAPHS = ["Texto de la respuesta a la queja presentada por la persona interesada. " * 8] * 14
CODE_SHAPE = re.compile(r"^[A-HJKMNP-Z2-9]{16}$")  # no 0/O, 1/I/L


@pytest.fixture
def pdf_template(settings, tmp_path: Path) -> str:
    """A template of our own, long enough for two pages, in a template folder of the test's."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "two_pages.html").write_text(TWO_PAGES, encoding="utf-8")
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], folder]
    settings.TEMPLATES = templates
    return "two_pages.html"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fresh_attempts():
    """The rate limit counts in the (shared) cache across tests: start each test afresh."""
    cache.delete(attempts_key("127.0.0.1"))
    yield
    cache.delete(attempts_key("127.0.0.1"))


@pytest.fixture
def issue(pdf_template, db):
    def issue_one(**overrides) -> IssuedDocument:
        arguments = {
            "kind": DocumentKind.ANSWER,
            "title": TITLE,
            "template_name": pdf_template,
            "context": {"paragraphs": PARAGRAPHS},
            "actor": None,
        }
        return issue_document(**{**arguments, **overrides})

    return issue_one


@pytest.fixture
def document(issue) -> IssuedDocument:
    return issue()


def pdf_of(document: IssuedDocument) -> bytes:
    with document.file.open("rb") as stored:
        return stored.read()


def page_texts(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def qr_matrices(data: str):
    """The module grids qrcode makes of ``data``: every error correction level and quiet zone."""
    for level in (
        qrcode.constants.ERROR_CORRECT_L,
        qrcode.constants.ERROR_CORRECT_M,
        qrcode.constants.ERROR_CORRECT_Q,
        qrcode.constants.ERROR_CORRECT_H,
    ):
        for border in (4, 2, 1, 0):
            qr = qrcode.QRCode(error_correction=level, border=border)
            qr.add_data(data)
            qr.make(fit=True)
            yield qr.get_matrix()


def encodes(image: Image.Image, data: str) -> bool:
    """Whether ``image`` is the QR code of ``data``: its modules, read at their centres, are the
    modules qrcode makes of ``data`` (no QR decoder is installed; this reads the grid)."""
    gray = image.convert("L")
    for matrix in qr_matrices(data):
        size = len(matrix)
        if gray.width != gray.height or gray.width % size:
            continue
        box = gray.width // size
        read = [
            [gray.getpixel((x * box + box // 2, y * box + box // 2)) < 128 for x in range(size)]
            for y in range(size)
        ]
        if read == matrix:
            return True
    return False


def verification_link(document: IssuedDocument, base: str = "http://127.0.0.1:8000") -> str:
    return f"{base}/sede/verificar/?code={document.display_code}"


# --- Codes -------------------------------------------------------------------------------------


def test_codes_are_random_16_characters_without_look_alikes():
    codes = {new_verification_code() for _code in range(2000)}
    assert len(codes) == 2000
    assert all(CODE_SHAPE.match(code) for code in codes)
    assert not set("0O1IL") & set(CODE_ALPHABET)
    assert set("".join(codes)) == set(CODE_ALPHABET)  # every character gets used


@pytest.mark.parametrize(
    "typed",
    [
        "ABCD-EFGH-JKMN-PQRS",
        "abcd-efgh-jkmn-pqrs",
        "ABCDEFGHJKMNPQRS",
        " abcd efgh jkmn pqrs ",
        "ABCD EFGH-JKMNPQRS",
        "a-b-c-d-e-f-g-h-j-k-m-n-p-q-r-s",
    ],
)
def test_typed_codes_are_normalised(typed):
    assert normalise_code(typed) == "ABCDEFGHJKMNPQRS"
    assert display_code("ABCDEFGHJKMNPQRS") == "ABCD-EFGH-JKMN-PQRS"


@pytest.mark.parametrize(
    "typed",
    ["", "ABCD-EFGH-JKMN-PQR", "ABCD-EFGH-JKMN-PQRST", "ABCD-EFGH-JKMN-PQR0", "<script>", "ÁBCD"],
)
def test_malformed_codes_are_refused(typed):
    assert normalise_code(typed) is None


# --- The public address -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sede.example.org", "ftp://sede.example.org", "https://"])
def test_a_public_address_that_is_not_an_absolute_url_stops_the_process(value):
    result = django_setup({"PUBLIC_BASE_URL": value})
    assert result.returncode != 0
    assert "ImproperlyConfigured: PUBLIC_BASE_URL must be an absolute URL" in result.stderr


def test_the_public_address_is_read_without_its_trailing_slash():
    value = settings_value(
        {"PUBLIC_BASE_URL": "https://sede.example.org/"}, "settings.PUBLIC_BASE_URL"
    )
    assert value == "https://sede.example.org"
    assert settings_value({}, "settings.PUBLIC_BASE_URL") == "http://127.0.0.1:8000"


# --- Issuing -----------------------------------------------------------------------------------


def test_the_pdf_shows_title_code_and_address_on_every_page(document):
    pdf = pdf_of(document)
    texts = page_texts(pdf)

    assert len(texts) >= 2
    assert CODE_SHAPE.match(document.verification_code)
    assert document.display_code == display_code(document.verification_code)
    for number, text in enumerate(texts, start=1):
        assert TITLE in text, f"page {number}"
        assert document.display_code in text, f"page {number}"
        assert "http://127.0.0.1:8000/sede/verificar/" in text, f"page {number}"
        assert f"Página {number} de {len(texts)}" in text  # issued in Spanish by default
    assert document.language == "es"


def test_every_page_has_a_qr_code_of_the_verification_link(document):
    pages = PdfReader(io.BytesIO(pdf_of(document))).pages

    assert len(pages) >= 2
    for page in pages:
        assert any(encodes(image.image, verification_link(document)) for image in page.images)
        # ... and not of some other address.
        assert not any(
            encodes(image.image, verification_link(document) + "x") for image in page.images
        )


def test_the_public_address_comes_from_the_setting(settings, issue):
    settings.PUBLIC_BASE_URL = "https://sede.example.org"
    document = issue()
    pdf = pdf_of(document)

    for text in page_texts(pdf):
        assert "https://sede.example.org/sede/verificar/" in text
        assert "127.0.0.1" not in text
    first_page = PdfReader(io.BytesIO(pdf)).pages[0]
    link = verification_link(document, "https://sede.example.org")
    assert any(encodes(image.image, link) for image in first_page.images)


def test_the_qr_code_is_in_the_html_given_to_weasyprint(pdf_template):
    """The footer block prints the QR image (a PNG data URI) only for issued documents."""
    code = "ABCDEFGHJKMNPQRS"
    context = {"document_title": TITLE, "paragraphs": ["Uno"]}
    without = render_to_string(pdf_template, context)
    with_code = render_to_string(
        pdf_template, {**context, "verification": verification_context(code=code, title=TITLE)}
    )

    assert "verification-qr" not in without
    assert "ABCD-EFGH-JKMN-PQRS" not in without
    sources = re.findall(
        r'<img class="verification-qr" src="data:image/png;base64,([^"]+)"', with_code
    )
    assert len(sources) == 1
    image = Image.open(io.BytesIO(base64.b64decode(sources[0])))
    assert encodes(image, "http://127.0.0.1:8000/sede/verificar/?code=ABCD-EFGH-JKMN-PQRS")
    assert "ABCD-EFGH-JKMN-PQRS" in with_code


def test_the_stored_file_matches_its_hash_and_size(document, media_root):
    pdf = pdf_of(document)

    assert pdf.startswith(b"%PDF-")
    assert document.sha256 == hashlib.sha256(pdf).hexdigest()
    assert document.size == len(pdf)
    path = Path(document.file.path)
    assert path.is_relative_to(media_root / "private" / "documents")
    assert document.verification_code not in path.name
    with pytest.raises(ValueError, match="no URL"):
        document.file.url  # noqa: B018 -- private files are never served directly


def test_issuing_is_audited_with_actor_and_related_record(issue, make_user):
    handler = make_user("case_handler")
    unit = Unit.objects.get(code="urbanismo")

    document = issue(kind="receipt", related=unit, actor=handler)

    assert document.kind == DocumentKind.RECEIPT
    assert document.issued_by == handler
    assert (document.object_type, document.object_id) == ("crm.unit", str(unit.pk))
    event = AuditEvent.objects.get(object_type="crm.issueddocument", object_id=str(document.pk))
    assert event.action == AuditAction.CREATE
    assert event.actor == handler
    assert event.changes["sha256"] == document.sha256
    assert event.changes["kind"] == "receipt"
    assert event.changes["related"] == f"crm.unit:{unit.pk}"
    assert document.verification_code not in str(event.changes)


def test_documents_are_issued_in_the_language_asked(issue):
    document = issue(language="en")

    assert document.language == "en"
    texts = page_texts(pdf_of(document))
    assert all(f"Page {number} of {len(texts)}" in text for number, text in enumerate(texts, 1))
    with pytest.raises(ValueError, match="issued in"):
        issue(language="fr")


def test_each_document_gets_its_own_code(issue):
    first, second = issue(), issue()
    assert first.verification_code != second.verification_code
    assert first.sha256 != second.sha256  # the code is printed in it


# --- The public verification page --------------------------------------------------------------


def test_the_page_needs_no_login_and_shows_no_staff_navigation(client, make_user):
    response = client.get(VERIFY)

    assert response.status_code == 200
    assert 'name="code"' in response.text
    assert 'id="main"' in response.text
    assert 'href="#main"' in response.text
    assert "<footer" in response.text
    assert 'name="language"' in response.text
    client.force_login(make_user("administrator"))
    response = client.get(VERIFY)
    assert response.status_code == 200
    assert "navbar-nav" not in response.text
    assert "/accounts/logout/" not in response.text


@pytest.mark.parametrize(
    "typed",
    ["{grouped}", "{grouped_lower}", "{bare}", "{bare_lower}", " {spaced} ", "{spaced_lower}"],
)
def test_a_real_code_shows_the_document(client, document, typed):
    code = document.verification_code
    typed = typed.format(
        grouped=document.display_code,
        grouped_lower=document.display_code.lower(),
        bare=code,
        bare_lower=code.lower(),
        spaced=" ".join(code[i : i + 4] for i in range(0, 16, 4)),
        spaced_lower=" ".join(code[i : i + 4] for i in range(0, 16, 4)).lower(),
    )

    response = client.get(VERIFY, {"code": typed})

    assert response.status_code == 200
    body = response.text
    assert TITLE in body
    assert document.sha256 in body
    assert document.display_code in body
    with translation.override("es"):
        assert str(document.get_kind_display()) in body
    assert f"/sede/verificar/{document.display_code}/descargar/" in body
    assert 'aria-invalid="true"' not in body


def test_the_page_shows_the_issue_date_and_time_in_the_official_zone(client, document):
    from django.utils import timezone

    issued = timezone.localtime(document.issued_at)
    response = client.get(VERIFY, {"code": document.display_code})
    assert issued.strftime("%H:%M:%S") in response.text
    assert str(issued.year) in response.text
    assert "Europe/Madrid" in response.text


def test_a_forged_code_is_told_apart_and_logged(client, document, caplog):
    forged = "ABCD-EFGH-JKMN-PQRS"
    assert normalise_code(forged) != document.verification_code

    with caplog.at_level(logging.WARNING, logger="crm.public_views"):
        response = client.get(VERIFY, {"code": "abcd efgh jkmn pqrs"})

    assert response.status_code == 200
    body = response.text
    assert "No se ha emitido ningún documento con este código" in body
    assert 'value="abcd efgh jkmn pqrs"' in body  # what was typed stays in the field
    assert 'aria-invalid="true"' in body
    assert 'aria-describedby="code-help code-error"' in body
    assert document.title not in body
    assert "ABCD-EFGH-JKMN-PQRS" in caplog.text


@pytest.mark.parametrize("garbage", ["hola", "ABCD-EFGH-JKMN-PQR0", "<b>x</b>", "1" * 64])
def test_garbage_gets_a_clear_error_next_to_the_field(client, garbage, caplog):
    with caplog.at_level(logging.WARNING, logger="crm.public_views"):
        response = client.get(VERIFY, {"code": garbage})

    assert response.status_code == 200
    body = response.text
    assert "Esto no es un código de verificación" in body
    assert 'aria-invalid="true"' in body
    assert "<b>x</b>" not in body
    if garbage == "<b>x</b>":
        assert 'value="&lt;b&gt;x&lt;/b&gt;"' in body
    else:
        assert f'value="{garbage}"' in body


def test_an_empty_code_asks_for_one(client):
    response = client.get(VERIFY, {"code": ""})
    assert response.status_code == 200
    assert "Escriba el código impreso en el documento" in response.text


def test_the_download_is_the_issued_pdf_byte_for_byte(client, document):
    for code in (document.display_code, document.verification_code.lower()):
        response = client.get(f"/sede/verificar/{code}/descargar/")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert "attachment" in response["Content-Disposition"]
        assert f"{document.display_code}.pdf" in response["Content-Disposition"]
        content = response.content
        assert content == pdf_of(document)
        assert hashlib.sha256(content).hexdigest() == document.sha256


def test_no_download_for_a_code_nobody_issued(client, document):
    response = client.get("/sede/verificar/ABCD-EFGH-JKMN-PQRS/descargar/")
    assert response.status_code == 404
    assert "No se ha emitido ningún documento con este código" in response.text
    assert client.get("/sede/verificar/nonsense/descargar/").status_code == 404


def test_attempts_are_limited_per_address(client, document):
    for attempt in range(ATTEMPTS_LIMIT):
        code = document.display_code if attempt % 2 else f"ABCD-EFGH-JKMN-{attempt:04d}"
        assert client.get(VERIFY, {"code": code}).status_code == 200

    response = client.get(VERIFY, {"code": document.display_code})
    assert response.status_code == 429
    assert "Demasiados intentos" in response.text
    assert int(response["Retry-After"]) > 0
    assert document.sha256 not in response.text
    download = client.get(f"/sede/verificar/{document.display_code}/descargar/")
    assert download.status_code == 429
    # The empty form is still there; another address is not held back.
    assert client.get(VERIFY).status_code == 200
    other = Client(REMOTE_ADDR="192.0.2.10")
    try:
        assert other.get(VERIFY, {"code": document.display_code}).status_code == 200
    finally:
        cache.delete(attempts_key("192.0.2.10"))


def test_the_admin_lists_documents_read_only(client, document, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)

    listing = client.get("/admin/crm/issueddocument/", {"q": document.display_code.lower()})
    assert listing.status_code == 200
    assert document.display_code in listing.text
    detail = client.get(f"/admin/crm/issueddocument/{document.pk}/change/")
    assert detail.status_code == 200
    assert document.sha256 in detail.text
    assert 'name="title"' not in detail.text  # nothing to edit
    assert client.get("/admin/crm/issueddocument/add/").status_code == 403
    assert client.get("/admin/crm/registrycounter/").status_code == 200


# --- In a real browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_verification_in_chromium_is_accessible_on_a_phone(page, console_errors, issue):
    document = issue()
    page.set_viewport_size(PHONE)
    page.goto(VERIFY)

    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert_accessible(page)

    field = page.locator("input[name=code]")
    field.fill("abcd efgh jkmn pqrs")
    with page.expect_navigation():
        field.press("Enter")
    expect(page.locator("#code-error")).to_contain_text("No se ha emitido ningún documento")
    expect(field).to_have_value("abcd efgh jkmn pqrs")
    expect(field).to_be_focused()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert_accessible(page)

    field.fill(document.verification_code.lower())
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    expect(page.locator("#result-heading")).to_be_visible()
    expect(page.locator("main")).to_contain_text(document.sha256)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert_accessible(page)

    with page.expect_download() as download_info:
        page.locator(f'a[href="/sede/verificar/{document.display_code}/descargar/"]').click()
    downloaded = Path(download_info.value.path()).read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == document.sha256
    assert_no_console_errors(console_errors)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_qr_link_opens_the_result_and_the_language_switch_keeps_it(page, console_errors, issue):
    document = issue()
    # What the QR code holds, on this test's server.
    page.goto(verification_link(document).removeprefix(django_settings.PUBLIC_BASE_URL))
    expect(page.locator("#result-heading")).to_be_visible()
    assert_accessible(page)

    with page.expect_navigation():
        page.locator("button[name=language][value=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#result-heading")).to_be_visible()
    assert_accessible(page)
    assert_no_console_errors(console_errors)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_too_many_attempts_page_is_accessible(page, console_errors):
    cache.set(attempts_key("127.0.0.1"), ATTEMPTS_LIMIT, timeout=60)
    response = page.goto(f"{VERIFY}?code=ABCD-EFGH-JKMN-PQRS")
    assert response.status == 429
    expect(page.locator("main h1")).to_be_visible()
    assert_accessible(page)
    assert django_settings.BODY_NAME in page.locator("footer").inner_text()
    assert_no_console_errors(console_errors)
