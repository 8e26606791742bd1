"""Every write on people, organisations, their contact data and interactions.

Views, forms, imports and other modules call these; each is atomic, keeps ``search_text`` in
step and writes the audit trail. Personal values are masked in the audit's change lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from citizens.models import (
    Channel,
    EmailAddress,
    Interaction,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
    Relationship,
    Team,
)
from citizens.text import build_search_text, municipality_keys
from citizens.validation import clean_document, clean_phone, clean_tax_id
from crm.audit import diff, log_event, object_label
from crm.models import AuditAction, Unit, User

# Values the audit trail records as "changed" without showing them.
PERSONAL_FIELDS = ("document_number", "birth_date", "notes", "sex")

PERSON_FIELDS = (
    "given_name",
    "first_surname",
    "second_surname",
    "document_type",
    "document_number",
    "birth_date",
    "sex",
    "preferred_channel",
    "preferred_language",
    "tags",
    "notes",
    "custom",
)
ORGANIZATION_FIELDS = (
    "name",
    "kind",
    "tax_id",
    "sector",
    "website",
    "preferred_channel",
    "preferred_language",
    "tags",
    "notes",
    "custom",
)


@dataclass(frozen=True)
class EmailInput:
    address: str
    label: str = ""
    is_primary: bool = False


@dataclass(frozen=True)
class PhoneInput:
    number: str  # any format; stored as E.164
    kind: str = PhoneNumber.Kind.MOBILE
    label: str = ""
    is_primary: bool = False


@dataclass(frozen=True)
class AddressInput:
    street: str
    municipality: str
    number: str = ""
    extra: str = ""
    postcode: str = ""
    province: str = ""
    country: str = "ES"
    is_notification: bool = False
    label: str = ""


@dataclass(frozen=True)
class Contacts:
    emails: Sequence[EmailInput] = field(default_factory=tuple)
    phones: Sequence[PhoneInput] = field(default_factory=tuple)
    addresses: Sequence[AddressInput] = field(default_factory=tuple)


def _owner_filter(owner: Person | Organization) -> dict[str, Any]:
    return {"person": owner} if isinstance(owner, Person) else {"organization": owner}


def refresh_search_text(owner: Person | Organization) -> None:
    """Rebuild what search sees of a person or organisation, from its current data: the
    ``search_text`` and the ``municipalities`` of its addresses."""
    where = _owner_filter(owner)
    # In the order they were added (as an import lists them): the same text every time.
    emails = EmailAddress.objects.filter(**where).order_by("id").values_list("address", flat=True)
    phones = PhoneNumber.objects.filter(**where).order_by("id").values_list("number", flat=True)
    if isinstance(owner, Person):
        names = [owner.given_name, owner.first_surname, owner.second_surname]
        documents = [owner.document_number]
    else:
        names, documents = [owner.name], [owner.tax_id]
    text = build_search_text(names=names, documents=documents, emails=emails, phones=phones)
    municipalities = municipality_keys(
        PostalAddress.objects.filter(**where).values_list("municipality", flat=True)
    )
    type(owner).objects.filter(pk=owner.pk).update(search_text=text, municipalities=municipalities)
    owner.search_text = text
    owner.municipalities = municipalities


def find_person(
    *, document_number: str = "", document_type: str = "", email: str = ""
) -> Person | None:
    """The person someone already is, so that a filing, a lead or an import does not duplicate
    them: the same identity document (of that type, when given), else the same email (addresses
    are stored in lower case); the oldest such record in use."""
    people = Person.objects.in_use().order_by("pk")
    if document_number:
        same = people.filter(document_number=document_number)
        found = (same.filter(document_type=document_type) if document_type else same).first()
        if found:
            return found
    if email:
        owner = (
            EmailAddress.objects.filter(
                address=email.strip().lower(),
                person__isnull=False,
                person__blocked_at__isnull=True,
                person__merged_into_id__isnull=True,
            )
            .order_by("person_id")
            .values_list("person_id", flat=True)
            .first()
        )
        if owner:
            return Person.objects.get(pk=owner)
    return None


def _snapshot(obj: models.Model, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _clean_tags(cleaned: dict[str, Any]) -> None:
    if "tags" in cleaned:
        cleaned["tags"] = sorted({tag.strip().lower() for tag in cleaned["tags"] if tag.strip()})


def _clean_person_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    if "document_number" in cleaned or "document_type" in cleaned:
        cleaned["document_number"] = clean_document(
            cleaned.get("document_type", ""), cleaned.get("document_number", "")
        )
    for name in ("given_name", "first_surname", "second_surname"):
        if name in cleaned:
            cleaned[name] = " ".join((cleaned[name] or "").split())
    _clean_tags(cleaned)
    return cleaned


def _clean_organization_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    if "tax_id" in cleaned:
        cleaned["tax_id"] = clean_tax_id(cleaned["tax_id"])
    _clean_tags(cleaned)
    return cleaned


@dataclass(frozen=True)
class _Kind:
    """How the services treat one kind of party (people or organisations)."""

    model: type[Person] | type[Organization]
    fields: tuple[str, ...]
    clean: Callable[[Mapping[str, Any]], dict[str, Any]]
    masked: tuple[str, ...] = ()


PERSON = _Kind(Person, PERSON_FIELDS, _clean_person_fields, PERSONAL_FIELDS)
ORGANIZATION = _Kind(Organization, ORGANIZATION_FIELDS, _clean_organization_fields)


def _checked(kind: _Kind, fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(kind.fields)
    if unknown:
        raise TypeError(f"Unknown {kind.model._meta.model_name} fields: {sorted(unknown)}")
    return kind.clean(fields)


def _party_create(
    kind: _Kind, *, actor: User | None, contacts: Contacts | None, fields: Mapping[str, Any]
) -> Person | Organization:
    cleaned = _checked(kind, fields)
    party = kind.model(created_by=actor, **cleaned)
    party.full_clean(exclude=["search_text"], validate_unique=False)
    party.save()
    _replace_contacts(party, contacts or Contacts())
    refresh_search_text(party)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=party,
        changes=diff({}, _snapshot(party, cleaned), masked=kind.masked),
    )
    return party


def _party_update(
    kind: _Kind,
    party: Person | Organization,
    *,
    actor: User | None,
    contacts: Contacts | None,
    fields: Mapping[str, Any],
) -> Person | Organization:
    cleaned = _checked(kind, fields)
    before = _snapshot(party, cleaned)
    for name, value in cleaned.items():
        setattr(party, name, value)
    party.updated_at = timezone.now()
    party.full_clean(exclude=["search_text"], validate_unique=False)
    party.save()
    changes = diff(before, cleaned, masked=kind.masked)
    if contacts is not None:
        changes.update(_replace_contacts(party, contacts))
    refresh_search_text(party)
    if changes:
        log_event(actor=actor, action=AuditAction.UPDATE, obj=party, changes=changes)
    return party


@transaction.atomic
def person_create(*, actor: User | None, contacts: Contacts | None = None, **fields) -> Person:
    return _party_create(PERSON, actor=actor, contacts=contacts, fields=fields)


@transaction.atomic
def person_update(
    *, person: Person, actor: User | None, contacts: Contacts | None = None, **fields
) -> Person:
    """Change the given fields (and, when given, replace the contact data)."""
    if "document_number" in fields and "document_type" not in fields:
        fields["document_type"] = person.document_type
    return _party_update(PERSON, person, actor=actor, contacts=contacts, fields=fields)


@transaction.atomic
def organization_create(
    *, actor: User | None, contacts: Contacts | None = None, **fields
) -> Organization:
    return _party_create(ORGANIZATION, actor=actor, contacts=contacts, fields=fields)


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    actor: User | None,
    contacts: Contacts | None = None,
    **fields,
) -> Organization:
    return _party_update(ORGANIZATION, organization, actor=actor, contacts=contacts, fields=fields)


def _replace_contacts(owner: Person | Organization, contacts: Contacts) -> dict[str, Any]:
    """Make the owner's emails, phones and addresses exactly these; the audit sees which kinds
    changed, not the values."""
    where = _owner_filter(owner)
    changes: dict[str, Any] = {}

    emails = [
        EmailAddress(
            **where,
            address=email.address.strip().lower(),
            label=email.label,
            is_primary=email.is_primary,
        )
        for email in contacts.emails
        if email.address.strip()
    ]
    phones = [
        PhoneNumber(
            **where,
            number=clean_phone(phone.number),
            kind=phone.kind,
            label=phone.label,
            is_primary=phone.is_primary,
        )
        for phone in contacts.phones
        if phone.number.strip()
    ]
    addresses = [
        PostalAddress(
            **where, **{name: getattr(address, name) for name in address.__dataclass_fields__}
        )
        for address in contacts.addresses
        if address.street.strip()
    ]
    for model, new, key in (
        (EmailAddress, emails, "emails"),
        (PhoneNumber, phones, "phones"),
        (PostalAddress, addresses, "addresses"),
    ):
        _mark_one_primary(new)
        old = list(model.objects.filter(**where))
        if [_contact_key(item) for item in old] == [_contact_key(item) for item in new]:
            continue
        model.objects.filter(**where).delete()
        for item in new:
            item.full_clean(exclude=["person", "organization"])
        model.objects.bulk_create(new)
        changes[key] = {"old": "***" if old else None, "new": "***" if new else None}
    return changes


def _mark_one_primary(items: list) -> None:
    flag = "is_notification" if items and isinstance(items[0], PostalAddress) else "is_primary"
    if items and not any(getattr(item, flag) for item in items):
        setattr(items[0], flag, True)
    seen = False
    for item in items:
        if getattr(item, flag):
            setattr(item, flag, not seen)
            seen = True


def _contact_key(item: models.Model) -> tuple:
    names = [f.name for f in item._meta.concrete_fields if f.name not in ("id",)]
    return tuple(
        getattr(item, f"{name}_id", None)
        if name in ("person", "organization")
        else getattr(item, name)
        for name in names
    )


@transaction.atomic
def relationship_add(
    *,
    person: Person,
    organization: Organization,
    role: str,
    actor: User | None,
    position: str = "",
    start_date: date | None = None,
    end_date: date | None = None,
) -> Relationship:
    relationship = Relationship(
        person=person,
        organization=organization,
        role=role,
        position=position,
        start_date=start_date,
        end_date=end_date,
    )
    relationship.full_clean()
    relationship.save()
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=relationship,
        changes={"person": person.pk, "organization": organization.pk, "role": role},
    )
    return relationship


@transaction.atomic
def interaction_log(
    *,
    actor: User | None,
    channel: str,
    direction: str,
    subject: str,
    person: Person | None = None,
    organization: Organization | None = None,
    text: str = "",
    occurred_at: datetime | None = None,
    unit: Unit | None = None,
    related: models.Model | None = None,
) -> Interaction:
    """Record a contact in the timeline; ``related`` is the case, campaign or opportunity."""
    if channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}")
    interaction = Interaction(
        person=person,
        organization=organization,
        channel=channel,
        direction=direction,
        subject=subject,
        text=text,
        occurred_at=occurred_at or timezone.now(),
        staff=actor,
        unit=unit,
        related_type=object_label(related) if related is not None else "",
        related_id=related.pk if related is not None else None,
    )
    interaction.full_clean()
    interaction.save()
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=interaction,
        changes={"person": getattr(person, "pk", None), "channel": channel},
    )
    return interaction


def record_read(*, actor: User, obj: Person | Organization, what: str = "detail") -> None:
    """A member of staff saw a citizen's personal data (ENS op.exp.8): on every 360° page,
    export and download of one person's data."""
    log_event(actor=actor, action=AuditAction.READ, obj=obj, changes={"what": what})


# --- Teams inside organisations ----------------------------------------------------------------


@transaction.atomic
def team_create(*, organization: Organization, name: str, actor: User | None) -> Team:
    """A new team (board, department...) inside an organisation."""
    team = Team(organization=organization, name=" ".join(name.split()))
    team.full_clean()
    team.save()
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=team,
        changes={"organization": organization.pk, "name": team.name},
    )
    return team


@transaction.atomic
def team_member_add(*, team: Team, person: Person, actor: User | None) -> bool:
    """Make the person a member of the team; False when they already were."""
    if team.members.filter(pk=person.pk).exists():
        return False
    team.members.add(person)
    log_event(
        actor=actor, action=AuditAction.UPDATE, obj=team, changes={"members": {"added": person.pk}}
    )
    return True


@transaction.atomic
def team_member_remove(*, team: Team, person: Person, actor: User | None) -> bool:
    """Take the person out of the team; False when they were not a member."""
    if not team.members.filter(pk=person.pk).exists():
        return False
    team.members.remove(person)
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=team,
        changes={"members": {"removed": person.pk}},
    )
    return True
