"""Registering a filing received in person, by phone, letter, email or social network: each
channel, picking an existing person, typing the filer, the same numbering as the public site,
files checked by content, bad input shown with everything typed kept, who may register."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.forms import STAFF_CHANNELS
from cases.models import Case, CaseAttachment, CaseType, SubjectArea
from citizens.models import Channel, Interaction, Person
from citizens.services import Contacts, EmailInput, PhoneInput, person_create
from crm.models import AuditEvent
from tests.cases.staff import file_case

pytestmark = pytest.mark.django_db

NEW = "/cases/new/"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def english(settings, tmp_path):
    settings.LANGUAGE_CODE = "en"
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def desk(make_user):
    return make_user("citizen_service", unit_codes=("ayto",))


@pytest.fixture
def queja(db):
    return CaseType.objects.get(code="queja")


@pytest.fixture
def maria(db):
    return person_create(
        actor=None,
        given_name="María",
        first_surname="Pérez",
        document_type="dni",
        document_number="12345678Z",
        contacts=Contacts(
            emails=[EmailInput("maria@example.org")], phones=[PhoneInput("600123456")]
        ),
    )


def form_data(queja, **overrides) -> dict:
    return {
        "channel": "phone",
        "language": "es",
        "given_name": "Luis",
        "first_surname": "Pardo",
        "phone": "600 999 888",
        "case_type": queja.pk,
        "subject": "Ruido nocturno",
        "text": "Un bar de la plaza abre hasta las 4.",
        **overrides,
    }


@pytest.mark.parametrize("channel", [value for value, _label in STAFF_CHANNELS])
def test_each_channel_registers_with_the_same_numbering(channel, desk, client, queja, units):
    public = file_case()  # a public filing took number 1 of the series this year
    client.force_login(desk)

    response = client.post(NEW, form_data(queja, channel=channel, unit=units["urbanismo"].pk))

    case = Case.objects.exclude(pk=public.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/"
    assert case.channel == channel
    assert case.registered_by == desk
    series, year, number = case.registry_number.split("-")
    assert [series, year] == public.registry_number.split("-")[:2]
    assert int(number) == 2
    assert case.unit == units["urbanismo"]
    assert case.filer["phone"] == "+34600999888"
    assert Person.objects.get(pk=case.person_id).given_name == "Luis"
    interaction = Interaction.objects.get(related_id=case.pk)
    assert interaction.channel == channel
    assert interaction.staff == desk
    assert AuditEvent.objects.filter(
        object_type="cases.case", object_id=str(case.pk), action="create", actor=desk
    ).exists()
    page = client.get(response["Location"])
    assert f"Case {case.registry_number} has been registered." in page.text


def test_the_public_site_channel_is_not_offered(desk, client, queja):
    client.force_login(desk)
    page = client.get(NEW).text
    assert 'value="web_form"' not in page
    response = client.post(NEW, form_data(queja, channel=Channel.WEB_FORM))
    assert response.status_code == 400
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    "search", ["12345678-z", "600 12 34 56", "maria perez", "MARIA@example.org"]
)
def test_find_and_pick_an_existing_person(search, desk, client, queja, maria):
    client.force_login(desk)
    typed = form_data(queja, given_name="", phone="", person_q=search, subject="Bache")
    found = client.post(NEW, {**typed, "find_person": "1"})
    assert found.status_code == 200
    assert not Case.objects.exists()  # finding registers nothing
    text = found.text
    assert f'value="{maria.pk}"' in text
    assert "María Pérez" in text
    assert 'value="Bache"' in text  # what was typed is kept
    assert "alert-danger" not in text  # and no errors yet

    response = client.post(NEW, {**typed, "person": maria.pk})
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.person == maria
    # The filer's data come from the person's record where nothing was typed.
    assert case.filer["given_name"] == "María"
    assert case.filer["email"] == "maria@example.org"
    assert case.filer["document_number"] == "12345678Z"
    assert Person.objects.count() == 1


def test_a_search_without_matches_says_so(desk, client, queja, maria):
    client.force_login(desk)
    response = client.post(NEW, {**form_data(queja), "person_q": "zzzz", "find_person": "1"})
    assert "Nobody matches" in response.text


def test_the_360_page_link_picks_the_person(desk, client, maria):
    client.force_login(desk)
    page = client.get(NEW, {"person": maria.pk}).text
    assert re.search(rf'value="{maria.pk}"[^>]*checked', page)


def test_typed_filer_matches_an_existing_person_by_document(desk, client, queja, maria):
    client.force_login(desk)
    response = client.post(
        NEW,
        form_data(queja, given_name="M.", document_type="dni", document_number="12345678z"),
    )
    assert response.status_code == 302
    assert Case.objects.get().person == maria
    assert Case.objects.get().filer["given_name"] == "M."  # the registry keeps what was given


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"subject": ""}, "subject", "This field is required."),
        ({"given_name": ""}, "given_name", "Pick the citizen found above"),
        ({"phone": ""}, "email", "Give an email, a phone or a postal address"),
        ({"document_type": "dni", "document_number": "12345678A"}, "document_number", ""),
        ({"phone": "12"}, "phone", ""),
    ],
)
def test_bad_input_is_shown_with_everything_typed(
    overrides, field, message, desk, client, queja, units
):
    client.force_login(desk)
    data = form_data(queja, unit=units["urbanismo"].pk, **overrides)
    response = client.post(NEW, data)
    assert response.status_code == 400
    assert not Case.objects.exists()
    text = response.text
    assert 'id="form-errors"' in text
    assert f'href="#id_{field}"' in text
    if message:
        assert message in text
    # Everything typed is still there.
    assert 'value="Pardo"' in text
    assert "Un bar de la plaza abre hasta las 4.</textarea>" in text
    assert re.search(rf'<option value="{units["urbanismo"].pk}" selected>', text)


def test_files_are_checked_by_content(desk, client, queja):
    client.force_login(desk)
    good = SimpleUploadedFile("carta.pdf", PDF, content_type="application/pdf")
    response = client.post(NEW, {**form_data(queja), "attachments": [good]})
    assert response.status_code == 302
    attachment = CaseAttachment.objects.get()
    assert attachment.name == "carta.pdf"
    assert not attachment.from_citizen

    fake = SimpleUploadedFile("carta.pdf", b"<html>hola</html>", content_type="application/pdf")
    response = client.post(NEW, {**form_data(queja), "attachments": [fake]})
    assert response.status_code == 400
    assert "cannot be accepted" in response.text
    assert Case.objects.count() == 1


def test_case_handlers_register_for_their_own_units_only(client_for, queja, units):
    client = client_for("case_handler", unit_codes=("urbanismo",))
    page = client.get(NEW).text
    assert f'<option value="{units["urbanismo"].pk}"' in page
    assert f'<option value="{units["servicios-sociales"].pk}"' not in page
    response = client.post(NEW, form_data(queja, unit=units["servicios-sociales"].pk))
    assert response.status_code == 400
    response = client.post(NEW, form_data(queja, unit=""))
    assert response.status_code == 400  # they must say which of their units
    response = client.post(NEW, form_data(queja, unit=units["licencias"].pk))
    assert response.status_code == 302
    assert Case.objects.get().unit == units["licencias"]


def test_without_a_unit_citizen_service_routes_by_subject_area(desk, client, queja, units):
    area = SubjectArea.objects.order_by("order").first()
    SubjectArea.objects.filter(pk=area.pk).update(unit=units["servicios-sociales"])
    client.force_login(desk)
    response = client.post(NEW, form_data(queja, subject_area=area.pk))
    assert response.status_code == 302
    assert Case.objects.get().unit == units["servicios-sociales"]


@pytest.mark.parametrize("role", ["data_protection_officer", "communication"])
def test_who_may_not_register(role, client_for, queja):
    client = client_for(role)
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, form_data(queja)).status_code == 403
    assert not Case.objects.exists()


def test_the_queue_offers_registering_to_who_may(client_for):
    assert 'href="/cases/new/"' in client_for("citizen_service").get("/cases/").text
    assert 'href="/cases/new/"' in client_for("case_handler").get("/cases/").text
