"""Tracking a case on the public site: the registry number and the tracking secret open it for
the session (wrong ones do not, and attempts are limited per address); the page shows the
status, the deadline or the stopped clock, the public history and the answer; the citizen
replies when asked for information, and the clock runs again."""

from __future__ import annotations

import re

import pytest

from cases import tasks
from cases.models import CaseAttachment, CaseStatus, CaseSuspension, CaseType, EntryKind
from cases.public_views import SESSION_TRACKING
from cases.services import (
    Filer,
    case_answer,
    case_comment,
    case_file,
    case_request_information,
    display_secret,
)
from tests.cases.public_helpers import PDF, TRACKING_URL, reset_limits

pytestmark = pytest.mark.django_db

ANA = Filer(
    given_name="Ana",
    first_surname="Ruiz",
    document_type="dni",
    document_number="12345678Z",
    email="ana@example.org",
)


@pytest.fixture(autouse=True)
def fresh(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    reset_limits()
    yield
    reset_limits()


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",))


@pytest.fixture
def filing(units):
    return case_file(
        case_type=CaseType.objects.get(code="queja"),
        filer=ANA,
        subject="Farola apagada",
        text="La farola de la calle Mayor 3 lleva una semana apagada.",
        unit=units["urbanismo"],
    )


def open_case(client, number, secret):
    return client.post(
        TRACKING_URL, {"action": "open", "registry_number": number, "secret": secret}
    )


@pytest.fixture
def opened(client, filing):
    response = open_case(client, filing.case.registry_number, filing.tracking_secret)
    assert response.status_code == 302
    return client


def test_the_form_asks_for_the_number_and_the_secret(client):
    response = client.get(TRACKING_URL)
    assert response.status_code == 200
    assert 'name="registry_number"' in response.text
    assert 'name="secret"' in response.text


def test_the_right_number_and_secret_open_the_case_for_the_session(client, filing):
    case = filing.case
    typed_secret = display_secret(filing.tracking_secret).lower()  # as people type it
    response = open_case(client, f" {case.registry_number.lower()} ", typed_secret)
    assert response.status_code == 302
    assert response["Location"] == TRACKING_URL
    assert client.session[SESSION_TRACKING] == case.pk
    page = client.get(TRACKING_URL).text
    assert case.registry_number in page
    assert "Farola apagada" in page
    assert re.search(r"<strong data-case-status>\s*(Recibido|Received)\s*</strong>", page)
    assert case.due_date.strftime("%Y") in page.split("data-deadline")[1]
    assert 'data-history-entry="filed"' in page
    # Opened: no need to type again.
    assert 'name="secret"' not in page


@pytest.mark.parametrize("which", ["secret", "number"])
def test_a_wrong_secret_or_number_opens_nothing(client, filing, caplog, which):
    case = filing.case
    number = case.registry_number if which == "secret" else "QS-2000-000001"
    secret = "ABCD-EFGH-JKLM" if which == "secret" else filing.tracking_secret
    response = open_case(client, number, secret)
    assert response.status_code == 200
    assert SESSION_TRACKING not in client.session
    assert "data-error-summary" in response.text
    assert case.subject not in response.text
    assert f'value="{number}"' in response.text  # kept for correcting
    assert "Tracking: wrong registry number or secret" in caplog.text


def test_tracking_attempts_are_limited_per_address(client, filing, settings):
    settings.SEDE_TRACKING_LIMIT = 3
    for _attempt in range(3):
        assert open_case(client, filing.case.registry_number, "WRONGWRONGWR").status_code == 200
    response = open_case(client, filing.case.registry_number, filing.tracking_secret)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert SESSION_TRACKING not in client.session


def test_internal_comments_are_not_shown(opened, filing, handler):
    case_comment(case=filing.case, actor=handler, text="Nota interna: vecino conflictivo")
    page = opened.get(TRACKING_URL).text
    assert "vecino conflictivo" not in page


def test_the_citizen_replies_when_asked_and_the_clock_runs_again(opened, filing, handler):
    case = filing.case
    due_before = case.due_date
    case_request_information(
        case=case, actor=handler, text="¿Podría indicar el número de la farola?"
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.WAITING
    assert case.due_date is None
    page = opened.get(TRACKING_URL).text
    assert "¿Podría indicar el número de la farola?" in page
    assert 'data-history-entry="information_request"' in page
    deadline = page.split("data-deadline>")[1].split("</dd>")[0]
    assert "suspend" in deadline.lower()
    assert 'name="action" value="reply"' in page

    response = opened.post(
        TRACKING_URL,
        {
            "action": "reply",
            "text": "Es la farola número 1234.",
            "attachments": [_file("foto-farola.pdf", PDF)],
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS
    assert case.due_date is not None
    assert case.due_date >= due_before
    assert case.reply_due_date is None
    assert not CaseSuspension.objects.filter(case=case, ended_on__isnull=True).exists()
    reply = case.entries.get(kind=EntryKind.CITIZEN_REPLY)
    assert reply.public
    assert reply.text == "Es la farola número 1234."
    assert CaseAttachment.objects.get(entry=reply).name == "foto-farola.pdf"
    page = opened.get(TRACKING_URL).text
    assert "Es la farola número 1234." in page
    assert "foto-farola.pdf" in page
    assert 'name="action" value="reply"' not in page  # not waiting any more


def test_a_reply_needs_text_or_a_file_and_keeps_what_was_typed(opened, filing, handler):
    case_request_information(case=filing.case, actor=handler, text="Más datos, por favor.")
    response = opened.post(TRACKING_URL, {"action": "reply", "text": "  "})
    assert response.status_code == 200
    assert 'id="id_text_error"' in response.text
    response = opened.post(
        TRACKING_URL,
        {"action": "reply", "text": "Mi respuesta", "attachments": [_file("x.pdf", b"<html>")]},
    )
    assert response.status_code == 200
    assert 'id="id_attachments_error"' in response.text
    assert "Mi respuesta</textarea>" in response.text
    filing.case.refresh_from_db()
    assert filing.case.status == CaseStatus.WAITING


def test_a_reply_when_not_asked_changes_nothing(opened, filing):
    response = opened.post(TRACKING_URL, {"action": "reply", "text": "Hola"}, follow=True)
    assert response.status_code == 200
    assert not filing.case.entries.filter(kind=EntryKind.CITIZEN_REPLY).exists()
    assert 'name="action" value="reply"' not in response.text


def test_the_answer_and_its_document_are_shown(opened, filing, handler, smtp_mailer):
    case = case_answer(case=filing.case, actor=handler, text="Hemos reparado la farola.")
    page = opened.get(TRACKING_URL).text
    assert "Hemos reparado la farola." in page
    assert 'data-history-entry="answer"' in page
    tasks.issue_answer(case.pk)  # what the worker does after the commit
    case.refresh_from_db()
    code = case.answer_document.display_code
    page = opened.get(TRACKING_URL).text
    assert f'href="/sede/verificar/?code={code}"' in page
    assert f'href="/sede/verificar/{code}/descargar/"' in page
    [mail] = smtp_mailer.wait_for(1)
    assert case.registry_number in mail.subject
    assert "Hemos reparado la farola." in mail.body("plain")
    assert code in mail.body("plain")
    assert code in mail.body("html")
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"


def test_the_information_request_email(filing, handler, smtp_mailer):
    entry = case_request_information(case=filing.case, actor=handler, text="Indique la calle.")
    tasks.notify_information_request(filing.case.pk, entry.pk)
    [mail] = smtp_mailer.wait_for(1)
    assert mail.rcpt_tos == ["ana@example.org"]
    assert filing.case.registry_number in mail.subject
    for part in ("plain", "html"):
        body = mail.body(part)
        assert "Indique la calle." in body
        assert display_secret(filing.tracking_secret) in body
        assert "/sede/seguimiento/" in body


def test_closing_the_case_on_the_device(opened):
    response = opened.post(TRACKING_URL, {"action": "forget"})
    assert response.status_code == 302
    assert SESSION_TRACKING not in opened.session
    assert 'name="secret"' in opened.get(TRACKING_URL).text


def test_the_tracking_page_costs_a_few_queries(
    opened, filing, handler, django_assert_max_num_queries
):
    case_request_information(case=filing.case, actor=handler, text="Uno")
    with django_assert_max_num_queries(12):
        assert opened.get(TRACKING_URL).status_code == 200


def _file(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/pdf")


def test_opening_a_case_gives_the_session_a_new_key(client, filing, settings):
    session = client.session
    session["planted"] = True
    session.save()
    planted = session.session_key
    open_case(client, filing.case.registry_number, filing.tracking_secret)
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != planted
    assert client.session[SESSION_TRACKING] == filing.case.pk


def test_a_reply_without_an_open_case_asks_to_open_it(client, filing, handler):
    case_request_information(case=filing.case, actor=handler, text="Datos")
    response = client.post(TRACKING_URL, {"action": "reply", "text": "Hola"}, follow=True)
    assert response.status_code == 200
    assert 'name="secret"' in response.text
    assert "crm-messages" in response.text
    assert not filing.case.entries.filter(kind=EntryKind.CITIZEN_REPLY).exists()
