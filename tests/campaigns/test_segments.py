"""Segments: the rule language, every condition in SQL, dynamic membership (a person enters and
leaves as their data changes), static lists (frozen or uploaded) and a campaign's audience."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import segments, services
from campaigns.models import Delivery, StaticList
from citizens.import_files import ImportFileError
from citizens.models import CustomField, Interaction, Person
from citizens.services import person_update
from crm.models import AuditEvent

from .helpers import born_years_ago, campaign, consent, person, purpose, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def comms(make_user):
    return make_user("communication", username="comms", email="comms@example.org")


def ids(rules) -> set[int]:
    return set(segments.people_matching(segments.clean_rules(rules)).values_list("pk", flat=True))


def one(rule: dict) -> dict:
    return {"op": "and", "rules": [rule]}


def test_a_count_runs_without_compiling_its_plan():
    # On a million people JIT took a quarter of a second to compile what it then saved.
    person("Ana", birth_date=born_years_ago(30))
    with CaptureQueriesContext(connection) as captured:
        assert segments.count(segments.clean_rules({"op": "and", "rules": []})) == 1
    sqls = [query["sql"] for query in captured.captured_queries]
    [counted] = [index for index, sql in enumerate(sqls) if "COUNT(" in sql.upper()]
    [jit_off, back] = [index for index, sql in enumerate(sqls) if "set_config('jit'" in sql]
    assert sqls[jit_off] == "SELECT set_config('jit', 'off', true)"
    assert jit_off < counted < back


def test_age_range_counts_from_the_birth_date_today():
    eighteen_today = person("Ana", birth_date=born_years_ago(18))
    almost_eighteen = person("Bea", birth_date=born_years_ago(18, days=-1))
    sixty_five = person("Carmen", birth_date=born_years_ago(65, days=10))
    sixty_six = person("Dora", birth_date=born_years_ago(66))
    person("Eva")  # no birth date: no age
    found = ids(one({"type": "age", "min": 18, "max": 65}))
    assert found == {eighteen_today.pk, sixty_five.pk}
    assert almost_eighteen.pk not in found
    assert sixty_six.pk not in found


def test_municipality_ignores_accents_and_case_and_province_reads_addresses():
    cadiz = person("Ana", municipality="Cádiz", province="Cádiz")
    jerez = person("Bea", municipality="Jerez de la Frontera", province="Cádiz")
    sevilla = person("Carmen", municipality="Sevilla", province="Sevilla")
    assert ids(one({"type": "municipality", "values": "cadiz, SEVILLA"})) == {cadiz.pk, sevilla.pk}
    assert ids(one({"type": "province", "values": ["cádiz"]})) == {cadiz.pk, jerez.pk}


def test_tags_any_or_all():
    both = person("Ana", tags=["mayores", "voluntariado"])
    one_tag = person("Bea", tags=["mayores"])
    person("Carmen", tags=["jóvenes"])
    assert ids(one({"type": "tags", "values": ["mayores", "voluntariado"]})) == {
        both.pk,
        one_tag.pk,
    }
    assert ids(one({"type": "tags", "values": ["mayores", "voluntariado"], "match": "all"})) == {
        both.pk
    }


def test_custom_fields_compare_by_type():
    CustomField.objects.create(applies_to="person", key="perro", label="Perro", type="boolean")
    CustomField.objects.create(applies_to="person", key="hijos", label="Hijos", type="number")
    owner = person("Ana", custom={"perro": True, "hijos": 2})
    person("Bea", custom={"perro": False, "hijos": 3})
    assert ids(one({"type": "custom", "key": "perro", "value": "sí"})) == {owner.pk}
    assert ids(one({"type": "custom", "key": "hijos", "value": "2"})) == {owner.pk}


def test_consent_follows_the_latest_statement():
    newsletter = purpose()
    yes, withdrawn = person("Ana"), person("Bea")
    person("Carmen")
    consent(yes, newsletter)
    consent(withdrawn, newsletter)
    consent(withdrawn, newsletter, granted=False)
    assert ids(one({"type": "consent", "purpose": newsletter.pk})) == {yes.pk}


def test_interactions_and_cases_in_the_last_days():
    recent, old = person("Ana"), person("Bea")
    Interaction.objects.create(
        person=recent,
        channel="phone",
        direction="in",
        subject="Llamada",
        occurred_at=timezone.now(),
    )
    Interaction.objects.create(
        person=old,
        channel="phone",
        direction="in",
        subject="Llamada",
        occurred_at=timezone.now() - timedelta(days=40),
    )
    assert ids(one({"type": "interaction", "days": 30})) == {recent.pk}
    assert ids(one({"type": "interaction", "days": 30, "channel": "email"})) == set()
    assert ids(one({"type": "interaction", "days": 60, "channel": "phone"})) == {recent.pk, old.pk}


def test_campaign_history(comms):
    sent = campaign(comms)
    received, clicked, bounced = person("Ana"), person("Bea"), person("Carmen")
    now = timezone.now()
    Delivery.objects.create(
        campaign=sent, person=received, email="a@x.es", status="sent", sent_at=now
    )
    Delivery.objects.create(
        campaign=sent,
        person=clicked,
        email="b@x.es",
        status="sent",
        sent_at=now,
        opened_at=now,
        clicked_at=now,
    )
    Delivery.objects.create(campaign=sent, person=bounced, email="c@x.es", status="failed")
    history = {"type": "campaign", "campaign": sent.pk}
    assert ids(one({**history, "event": "received"})) == {received.pk, clicked.pk}
    assert ids(one({**history, "event": "clicked"})) == {clicked.pk}
    assert ids(one({**history, "event": "not_opened"})) == {received.pk}


def test_and_or_groups_and_not():
    ana = person("Ana", tags=["a"], municipality="Cádiz")
    bea = person("Bea", tags=["b"], municipality="Cádiz")
    carmen = person("Carmen", tags=["a"], municipality="Sevilla")
    rules = {
        "op": "and",
        "rules": [
            {
                "op": "or",
                "rules": [{"type": "tags", "values": ["a"]}, {"type": "tags", "values": ["b"]}],
            },
            {"type": "municipality", "values": ["Sevilla"], "negate": True},
        ],
    }
    assert ids(rules) == {ana.pk, bea.pk}
    assert ids({**rules, "op": "or"}) == {ana.pk, bea.pk, carmen.pk}


def test_an_empty_segment_is_everyone_who_may_be_targeted_never_the_restricted():
    ana, bea, carmen = person("Ana"), person("Bea"), person("Carmen")
    Person.objects.filter(pk=bea.pk).update(restricted_at=timezone.now())  # GDPR art. 18
    Person.objects.filter(pk=carmen.pk).update(blocked_at=timezone.now())  # erased
    assert ids({"op": "and", "rules": []}) == {ana.pk}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "age"}, "minimum age"),
        ({"type": "age", "min": 70, "max": 20}, "above"),
        ({"type": "age", "min": "old"}, "whole number"),
        ({"type": "municipality", "values": []}, "at least one"),
        ({"type": "consent", "purpose": 999999}, "purpose"),
        ({"type": "custom", "key": "nope", "value": "1"}, "custom field"),
        ({"type": "interaction", "days": 0}, "between"),
        ({"type": "campaign", "campaign": 999999, "event": "received"}, "campaign"),
        ({"type": "nonsense"}, "Unknown"),
    ],
)
def test_bad_rules_are_refused_with_their_position(rule, message):
    with pytest.raises(ValidationError) as error:
        segments.clean_rules({"op": "and", "rules": [{"type": "tags", "values": ["x"]}, rule]})
    text = " ".join(error.value.messages)
    assert "Condition 2" in text
    assert message.lower() in text.lower()


def test_a_person_enters_and_leaves_a_dynamic_segment_as_their_data_changes(comms):
    newsletter = purpose()
    target = segment(
        comms,
        {
            "op": "and",
            "rules": [
                {"type": "municipality", "values": ["Cádiz"]},
                {"type": "consent", "purpose": newsletter.pk},
                {"type": "age", "min": 18},
            ],
        },
    )
    ana = person("Ana", municipality="Sevilla", birth_date=born_years_ago(30))
    members = lambda: set(segments.members(target).values_list("pk", flat=True))  # noqa: E731
    assert ana.pk not in members()
    consent(ana, newsletter)
    assert ana.pk not in members()
    # She moves to Cádiz: nobody presses a button, she is in.
    from citizens.services import AddressInput, Contacts

    person_update(
        person=ana,
        actor=None,
        contacts=Contacts(addresses=[AddressInput(street="Calle Ancha", municipality="Cádiz")]),
    )
    assert ana.pk in members()
    # She withdraws her consent: she is out.
    consent(ana, newsletter, granted=False)
    assert ana.pk not in members()


def test_freezing_a_segment_keeps_its_members_of_now(comms):
    tagged = [person(f"P{n}", tags=["mayores"]) for n in range(5)]
    person("Otra")
    target = segment(comms, one({"type": "tags", "values": ["mayores"]}))
    frozen = services.segment_freeze(segment=target, actor=comms, name="Mayores hoy")
    assert frozen.size == 5
    assert frozen.source == StaticList.Source.FROZEN
    person("Nueva", tags=["mayores"])
    assert set(segments.members(frozen).values_list("pk", flat=True)) == {p.pk for p in tagged}
    assert segments.members(target).count() == 6
    assert AuditEvent.objects.filter(
        object_type="campaigns.staticlist", object_id=str(frozen.pk)
    ).exists()


def test_uploading_a_list_by_document_or_email_with_row_errors(comms):
    ana = person("Ana", document_type="dni", document_number="12345678Z")
    bea = person("Bea", email="bea@example.org")
    data = (
        b"DNI o email\n"
        b"12345678z\n"
        b"BEA@example.org\n"
        b"87654321A\n"  # wrong check letter
        b"nadie@example.org\n"
        b"not-an-email@\n"
    )
    static_list = services.static_list_upload(
        actor=comms, name="Lista", file=io.BytesIO(data), filename="lista.csv"
    )
    assert static_list.size == 2
    assert set(segments.members(static_list).values_list("pk", flat=True)) == {ana.pk, bea.pk}
    rejected = {row["row"]: row for row in static_list.rejected}
    assert set(rejected) == {4, 5, 6}
    assert rejected[4]["error"]
    assert rejected[4]["value"] == "87654321A"
    assert "Nobody" in rejected[5]["error"]
    assert rejected[5]["value"] == "nadie@example.org"


def test_a_file_that_matches_nobody_is_refused_and_writes_nothing(comms):
    with pytest.raises(ImportFileError):
        services.static_list_upload(
            actor=comms, name="Lista", file=io.BytesIO(b"nadie@example.org\n"), filename="l.csv"
        )
    assert not StaticList.objects.exists()


def test_a_campaign_audience_is_the_union_of_its_segment_and_list(comms):
    in_segment = person("Ana", tags=["a"])
    in_list = person("Bea", document_type="dni", document_number="12345678Z")
    person("Carmen")
    static_list = services.static_list_upload(
        actor=comms, name="Lista", file=io.BytesIO(b"12345678Z\n"), filename="l.csv"
    )
    target = segment(comms, one({"type": "tags", "values": ["a"]}))
    both = campaign(comms, segment=target, static_list=static_list)
    audience = set(segments.campaign_audience(both).values_list("pk", flat=True))
    assert audience == {in_segment.pk, in_list.pk}
    nothing = campaign(comms, code="otra")
    assert not segments.campaign_audience(nothing).exists()


def test_uploading_an_excel_list(comms):
    import openpyxl

    ana = person("Ana", document_type="nie", document_number="X1234567L")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in (["NIE"], ["x1234567l"], [None], ["Y0000000Z"]):
        sheet.append(row)
    data = io.BytesIO()
    workbook.save(data)
    static_list = services.static_list_upload(
        actor=comms, name="Excel", file=io.BytesIO(data.getvalue()), filename="lista.xlsx"
    )
    assert set(segments.members(static_list).values_list("pk", flat=True)) == {ana.pk}
    assert [row["row"] for row in static_list.rejected] == [4]
