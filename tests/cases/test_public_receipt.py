"""The receipt of a filing: the page after the form (registry entry, legal due date, tracking
secret, the PDF's link once issued), and the receipt a real Celery worker issues and emails
through a real SMTP server: a PDF whose verification code (CSV) checks at /sede/verificar/
while a forged code does not, which never prints the tracking secret and masks the document."""

from __future__ import annotations

import io
import re
import threading

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from pypdf import PdfReader

from cases import tasks
from cases.models import Case, CaseEntry, CaseType, EntryKind
from cases.services import Filer, case_file, display_secret, tracking_secret
from crm import documents
from crm.documents import new_verification_code
from crm.public_views import attempts_key
from tests.cases.public_helpers import (
    COMPLAINT,
    PDF,
    RECEIPT,
    filing_data,
    reset_limits,
)

CSV = re.compile(r"\b[A-HJKMNP-Z2-9]{4}(?:-[A-HJKMNP-Z2-9]{4}){3}\b")


@pytest.fixture(autouse=True)
def fresh():
    reset_limits()
    cache.delete(attempts_key("127.0.0.1"))
    yield
    reset_limits()
    cache.delete(attempts_key("127.0.0.1"))


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def pdf_text(content: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages
    )


@pytest.mark.django_db
def test_without_a_filing_in_the_session_the_page_says_so(client):
    response = client.get(RECEIPT)
    assert response.status_code == 200
    assert 'href="/sede/seguimiento/"' in response.text
    assert "data-tracking-secret" not in response.text


@pytest.mark.django_db
def test_the_receipt_page_shows_the_entry_the_deadline_and_the_secret(client, media):
    data = filing_data()
    client.post(COMPLAINT, {**data, "attachments": [_pdf("escrito.pdf")]})
    case = Case.objects.get()
    response = client.get(RECEIPT)
    assert response.status_code == 200
    page = response.text
    assert case.registry_number in page
    assert "Queja" in page
    assert "Farola apagada" in page
    assert "escrito.pdf" in page
    due = case.due_date
    assert f'<time datetime="{due:%Y-%m-%d}">' in page
    assert f"{case.deadline_days} " in page
    secret = re.search(r"data-tracking-secret>([^<]+)<", page).group(1)
    assert secret == display_secret(tracking_secret(case))
    assert re.fullmatch(r"[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}", secret)
    # Being issued: a plain link to reload, and htmx asking for the document's part.
    assert "ana.ruiz@example.org" in page
    assert 'hx-get="/sede/justificante/?part=document"' in page
    assert "vendor/htmx/htmx.min.js" in page
    assert "data-receipt-download" not in page
    part = client.get(RECEIPT + "?part=document", HTTP_HX_REQUEST="true")
    assert part.status_code == 200
    assert "<html" not in part.text
    assert "data-receipt-download" not in part.text


@pytest.mark.django_db
def test_once_issued_the_pdf_can_be_downloaded_from_the_receipt_page(client, media, smtp_mailer):
    client.post(COMPLAINT, filing_data())
    case = Case.objects.get()
    tasks.issue_receipt(case.pk)  # what the worker does after the commit
    case.refresh_from_db()
    code = case.receipt.display_code
    part = client.get(RECEIPT + "?part=document", HTTP_HX_REQUEST="true")
    assert part.status_code == 286  # htmx stops asking
    assert f'href="/sede/verificar/{code}/descargar/"' in part.text
    page = client.get(RECEIPT).text
    assert "data-receipt-download" in page
    assert "hx-get" not in page
    download = client.get(f"/sede/verificar/{code}/descargar/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    [mail] = smtp_mailer.wait_for(1)
    assert mail.rcpt_tos == ["ana.ruiz@example.org"]


@pytest.mark.django_db
def test_an_english_filing_gets_an_english_receipt(client, media, smtp_mailer):
    client.cookies["django_language"] = "en"
    client.post(COMPLAINT, filing_data())
    case = Case.objects.get()
    tasks.issue_receipt(case.pk)
    [mail] = smtp_mailer.wait_for(1)
    assert mail.subject == f"Receipt of your filing {case.registry_number}"
    assert "Your tracking secret:" in mail.body("plain")
    case.refresh_from_db()
    with case.receipt.file.open("rb") as stored:
        text = pdf_text(stored.read())
    assert "Registry receipt" in text
    assert "Complaint" in text


@pytest.mark.django_db(transaction=True)
def test_the_worker_emails_the_receipt_whose_code_verifies(client, celery_worker, smtp_server):
    response = client.post(COMPLAINT, filing_data())
    assert response.status_code == 302
    case = Case.objects.get()
    secret = display_secret(tracking_secret(case))

    [mail] = smtp_server.wait_for(1, timeout=60)
    assert mail.rcpt_tos == ["ana.ruiz@example.org"]
    assert case.registry_number in mail.subject
    for part in ("plain", "html"):
        body = mail.body(part)
        assert secret in body
        assert "http://127.0.0.1:8000/sede/seguimiento/" in body
        assert "/sede/verificar/?code=" in body
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{case.registry_number}.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert case.registry_number in text
    assert "Farola apagada" in text
    assert "Ana Ruiz Gómez" in text
    assert "***4567**" in text  # the DNI 12345678Z, masked but for four digits
    assert "12345678Z" not in text
    assert secret not in text
    assert secret.replace("-", "") not in text
    assert case.due_date.strftime("%Y") in text

    case.refresh_from_db()
    assert case.receipt_emailed_at is not None
    codes = set(CSV.findall(text))
    assert codes == {case.receipt.display_code}
    [code] = codes
    assert code in mail.body("plain")

    verified = client.get("/sede/verificar/", {"code": code})
    assert verified.status_code == 200
    assert 'id="result-heading"' in verified.text
    assert case.registry_number in verified.text
    forged = new_verification_code()
    assert forged != code.replace("-", "")
    refused = client.get("/sede/verificar/", {"code": forged})
    assert refused.status_code == 200
    assert 'id="result-heading"' not in refused.text
    assert 'id="code-error"' in refused.text


def _pdf(name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


@pytest.mark.django_db(transaction=True)
def test_a_receipt_being_issued_holds_up_no_filing_nor_history(monkeypatch, media):
    """While the worker renders a receipt it holds its case's row (so that a second run waits),
    but not the case type's row nor the case's key: new filings of the type and new history
    entries of the case go on (before, they waited for the PDF and could deadlock with it)."""
    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)  # run here instead
    queja = CaseType.objects.get(code="queja")

    def filing(name):
        return case_file(
            case_type=queja, filer=Filer(given_name=name, phone="600123123"), subject="S", text="T"
        ).case

    first = filing("Ana")
    rendering, release = threading.Event(), threading.Event()
    render = documents.render_pdf

    def slow_render(*args, **kwargs):
        rendering.set()
        release.wait(30)
        return render(*args, **kwargs)

    monkeypatch.setattr(documents, "render_pdf", slow_render)
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            tasks.issue_receipt(first.pk)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=issue)
    worker.start()
    try:
        assert rendering.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        second = filing("Luis")
        with transaction.atomic():
            CaseEntry.objects.create(case=first, kind=EntryKind.COMMENT, text="Mientras tanto")
    finally:
        release.set()
        worker.join(60)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert not errors, errors
    first.refresh_from_db()
    assert first.receipt_id is not None
    assert second.case_type == queja
