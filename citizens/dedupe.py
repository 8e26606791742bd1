"""Duplicate people: finding likely pairs (the scan) and merging one person into another.

The scan
    ``find_duplicates()`` runs every active ``DedupeRule`` over everyone in use (not blocked, not
    merged) in a handful of set-based SQL statements, never a Python loop over people:

    1. *Blocking*: candidate pairs are only the people who share an exact key: the document
       number, an email, a phone, (surnames + birth date), (given name + initial of the first
       surname + birth date) or (full name + postcode), names without accents or case. A key
       shared by more than ``MAX_BLOCK`` people (an office's phone...) says nothing and is
       skipped. Keys are 64-bit hashes computed in parallel sequential scans and sorted once:
       the full scan reads whole tables, so it needs no index of its own (none was added).
    2. *Scoring*: each candidate pair gets, per rule, the sum of the weights of the fields it
       matches on (``CASE`` sums; ``similarity()`` of pg_trgm for 'similar' fields; accents and
       case ignored through ``lower(unaccent(...))``, as ``citizens.text.normalise`` does).
       A pair reaching a rule's threshold is a likely duplicate; its score is its best rule's.
    3. *Upsert*: new pairs are inserted open; open ones get their new score; merged and
       dismissed ones (a decision) are left alone; open pairs no longer found are removed.

    A rule can only score pairs the blocking keys bring together: a rule on, say, municipality
    alone finds nothing that does not also share one of the keys above.

The merge
    ``person_merge(survivor=..., other=..., choices=..., actor=...)`` copies the chosen field
    values into the survivor and moves everything that points to the other person, from any
    app, found through ``Person._meta`` (every reverse ForeignKey, OneToOne and ManyToMany,
    hidden ``related_name="+"`` ones included), so what later modules add (cases, campaign
    deliveries, opportunities...) is moved too without changing this module:

    - Emails, phones and addresses are merged without duplicates (the same normalised value
      is kept once), with one main email, one main phone and one notification address.
    - Relationships are moved, dropping exact duplicates; team memberships are merged.
    - Everything else (interactions, consents with their whole history, data-subject
      requests...) is moved by updating its foreign key.
    - **Hook**: a related model whose rows cannot simply be re-pointed (say "one delivery per
      campaign and person") defines a classmethod ``merge_people(survivor, other) -> int``
      (how many rows it moved); the merge calls it instead of the generic update, once per
      model. ``DuplicatePair.merge_people`` is an example. A generic update that would break
      a unique constraint stops the whole merge (``MergeError``) and nothing changes.

    The other person is then marked ``merged_into_id`` (out of ``in_use()``: lists, searches,
    lookups) with an empty search text, and one audit event on each person records the fields
    taken from the other one and the counts of what moved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from citizens.models import (
    CustomField,
    DedupeRule,
    DedupeRuleField,
    DuplicatePair,
    EmailAddress,
    Person,
    PhoneNumber,
    PostalAddress,
    Relationship,
)
from citizens.services import refresh_search_text
from citizens.text import normalise
from crm.audit import log_event
from crm.models import AuditAction, User

logger = logging.getLogger(__name__)

# A blocking key shared by more people than this is not a sign of duplicates (a shared phone).
MAX_BLOCK = 50
# The scan's aggregates and joins fit in memory for a million people with this much.
SCAN_WORK_MEM = "256MB"
_SCAN_LOCK = 0x44555053  # "DUPS": one scan at a time

Side = Literal["survivor", "other"]


class MergeError(Exception):
    """The merge (or the decision) cannot be done; nothing was changed. The message is for
    the member of staff."""


# --- The scan ----------------------------------------------------------------------------------

_FOLD = "lower(unaccent({}))"
_DOCUMENT = "upper(translate({}, ' .-/', ''))"
_IN_USE = "blocked_at IS NULL AND merged_into_id IS NULL"
_P_IN_USE = "p.blocked_at IS NULL AND p.merged_into_id IS NULL"

# Blocking: every (key, person) pair, the key a 64-bit hash of the value seeded with its kind
# (a rare hash collision only adds a candidate that scoring rejects); one sort by key then keeps
# the keys shared by 2 to MAX_BLOCK people.
_SHARED_KEYS_SQL = f"""
CREATE TEMP TABLE dedupe_shared AS
SELECT key, id FROM (
    SELECT key, id, count(*) OVER (PARTITION BY key) AS people FROM (
        SELECT hashtextextended({_DOCUMENT.format("document_number")}, 1) AS key, id
        FROM citizens_person WHERE document_number <> '' AND {_IN_USE}
        UNION ALL
        SELECT hashtextextended(lower(address), 2), person_id
        FROM citizens_emailaddress WHERE person_id IS NOT NULL
        UNION ALL
        SELECT hashtextextended(number, 3), person_id
        FROM citizens_phonenumber WHERE person_id IS NOT NULL
        UNION ALL
        SELECT hashtextextended(
            {_FOLD.format("first_surname || ' ' || second_surname")} || birth_date, 4
        ), id
        FROM citizens_person WHERE birth_date IS NOT NULL AND first_surname <> '' AND {_IN_USE}
        UNION ALL
        SELECT hashtextextended(
            {_FOLD.format("given_name || ' ' || left(first_surname, 1)")} || birth_date, 5
        ), id
        FROM citizens_person WHERE birth_date IS NOT NULL AND {_IN_USE}
        UNION ALL
        SELECT hashtextextended(
            {_FOLD.format("p.given_name || ' ' || p.first_surname || ' ' || p.second_surname")}
                || upper(a.postcode), 6
        ), p.id
        FROM citizens_person p JOIN citizens_postaladdress a ON a.person_id = p.id
        WHERE a.postcode <> '' AND p.first_surname <> '' AND {_P_IN_USE}
    ) keys
) blocks
WHERE people BETWEEN 2 AND %s
"""  # noqa: S608 (constants only)

_CANDIDATES_SQL = """
CREATE TEMP TABLE dedupe_candidate AS
SELECT DISTINCT a.id AS a, b.id AS b
FROM dedupe_shared a JOIN dedupe_shared b ON a.key = b.key AND a.id < b.id
"""

# What the rules compare, for the people in candidate pairs only, each field as stored and
# normalised ("_n"); emails, phones, postcodes and municipalities as arrays (any of theirs).
# Only the columns the active rules use are computed.
_FULL_NAME = (
    "concat_ws(' ', nullif(p.given_name, ''), nullif(p.first_surname, ''), "
    "nullif(p.second_surname, ''))"
)
_PERSON_COLUMNS = {
    "given_name": "p.given_name",
    "given_name_n": _FOLD.format("p.given_name"),
    "first_surname": "p.first_surname",
    "first_surname_n": _FOLD.format("p.first_surname"),
    "second_surname": "p.second_surname",
    "second_surname_n": _FOLD.format("p.second_surname"),
    "full_name": _FULL_NAME,
    "full_name_n": _FOLD.format(_FULL_NAME),
    "document_number": "p.document_number",
    "document_number_n": _DOCUMENT.format("p.document_number"),
    "birth_date": "p.birth_date",
}
# column -> (table, the value, condition): aggregated per person with one grouped join.
_ARRAY_COLUMNS = {
    "email": ("citizens_emailaddress", "address", "TRUE"),
    "email_n": ("citizens_emailaddress", _FOLD.format("address"), "TRUE"),
    "phone": ("citizens_phonenumber", "number", "TRUE"),
    "phone_n": ("citizens_phonenumber", "number", "TRUE"),
    "postcode": ("citizens_postaladdress", "postcode", "postcode <> ''"),
    "postcode_n": ("citizens_postaladdress", "upper(replace(postcode, ' ', ''))", "postcode <> ''"),
    "municipality": ("citizens_postaladdress", "municipality", "municipality <> ''"),
    "municipality_n": (
        "citizens_postaladdress",
        _FOLD.format("municipality"),
        "municipality <> ''",
    ),
}


def _people_sql(columns: set[str]) -> str:
    """CREATE TEMP TABLE dedupe_person with the given columns (names from the dicts above)."""
    select = ["p.id"] + [
        f"{expression} AS {name}" for name, expression in _PERSON_COLUMNS.items() if name in columns
    ]
    joins = []
    for name, (table, value, condition) in _ARRAY_COLUMNS.items():
        if name not in columns:
            continue
        select.append(f"coalesce({name}.v, '{{}}') AS {name}")
        joins.append(
            f"LEFT JOIN (SELECT person_id, array_agg({value}) AS v FROM {table} "  # noqa: S608
            f"WHERE {condition} AND person_id IN (SELECT id FROM dedupe_ids) "
            f"GROUP BY person_id) {name} ON {name}.person_id = p.id"
        )
    return (
        f"CREATE TEMP TABLE dedupe_person AS SELECT {', '.join(select)} "  # noqa: S608
        f"FROM citizens_person p {' '.join(joins)} "
        f"WHERE p.id IN (SELECT id FROM dedupe_ids) AND {_P_IN_USE}"
    )


_ARRAY_FIELDS = frozenset(
    {
        DedupeRuleField.Field.EMAIL,
        DedupeRuleField.Field.PHONE,
        DedupeRuleField.Field.POSTCODE,
        DedupeRuleField.Field.MUNICIPALITY,
    }
)


def _column(rule_field: DedupeRuleField) -> str:
    """The dedupe_person column a rule field compares (whitelisted: from the field's choices)."""
    name = DedupeRuleField.Field(rule_field.field).value
    if (
        name == DedupeRuleField.Field.BIRTH_DATE
        or rule_field.method == DedupeRuleField.Method.EXACT
    ):
        return name
    return f"{name}_n"


def _match_sql(rule_field: DedupeRuleField) -> tuple[str, list[Any]]:
    """The SQL condition "pair (pa, pb) matches on this field", and its parameters."""
    column = _column(rule_field)
    similar = (
        rule_field.method == DedupeRuleField.Method.SIMILAR
        and rule_field.field not in DedupeRuleField.NOT_SIMILAR
    )
    if rule_field.field in _ARRAY_FIELDS:
        if similar:
            return (
                f"EXISTS (SELECT 1 FROM unnest(pa.{column}) x, unnest(pb.{column}) y "  # noqa: S608
                "WHERE similarity(x, y) >= %s)",
                [rule_field.cutoff],
            )
        return f"pa.{column} && pb.{column}", []
    if rule_field.field == DedupeRuleField.Field.BIRTH_DATE:
        return "pa.birth_date = pb.birth_date", []
    if similar:
        return (
            f"pa.{column} <> '' AND pb.{column} <> '' "
            f"AND similarity(pa.{column}, pb.{column}) >= %s",
            [rule_field.cutoff],
        )
    return f"pa.{column} <> '' AND pa.{column} = pb.{column}", []


def _score_sql(rule: DedupeRule) -> tuple[str, list[Any]]:
    """INSERT into dedupe_found the candidate pairs reaching the rule's threshold."""
    terms, params = [], []
    for rule_field in rule.fields.all():
        condition, condition_params = _match_sql(rule_field)
        terms.append(f"(CASE WHEN {condition} THEN %s ELSE 0 END)")
        params += [*condition_params, rule_field.weight]
    sql = f"""
        INSERT INTO dedupe_found (a, b, score, rule_id)
        SELECT c.a, c.b, s.score, %s
        FROM dedupe_candidate c
        JOIN dedupe_person pa ON pa.id = c.a
        JOIN dedupe_person pb ON pb.id = c.b
        CROSS JOIN LATERAL (SELECT {" + ".join(terms)} AS score) s
        WHERE s.score >= %s
    """  # noqa: S608 (whitelisted columns; values are parameters)
    return sql, [rule.pk, *params, rule.threshold]


_UPSERT_SQL = """
INSERT INTO citizens_duplicatepair (person_a_id, person_b_id, score, rule_id, status, found_at)
SELECT DISTINCT ON (f.a, f.b) f.a, f.b, f.score, f.rule_id, 'open', now()
FROM dedupe_found f
JOIN citizens_person pa ON pa.id = f.a AND pa.blocked_at IS NULL AND pa.merged_into_id IS NULL
JOIN citizens_person pb ON pb.id = f.b AND pb.blocked_at IS NULL AND pb.merged_into_id IS NULL
ORDER BY f.a, f.b, f.score DESC, f.rule_id
ON CONFLICT (person_a_id, person_b_id) DO UPDATE
    SET score = EXCLUDED.score, rule_id = EXCLUDED.rule_id
    WHERE citizens_duplicatepair.status = 'open'
        AND (citizens_duplicatepair.score, citizens_duplicatepair.rule_id)
            IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.rule_id)
"""

_REMOVE_STALE_SQL = """
DELETE FROM citizens_duplicatepair d
WHERE d.status = 'open'
    AND NOT EXISTS (SELECT 1 FROM dedupe_found f WHERE f.a = d.person_a_id AND f.b = d.person_b_id)
"""

_TEMP_TABLES = ("dedupe_found", "dedupe_person", "dedupe_ids", "dedupe_candidate", "dedupe_shared")


@transaction.atomic
def find_duplicates() -> int:
    """Run the active rules over everyone in use; returns how many pairs reach a threshold
    (open, merged or dismissed). Safe to run again: the result is the same."""
    started = time.perf_counter()
    rules = [
        rule
        for rule in DedupeRule.objects.filter(is_active=True).prefetch_related("fields")
        if rule.fields.all()
    ]
    columns = {_column(rule_field) for rule in rules for rule_field in rule.fields.all()}
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:

        def step(name: str, sql: str, params: list[Any] | None = None) -> int:
            began = time.perf_counter()
            cursor.execute(sql, params)
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - began
            return cursor.rowcount

        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCAN_LOCK])
        cursor.execute(f"SET LOCAL work_mem = '{SCAN_WORK_MEM}'")
        # Compiling costs more than it saves here; computing the keys is CPU work worth
        # spreading over every core the server allows (the planner underrates unaccent).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL parallel_setup_cost = 100")
        cursor.execute("SET LOCAL parallel_tuple_cost = 0.001")
        for table in _TEMP_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        step("keys", _SHARED_KEYS_SQL, [MAX_BLOCK])
        cursor.execute("ANALYZE dedupe_shared")
        step("pairs", _CANDIDATES_SQL)
        step(
            "pairs",
            "CREATE TEMP TABLE dedupe_ids AS "
            "SELECT a AS id FROM dedupe_candidate UNION SELECT b FROM dedupe_candidate",
        )
        cursor.execute("ANALYZE dedupe_candidate")
        cursor.execute("ANALYZE dedupe_ids")
        step("people", _people_sql(columns))
        cursor.execute("CREATE UNIQUE INDEX ON dedupe_person (id)")
        cursor.execute("ANALYZE dedupe_person")
        cursor.execute(
            "CREATE TEMP TABLE dedupe_found (a bigint, b bigint, score int, rule_id int)"
        )
        for rule in rules:
            step("scores", *_score_sql(rule))
        cursor.execute("ANALYZE dedupe_found")
        cursor.execute("SELECT count(*) FROM (SELECT DISTINCT a, b FROM dedupe_found) found")
        found = cursor.fetchone()[0]
        upserted = step("save", _UPSERT_SQL)
        removed = step("save", _REMOVE_STALE_SQL)
        for table in _TEMP_TABLES:
            cursor.execute(f"DROP TABLE {table}")
    logger.info(
        "Duplicate scan: %s pairs reach a rule (%s new or rescored, %s stale removed) "
        "in %.1fs (%s)",
        found,
        upserted,
        removed,
        time.perf_counter() - started,
        ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items()),
    )
    return found


# --- Decisions on pairs -------------------------------------------------------------------------


@transaction.atomic
def pair_dismiss(*, pair: DuplicatePair, actor: User | None) -> DuplicatePair:
    """Staff decided the two are different people: the pair is never proposed again."""
    pair = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    if pair.status != DuplicatePair.Status.OPEN:
        raise MergeError(_("This pair has already been decided."))
    pair.status = DuplicatePair.Status.DISMISSED
    pair.decided_by = actor
    pair.decided_at = timezone.now()
    pair.save(update_fields=["status", "decided_by", "decided_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=pair,
        changes={
            "status": {"old": DuplicatePair.Status.OPEN, "new": pair.status},
            "people": [pair.person_a_id, pair.person_b_id],
        },
    )
    return pair


# --- The fields the reviewer chooses --------------------------------------------------------------


@dataclass(frozen=True)
class MergeField:
    """One value the reviewer takes from one person or the other."""

    name: str  # the key of ``choices``: a field name, "document" or "custom:<key>"
    label: str | Promise
    attributes: tuple[str, ...] = ()  # the model fields it sets; custom fields: none
    custom_key: str = ""

    def value(self, person: Person) -> Any:
        if self.custom_key:
            return (person.custom or {}).get(self.custom_key)
        values = tuple(getattr(person, attribute) for attribute in self.attributes)
        return values if len(values) > 1 else values[0]

    def display(self, person: Person, definition: CustomField | None = None) -> str:
        value = self.value(person)
        if _is_empty(value):
            return ""
        if self.custom_key:
            if definition is None:
                return str(value)
            from citizens.forms import custom_display

            return custom_display(definition, value)
        if self.name == "document":
            return f"{person.get_document_type_display()} {person.document_number}".strip()
        if self.name == "birth_date":
            return date_format(value, "SHORT_DATE_FORMAT")
        if self.name in ("sex", "preferred_channel", "preferred_language"):
            return str(getattr(person, f"get_{self.name}_display")())
        if self.name == "tags":
            return ", ".join(value)
        return str(value)


BASE_FIELDS = (
    MergeField("given_name", _("Given name"), ("given_name",)),
    MergeField("first_surname", _("First surname"), ("first_surname",)),
    MergeField("second_surname", _("Second surname"), ("second_surname",)),
    MergeField("document", _("Identity document"), ("document_type", "document_number")),
    MergeField("birth_date", _("Birth date"), ("birth_date",)),
    MergeField("sex", _("Sex"), ("sex",)),
    MergeField("preferred_channel", _("Preferred channel"), ("preferred_channel",)),
    MergeField("preferred_language", _("Preferred language"), ("preferred_language",)),
    MergeField("tags", _("Tags"), ("tags",)),
    MergeField("notes", _("Notes"), ("notes",)),
)


def _is_empty(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_is_empty(item) for item in value)
    return value is None or value == "" or value == [] or value == {}


def merge_fields(*people: Person) -> list[MergeField]:
    """The base fields, then a field per custom value either person has (active definitions
    first, in their order; values of retired definitions after them)."""
    definitions = {
        definition.key: definition
        for definition in CustomField.objects.filter(applies_to=CustomField.Applies.PERSON)
    }
    keys = set().union(*((person.custom or {}).keys() for person in people))
    ordered = sorted(
        keys,
        key=lambda key: (
            key not in definitions or not definitions[key].is_active,
            definitions[key].order if key in definitions else 0,
            key,
        ),
    )
    custom = [
        MergeField(
            f"custom:{key}", definitions[key].label if key in definitions else key, custom_key=key
        )
        for key in ordered
    ]
    return [*BASE_FIELDS, *custom]


def default_side(merge_field: MergeField, survivor: Person, other: Person) -> Side:
    """The survivor's value, unless it is empty and the other person's is not."""
    if _is_empty(merge_field.value(survivor)) and not _is_empty(merge_field.value(other)):
        return "other"
    return "survivor"


# --- Moving what points to the other person -----------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """One way a model points to Person: ``model.<field_name>``, or for a ManyToMany the rows
    of its automatic table (``person_column`` to the person, ``other_column`` to the other
    side)."""

    model: type[models.Model]
    field_name: str
    through: type[models.Model] | None = None
    person_column: str = ""
    other_column: str = ""

    @property
    def many_to_many(self) -> bool:
        return self.through is not None

    @property
    def key(self) -> str:
        suffix = f".{self.field_name}" if self.many_to_many else ""
        return f"{self.model._meta.label_lower}{suffix}"

    @property
    def label(self) -> str:
        """What the rows are, e.g. "interactions", "teams" (memberships of teams)."""
        if self.model is Person:  # Person's own ManyToMany
            return str(Person._meta.get_field(self.field_name).verbose_name)
        return str(self.model._meta.verbose_name_plural)

    def rows(self, person: Person) -> models.QuerySet:
        if self.through is not None:
            return self.through._base_manager.filter(**{self.person_column: person.pk})
        return self.model._base_manager.filter(**{self.field_name: person})


def person_relations() -> list[Relation]:
    """Every model, from any app, that points to Person (hidden relations included)."""
    relations: list[Relation] = []
    for rel in Person._meta.get_fields(include_hidden=True):
        if not rel.is_relation or rel.concrete:
            continue
        related = rel.related_model
        if related._meta.auto_created:
            continue  # an automatic ManyToMany table: handled through its ManyToManyRel
        if rel.many_to_many:
            through = rel.through
            if not through._meta.auto_created:
                continue  # an explicit through model: it has its own ForeignKey to Person
            relations.append(
                Relation(
                    related,
                    rel.field.name,
                    through=through,
                    person_column=f"{rel.field.m2m_reverse_field_name()}_id",
                    other_column=f"{rel.field.m2m_field_name()}_id",
                )
            )
        else:
            relations.append(Relation(related, rel.field.name))
    for forward in Person._meta.many_to_many:  # a ManyToMany declared on Person itself
        through = forward.remote_field.through
        if through._meta.auto_created:
            relations.append(
                Relation(
                    Person,
                    forward.name,
                    through=through,
                    person_column=f"{forward.m2m_field_name()}_id",
                    other_column=f"{forward.m2m_reverse_field_name()}_id",
                )
            )
    return relations


def related_counts(person: Person) -> list[tuple[str, str, int]]:
    """(key, label, count) of every kind of record pointing to the person, for the review page;
    one indexed count per kind."""
    counts = []
    for relation in person_relations():
        if relation.model is DuplicatePair:
            continue
        counts.append((relation.key, relation.label, relation.rows(person).count()))
    return counts


def _move_m2m(relation: Relation, survivor: Person, other: Person) -> int:
    """ManyToMany rows of the other person: dropped where the survivor has the same, else
    re-pointed to the survivor."""
    assert relation.through is not None
    mine, theirs = relation.person_column, relation.other_column
    rows = relation.through._base_manager
    already = rows.filter(**{mine: survivor.pk}).values(theirs)
    rows.filter(**{mine: other.pk, f"{theirs}__in": already}).delete()
    return rows.filter(**{mine: other.pk}).update(**{mine: survivor.pk})


def _move_generic(relation: Relation, survivor: Person, other: Person) -> int:
    try:
        with transaction.atomic():
            return relation.rows(other).update(**{relation.field_name: survivor})
    except IntegrityError as error:
        # A developer's matter: the model needs a merge_people(survivor, other) classmethod.
        logger.error("Merge: %s cannot be moved: %s", relation.key, error)
        raise MergeError(
            _(
                "The %(records)s of these people cannot be moved without breaking a rule of the "
                "database (%(key)s): tell the administrators."
            )
            % {"records": relation.label, "key": relation.key}
        ) from error


def _one_flag(model: type[models.Model], survivor: Person, flag: str) -> None:
    """Exactly one of the survivor's rows carries ``flag`` (the earliest flagged, else the
    earliest row)."""
    rows = model._base_manager.filter(person=survivor).order_by("-" + flag, "id")
    first = rows.values_list("pk", flat=True).first()
    if first is None:
        return
    rows.exclude(pk=first).filter(**{flag: True}).update(**{flag: False})
    rows.filter(pk=first).update(**{flag: True})


def _merge_contact_points(
    model: type[models.Model],
    survivor: Person,
    other: Person,
    key: Callable[[Any], Any],
    flag: str,
) -> int:
    """Move the other person's rows the survivor lacks (by ``key``); drop the rest. Labels the
    survivor lacks are taken from the dropped copy."""
    manager = model._base_manager
    kept = {key(row): row for row in manager.filter(person=survivor).order_by("id")}
    survivor_flagged = any(getattr(row, flag) for row in kept.values())
    moved = 0
    for row in manager.filter(person=other).order_by("id"):
        same = kept.get(key(row))
        if same is not None:
            if not same.label and row.label:
                manager.filter(pk=same.pk).update(label=row.label)
            row.delete()
            continue
        updates: dict[str, Any] = {"person": survivor}
        if survivor_flagged:
            updates[flag] = False
        manager.filter(pk=row.pk).update(**updates)
        kept[key(row)] = row
        moved += 1
    _one_flag(model, survivor, flag)
    return moved


def _merge_emails(survivor: Person, other: Person) -> int:
    return _merge_contact_points(
        EmailAddress, survivor, other, lambda row: normalise(row.address), "is_primary"
    )


def _merge_phones(survivor: Person, other: Person) -> int:
    return _merge_contact_points(
        PhoneNumber, survivor, other, lambda row: normalise(row.number), "is_primary"
    )


def _address_key(row: PostalAddress) -> tuple[str, ...]:
    return tuple(
        normalise(getattr(row, name))
        for name in ("street", "number", "extra", "postcode", "municipality", "country")
    )


def _merge_addresses(survivor: Person, other: Person) -> int:
    return _merge_contact_points(PostalAddress, survivor, other, _address_key, "is_notification")


def _merge_relationships(survivor: Person, other: Person) -> int:
    def key(row: Relationship) -> tuple:
        return (row.organization_id, row.role, row.position, row.start_date, row.end_date)

    kept = {key(row) for row in Relationship.objects.filter(person=survivor)}
    moved = 0
    for row in Relationship.objects.filter(person=other):
        if key(row) in kept:
            row.delete()
            continue
        Relationship.objects.filter(pk=row.pk).update(person=survivor)
        kept.add(key(row))
        moved += 1
    return moved


# The citizens module's own models that need more than an update of their foreign key (their
# classes are not changed to carry the hook).
_BUILT_IN_MERGERS: dict[type[models.Model], Callable[[Person, Person], int]] = {
    EmailAddress: _merge_emails,
    PhoneNumber: _merge_phones,
    PostalAddress: _merge_addresses,
    Relationship: _merge_relationships,
}


def _move_related(survivor: Person, other: Person) -> dict[str, int]:
    moved: dict[str, int] = {}
    hooked: set[type[models.Model]] = set()
    for relation in person_relations():
        hook = getattr(relation.model, "merge_people", None)
        if relation.many_to_many:
            moved[relation.key] = _move_m2m(relation, survivor, other)
        elif callable(hook):
            if relation.model not in hooked:
                hooked.add(relation.model)
                moved[relation.key] = hook(survivor, other)
        elif relation.model in _BUILT_IN_MERGERS:
            moved[relation.key] = _BUILT_IN_MERGERS[relation.model](survivor, other)
        else:
            key = relation.key
            moved[key] = moved.get(key, 0) + _move_generic(relation, survivor, other)
    return moved


# --- The merge --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeResult:
    survivor: Person
    other: Person
    taken: list[str] = field(default_factory=list)  # fields whose value came from the other
    moved: dict[str, int] = field(default_factory=dict)  # relation key -> rows moved


def _locked_pair(survivor: Person, other: Person) -> tuple[Person, Person]:
    if survivor.pk == other.pk:
        raise MergeError(_("A person cannot be merged with themself."))
    # In id order, so two merges touching the same people cannot deadlock.
    locked = {
        person.pk: person
        for person in Person.objects.select_for_update()
        .filter(pk__in=[survivor.pk, other.pk])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise MergeError(_("One of the two people does not exist."))
    survivor, other = locked[survivor.pk], locked[other.pk]
    for person in (survivor, other):
        if person.blocked_at:
            raise MergeError(
                _("Person %(id)s is blocked (erased): it cannot be merged.") % {"id": person.pk}
            )
        if person.merged_into_id:
            raise MergeError(
                _("Person %(id)s was already merged into another one.") % {"id": person.pk}
            )
    return survivor, other


def _iter_choices(
    fields: list[MergeField], choices: Mapping[str, Side], survivor: Person, other: Person
) -> Iterator[tuple[MergeField, Side]]:
    known = {merge_field.name for merge_field in fields}
    unknown = set(choices) - known
    if unknown:
        raise MergeError(f"Unknown fields to merge: {sorted(unknown)}")
    for merge_field in fields:
        side = choices.get(merge_field.name) or default_side(merge_field, survivor, other)
        if side not in ("survivor", "other"):
            raise MergeError(f"{merge_field.name}: choose 'survivor' or 'other', not {side!r}.")
        yield merge_field, side


@transaction.atomic
def person_merge(
    *,
    survivor: Person,
    other: Person,
    choices: Mapping[str, Side],
    actor: User | None,
) -> MergeResult:
    """Merge ``other`` into ``survivor``: the survivor takes the chosen values (``choices``:
    field name -> "survivor" or "other"; a field left out keeps the survivor's value unless it
    is empty) and everything that pointed to the other person; the other one is kept, marked
    as merged into the survivor. A processing restriction of either person stays on the
    survivor. One audit event on each person."""
    survivor, other = _locked_pair(survivor, other)
    fields = merge_fields(survivor, other)
    taken: list[str] = []
    custom = dict(survivor.custom or {})
    for merge_field, side in _iter_choices(fields, choices, survivor, other):
        if side == "survivor" or merge_field.value(survivor) == merge_field.value(other):
            continue
        taken.append(merge_field.name)
        if merge_field.custom_key:
            value = merge_field.value(other)
            if value is None:
                custom.pop(merge_field.custom_key, None)
            else:
                custom[merge_field.custom_key] = value
            continue
        for attribute in merge_field.attributes:
            setattr(survivor, attribute, getattr(other, attribute))
    survivor.custom = custom
    if "document" in taken and other.document_number:
        # The document is unique: the other record lets go of it first.
        Person.objects.filter(pk=other.pk).update(document_type="", document_number="")
        other.document_type, other.document_number = "", ""
    if other.restricted_at and not survivor.restricted_at:
        survivor.restricted_at = other.restricted_at
    survivor.updated_at = timezone.now()
    survivor.full_clean(exclude=["search_text", "municipalities"], validate_unique=False)
    survivor.save()

    moved = _move_related(survivor, other)

    Person.objects.filter(merged_into_id=other.pk).update(merged_into_id=survivor.pk)
    other.merged_into_id = survivor.pk
    other.search_text = ""
    other.municipalities = []
    other.updated_at = timezone.now()
    other.save(update_fields=["merged_into_id", "search_text", "municipalities", "updated_at"])
    refresh_search_text(survivor)

    low, high = sorted((survivor.pk, other.pk))
    DuplicatePair.objects.update_or_create(
        person_a_id=low,
        person_b_id=high,
        defaults={
            "status": DuplicatePair.Status.MERGED,
            "decided_by": actor,
            "decided_at": timezone.now(),
        },
        create_defaults={
            "score": 0,
            "status": DuplicatePair.Status.MERGED,
            "decided_by": actor,
            "decided_at": timezone.now(),
        },
    )

    counts = {key: count for key, count in moved.items() if count}
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=survivor,
        changes={"merge": {"merged": other.pk, "fields_taken": taken, "moved": counts}},
    )
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=other,
        changes={"merge": {"merged_into": survivor.pk, "fields_taken": taken, "moved": counts}},
    )
    return MergeResult(survivor=survivor, other=other, taken=taken, moved=counts)


def open_pairs() -> models.QuerySet[DuplicatePair]:
    """The review queue: open pairs of two people still in use."""
    return DuplicatePair.objects.filter(
        Q(status=DuplicatePair.Status.OPEN),
        person_a__blocked_at__isnull=True,
        person_a__merged_into_id__isnull=True,
        person_b__blocked_at__isnull=True,
        person_b__merged_into_id__isnull=True,
    )
