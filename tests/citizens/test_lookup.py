"""The caller lookup: an incoming call's number leads to the caller."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from citizens.models import Person
from citizens.services import (
    AddressInput,
    Contacts,
    PhoneInput,
    organization_create,
    person_create,
)

pytestmark = pytest.mark.django_db

LOOKUP_URL = "/citizens/lookup/"
SERVICE = "citizen_service"


def make_person(given_name: str, first_surname: str, *phones: str) -> Person:
    return person_create(
        actor=None,
        given_name=given_name,
        first_surname=first_surname,
        contacts=Contacts(
            phones=[PhoneInput(number) for number in phones],
            addresses=[AddressInput(street="Calle Mayor", municipality="Calatayud")],
        ),
    )


@pytest.fixture
def client(client_for):
    return client_for(SERVICE)


@pytest.fixture
def marta(db):
    return make_person("Marta", "Sanz", "976 55 44 33", "600111222")


@pytest.mark.parametrize(
    "phone", ["600111222", "600 11 12 22", "+34 600 111 222", "0034600111222", "(+34)600-111-222"]
)
def test_one_person_goes_straight_to_their_page(client, marta, phone):
    make_person("Otro", "Vecino", "600111223")
    response = client.get(LOOKUP_URL, {"phone": phone})
    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:person_detail", args=[marta.pk])


def test_a_second_number_of_the_person_finds_them_too(client, marta):
    response = client.get(LOOKUP_URL, {"phone": "976554433"})
    assert response["Location"] == reverse("citizens:person_detail", args=[marta.pk])


def test_the_lookup_is_a_few_indexed_queries(client, marta):
    client.get("/")  # the session and the user's permissions, as on any page
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LOOKUP_URL, {"phone": "600111222"})
    assert response.status_code == 302
    lookups = [q["sql"] for q in queries.captured_queries if "citizens_phonenumber" in q["sql"]]
    assert len(lookups) == 1
    assert '"citizens_phonenumber"."number" = ' in lookups[0]
    assert len(queries) <= 6


def test_several_people_sharing_a_number_are_listed(client, marta):
    son = make_person("Pablo", "Sanz", "600111222")
    organization = organization_create(
        actor=None,
        name="Peña El Cierzo",
        kind="association",
        contacts=Contacts(phones=[PhoneInput("600111222")]),
    )
    make_person("Nada", "Quever", "611000000")
    response = client.get(LOOKUP_URL, {"phone": "600 111 222"})
    assert response.status_code == 200
    text = response.text
    assert "Marta Sanz" in text
    assert "Pablo Sanz" in text
    assert "Peña El Cierzo" in text
    assert "Nada Quever" not in text
    assert "600 11 12 22" in text
    assert f'href="{reverse("citizens:person_detail", args=[son.pk])}"' in text
    assert f'href="{reverse("citizens:organization_detail", args=[organization.pk])}"' in text
    assert f'href="{reverse("citizens:person_new")}?phone=%2B34600111222"' in text


def test_one_organisation_goes_to_its_page(client):
    organization = organization_create(
        actor=None,
        name="Talleres Moncayo SL",
        kind="company",
        contacts=Contacts(phones=[PhoneInput("976 10 20 30")]),
    )
    response = client.get(LOOKUP_URL, {"phone": "976102030"})
    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:organization_detail", args=[organization.pk])


def test_blocked_people_are_not_callers(client, marta):
    twin = make_person("Marta", "Blocked", "600111222")
    Person.objects.filter(pk=twin.pk).update(blocked_at=timezone.now())
    response = client.get(LOOKUP_URL, {"phone": "600111222"})
    assert response["Location"] == reverse("citizens:person_detail", args=[marta.pk])


def test_records_merged_into_another_are_not_callers(client, marta):
    duplicate = make_person("Marta", "Sanz", "600111222")
    Person.objects.filter(pk=duplicate.pk).update(merged_into_id=marta.pk)
    response = client.get(LOOKUP_URL, {"phone": "600111222"})
    assert response["Location"] == reverse("citizens:person_detail", args=[marta.pk])


def test_nobody_with_the_number_shows_the_list_with_a_way_to_create_the_person(client, marta):
    response = client.get(LOOKUP_URL, {"phone": "+34 699 999 999"})
    assert response.status_code == 200
    assert 'id="lookup-miss"' in response.text
    assert "699 99 99 99" in response.text
    assert f'href="{reverse("citizens:person_new")}?phone=%2B34699999999"' in response.text
    # The list page, with the number kept in the lookup form.
    assert "Marta Sanz" in response.text
    assert 'value="+34 699 999 999"' in response.text


def test_without_the_right_to_create_there_is_no_create_link(client_for, marta):
    response = client_for("case_handler").get(LOOKUP_URL, {"phone": "699999999"})
    assert response.status_code == 200
    assert 'id="lookup-miss"' in response.text
    assert reverse("citizens:person_new") not in response.text


@pytest.mark.parametrize("phone", ["12", "hola", "+34 123"])
def test_a_number_that_cannot_exist_is_a_form_error(client, marta, phone):
    response = client.get(LOOKUP_URL, {"phone": phone})
    assert response.status_code == 200
    assert 'id="lookup-miss"' not in response.text
    assert "is-invalid" in response.text.partition('id="lookup-heading"')[2]
    assert f'value="{phone}"' in response.text


def test_the_lookup_needs_the_citizens_module(client_for, marta):
    assert client_for("management").get(LOOKUP_URL, {"phone": "600111222"}).status_code == 403
    anonymous = client_for(None).get(LOOKUP_URL, {"phone": "600111222"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_lookup_result_is_accessible_at_360px(page, console_errors, make_user):
    from playwright.sync_api import expect

    from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in

    make_person("Marta", "Sanz", "600111222")
    pablo = make_person("Pablo", "Sanz", "600111222")
    make_user(SERVICE, username="desk")
    log_in(page, "desk", "correct-horse-battery")
    page.set_viewport_size(PHONE)
    page.goto("/citizens/")
    page.locator("input[name=phone]").fill("600 11 12 22")
    with page.expect_navigation():
        page.locator("#lookup-heading ~ div button[type=submit]").click()
    assert page.url.split("?")[0].endswith(LOOKUP_URL)
    expect(page.locator("#lookup-people tbody th")).to_have_count(2)
    assert_accessible(page)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the page scrolls sideways at 360px"
    assert_no_console_errors(console_errors)
    with page.expect_navigation():
        page.get_by_role("link", name="Pablo Sanz").click()
    assert page.url.endswith(reverse("citizens:person_detail", args=[pablo.pk]))


@pytest.mark.django_db
def test_creating_a_person_after_a_failed_lookup_keeps_the_callers_phone(client_for):
    client = client_for("citizen_service")
    page = client.get("/citizens/people/new/", {"phone": "600 12 34 56"})
    assert page.status_code == 200
    assert 'value="+34600123456"' in page.text
    # A number that cannot exist is simply not pre-filled.
    assert "+3412" not in client.get("/citizens/people/new/", {"phone": "12"}).text


def test_the_search_text_lists_contacts_in_the_order_they_were_added():
    """Rebuilding a person's search text gives the same text however PostgreSQL stores the
    contacts: an update writes a row anew after the others, and an unordered read of the
    emails or phones would then list them in another order."""
    from citizens.models import EmailAddress, PhoneNumber
    from citizens.services import EmailInput, refresh_search_text

    person = person_create(
        actor=None,
        given_name="Ángel",
        first_surname="Sánchez",
        contacts=Contacts(
            emails=[
                EmailInput("angel@red.example", is_primary=True),
                EmailInput("a@trabajo.example"),
            ],
            phones=[PhoneInput("600111222"), PhoneInput("976554433")],
        ),
    )
    built = Person.objects.get(pk=person.pk).search_text
    assert built.index("angel@red.example") < built.index("a@trabajo.example")
    # Changed and changed back: each update of an indexed column writes the row anew.
    first_email = EmailAddress.objects.filter(person=person).order_by("id").first()
    for address in ("otra@red.example", first_email.address):
        EmailAddress.objects.filter(pk=first_email.pk).update(address=address)
    first_phone = PhoneNumber.objects.filter(person=person).order_by("id").first()
    for number in ("+34600000000", first_phone.number):
        PhoneNumber.objects.filter(pk=first_phone.pk).update(number=number)

    refresh_search_text(person)
    assert person.search_text == built
