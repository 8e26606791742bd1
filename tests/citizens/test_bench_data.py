"""The citizens module's bench data (citizens/bench.py) on a tiny scale, in the test database:
valid documents and phones, ``search_text`` exactly as the services build it, rows that are a
function of their number whatever the chunks, and scenario URLs that answer."""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from importlib.util import find_spec

import phonenumbers
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from stdnum.es import cif, dni, nie

from citizens import bench
from citizens.models import (
    Consent,
    EmailAddress,
    Interaction,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
    Relationship,
    Team,
)
from citizens.services import refresh_search_text
from citizens.text import build_search_text, municipality_keys
from crm.bench import BENCH_USER
from crm.bench.crm_app import create_users
from crm.bench.registry import Registry, discover
from crm.bench.runner import build_data, run_job

pytestmark = pytest.mark.django_db

PEOPLE, ORGANIZATIONS, INTERACTIONS = 240, 24, 900
GENERATORS = ("people", "organizations", "interactions")


def _registry() -> Registry:
    """The citizens generators, as the harness sees them."""
    everything = discover()
    mine = Registry()
    for name in GENERATORS:
        mine.add_generator(everything.generators[name])
    return mine


def _build(people=PEOPLE, organizations=ORGANIZATIONS, interactions=INTERACTIONS) -> dict:
    options = argparse.Namespace(
        scale=1.0, people=people, organizations=organizations, interactions=interactions
    )
    return build_data(_registry(), options)


@pytest.fixture
def data(db):
    create_users(0, 1)  # the bench user, as the crm app's generator makes it
    return _build()


@pytest.fixture
def bench_client(client, data):
    client.force_login(get_user_model().objects.get(username=BENCH_USER))
    return client


def _owners(model, owner: str) -> dict[int, list[str]]:
    field = "address" if model is EmailAddress else "number"
    found = defaultdict(list)
    rows = model.objects.filter(**{f"{owner}__isnull": False}).order_by("id")
    for owner_id, value in rows.values_list(f"{owner}_id", field):
        found[owner_id].append(value)
    return found


# --- The data ------------------------------------------------------------------------------------


def test_the_sizes_asked_for_are_made_and_a_second_run_makes_nothing(data):
    assert data == {"people": PEOPLE, "organizations": ORGANIZATIONS, "interactions": INTERACTIONS}
    assert list(Person.objects.order_by("id").values_list("id", flat=True)) == list(
        range(1, PEOPLE + 1)
    )

    again = _build()

    assert again == data
    # A bigger size adds the missing rows only, and the sequence goes on after them.
    assert _build(people=PEOPLE + 10)["people"] == PEOPLE + 10
    created = Person.objects.create(given_name="Nueva")
    assert created.pk == PEOPLE + 11


def test_documents_are_valid_and_a_function_of_the_number(data):
    people = list(Person.objects.order_by("id"))
    kinds = {person.document_type for person in people}
    assert kinds == {"dni", "nie", ""}
    for person in people:
        number = person.pk - 1
        assert (person.document_type, person.document_number) == bench.document_for(number)
        if person.document_type == "dni":
            assert dni.is_valid(person.document_number), person.document_number
        elif person.document_type == "nie":
            assert nie.is_valid(person.document_number), person.document_number
    assert bench.document_for(bench.BENCH_PERSON) == ("dni", "12345678Z")
    for organization in Organization.objects.all():
        assert cif.is_valid(organization.tax_id), organization.tax_id
        assert organization.tax_id == bench.cif_for(organization.pk - 1, organization.tax_id[0])


def test_phones_are_valid_e164_and_mobiles_are_known_by_number(data):
    numbers = list(PhoneNumber.objects.values_list("number", flat=True))
    assert numbers
    for number in numbers:
        parsed = phonenumbers.parse(number, None)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
    mobiles = dict(PhoneNumber.objects.filter(kind="mobile").values_list("person_id", "number"))
    for n in range(PEOPLE):
        assert mobiles.get(n + 1) == bench.mobile_for(n), n
    for n in range(PEOPLE + 1000, PEOPLE + 1100):  # people to import: valid, nobody's yet
        assert phonenumbers.is_valid_number(phonenumbers.parse(bench.new_mobile(n), None))


def test_search_text_is_what_the_services_build(data):
    emails, phones = _owners(EmailAddress, "person"), _owners(PhoneNumber, "person")
    for person in Person.objects.all():
        expected = build_search_text(
            names=[person.given_name, person.first_surname, person.second_surname],
            documents=[person.document_number],
            emails=emails[person.pk],
            phones=phones[person.pk],
        )
        assert person.search_text == expected, person.pk
    emails, phones = _owners(EmailAddress, "organization"), _owners(PhoneNumber, "organization")
    for organization in Organization.objects.all():
        expected = build_search_text(
            names=[organization.name],
            documents=[organization.tax_id],
            emails=emails[organization.pk],
            phones=phones[organization.pk],
        )
        assert organization.search_text == expected, organization.pk
    # And the service itself, on a sample with accents, NIEs and two phones.
    for person in Person.objects.order_by("id")[:40]:
        stored = person.search_text
        refresh_search_text(person)
        assert person.search_text == stored


def test_municipalities_are_what_the_services_build(data):
    addresses = defaultdict(list)
    rows = PostalAddress.objects.values_list("person_id", "organization_id", "municipality")
    for person_id, organization_id, municipality in rows:
        owner = ("person", person_id) if person_id else ("organization", organization_id)
        addresses[owner].append(municipality)
    several = 0
    for owner, model in (("person", Person), ("organization", Organization)):
        for party in model.objects.all():
            expected = municipality_keys(addresses[owner, party.pk])
            assert party.municipalities == expected, (owner, party.pk)
            several += len(expected) > 1
    assert several  # people with a work address in another municipality
    # And the service itself, on a sample.
    for person in Person.objects.order_by("id")[:40]:
        stored = person.municipalities
        refresh_search_text(person)
        assert person.municipalities == stored


def test_search_finds_people_by_their_data(data):
    person = bench.bench_person()
    assert Person.objects.search("12.345.678-z").filter(pk=person.pk).exists()
    mobile = bench.mobile_for(bench.BENCH_PERSON)
    assert Person.objects.search(mobile[3:]).filter(pk=person.pk).exists()
    assert Person.objects.search(person.first_surname.upper()).filter(pk=person.pk).exists()


def test_rows_point_at_rows_that_exist(data):
    """The load skips the row-by-row foreign-key checks: every reference must hold anyway."""
    checks = [
        (EmailAddress, ("person", "organization")),
        (PhoneNumber, ("person", "organization")),
        (PostalAddress, ("person", "organization")),
        (Consent, ("person", "purpose")),
        (Relationship, ("person", "organization")),
        (Interaction, ("person", "organization", "staff", "unit")),
    ]
    for model, fields in checks:
        assert model.objects.exists(), model
        for name in fields:
            target = model._meta.get_field(name).related_model
            orphans = model.objects.filter(**{f"{name}__isnull": False}).exclude(
                **{f"{name}__in": target.objects.all()}
            )
            assert not orphans.exists(), (model, name)
    assert not PostalAddress.objects.filter(person__isnull=True, organization__isnull=True)


def test_the_indexes_are_all_back_after_the_load(data):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)",
            [list(bench.PEOPLE_TABLES + bench.ORGANIZATION_TABLES + bench.INTERACTION_TABLES)],
        )
        indexes = {name for (name,) in cursor.fetchall()}
    assert {
        "person_find_gin",
        "person_name_order",
        "person_document_unique",
        "phone_number_idx",
        "interaction_person_time",
        "relationship_org_idx",
    } <= indexes
    assert bench._suspended(bench.PEOPLE_TABLES + bench.INTERACTION_TABLES) == []


def test_a_load_stopped_half_way_gets_its_indexes_back_next_time(db):
    bench.create_people(0, 30)  # the first chunk of a load: without its indexes
    assert bench._suspended(bench.PEOPLE_TABLES)

    assert _build(people=60, organizations=0, interactions=0)["people"] == 60

    assert bench._suspended(bench.PEOPLE_TABLES) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'person_find_gin'")
        assert cursor.fetchone()


def test_rows_are_the_same_whatever_the_chunks(db):
    def snapshot():
        people = list(Person.objects.order_by("id").values_list())
        emails = list(EmailAddress.objects.order_by("person_id", "address").values_list(
            "person_id", "address", "is_primary"
        ))  # fmt: skip
        return people, emails

    bench.create_people(0, 25)
    bench.create_people(25, 70)
    bench.restore_indexes(bench.PEOPLE_TABLES)
    chunked = snapshot()
    Person.objects.all().delete()
    with connection.cursor() as cursor:  # the deletion's deferred checks, before any DDL
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    bench.create_people(0, 70)
    bench.restore_indexes(bench.PEOPLE_TABLES)

    assert snapshot() == chunked


def test_the_data_looks_like_a_register(data):
    people = Person.objects.all()
    surnames = {person.first_surname for person in people}
    assert len(surnames) > 30
    assert any(re.search("[áéíóúñÁÉÍÓÚÑ]", person.full_name) for person in people)
    assert people.exclude(tags=[]).count() > PEOPLE // 3
    assert people.exclude(custom={}).count() > PEOPLE // 3
    assert Consent.objects.filter(granted=True).count() > PEOPLE // 5
    assert Relationship.objects.count() >= ORGANIZATIONS
    for address in PostalAddress.objects.filter(person__isnull=False)[:50]:
        assert re.fullmatch(r"\d{5}", address.postcode)
        assert address.municipality
        assert address.province
    emails = EmailAddress.objects.values_list("address", flat=True)
    assert all(email.endswith(".example") for email in emails)
    # One person in a hundred is a duplicate of the one before: same name and mobile.
    duplicate = Person.objects.get(pk=bench.DUPLICATE_AT + 1)
    original = Person.objects.get(pk=bench.DUPLICATE_AT)
    assert duplicate.full_name == original.full_name
    assert duplicate.birth_date == original.birth_date
    assert duplicate.document_number == ""
    assert bench.mobile_for(bench.DUPLICATE_AT) == bench.mobile_for(bench.DUPLICATE_AT - 1)


def test_the_bench_person_has_everything_the_360_page_shows(data):
    person = bench.bench_person()
    assert person.pk == 1
    assert Interaction.objects.filter(person=person).count() == 50
    assert EmailAddress.objects.filter(person=person).count() == 2
    assert PhoneNumber.objects.filter(person=person).count() == 2
    assert PostalAddress.objects.filter(person=person).count() == 2
    assert Relationship.objects.filter(person=person).count() == 2
    assert Team.objects.filter(members=person).exists()
    assert Consent.objects.filter(person=person).count() >= 2
    assert set(person.custom) == {"empadronado_desde", "perro_censado", "nivel_estudios"}


# --- The scenarios -------------------------------------------------------------------------------


def _scenario(name: str):
    return discover().scenarios[name.replace(" ", "-")]


def test_every_citizens_scenario_answers_as_expected(bench_client):
    for name in ("people list search", "people list page 10000", "person 360", "caller lookup"):
        scenario = _scenario(name)
        urls = scenario.url_list()
        assert urls, name
        for url in urls:
            response = bench_client.get(url)
            assert response.status_code == scenario.expected_status, (name, url)


def test_the_search_pages_follow_each_other_and_cost_the_same(bench_client, monkeypatch):
    # On a small register, a search broad enough for several pages.
    monkeypatch.setattr(bench, "SEARCH", {"q": "a", "tag": "", "municipality": ""})
    urls = bench.search_urls()
    assert len(urls) >= 3
    seen, counts = [], set()
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = bench_client.get(url)
        assert response.status_code == 200
        counts.add(len(queries))
        seen += [row.pk for row in response.context["rows"]]
    assert len(seen) == len(set(seen))  # no row twice: each URL is the next page
    assert set(seen) == set(Person.objects.search("a").values_list("id", flat=True))  # none left
    assert len(counts) == 1, counts


def test_the_deep_page_cursor_starts_at_its_page(bench_client):
    from citizens.filters import DEFAULT_ORDER, ORDERINGS

    ordering = ORDERINGS["citizens.person"][DEFAULT_ORDER]
    expected = list(Person.objects.order_by(*ordering).values_list("id", flat=True))
    for page in (2, 3, 4):
        (url,) = bench.deep_page_urls(page_number=page, pages=1)
        rows = bench_client.get(url).context["rows"]
        assert [row.pk for row in rows] == expected[(page - 1) * 50 : page * 50]
    # Past the end, the last pages.
    assert len(bench.deep_page_urls(page_number=10_000, pages=10)) == 5


def test_the_360_page_stays_within_its_queries(bench_client):
    (url,) = bench.person_360_urls()
    with CaptureQueriesContext(connection) as queries:
        response = bench_client.get(url)
    assert response.status_code == 200
    assert len(queries) <= _scenario("person 360").max_queries


def test_the_caller_lookup_goes_to_the_caller(bench_client):
    urls = bench.caller_lookup_urls(count=20)
    assert len(urls) == 20
    for url in urls:
        response = bench_client.get(url)
        number = re.sub(r"\D", "", url.split("phone=")[1])[-9:]
        owner = PhoneNumber.objects.get(number=f"+34{number}").person
        assert response.status_code == 302
        assert response["Location"] == reverse("citizens:person_detail", args=[owner.pk])


# --- The timed jobs ------------------------------------------------------------------------------


def test_the_import_job_imports_and_leaves_the_register_as_it_was(data, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    people = Person.objects.count()

    result = run_job(discover().jobs["people-import"])

    assert result["status"] == "ok", result
    details = result["details"]
    assert details["rows"] == 100  # a tenth of the register, at least 100 rows
    assert details["created"] > 50
    assert details["updated"] > 5
    assert details["rejected"] >= 1  # the wrong check letters
    assert result["seconds"] > 0
    assert result["queries"] > 0
    assert Person.objects.count() == people  # rolled back
    assert not list(tmp_path.rglob("*.csv"))  # the file is gone too


def test_the_import_check_job_counts_what_the_import_would_do(data, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    result = run_job(discover().jobs["people-import-check"])

    assert result["status"] == "ok", result
    assert result["details"]["create"] > 50
    assert result["details"]["reject"] >= 1


def test_the_duplicate_scan_runs_once_citizens_dedupe_exists(data):
    result = run_job(discover().jobs["duplicate-scan"])

    if find_spec("citizens.dedupe") is None:
        assert result["status"] == "skipped"
        assert "citizens.dedupe does not exist yet" in result["error"]
    else:
        assert result["status"] in ("ok", "skipped"), result
