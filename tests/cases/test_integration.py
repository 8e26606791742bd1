"""Cases on other pages: the 360° panels of people and organisations, the lists' "has open
cases" filter, the timeline's link to the case, and the home page's "My cases" and "Due soon"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case
from cases.services import Filer, case_answer, case_assign, case_start
from citizens.models import Organization, Person
from tests.cases.staff import ANA, file_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def handler(make_user):
    return make_user("case_handler", unit_codes=("urbanismo",), first_name="Marta")


@pytest.fixture
def desk(make_user):
    return make_user("citizen_service", unit_codes=("ayto",))


def panel(html: str) -> str:
    match = re.search(
        r'<h2 class="h5 card-title" id="record-panel-\d+">Cases</h2>(.*?)</section>', html, re.S
    )
    assert match, "the page has no cases panel"
    return match.group(1)


def test_the_person_page_lists_the_cases_the_user_may_see(units, handler, client_for, desk):
    ours = file_case()
    theirs = file_case(unit="servicios-sociales", subject="Ayuda a domicilio")
    person = ours.person
    assert theirs.person == person

    text = panel(
        client_for("case_handler", unit_codes=("urbanismo",))
        .get(f"/citizens/people/{person.pk}/")
        .text
    )
    assert f'href="/cases/{ours.pk}/"' in text
    assert ours.registry_number in text
    assert theirs.registry_number not in text
    assert "Complaint" in text
    assert "Received" in text
    assert ours.due_date.strftime("%m/%d/%Y") in text  # due
    assert 'data-state="on_time"' in text
    assert "Register a case for this person" in text  # handlers register for their units

    everything = panel(client_for("citizen_service").get(f"/citizens/people/{person.pk}/").text)
    assert ours.registry_number in everything
    assert theirs.registry_number in everything
    assert f'href="/cases/new/?person={person.pk}"' in everything

    dpo = panel(client_for("data_protection_officer").get(f"/citizens/people/{person.pk}/").text)
    assert ours.registry_number in dpo
    assert "Register a case" not in dpo


def test_who_may_not_use_cases_sees_no_panel(units, client_for):
    case = file_case()
    text = client_for("promotion").get(f"/citizens/people/{case.person_id}/").text
    # No cases panel (other modules may add theirs); the timeline still tells of the filing.
    assert not re.search(r'id="record-panel-\d+">(Cases|Expedientes)<', text)
    assert 'href="/cases/' not in text  # nor a link from the timeline


def test_the_organisation_page_lists_its_cases(units, client_for):
    case = file_case(
        filer=Filer(
            given_name="Ana",
            email="ana@example.org",
            organization_tax_id="G12345674",
            organization_name="Asociación Vecinal",
        )
    )
    organization = Organization.objects.get(tax_id="G12345674")
    assert case.organization == organization
    text = panel(
        client_for("citizen_service").get(f"/citizens/organisations/{organization.pk}/").text
    )
    assert case.registry_number in text
    assert "Register a case for this person" not in text


def test_the_lists_filter_people_and_organisations_with_open_cases(units, client_for, handler):
    open_case = file_case()
    closed = file_case(
        filer=Filer(given_name="Luis", email="luis@example.org", organization_tax_id="G12345674")
    )
    case_start(case=closed, actor=handler)
    case_answer(case=Case.objects.get(pk=closed.pk), actor=handler, text="Hecho")
    client = client_for("citizen_service")

    def people(answer: str) -> set[int]:
        page = client.get("/citizens/", {"has_open_cases": answer}).text
        return {int(pk) for pk in re.findall(r'href="/citizens/people/(\d+)/"', page)}

    assert 'name="has_open_cases"' in client.get("/citizens/").text
    assert people("yes") == {open_case.person_id}
    assert people("no") == {closed.person_id}
    organization = Organization.objects.get()

    def organisations(answer: str) -> set[int]:
        page = client.get("/citizens/organisations/", {"has_open_cases": answer}).text
        assert 'name="has_open_cases"' in page
        return {int(pk) for pk in re.findall(r'href="/citizens/organisations/(\d+)/"', page)}

    assert organisations("yes") == set()
    assert organisations("no") == {organization.pk}


def test_the_timeline_links_its_entry_to_the_case(units, client_for):
    case = file_case()
    text = client_for("citizen_service").get(f"/citizens/people/{case.person_id}/").text
    assert f'About: <a href="/cases/{case.pk}/">Case {case.registry_number}</a>' in text
    # Who may not see the case reads the plain label, without a link.
    other = client_for("case_handler", unit_codes=("servicios-sociales",))
    text = other.get(f"/citizens/people/{case.person_id}/").text
    assert f'href="/cases/{case.pk}/"' not in text
    assert "About: Case" in text


def test_home_shows_my_cases_and_those_due_soon(units, handler, desk, client):
    mine = file_case(subject="Mi farola")
    case_assign(case=mine, actor=desk, unit=units["urbanismo"], assignee=handler)
    soon = file_case(subject="Pronto vence", unit="licencias")
    today = timezone.localdate()
    Case.objects.filter(pk=soon.pk).update(
        due_date=today + timedelta(days=2), due_soon_from=today - timedelta(days=3)
    )
    elsewhere = file_case(subject="Ajeno", unit="servicios-sociales")
    Case.objects.filter(pk=elsewhere.pk).update(
        due_date=today + timedelta(days=2), due_soon_from=today - timedelta(days=3)
    )
    client.force_login(handler)
    home = client.get("/").text
    my_cases = re.search(r">My cases</h2>(.*?)</section>", home, re.S).group(1)
    due = re.search(r">Due soon</h2>(.*?)</section>", home, re.S).group(1)
    assert mine.registry_number in my_cases
    assert soon.registry_number not in my_cases
    assert soon.registry_number in due
    assert mine.registry_number not in due
    assert elsewhere.registry_number not in due
    assert 'data-state="due_soon"' in due
    assert 'href="/cases/?view=mine"' in my_cases
    assert 'href="/cases/?deadline=due_soon&amp;unit=mine"' in due


def test_home_panels_say_when_there_is_nothing(units, client_for):
    home = client_for("case_handler").get("/").text
    assert "You have no open cases." in home
    assert "No cases are due in the next five business days." in home
    assert "Due soon" not in client_for("promotion").get("/").text


def test_the_filer_is_matched_not_duplicated(units):
    file_case(filer=ANA)
    file_case(filer=ANA)
    assert Person.objects.count() == 1
