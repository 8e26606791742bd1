"""The emails the staff side's actions lead to, sent by a real Celery worker through a real SMTP
server: the handler told of an assignment and of the citizen's reply, and the citizen's answer
as a PDF whose verification code (CSV) checks at /sede/verificar/."""

from __future__ import annotations

import io
import re

import pytest
from django.core.cache import cache
from pypdf import PdfReader

from cases.models import Case, CaseStatus
from cases.services import case_citizen_reply, display_secret, tracking_secret
from crm.public_views import attempts_key
from tests.cases.staff import file_case

CSV = re.compile(r"\b[A-HJKMNP-Z2-9]{4}(?:-[A-HJKMNP-Z2-9]{4}){3}\b")


def pdf_text(content: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages
    )


def mails_to(server, worker, address: str, count: int) -> list:
    """Wait until ``address`` got ``count`` messages (others arrive meanwhile); return them.
    Should they not all come, say which came and what the worker that sends them logged."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [mail for mail in server.messages if address in mail.rcpt_tos]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    subjects = [mail.subject for mail in found]
    raise AssertionError(
        f"{address} got {len(found)} of {count} messages: {subjects}\n{worker.log_tail()}"
    )


@pytest.mark.django_db(transaction=True)
def test_assignment_reply_and_answer_emails(client, make_user, units, celery_worker, smtp_server):
    cache.delete(attempts_key("127.0.0.1"))
    handler = make_user(
        "case_handler", unit_codes=("urbanismo",), first_name="Marta", email="marta@ayto.es"
    )
    desk = make_user("citizen_service", unit_codes=("ayto",), email="desk@ayto.es")
    case = file_case(unit=None)
    case_url = f"http://127.0.0.1:8000/cases/{case.pk}/"

    # Citizen service routes it: the handler is told, with a link to the case.
    client.force_login(desk)
    response = client.post(
        f"/cases/{case.pk}/assign/",
        {"assign-unit": units["urbanismo"].pk, "assign-assignee": handler.pk},
    )
    assert response.status_code == 302
    [assigned] = mails_to(smtp_server, celery_worker, "marta@ayto.es", 1)
    assert case.registry_number in assigned.subject
    for part in ("plain", "html"):
        body = assigned.body(part)
        assert case_url in body
        assert "Farola apagada" in body
        assert display_secret(tracking_secret(case)) not in body  # the citizen's only

    # The handler asks the citizen; the citizen replies; the handler is told.
    client.force_login(handler)
    assert client.post(f"/cases/{case.pk}/start/").status_code == 302
    response = client.post(
        f"/cases/{case.pk}/request-information/", {"request_information-text": "¿Qué número?"}
    )
    assert response.status_code == 302
    case_citizen_reply(case=Case.objects.get(pk=case.pk), text="El 3")
    replied = mails_to(smtp_server, celery_worker, "marta@ayto.es", 2)[1]
    assert case.registry_number in replied.subject
    assert case_url in replied.body("plain")
    assert case_url in replied.body("html")

    # The answer: the citizen gets a PDF with its own verification code.
    response = client.post(
        f"/cases/{case.pk}/answer/", {"answer-text": "La farola del número 3 ya funciona."}
    )
    assert response.status_code == 302
    answered = Case.objects.get(pk=case.pk)
    assert answered.status == CaseStatus.ANSWERED
    assert answered.answered_at is not None

    # The citizen's receipt, request for information and answer.
    citizen_mails = mails_to(smtp_server, celery_worker, "ana@example.org", 3)
    [answer_mail] = [
        mail
        for mail in citizen_mails
        if any(
            part.get_filename() == f"{case.registry_number}-answer.pdf"
            for part in mail.message.iter_attachments()
        )
    ]
    [attachment] = list(answer_mail.message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf = attachment.get_content()
    text = pdf_text(pdf)
    assert case.registry_number in text
    assert "La farola del número 3 ya funciona." in text

    answered.refresh_from_db()
    assert answered.answer_document is not None
    [code] = set(CSV.findall(text))
    assert code == answered.answer_document.display_code
    verified = client.get("/sede/verificar/", {"code": code})
    assert verified.status_code == 200
    assert 'id="result-heading"' in verified.text

    # The case page links the documents the worker issued.
    page = client.get(f"/cases/{case.pk}/").text
    assert f'href="/cases/{case.pk}/documents/answer/"' in page
    assert code in page
    download = client.get(f"/cases/{case.pk}/documents/answer/")
    assert download.content == pdf
