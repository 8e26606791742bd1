"""Fields administrators add to people and organisations: each type shown in the form, checked,
stored in the ``custom`` JSON document (dates as ISO strings), required or not, shown on the
360° page; and the admin that defines them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from citizens.models import CustomField, Organization, Person
from citizens.services import organization_create, person_create
from crm.models import AuditAction, AuditEvent
from tests.citizens.test_forms import field_error, organization_data, person_data, value_of

NEW_PERSON = reverse("citizens:person_new")


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def fields(db):
    """One active field of each type for people, one inactive, one for organisations."""
    make = CustomField.objects.create
    return {
        "text": make(applies_to="person", key="apodo", label="Apodo", order=1),
        "number": make(applies_to="person", key="hijos", label="Hijos", type="number", order=2),
        "date": make(
            applies_to="person", key="alta_padron", label="Alta en el padrón", type="date", order=3
        ),
        "choice": make(
            applies_to="person",
            key="barrio",
            label="Barrio",
            type="choice",
            choices=["Centro", "San Pedro", "Los Pajaritos"],
            order=4,
        ),
        "boolean": make(
            applies_to="person", key="voluntario", label="Voluntariado", type="boolean", order=5
        ),
        "inactive": make(
            applies_to="person", key="antiguo", label="Campo antiguo", is_active=False
        ),
        "organization": make(
            applies_to="organization", key="socios", label="Socios", type="number"
        ),
    }


def test_every_active_field_is_in_the_form_in_order(fields, client_for):
    text = client_for("citizen_service").get(NEW_PERSON).text

    names = re.findall(r'name="(custom_[a-z_]+)"', text)
    assert names == [
        "custom_apodo",
        "custom_hijos",
        "custom_alta_padron",
        "custom_barrio",
        "custom_voluntario",
    ]
    assert "Campo antiguo" not in text
    assert "Socios" not in text
    assert 'type="date"' in re.search(r'<input[^>]+name="custom_alta_padron"[^>]*>', text).group(0)
    for choice in ("Centro", "San Pedro", "Los Pajaritos"):
        assert f'<option value="{choice}">{choice}</option>' in text


def test_values_of_each_type_are_stored_as_json(fields, client_for):
    data = person_data(
        custom_apodo="La Maestra",
        custom_hijos="2",
        custom_alta_padron="2019-03-15",
        custom_barrio="San Pedro",
        custom_voluntario="yes",
    )

    response = client_for("citizen_service").post(NEW_PERSON, data)

    assert response.status_code == 302
    assert Person.objects.get().custom == {
        "apodo": "La Maestra",
        "hijos": 2,
        "alta_padron": "2019-03-15",
        "barrio": "San Pedro",
        "voluntario": True,
    }


def test_decimals_and_no_are_stored_and_empty_values_left_out(fields, client_for):
    data = person_data(custom_hijos="1.5", custom_voluntario="no", custom_apodo="")
    client_for("citizen_service").post(NEW_PERSON, data)
    assert Person.objects.get().custom == {"hijos": 1.5, "voluntario": False}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("custom_hijos", "dos", "Enter a number."),
        ("custom_alta_padron", "2019-13-45", "Enter a valid date."),
        ("custom_barrio", "Gamonal", "Select a valid choice."),
        ("custom_voluntario", "maybe", "Select a valid choice."),
    ],
)
def test_invalid_values_are_errors_on_their_field(fields, client_for, name, value, message):
    response = client_for("citizen_service").post(NEW_PERSON, person_data(**{name: value}))

    assert response.status_code == 400
    assert message in field_error(response.text, f"id_{name}")
    assert not Person.objects.exists()


def test_required_fields_must_be_filled_in(fields, client_for):
    CustomField.objects.filter(key__in=["apodo", "voluntario"]).update(required=True)
    client = client_for("citizen_service")

    response = client.post(NEW_PERSON, person_data())

    assert response.status_code == 400
    assert "This field is required." in field_error(response.text, "id_custom_apodo")
    assert "This field is required." in field_error(response.text, "id_custom_voluntario")
    # "No" is an answer.
    ok = client.post(NEW_PERSON, person_data(custom_apodo="Pepa", custom_voluntario="no"))
    assert ok.status_code == 302
    assert Person.objects.get().custom == {"apodo": "Pepa", "voluntario": False}


def test_editing_shows_stored_values_and_keeps_those_of_inactive_fields(fields, client_for):
    person = person_create(
        actor=None,
        given_name="Ana",
        custom={
            "apodo": "Anita",
            "alta_padron": "2020-01-31",
            "voluntario": True,
            "barrio": "Barrio desaparecido",
            "antiguo": "dato histórico",
        },
    )
    url = reverse("citizens:person_edit", args=[person.pk])
    client = client_for("citizen_service")

    form = client.get(url).text
    assert value_of(form, "id_custom_apodo") == "Anita"
    assert value_of(form, "id_custom_alta_padron") == "2020-01-31"
    assert re.search(r'<option value="yes" selected>', form)
    # A value stored before the administrator changed the choices stays choosable.
    assert '<option value="Barrio desaparecido" selected>' in form

    data = person_data(
        given_name="Ana",
        document_type="",
        document_number="",
        custom_apodo="",
        custom_alta_padron="2020-01-31",
        custom_voluntario="yes",
        custom_barrio="Barrio desaparecido",
        custom_hijos="3",
    )
    assert client.post(url, data).status_code == 302

    person.refresh_from_db()
    assert person.custom == {
        "alta_padron": "2020-01-31",
        "voluntario": True,
        "barrio": "Barrio desaparecido",
        "hijos": 3,
        "antiguo": "dato histórico",
    }


def test_the_360_page_shows_the_values(fields, client_for):
    person = person_create(
        actor=None,
        given_name="Ana",
        custom={"hijos": 2, "alta_padron": "2019-03-15", "voluntario": False, "antiguo": "x"},
    )
    text = client_for("case_handler").get(reverse("citizens:person_detail", args=[person.pk])).text
    section = re.search(r'id="custom-heading".*?</section>', text, re.S).group(0)
    assert re.search(r"Hijos</dt><dd[^>]*>2</dd>", section)
    assert re.search(r"Alta en el padrón</dt><dd[^>]*>03/15/2019</dd>", section)
    assert re.search(r"Voluntariado</dt><dd[^>]*>No</dd>", section)
    assert "Campo antiguo" not in section


def test_organisations_have_their_own_fields(fields, client_for):
    client = client_for("citizen_service")
    form = client.get(reverse("citizens:organization_new")).text
    assert re.findall(r'name="(custom_[a-z_]+)"', form) == ["custom_socios"]

    client.post(reverse("citizens:organization_new"), organization_data(custom_socios="120"))

    assert Organization.objects.get().custom == {"socios": 120}


def test_organisation_custom_values_are_validated(fields, client_for):
    response = client_for("citizen_service").post(
        reverse("citizens:organization_new"), organization_data(custom_socios="muchos")
    )
    assert response.status_code == 400
    assert "Enter a number." in field_error(response.text, "id_custom_socios")
    organization_create(actor=None, name="Sin datos")  # the form did not create one
    assert Organization.objects.count() == 1


# --- The admin ---------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client_for):
    return client_for("administrator")


def admin_post(**fields):
    data = {
        "applies_to": "person",
        "key": "nivel",
        "label": "Nivel de estudios",
        "type": "choice",
        "choices": "",
        "required": "",
        "help_text": "",
        "order": "0",
        "is_active": "on",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value != ""}


def test_the_admin_requires_choices_for_a_choice_field(admin_client):
    url = reverse("admin:citizens_customfield_add")

    refused = admin_client.post(url, admin_post())
    assert refused.status_code == 200
    assert "A &#x27;choice&#x27; field needs its allowed values." in refused.text
    assert not CustomField.objects.exists()

    saved = admin_client.post(url, admin_post(choices="Primaria, Secundaria,Universidad"))
    assert saved.status_code == 302
    field = CustomField.objects.get()
    assert field.choices == ["Primaria", "Secundaria", "Universidad"]
    # Admin changes are audited.
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="citizens.customfield", object_id=str(field.pk)
    ).exists()


def test_the_admin_refuses_choices_on_other_types(admin_client):
    response = admin_client.post(
        reverse("admin:citizens_customfield_add"), admin_post(type="text", choices="a,b")
    )
    assert response.status_code == 200
    assert "Only fields of the" in response.text
    assert not CustomField.objects.exists()
