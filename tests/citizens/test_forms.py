"""Creating and editing people and organisations through their forms (real POSTs): identity
documents and phones checked with the message next to the field, everything typed kept on
error, duplicates refused by the service shown as form errors, contact data as formsets."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from citizens.models import EmailAddress, Organization, Person, PhoneNumber, PostalAddress
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    organization_create,
    person_create,
)
from crm.models import AuditAction, AuditEvent

NEW_PERSON = reverse("citizens:person_new")
NEW_ORGANIZATION = reverse("citizens:organization_new")


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def formset(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
    }
    for number, row in enumerate(rows):
        for name, value in row.items():
            if value is True:
                value = "on"
            if value is False:
                continue
            data[f"{prefix}-{number}-{name}"] = value
    return data


def person_data(
    emails=(), phones=(), addresses=(), initial=(0, 0, 0), **fields: Any
) -> dict[str, Any]:
    data = {
        "given_name": "Ana",
        "first_surname": "López",
        "second_surname": "Gil",
        "document_type": "dni",
        "document_number": "12345678Z",
        "birth_date": "1985-04-12",
        "sex": "female",
        "preferred_channel": "email",
        "preferred_language": "gl",
        "tags": "Vecina, voluntaria,  vecina ",
        "notes": "Llamar por la mañana.",
    }
    data.update(fields)
    data.update(formset("emails", list(emails), initial[0]))
    data.update(formset("phones", list(phones), initial[1]))
    data.update(formset("addresses", list(addresses), initial[2]))
    return data


def organization_data(emails=(), phones=(), addresses=(), **fields: Any) -> dict[str, Any]:
    data = {
        "name": "Fundación Río Duero",
        "kind": "foundation",
        "tax_id": "G12345674",
        "sector": "Medio ambiente",
        "website": "https://rioduero.example",
        "preferred_channel": "",
        "preferred_language": "es",
        "tags": "ribera",
        "notes": "",
    }
    data.update(fields)
    data.update(formset("emails", list(emails)))
    data.update(formset("phones", list(phones)))
    data.update(formset("addresses", list(addresses)))
    return data


def field_error(html: str, field_id: str) -> str:
    """The error text linked to a field by aria-describedby (crispy's invalid-feedback)."""
    tag = re.search(rf'<[^>]+id="{field_id}"[^>]*>', html)
    assert tag, f"no field {field_id}"
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    assert f'aria-describedby="{field_id}_error' in tag.group(0) or (
        f"{field_id}_error" in tag.group(0)
    ), tag.group(0)
    block = re.search(rf'<div id="{field_id}_error"[^>]*>(.*?)</div>', html, re.S)
    assert block, f"no error block for {field_id}"
    return re.sub(r"<[^>]+>", "", block.group(1)).strip()


def value_of(html: str, field_id: str) -> str | None:
    tag = re.search(rf'<input[^>]+id="{field_id}"[^>]*>', html)
    value = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    return value.group(1) if value else None


# --- Creating a person -------------------------------------------------------------------------


def test_creating_a_person_with_contacts_redirects_to_their_page(client_for):
    client = client_for("citizen_service")
    data = person_data(
        emails=[
            {"address": "Ana.Lopez@Example.org", "label": "personal"},
            {"address": "ana@trabajo.example", "is_primary": True},
        ],
        phones=[
            {"number": "600 12 34 56", "kind": "mobile"},
            {"number": "975 22 11 00", "kind": "landline"},
        ],
        addresses=[
            {"street": "Calle Mayor", "number": "3", "postcode": "42001", "municipality": "Soria",
             "country": "ES"},
            {"street": "Plaza Nueva", "postcode": "42002", "municipality": "Soria",
             "country": "ES", "is_notification": True},
        ],
    )  # fmt: skip

    response = client.post(NEW_PERSON, data, follow=True)

    person = Person.objects.get()
    assert response.redirect_chain == [(reverse("citizens:person_detail", args=[person.pk]), 302)]
    assert "The person has been created." in response.text
    assert person.full_name == "Ana López Gil"
    assert (person.document_type, person.document_number) == ("dni", "12345678Z")
    assert str(person.birth_date) == "1985-04-12"
    assert person.preferred_language == "gl"
    assert person.tags == ["vecina", "voluntaria"]
    emails = list(EmailAddress.objects.filter(person=person).order_by("id"))
    assert [(e.address, e.is_primary) for e in emails] == [
        ("ana.lopez@example.org", False),
        ("ana@trabajo.example", True),
    ]
    assert sorted(PhoneNumber.objects.filter(person=person).values_list("number", flat=True)) == [
        "+34600123456",
        "+34975221100",
    ]
    notification = PostalAddress.objects.get(person=person, is_notification=True)
    assert notification.street == "Plaza Nueva"
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="citizens.person", object_id=str(person.pk)
    ).exists()
    assert "ana lopez gil" in person.search_text


def test_the_empty_form_is_shown_to_managers(client_for):
    response = client_for("promotion").get(NEW_PERSON)
    assert response.status_code == 200
    assert 'name="given_name"' in response.text
    assert 'name="emails-0-address"' in response.text
    assert 'name="phones-0-number"' in response.text
    assert 'name="addresses-0-street"' in response.text


@pytest.mark.parametrize(
    ("document_type", "number", "message"),
    [
        ("dni", "12345678A", "The check letter does not match the number"),
        ("dni", "1234", "A DNI has 8 digits and a letter"),
        ("nie", "X1234567A", "The check letter does not match the number"),
        ("nie", "A1234567L", "An NIE starts with X, Y or Z"),
    ],
)
def test_a_wrong_document_is_an_error_on_the_document_field(
    client_for, document_type, number, message
):
    client = client_for("citizen_service")
    data = person_data(
        document_type=document_type,
        document_number=number,
        emails=[{"address": "ana@example.org"}],
        phones=[{"number": "600123456", "kind": "mobile"}],
    )

    response = client.post(NEW_PERSON, data)

    assert response.status_code == 400
    assert not Person.objects.exists()
    assert message in field_error(response.text, "id_document_number")
    # What was typed is still there.
    assert value_of(response.text, "id_document_number") == number
    assert value_of(response.text, "id_given_name") == "Ana"
    assert value_of(response.text, "id_emails-0-address") == "ana@example.org"
    assert value_of(response.text, "id_phones-0-number") == "600123456"
    assert "Llamar por la mañana." in response.text
    # The summary on top links to the field.
    assert 'href="#id_document_number"' in response.text


def test_a_document_number_without_type_asks_for_the_type(client_for):
    response = client_for("citizen_service").post(
        NEW_PERSON, person_data(document_type="", document_number="AB123456")
    )
    assert response.status_code == 400
    assert "Choose the type of document." in field_error(response.text, "id_document_type")


def test_a_passport_number_is_kept_as_typed_in_capitals(client_for):
    client_for("citizen_service").post(
        NEW_PERSON, person_data(document_type="passport", document_number="paa 123456")
    )
    assert Person.objects.get().document_number == "PAA123456"


def test_a_wrong_phone_is_an_error_on_its_row(client_for):
    data = person_data(
        phones=[{"number": "600123456", "kind": "mobile"}, {"number": "12345", "kind": "work"}]
    )

    response = client_for("citizen_service").post(NEW_PERSON, data)

    assert response.status_code == 400
    assert "This phone number does not exist" in field_error(response.text, "id_phones-1-number")
    assert 'id="id_phones-0-number_error"' not in response.text
    assert value_of(response.text, "id_phones-1-number") == "12345"
    assert not Person.objects.exists()


def test_a_duplicate_document_is_a_form_error_from_the_service(client_for):
    existing = person_create(
        actor=None, given_name="Otra", document_type="dni", document_number="12345678Z"
    )
    data = person_data(document_number="12345678-z", emails=[{"address": "ana@example.org"}])

    response = client_for("citizen_service").post(NEW_PERSON, data)

    assert response.status_code == 400
    assert "Another person already has this identity document" in field_error(
        response.text, "id_document_number"
    )
    assert value_of(response.text, "id_document_number") == "12345678-z"
    assert value_of(response.text, "id_emails-0-address") == "ana@example.org"
    assert list(Person.objects.all()) == [existing]
    assert not EmailAddress.objects.exists()  # the service's transaction was rolled back


def test_several_addresses_need_exactly_one_for_notifications(client_for):
    client = client_for("citizen_service")
    rows = [
        {"street": "Calle Mayor", "municipality": "Soria", "country": "ES"},
        {"street": "Calle Real", "municipality": "Soria", "country": "ES"},
    ]
    none_chosen = client.post(NEW_PERSON, person_data(addresses=rows))
    assert none_chosen.status_code == 400
    assert "Choose exactly one address for notifications." in none_chosen.text
    assert 'href="#addresses-fieldset"' in none_chosen.text

    both = [{**row, "is_notification": True} for row in rows]
    assert client.post(NEW_PERSON, person_data(addresses=both)).status_code == 400
    assert not Person.objects.exists()

    one = [rows[0], {**rows[1], "is_notification": True}]
    assert client.post(NEW_PERSON, person_data(addresses=one)).status_code == 302
    assert PostalAddress.objects.get(is_notification=True).street == "Calle Real"


def test_a_single_address_is_the_notification_address(client_for):
    rows = [{"street": "Calle Mayor", "municipality": "Soria", "country": "ES"}]
    client_for("citizen_service").post(NEW_PERSON, person_data(addresses=rows))
    assert PostalAddress.objects.get().is_notification


def test_two_main_emails_are_refused(client_for):
    rows = [
        {"address": "a@example.org", "is_primary": True},
        {"address": "b@example.org", "is_primary": True},
    ]
    response = client_for("citizen_service").post(NEW_PERSON, person_data(emails=rows))
    assert response.status_code == 400
    assert "Mark only one as the main one." in response.text


def test_a_spanish_postcode_has_five_digits(client_for):
    rows = [{"street": "Calle Mayor", "municipality": "Soria", "postcode": "4200", "country": "ES"}]
    response = client_for("citizen_service").post(NEW_PERSON, person_data(addresses=rows))
    assert "A Spanish postcode has 5 digits" in field_error(
        response.text, "id_addresses-0-postcode"
    )


def test_a_birth_date_in_the_future_is_refused(client_for):
    response = client_for("citizen_service").post(NEW_PERSON, person_data(birth_date="2999-01-01"))
    assert "cannot be in the future" in field_error(response.text, "id_birth_date")


def test_adding_a_row_keeps_what_was_typed_and_saves_nothing(client_for):
    data = person_data(phones=[{"number": "600123456", "kind": "mobile"}], add_row="phones")

    response = client_for("citizen_service").post(NEW_PERSON, data)

    assert response.status_code == 200
    assert not Person.objects.exists()
    assert value_of(response.text, "id_phones-0-number") == "600123456"
    assert 'name="phones-1-number"' in response.text
    assert 'name="phones-TOTAL_FORMS" value="2"' in response.text


# --- Editing a person --------------------------------------------------------------------------


@pytest.fixture
def person(db):
    return person_create(
        actor=None,
        given_name="María",
        first_surname="Pérez",
        document_type="dni",
        document_number="12345678Z",
        tags=["vecina"],
        contacts=Contacts(
            emails=[EmailInput("maria@example.org")],
            phones=[PhoneInput("600123456")],
            addresses=[AddressInput(street="Calle Mayor", municipality="Soria")],
        ),
    )


def test_the_edit_form_shows_the_current_data(person, client_for):
    response = client_for("citizen_service").get(reverse("citizens:person_edit", args=[person.pk]))
    assert response.status_code == 200
    assert value_of(response.text, "id_given_name") == "María"
    assert value_of(response.text, "id_document_number") == "12345678Z"
    assert value_of(response.text, "id_tags") == "vecina"
    assert value_of(response.text, "id_emails-0-address") == "maria@example.org"
    assert value_of(response.text, "id_phones-0-number") == "+34600123456"
    assert value_of(response.text, "id_addresses-0-street") == "Calle Mayor"
    # One empty row after the existing ones.
    assert 'name="emails-1-address"' in response.text
    assert 'name="emails-INITIAL_FORMS" value="1"' in response.text


def test_editing_a_person_changes_fields_and_contacts(person, client_for):
    url = reverse("citizens:person_edit", args=[person.pk])
    data = person_data(
        given_name="María José",
        first_surname="Pérez",
        second_surname="",
        document_number="12345678Z",
        emails=[
            {"address": "maria@example.org", "DELETE": True},
            {"address": "mj@example.org"},
        ],
        phones=[{"number": "+34600123456", "kind": "mobile"}],
        addresses=[{"street": "Calle Mayor", "municipality": "Soria", "country": "ES"}],
        initial=(1, 1, 1),
    )

    response = client_for("citizen_service").post(url, data)

    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:person_detail", args=[person.pk])
    person.refresh_from_db()
    assert person.full_name == "María José Pérez"
    assert list(EmailAddress.objects.filter(person=person).values_list("address", flat=True)) == [
        "mj@example.org"
    ]
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_id=str(person.pk)).last()
    assert "given_name" in event.changes
    assert event.changes["emails"] == {"old": "***", "new": "***"}


def test_an_edit_refused_by_the_service_keeps_the_typed_data(person, client_for):
    other = person_create(
        actor=None, given_name="Otro", document_type="nie", document_number="X1234567L"
    )
    url = reverse("citizens:person_edit", args=[person.pk])
    data = person_data(
        given_name="Mariana", document_type="nie", document_number="X1234567L", initial=(0, 0, 0)
    )

    response = client_for("citizen_service").post(url, data)

    assert response.status_code == 400
    assert "Another person already has" in field_error(response.text, "id_document_number")
    assert value_of(response.text, "id_given_name") == "Mariana"
    # The page's title is still the record as saved.
    assert "Edit María Pérez" in response.text
    person.refresh_from_db()
    assert person.given_name == "María"
    assert other.document_number == "X1234567L"


# --- Organisations -----------------------------------------------------------------------------


def test_creating_an_organisation(client_for):
    data = organization_data(
        emails=[{"address": "info@rioduero.example"}],
        phones=[{"number": "975 10 20 30", "kind": "work"}],
    )

    response = client_for("promotion").post(NEW_ORGANIZATION, data, follow=True)

    organization = Organization.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "citizens:organization_detail", args=[organization.pk]
    )
    assert "The organisation has been created." in response.text
    assert organization.tax_id == "G12345674"
    assert organization.kind == "foundation"
    assert organization.tags == ["ribera"]
    assert EmailAddress.objects.get(organization=organization).address == "info@rioduero.example"


@pytest.mark.parametrize(
    ("tax_id", "message"),
    [
        ("G12345670", "The control character does not match"),
        ("G123", "A tax id (CIF/NIF) has 9 characters"),
    ],
)
def test_a_wrong_tax_id_is_an_error_on_its_field(client_for, tax_id, message):
    response = client_for("citizen_service").post(
        NEW_ORGANIZATION, organization_data(tax_id=tax_id)
    )
    assert response.status_code == 400
    assert message in field_error(response.text, "id_tax_id")
    assert value_of(response.text, "id_tax_id") == tax_id
    assert value_of(response.text, "id_name") == "Fundación Río Duero"
    assert not Organization.objects.exists()


def test_a_duplicate_tax_id_is_a_form_error(client_for):
    organization_create(actor=None, name="Otra", tax_id="G12345674")
    response = client_for("citizen_service").post(NEW_ORGANIZATION, organization_data())
    assert response.status_code == 400
    assert "Another organisation already has this tax id" in field_error(response.text, "id_tax_id")
    assert Organization.objects.count() == 1


def test_editing_an_organisation(client_for):
    organization = organization_create(actor=None, name="Club", tax_id="G12345674")
    url = reverse("citizens:organization_edit", args=[organization.pk])
    client = client_for("citizen_service")
    assert value_of(client.get(url).text, "id_name") == "Club"

    response = client.post(url, organization_data(name="Club Deportivo Soria", kind="association"))

    assert response.status_code == 302
    organization.refresh_from_db()
    assert (organization.name, organization.kind) == ("Club Deportivo Soria", "association")


# --- Permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["case_handler", "communication", "inspector"])
def test_read_only_roles_cannot_create(client_for, role):
    client = client_for(role)
    assert client.get(NEW_PERSON).status_code == 403
    assert client.post(NEW_PERSON, person_data()).status_code == 403
    assert client.post(NEW_ORGANIZATION, organization_data()).status_code == 403
    assert not Person.objects.exists()
    assert not Organization.objects.exists()


def test_a_duplicate_saved_at_the_same_moment_is_a_form_error_too(db):
    """Two clerks saving the same document at once: the database refuses the second insert
    (IntegrityError, no ValidationError before it); the form says what the service would."""
    from django.db import IntegrityError, transaction

    from citizens.forms import PersonForm, add_service_error, constraint_error

    person_create(actor=None, given_name="Una", document_type="dni", document_number="12345678Z")
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Person.objects.create(given_name="Otra", document_type="dni", document_number="12345678Z")

    form = PersonForm(data=person_data())
    assert form.is_valid()
    add_service_error(form, constraint_error(refused.value))

    assert form.errors["document_number"] == [
        "Another person already has this identity document. Search for them instead."
    ]
    assert constraint_error(IntegrityError("some other constraint")) is None
