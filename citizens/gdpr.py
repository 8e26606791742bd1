"""Consent and data-subject rights (GDPR / LOPDGDD).

- Consent per purpose is a history of statements with date, source, text version and proof;
  the current state is the latest statement.
- Every request (access, rectification, erasure, restriction, portability, objection) is recorded
  with its deadline: one month from receipt (art. 12.3 GDPR).
- Erasure blocks: the personal data is copied apart (``BlockedData``, readable only by the data
  protection officer until ``keep_until``) and the person is pseudonymised, so the audit trail
  and the statistics (interactions by channel and date, cases) stay intact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from citizens.models import (
    BlockedData,
    Consent,
    ConsentPurpose,
    DataSubjectRequest,
    EmailAddress,
    Interaction,
    Person,
    PhoneNumber,
    PostalAddress,
)
from citizens.services import PERSON_FIELDS
from crm.audit import log_event
from crm.models import AuditAction, User

BLOCKED_NAME = "Persona bloqueada"

# Other modules add what they hold about a person to the export: name -> callable(person) -> data.
EXPORT_SECTIONS: dict[str, Callable[[Person], Any]] = {}


def register_export_section(name: str, build: Callable[[Person], Any]) -> None:
    EXPORT_SECTIONS[name] = build


# Other modules clear what they hold about a person being blocked, after the blocked copy (which
# has their export sections) is kept: name -> callable(person), in the blocking transaction.
BLOCK_STEPS: dict[str, Callable[[Person], None]] = {}


def register_block_step(name: str, clear: Callable[[Person], None]) -> None:
    BLOCK_STEPS[name] = clear


# --- Consent --------------------------------------------------------------------------------


@transaction.atomic
def consent_record(
    *,
    person: Person,
    purpose: ConsentPurpose,
    granted: bool,
    source: str,
    actor: User | None,
    evidence: str = "",
    stated_at: datetime | None = None,
) -> Consent:
    """A person gives or withdraws consent to a purpose; the text version is the purpose's."""
    if person.blocked_at:
        raise ValueError("A blocked person's consents cannot change.")
    consent = Consent.objects.create(
        person=person,
        purpose=purpose,
        granted=granted,
        source=source,
        text_version=purpose.version,
        evidence=evidence,
        stated_at=stated_at or timezone.now(),
        recorded_by=actor,
    )
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=consent,
        changes={"person": person.pk, "purpose": purpose.code, "granted": granted},
    )
    return consent


def current_consents(person: Person) -> list[Consent]:
    """The latest statement for each purpose the person has spoken about."""
    return list(
        Consent.objects.filter(person=person)
        .order_by("purpose_id", "-stated_at", "-id")
        .distinct("purpose_id")
        .select_related("purpose")
    )


def consenting_people(purpose: ConsentPurpose) -> QuerySet[Person]:
    """People whose latest statement about ``purpose`` grants it, not restricted nor blocked."""
    latest = (
        Consent.objects.filter(purpose=purpose)
        .order_by("person_id", "-stated_at", "-id")
        .distinct("person_id")
    )
    granted_ids = Consent.objects.filter(pk__in=latest.values("pk"), granted=True).values(
        "person_id"
    )
    return Person.objects.in_use().filter(restricted_at__isnull=True, pk__in=granted_ids)


# --- Requests -------------------------------------------------------------------------------


def due_date_for(received_at: datetime) -> date:
    return (timezone.localtime(received_at) + relativedelta(months=1)).date()


@transaction.atomic
def data_request_open(
    *,
    person: Person,
    kind: str,
    actor: User | None,
    details: str = "",
    received_at: datetime | None = None,
) -> DataSubjectRequest:
    received_at = received_at or timezone.now()
    request = DataSubjectRequest.objects.create(
        person=person,
        kind=kind,
        details=details,
        received_at=received_at,
        due_date=due_date_for(received_at),
        handled_by=actor,
    )
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=request,
        changes={"person": person.pk, "kind": kind, "due": request.due_date},
    )
    return request


@transaction.atomic
def data_request_close(
    *, request: DataSubjectRequest, status: str, resolution: str, actor: User | None
) -> DataSubjectRequest:
    if status not in (DataSubjectRequest.Status.DONE, DataSubjectRequest.Status.REJECTED):
        raise ValueError(f"A request closes as done or rejected, not {status!r}")
    request.status = status
    request.resolution = resolution
    request.resolved_at = timezone.now()
    request.handled_by = actor
    request.save(update_fields=["status", "resolution", "resolved_at", "handled_by"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=request,
        changes={"status": {"old": "open", "new": status}},
    )
    return request


# --- Access and portability: everything the CRM holds ----------------------------------------


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def person_export_data(person: Person) -> dict[str, Any]:
    """Everything the CRM holds about a person, as plain JSON-ready data."""
    identity = {
        name: _iso(getattr(person, name))
        for name in ("id", *PERSON_FIELDS, "created_at", "updated_at", "restricted_at")
    }
    data: dict[str, Any] = {
        "generated_at": timezone.now().isoformat(),
        "controller": settings.BODY_NAME,
        "person": identity,
        "emails": list(EmailAddress.objects.filter(person=person).values("address", "label")),
        "phones": list(PhoneNumber.objects.filter(person=person).values("number", "kind")),
        "addresses": list(
            PostalAddress.objects.filter(person=person).values(
                "street",
                "number",
                "extra",
                "postcode",
                "municipality",
                "province",
                "country",
                "is_notification",
            )
        ),
        "relationships": [
            {
                "organization": rel.organization.name,
                "role": rel.role,
                "position": rel.position,
                "start_date": _iso(rel.start_date),
                "end_date": _iso(rel.end_date),
            }
            for rel in person.relationships.select_related("organization")
        ],
        "consents": [
            {
                "purpose": consent.purpose.name,
                "granted": consent.granted,
                "stated_at": consent.stated_at.isoformat(),
                "source": consent.source,
                "text_version": consent.text_version,
                "evidence": consent.evidence,
            }
            for consent in person.consents.select_related("purpose").order_by("stated_at", "id")
        ],
        "interactions": [
            {**row, "occurred_at": row["occurred_at"].isoformat()}
            for row in Interaction.objects.filter(person=person)
            .order_by("occurred_at", "id")
            .values("occurred_at", "channel", "direction", "subject", "text")
        ],
        "data_requests": [
            {
                "kind": request.kind,
                "received_at": request.received_at.isoformat(),
                "due_date": request.due_date.isoformat(),
                "status": request.status,
                "resolution": request.resolution,
            }
            for request in person.data_requests.order_by("received_at")
        ],
    }
    for name, build in EXPORT_SECTIONS.items():
        data[name] = build(person)
    return data


# --- Restriction and erasure ------------------------------------------------------------------


@transaction.atomic
def person_restrict(*, person: Person, actor: User | None, restricted: bool = True) -> Person:
    """Restrict processing (art. 18): the record stays, but campaigns and new processing skip it."""
    old = person.restricted_at
    person.restricted_at = timezone.now() if restricted else None
    person.save(update_fields=["restricted_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=person,
        changes={"restricted": {"old": old is not None, "new": restricted}},
    )
    return person


@transaction.atomic
def person_block(
    *, person: Person, actor: User | None, request: DataSubjectRequest | None = None
) -> Person:
    """Erase by blocking (LOPDGDD art. 32): keep the data apart, pseudonymise the record."""
    person = Person.objects.select_for_update().get(pk=person.pk)
    if person.blocked_at:
        return person
    keep_years = settings.BLOCKED_DATA_KEEP_YEARS
    BlockedData.objects.create(
        person=person,
        data=person_export_data(person),
        keep_until=timezone.localdate() + timedelta(days=round(365.25 * keep_years)),
        request=request,
    )
    for clear in BLOCK_STEPS.values():
        clear(person)
    EmailAddress.objects.filter(person=person).delete()
    PhoneNumber.objects.filter(person=person).delete()
    PostalAddress.objects.filter(person=person).delete()
    # Interactions stay for the statistics (channel, date, unit) without what was said.
    Interaction.objects.filter(person=person).update(subject="—", text="")
    for name, value in {
        "given_name": BLOCKED_NAME,
        "first_surname": "",
        "second_surname": "",
        "document_number": "",
        "document_type": "",
        "birth_date": None,
        "sex": "",
        "notes": "",
        "tags": [],
        "custom": {},
        "search_text": "",
        "municipalities": [],
        "blocked_at": timezone.now(),
    }.items():
        setattr(person, name, value)
    person.save()
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=person,
        changes={"blocked": {"old": False, "new": True}, "request": getattr(request, "pk", None)},
    )
    return person
