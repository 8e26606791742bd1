"""Duplicate people: the rules and the set-based scan, merging (everything moves to the
survivor, audited), the review pages and who may use them."""

from __future__ import annotations

import importlib
import re
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.urls import reverse

from citizens import dedupe, gdpr
from citizens.dedupe import MergeError, find_duplicates, person_merge, person_relations
from citizens.models import (
    BlockedData,
    Consent,
    ConsentPurpose,
    CustomField,
    DataSubjectRequest,
    DedupeRule,
    DedupeRuleField,
    DuplicatePair,
    EmailAddress,
    Interaction,
    Person,
    PhoneNumber,
    PostalAddress,
    Relationship,
)
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    interaction_log,
    organization_create,
    person_create,
    relationship_add,
    team_create,
    team_member_add,
)
from crm.models import AuditAction, AuditEvent

DOCUMENT_RULE = "Mismo documento de identidad"
NAME_RULE = "Mismo nombre y correo, teléfono, fecha de nacimiento o código postal"


@pytest.fixture(autouse=True)
def default_rules(request):
    """The rules the migration installs: a transactional test elsewhere flushes them away."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    migration = importlib.import_module("citizens.migrations.0004_dedupe")
    migration.create_default_rules(apps, None)


def make(given="María", first="Pérez", second="Sanz", *, emails=(), phones=(), addresses=(), **f):
    return person_create(
        actor=None,
        given_name=given,
        first_surname=first,
        second_surname=second,
        contacts=Contacts(
            emails=[EmailInput(email) for email in emails],
            phones=[PhoneInput(phone) for phone in phones],
            addresses=list(addresses),
        ),
        **f,
    )


def pairs() -> set[tuple[int, int]]:
    return set(
        DuplicatePair.objects.filter(status="open").values_list("person_a_id", "person_b_id")
    )


def pair_of(x: Person, y: Person) -> tuple[int, int]:
    return (min(x.pk, y.pk), max(x.pk, y.pk))


# --- The rules and the scan ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_default_rules_are_installed():
    rules = {rule.name: rule for rule in DedupeRule.objects.prefetch_related("fields")}
    assert set(rules) == {DOCUMENT_RULE, NAME_RULE}
    document = rules[DOCUMENT_RULE]
    assert document.threshold == 100
    assert [(f.field, f.method, f.weight) for f in document.fields.all()] == [
        ("document_number", "normalised", 100)
    ]
    weights = {f.field: (f.method, f.weight) for f in rules[NAME_RULE].fields.all()}
    assert weights == {
        "full_name": ("similar", 70),
        "email": ("normalised", 30),
        "phone": ("exact", 30),
        "birth_date": ("exact", 30),
        "postcode": ("exact", 30),
    }


@pytest.mark.django_db
def test_the_same_document_makes_a_pair():
    ana = make("Ana", "López", "", document_type="dni", document_number="12345678Z")
    other = make("Juana", "Ruiz", "", document_type="other", document_number="12345678-z")
    make("Ana", "López", "", document_type="dni", document_number="87654321X")

    assert find_duplicates() == 1

    pair = DuplicatePair.objects.get()
    assert (pair.person_a_id, pair.person_b_id) == pair_of(ana, other)
    assert pair.score == 100
    assert pair.rule.name == DOCUMENT_RULE
    assert pair.status == DuplicatePair.Status.OPEN


@pytest.mark.django_db
def test_a_similar_name_and_the_same_email_make_a_pair_but_the_email_alone_does_not():
    maria = make(emails=["maria@example.org"])
    again = make("Maria", "Perez", "Sanz", emails=["MARIA@example.org"])
    husband = make("Luis", "Gómez", "Ruiz", emails=["maria@example.org"])

    find_duplicates()

    assert pairs() == {pair_of(maria, again)}
    assert DuplicatePair.objects.get().score == 100
    assert not DuplicatePair.objects.filter(person_b=husband).exists()


@pytest.mark.django_db
def test_the_same_phone_and_name_make_a_pair():
    jose = make("José", "García", "López", phones=["600 12 34 56"])
    again = make("Jose", "Garcia", "Lopez", phones=["+34600123456"])
    make("José", "García", "López", phones=["600654321"])  # the same name is not enough

    find_duplicates()

    assert pairs() == {pair_of(jose, again)}


@pytest.mark.django_db
def test_a_similar_name_and_the_same_birth_date_make_a_pair():
    born = date(1980, 5, 17)
    maria = make(birth_date=born)
    typo = make("María", "Péres", "Sanz", birth_date=born)  # one letter of a surname
    make("María", "Pérez", "Sanz", birth_date=born + timedelta(days=1))
    make("Marta", "Gil", "Sanz", birth_date=born)  # same birth date, another name

    find_duplicates()

    assert pairs() == {pair_of(maria, typo)}
    assert DuplicatePair.objects.get().rule.name == NAME_RULE


@pytest.mark.django_db
def test_the_same_name_and_postcode_make_a_pair():
    street = AddressInput(street="Calle Mayor", number="3", postcode="42001", municipality="Soria")
    far = AddressInput(street="Calle Real", number="9", postcode="28001", municipality="Madrid")
    maria = make(addresses=[street])
    again = make("maria", "perez", "sanz", addresses=[street])
    make(addresses=[far])

    find_duplicates()

    assert pairs() == {pair_of(maria, again)}


@pytest.mark.django_db
def test_blocked_and_merged_people_are_left_out():
    maria = make(document_type="dni", document_number="12345678Z", emails=["m@example.org"])
    blocked = make(document_type="other", document_number="12345678Z", emails=["m@example.org"])
    gdpr.person_block(person=blocked, actor=None)
    merged = make(document_type="passport", document_number="12345678Z")
    Person.objects.filter(pk=merged.pk).update(merged_into_id=maria.pk)

    assert find_duplicates() == 0
    assert not DuplicatePair.objects.exists()


@pytest.mark.django_db
def test_the_threshold_is_respected():
    born = date(1975, 1, 2)
    maria = make(birth_date=born)
    again = make(birth_date=born)
    rule = DedupeRule.objects.get(name=NAME_RULE)

    rule.threshold = 101
    rule.save()
    find_duplicates()
    assert pairs() == set()

    rule.threshold = 100
    rule.save()
    find_duplicates()
    assert pairs() == {pair_of(maria, again)}


@pytest.mark.django_db
def test_inactive_rules_find_nothing():
    make(document_type="dni", document_number="12345678Z")
    make(document_type="other", document_number="12345678Z")
    DedupeRule.objects.update(is_active=False)

    assert find_duplicates() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "found"),
    [("exact", False), ("normalised", True), ("similar", True)],
)
def test_each_way_of_comparing(method, found):
    """A rule on the given name alone: "José" and "jose" are the same ignoring accents and case,
    and similar; not exactly the same."""
    DedupeRule.objects.update(is_active=False)
    rule = DedupeRule.objects.create(name="Given name", threshold=50)
    DedupeRuleField.objects.create(rule=rule, field="given_name", method=method, weight=50)
    born = date(1990, 3, 3)
    jose = make("José", "Pérez", "Sanz", birth_date=born)
    again = make("jose", "Pérez", "Sanz", birth_date=born)

    find_duplicates()

    assert pairs() == ({pair_of(jose, again)} if found else set())


@pytest.mark.django_db
def test_similar_compares_with_the_cut_off():
    DedupeRule.objects.update(is_active=False)
    rule = DedupeRule.objects.create(name="Email", threshold=10)
    field = DedupeRuleField.objects.create(
        rule=rule, field="email", method="similar", weight=10, cutoff=0.5
    )
    born = date(1990, 3, 3)
    maria = make(birth_date=born, emails=["maria.perez@example.org"])
    again = make(birth_date=born, emails=["maria.peres@example.org"])

    find_duplicates()
    assert pairs() == {pair_of(maria, again)}

    field.cutoff = 1.0
    field.save()
    find_duplicates()
    assert pairs() == set()


@pytest.mark.django_db
def test_similar_is_refused_for_dates_and_phones():
    from django.core.exceptions import ValidationError

    rule = DedupeRule.objects.create(name="Bad", threshold=10)
    with pytest.raises(ValidationError):
        DedupeRuleField(rule=rule, field="birth_date", method="similar", weight=10).full_clean()


@pytest.mark.django_db
def test_a_key_shared_by_too_many_people_is_skipped(monkeypatch):
    """A phone shared by a whole office says nothing about who is who."""
    monkeypatch.setattr(dedupe, "MAX_BLOCK", 2)
    for given in ("Ana", "Ana", "Ana"):
        make(given, "Ruiz", "Gil", phones=["976000000"])

    assert find_duplicates() == 0


@pytest.mark.django_db
def test_scanning_again_gives_the_same_pairs_and_keeps_decisions():
    maria = make(document_type="dni", document_number="12345678Z")
    again = make(document_type="other", document_number="12345678Z")
    jose = make("José", "García", "", phones=["600123456"])
    jose_again = make("José", "García", "", phones=["600123456"])

    assert find_duplicates() == 2
    before = list(DuplicatePair.objects.order_by("id").values_list("id", "score", "found_at"))
    assert find_duplicates() == 2
    after = list(DuplicatePair.objects.order_by("id").values_list("id", "score", "found_at"))
    assert after == before

    dismissed = DuplicatePair.objects.get(person_a=min(jose, jose_again, key=lambda p: p.pk))
    dedupe.pair_dismiss(pair=dismissed, actor=None)
    find_duplicates()
    dismissed.refresh_from_db()
    assert dismissed.status == DuplicatePair.Status.DISMISSED
    assert pairs() == {pair_of(maria, again)}


@pytest.mark.django_db
def test_an_open_pair_no_longer_found_is_removed():
    jose = make("José", "García", "", phones=["600123456"])
    jose_again = make("José", "García", "", phones=["600123456"])
    find_duplicates()
    assert pairs() == {pair_of(jose, jose_again)}

    PhoneNumber.objects.filter(person=jose_again).update(number="+34600999999")
    find_duplicates()

    assert pairs() == set()


@pytest.mark.django_db
def test_the_score_of_an_open_pair_is_updated():
    born = date(1980, 1, 1)
    maria = make(birth_date=born)
    again = make(birth_date=born)
    find_duplicates()
    assert DuplicatePair.objects.get().score == 100

    EmailAddress.objects.create(person=maria, address="m@example.org", is_primary=True)
    EmailAddress.objects.create(person=again, address="m@example.org", is_primary=True)
    find_duplicates()

    assert DuplicatePair.objects.get().score == 130


# --- Merging --------------------------------------------------------------------------------


@pytest.fixture
def purpose(db):
    return ConsentPurpose.objects.create(code="news", name="Boletín", text="…", version="1")


@pytest.fixture
def two(db, purpose):
    """Two records of the same woman, each with its own history and some data in common."""
    town_hall = AddressInput(
        street="Plaza Mayor", number="1", postcode="42001", municipality="Soria"
    )
    survivor = make(
        "María",
        "Pérez",
        "",
        document_type="dni",
        document_number="12345678Z",
        tags=["vecina"],
        emails=["maria@example.org", "trabajo@example.org"],
        phones=["600123456"],
        addresses=[AddressInput(street="Calle Mayor", number="3", municipality="Soria")],
    )
    other = make(
        "Maria",
        "Perez",
        "Sanz",
        document_type="nie",
        document_number="X1234567L",
        birth_date=date(1980, 5, 17),
        emails=["MARIA@example.org", "otra@example.org"],
        phones=["+34 600 12 34 56", "976123456"],
        addresses=[
            AddressInput(street="calle mayor", number="3", municipality="soria"),
            town_hall,
        ],
    )
    return survivor, other


def merge(survivor, other, **choices):
    return person_merge(survivor=survivor, other=other, choices=choices, actor=None)


@pytest.mark.django_db
def test_merging_takes_the_chosen_values(two):
    survivor, other = two

    result = merge(survivor, other, second_surname="other", document="other", given_name="survivor")

    survivor.refresh_from_db()
    assert survivor.given_name == "María"
    assert survivor.second_surname == "Sanz"
    assert (survivor.document_type, survivor.document_number) == ("nie", "X1234567L")
    # Left out: the survivor's value, unless it is empty.
    assert survivor.birth_date == date(1980, 5, 17)
    assert survivor.tags == ["vecina"]
    assert set(result.taken) == {"second_surname", "document", "birth_date"}
    other.refresh_from_db()
    assert other.document_number == ""  # the document is unique: it moved


@pytest.mark.django_db
def test_merging_moves_contact_data_without_duplicates(two):
    survivor, other = two

    merge(survivor, other)

    assert not EmailAddress.objects.filter(person=other).exists()
    emails = EmailAddress.objects.filter(person=survivor)
    assert sorted(emails.values_list("address", flat=True)) == [
        "maria@example.org",
        "otra@example.org",
        "trabajo@example.org",
    ]
    assert emails.filter(is_primary=True).count() == 1
    assert emails.get(is_primary=True).address == "maria@example.org"
    phones = PhoneNumber.objects.filter(person=survivor)
    assert sorted(phones.values_list("number", flat=True)) == ["+34600123456", "+34976123456"]
    assert phones.filter(is_primary=True).count() == 1
    addresses = PostalAddress.objects.filter(person=survivor)
    assert addresses.count() == 2  # "calle mayor 3, soria" is the same address
    assert addresses.filter(is_notification=True).count() == 1
    assert addresses.get(is_notification=True).street == "Calle Mayor"
    survivor.refresh_from_db()
    assert "otra@example.org" in survivor.search_text
    assert "976123456" in survivor.search_text
    assert survivor.municipalities == ["soria"]


@pytest.mark.django_db
def test_the_survivor_is_found_by_the_municipalities_of_both(db):
    survivor = make(addresses=[AddressInput(street="Calle Mayor", municipality="Soria")])
    other = make(addresses=[AddressInput(street="Calle Coso", municipality="Zaragoza")])

    merge(survivor, other)

    survivor.refresh_from_db()
    assert survivor.municipalities == ["soria", "zaragoza"]
    found = Person.objects.in_use().filter(municipalities__contains=["zaragoza"])
    assert list(found) == [survivor]


@pytest.mark.django_db
def test_merging_moves_every_related_record(two, purpose):
    survivor, other = two
    for subject in ("Llamada", "Cita"):
        interaction_log(actor=None, person=other, channel="phone", direction="in", subject=subject)
    interaction_log(actor=None, person=survivor, channel="email", direction="in", subject="Hola")
    gdpr.consent_record(person=other, purpose=purpose, granted=True, source="paper", actor=None)
    gdpr.consent_record(person=other, purpose=purpose, granted=False, source="email", actor=None)
    gdpr.consent_record(
        person=survivor, purpose=purpose, granted=True, source="web_form", actor=None
    )
    request = gdpr.data_request_open(person=other, kind="access", actor=None)
    club = organization_create(actor=None, name="Club de montaña")
    school = organization_create(actor=None, name="AMPA")
    relationship_add(person=survivor, organization=club, role="member", actor=None)
    relationship_add(person=other, organization=club, role="member", actor=None)  # the same
    relationship_add(person=other, organization=school, role="owner", actor=None)
    board = team_create(organization=club, name="Junta", actor=None)
    trips = team_create(organization=club, name="Salidas", actor=None)
    team_member_add(team=board, person=survivor, actor=None)
    team_member_add(team=board, person=other, actor=None)
    team_member_add(team=trips, person=other, actor=None)

    result = merge(survivor, other)

    assert Interaction.objects.filter(person=survivor).count() == 3
    assert Consent.objects.filter(person=survivor).count() == 3  # the whole history
    assert gdpr.current_consents(survivor)[0].granted is True  # the latest statement
    request.refresh_from_db()
    assert request.person_id == survivor.pk
    assert sorted(
        Relationship.objects.filter(person=survivor).values_list("organization__name", "role")
    ) == [("AMPA", "owner"), ("Club de montaña", "member")]
    assert set(survivor.teams.values_list("name", flat=True)) == {"Junta", "Salidas"}
    assert list(board.members.all()) == [survivor]
    for model in (Interaction, Consent, DataSubjectRequest, Relationship, EmailAddress):
        assert not model.objects.filter(person=other).exists()
    assert not other.teams.exists()
    assert result.moved == {
        "citizens.emailaddress": 1,
        "citizens.phonenumber": 1,
        "citizens.postaladdress": 1,
        "citizens.relationship": 1,
        "citizens.team.members": 1,
        "citizens.interaction": 2,
        "citizens.consent": 2,
        "citizens.datasubjectrequest": 1,
    }


@pytest.mark.django_db
def test_the_merged_person_is_out_of_ordinary_use(two):
    survivor, other = two
    chained = make("Mari", "Pérez", "")
    Person.objects.filter(pk=chained.pk).update(merged_into_id=other.pk)

    merge(survivor, other)

    other.refresh_from_db()
    assert other.merged_into_id == survivor.pk
    assert other.search_text == ""
    assert other.municipalities == []
    assert other.blocked_at is None
    in_use = Person.objects.in_use()
    assert survivor in in_use
    assert other not in in_use
    assert list(in_use.search("maria perez")) == [survivor]
    chained.refresh_from_db()
    assert chained.merged_into_id == survivor.pk  # straight to the record that remains


@pytest.mark.django_db
def test_merging_marks_the_pair_and_writes_one_audit_event_per_person(two, make_user):
    survivor, other = two
    find_duplicates()
    pair = DuplicatePair.objects.get()
    clerk = make_user("citizen_service")
    before = AuditEvent.objects.count()

    person_merge(survivor=survivor, other=other, choices={"document": "other"}, actor=clerk)

    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.MERGED
    assert pair.decided_by == clerk
    assert pair.decided_at is not None
    events = AuditEvent.objects.order_by("id")[before:]
    assert [(e.object_type, e.object_id, e.action) for e in events] == [
        ("citizens.person", str(survivor.pk), AuditAction.UPDATE),
        ("citizens.person", str(other.pk), AuditAction.UPDATE),
    ]
    on_survivor, on_other = events
    assert on_survivor.actor == clerk
    assert on_survivor.changes["merge"]["merged"] == other.pk
    assert set(on_survivor.changes["merge"]["fields_taken"]) == {
        "document",
        "second_surname",
        "birth_date",
    }
    assert on_survivor.changes["merge"]["moved"]["citizens.emailaddress"] == 1
    assert on_other.changes["merge"]["merged_into"] == survivor.pk
    assert "12345678Z" not in str(on_survivor.changes)  # field names, never values


@pytest.mark.django_db
def test_a_merge_without_a_pair_records_one(two):
    survivor, other = two

    merge(survivor, other)

    pair = DuplicatePair.objects.get()
    assert pair.status == DuplicatePair.Status.MERGED
    assert pair.score == 0


@pytest.mark.django_db
def test_the_other_persons_open_pairs_pass_to_the_survivor(two):
    """DuplicatePair.merge_people, the hook a related model gives the merge: re-pointing its
    foreign keys one by one would pair the survivor with itself or twice with someone."""
    survivor, other = two
    both, only_other = make("Marieta", "Pérez", ""), make("Mariona", "Pérez", "")
    for person, third, score in (
        (survivor, both, 100),
        (other, both, 110),
        (other, only_other, 120),
    ):
        DuplicatePair.objects.create(
            person_a_id=min(person.pk, third.pk), person_b_id=max(person.pk, third.pk), score=score
        )
    DuplicatePair.objects.create(person_a=survivor, person_b=other, score=130)

    result = merge(survivor, other)

    assert pairs() == {pair_of(survivor, both), pair_of(survivor, only_other)}
    assert DuplicatePair.objects.get(person_b=only_other).score == 120
    assert not DuplicatePair.objects.filter(status="open", person_b=other).exists()
    assert result.moved["citizens.duplicatepair"] == 1


@pytest.mark.django_db
def test_a_processing_restriction_stays_on_the_survivor(two):
    survivor, other = two
    gdpr.person_restrict(person=other, actor=None)

    merge(survivor, other)

    survivor.refresh_from_db()
    assert survivor.restricted_at is not None


@pytest.mark.django_db
def test_custom_field_values_are_chosen_one_by_one(two):
    survivor, other = two
    CustomField.objects.create(applies_to="person", key="barrio", label="Barrio")
    Person.objects.filter(pk=survivor.pk).update(custom={"barrio": "Centro", "perro": "Sí"})
    Person.objects.filter(pk=other.pk).update(custom={"barrio": "Norte", "socio": "123"})
    survivor.refresh_from_db()
    other.refresh_from_db()

    merge(survivor, other, **{"custom:barrio": "other"})

    survivor.refresh_from_db()
    assert survivor.custom == {"barrio": "Norte", "perro": "Sí", "socio": "123"}


@pytest.mark.django_db
def test_nobody_is_merged_with_themself_nor_a_blocked_or_merged_person(two):
    survivor, other = two
    with pytest.raises(MergeError):
        merge(survivor, survivor)
    gdpr.person_block(person=other, actor=None)
    with pytest.raises(MergeError):
        merge(survivor, other)
    with pytest.raises(MergeError):
        merge(other, survivor)
    third = make("Ana", "Gil", "")
    fourth = make("Ana", "Gil", "")
    merge(third, fourth)
    with pytest.raises(MergeError):
        merge(survivor, fourth)
    assert not Person.objects.filter(merged_into_id=survivor.pk).exists()


@pytest.mark.django_db
def test_unknown_fields_and_sides_are_refused(two):
    survivor, other = two
    with pytest.raises(MergeError):
        merge(survivor, other, password="other")
    with pytest.raises(MergeError):
        merge(survivor, other, given_name="both")
    other.refresh_from_db()
    assert other.merged_into_id is None


@pytest.mark.django_db
def test_a_record_that_cannot_move_stops_the_whole_merge(two):
    """Both have a one-to-one BlockedData: the generic update would break its uniqueness; the
    merge stops and nothing has changed (a model needing more defines merge_people)."""
    survivor, other = two
    keep = date.today() + timedelta(days=365)
    BlockedData.objects.create(person=survivor, data={}, keep_until=keep)
    BlockedData.objects.create(person=other, data={}, keep_until=keep)
    interaction_log(actor=None, person=other, channel="phone", direction="in", subject="Llamada")

    with pytest.raises(MergeError, match=r"citizens\.blockeddata"):
        merge(survivor, other)

    other.refresh_from_db()
    assert other.merged_into_id is None
    assert Interaction.objects.filter(person=other).count() == 1
    assert EmailAddress.objects.filter(person=other).count() == 2


@pytest.mark.django_db
def test_the_merge_finds_every_model_that_points_to_a_person():
    """Whatever any app adds later (cases, campaign deliveries, opportunities), the merge moves
    it: every ForeignKey, OneToOne and ManyToMany to Person is among the relations it walks."""
    expected = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model is Person):
                continue
            if field.many_to_many:
                expected.add(f"{model._meta.label_lower}.{field.name}")
            else:
                expected.add(model._meta.label_lower)
    found = {relation.key for relation in person_relations()}
    assert expected <= found
    assert {
        "citizens.emailaddress",
        "citizens.phonenumber",
        "citizens.postaladdress",
        "citizens.relationship",
        "citizens.team.members",
        "citizens.interaction",
        "citizens.consent",
        "citizens.datasubjectrequest",
        "citizens.blockeddata",
        "citizens.duplicatepair",
    } <= found


# --- The pages ---------------------------------------------------------------------------------

MANAGER = "citizen_service"


@pytest.fixture
def pair(two):
    find_duplicates()
    return DuplicatePair.objects.get()


@pytest.mark.django_db
def test_the_list_shows_open_pairs_most_likely_first(client_for):
    born = date(1970, 7, 7)
    for _twice in range(2):  # name 70 + phone 30 + birth date 30
        make("Ana", "Gil", "", phones=["600111111"], birth_date=born)
    make("Luis", "Sanz", "", document_type="dni", document_number="12345678Z")  # document 100
    make("Luis", "Sanz", "", document_type="other", document_number="12345678Z")
    eva = [make("Eva", "Ruiz", "", phones=["600222222"]) for _twice in range(2)]
    find_duplicates()
    dedupe.pair_dismiss(pair=DuplicatePair.objects.get(person_a=eva[0]), actor=None)

    response = client_for(MANAGER).get(reverse("citizens:duplicate_list"))

    assert response.status_code == 200
    assert re.findall(r"<tr>\s*<td>(\d+)</td>", response.text) == ["130", "100"]
    assert response.text.index("Ana Gil") < response.text.index("Luis Sanz")
    assert "Eva Ruiz" not in response.text
    assert reverse("citizens:duplicate_scan") in response.text


@pytest.mark.django_db
def test_the_list_is_paged_by_keyset(client_for, monkeypatch):
    from citizens.views import duplicates

    monkeypatch.setattr(duplicates, "PER_PAGE", 2)
    for number in range(3):
        phone = f"60000000{number}"
        make("Ana", "Gil", str(number), phones=[phone])
        make("Ana", "Gil", str(number), phones=[phone])
    find_duplicates()
    client = client_for(MANAGER)

    first = client.get(reverse("citizens:duplicate_list"))
    cursor = re.search(r'cursor=([^"&]+)"', first.text).group(1)
    second = client.get(reverse("citizens:duplicate_list") + f"?cursor={cursor}")

    on_first = set(re.findall(r"/citizens/duplicates/(\d+)/", first.text))
    on_second = set(re.findall(r"/citizens/duplicates/(\d+)/", second.text))
    assert len(on_first) == 2
    assert len(on_second) == 1
    assert on_first | on_second == {
        str(pk) for pk in DuplicatePair.objects.values_list("pk", flat=True)
    }


@pytest.mark.django_db
def test_the_review_page_shows_both_records_side_by_side(pair, client_for):
    a, b = pair.person_a, pair.person_b
    interaction_log(actor=None, person=b, channel="phone", direction="in", subject="Llamada")

    response = client_for(MANAGER).get(reverse("citizens:duplicate_review", args=[pair.pk]))

    assert response.status_code == 200
    text = response.text
    # Each field is a fieldset whose legend names it, with one radio per record.
    assert text.count('<fieldset class="row') == len(dedupe.BASE_FIELDS)
    assert 'name="field-second_surname" id="field-second_surname-b" value="b" checked' in text
    assert 'name="field-given_name" id="field-given_name-a" value="a" checked' in text
    assert "X1234567L" in text
    assert "12345678Z" in text
    assert "otra@example.org" in text
    assert '<input class="form-check-input" type="radio" name="survivor" id="survivor-a"' in text
    # The counts of what each record has: one interaction on B.
    assert re.search(r"Interacciones</th>\s*<td>0</td>\s*<td>1</td>", text)
    reads = AuditEvent.objects.filter(action=AuditAction.READ, object_type="citizens.person")
    assert set(reads.values_list("object_id", flat=True)) == {str(a.pk), str(b.pk)}


@pytest.mark.django_db
def test_merging_from_the_page(pair, client_for):
    a, b = pair.person_a, pair.person_b
    client = client_for(MANAGER)
    data = {"survivor": "b"}
    for row in dedupe.merge_fields(a, b):
        data["field-" + row.name.replace(":", "--")] = "b"
    data["field-given_name"] = "a"  # "María" from record A

    response = client.post(reverse("citizens:duplicate_merge", args=[pair.pk]), data)

    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:duplicate_list")
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.merged_into_id == b.pk
    assert b.given_name == "María"
    assert b.second_surname == "Sanz"
    assert EmailAddress.objects.filter(person=b).count() == 3
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.MERGED
    followed = client.get(response["Location"])
    assert "se ha fusionado" in followed.text or "has been merged" in followed.text


@pytest.mark.django_db
def test_a_tampered_merge_form_changes_nothing(pair, client_for):
    response = client_for(MANAGER).post(
        reverse("citizens:duplicate_merge", args=[pair.pk]), {"survivor": "c"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("citizens:duplicate_review", args=[pair.pk])
    assert not Person.objects.filter(merged_into_id__isnull=False).exists()


@pytest.mark.django_db
def test_dismissing_from_the_page(pair, client_for):
    client = client_for(MANAGER)

    response = client.post(reverse("citizens:duplicate_dismiss", args=[pair.pk]))

    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.DISMISSED
    assert pair.decided_by is not None
    assert AuditEvent.objects.filter(
        object_type="citizens.duplicatepair", object_id=str(pair.pk)
    ).exists()
    # A decided pair is not reviewed again.
    again = client.get(reverse("citizens:duplicate_review", args=[pair.pk]))
    assert again.status_code == 302
    assert not Person.objects.filter(merged_into_id__isnull=False).exists()


@pytest.mark.django_db
def test_a_pair_whose_person_was_blocked_is_not_reviewed(pair, client_for):
    gdpr.person_block(person=pair.person_b, actor=None)
    client = client_for(MANAGER)

    review_url = reverse("citizens:duplicate_review", args=[pair.pk])
    assert review_url not in client.get(reverse("citizens:duplicate_list")).text
    response = client.get(review_url)
    assert response.status_code == 302
    response = client.post(reverse("citizens:duplicate_merge", args=[pair.pk]), {"survivor": "a"})
    assert response.status_code == 302
    assert not Person.objects.filter(merged_into_id__isnull=False).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["case_handler", "communication", "inspector"])
def test_only_who_manages_citizens_reviews_duplicates(pair, client_for, role):
    client = client_for(role)
    assert client.get(reverse("citizens:duplicate_list")).status_code == 403
    assert client.get(reverse("citizens:duplicate_review", args=[pair.pk])).status_code == 403
    merge_url = reverse("citizens:duplicate_merge", args=[pair.pk])
    assert client.post(merge_url, {"survivor": "a"}).status_code == 403
    assert client.post(reverse("citizens:duplicate_dismiss", args=[pair.pk])).status_code == 403
    assert client.post(reverse("citizens:duplicate_scan")).status_code == 403
    pair.refresh_from_db()
    assert pair.status == DuplicatePair.Status.OPEN


@pytest.mark.django_db
def test_the_rules_are_explained_in_the_admin(admin_client):
    response = admin_client.get(reverse("admin:citizens_deduperule_add"))

    assert response.status_code == 200
    assert "fields-TOTAL_FORMS" in response.text  # the rule's fields, inline
    assert "threshold 100" in response.text or "umbral 100" in response.text


@pytest.mark.django_db
def test_changes_are_post_only(pair, client_for):
    client = client_for(MANAGER)
    assert client.get(reverse("citizens:duplicate_merge", args=[pair.pk])).status_code == 405
    assert client.get(reverse("citizens:duplicate_dismiss", args=[pair.pk])).status_code == 405
    assert client.get(reverse("citizens:duplicate_scan")).status_code == 405


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_scan_now_runs_the_scan_in_the_worker(celery_worker, client_for):
    import time

    make(document_type="dni", document_number="12345678Z")
    make(document_type="other", document_number="12345678Z")
    client = client_for(MANAGER)

    response = client.post(reverse("citizens:duplicate_scan"))

    assert response.status_code == 302
    deadline = time.monotonic() + 30
    while not DuplicatePair.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert DuplicatePair.objects.count() == 1
    assert "succeeded" in celery_worker.wait_for_log("citizens.tasks.find_duplicates")


def test_the_scan_runs_every_night(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["find-duplicates"]
    assert entry["task"] == "citizens.tasks.find_duplicates"
    assert entry["schedule"].hour == {2}


# --- In a real browser -------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_review_page_is_accessible_and_works_with_the_keyboard(
    page, console_errors, make_user, purpose
):
    from playwright.sync_api import expect

    from tests.fixtures.browser import assert_accessible, assert_no_console_errors, log_in

    maria = make(document_type="dni", document_number="12345678Z", emails=["maria@example.org"])
    again = make("Maria", "Perez", "Sanz", document_type="other", document_number="12345678Z")
    find_duplicates()
    pair = DuplicatePair.objects.get()
    make_user(MANAGER, username="clerk")
    log_in(page, "clerk", "correct-horse-battery")

    page.goto(reverse("citizens:duplicate_list"))
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("Revisar")).first.click()
    expect(page.locator("h1")).to_contain_text("duplicado")
    page.screenshot(path="/tmp/shot_duplicate_review.png", full_page=True)
    assert_accessible(page)

    # Keyboard only: record B remains, with B's given name; then merge.
    page.locator("#survivor-a").focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#survivor-b")).to_be_checked()
    page.locator("#field-given_name-a").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#field-given_name-b")).to_be_checked()
    page.locator("#merge-form button[type=submit]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.locator(".crm-messages, [role=alert], .alert").first).to_be_visible()
    assert_accessible(page)
    survivor, other = (again, maria) if pair.person_b_id == again.pk else (maria, again)
    survivor.refresh_from_db()
    other.refresh_from_db()
    assert other.merged_into_id == survivor.pk
    assert survivor.given_name == pair.person_b.given_name
    assert_no_console_errors(console_errors)
