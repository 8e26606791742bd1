"""Every write on cases: filing (from the public site or by staff for any channel), the
workflow's transitions, tasks, comments and the answer.

Each service is atomic, checks that the actor may do it (``CaseActionDenied`` otherwise: the
views answer 403), records a ``CaseEntry`` in the case's history and writes the audit trail.
Emails and documents (receipt, answer) are produced by cases.tasks after the commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from citizens.models import Channel, Organization, Person, Relationship
from citizens.services import (
    AddressInput,
    Contacts,
    EmailInput,
    PhoneInput,
    interaction_log,
    organization_create,
    person_create,
    relationship_add,
)
from citizens.services import (
    find_person as citizens_find_person,
)
from citizens.validation import clean_document, clean_phone, clean_tax_id
from crm.audit import hold_chain_lock, log_event
from crm.calendar import BusinessCalendar
from crm.models import AuditAction, Unit, User, unit_ids_for_user
from crm.registry import next_registry_number

from .clock import case_calendar, filing_date, refresh_clock
from .models import (
    CITIZEN_REPLY_DAYS,
    OPEN_STATUSES,
    Case,
    CaseAttachment,
    CaseEntry,
    CaseStatus,
    CaseSuspension,
    CaseTask,
    CaseType,
    EntryKind,
    Hearing,
    SavedView,
    SubjectArea,
)

if TYPE_CHECKING:
    from campaigns.models import Campaign

TRACKING_SALT = "cases.tracking"
TRACKING_SECRET_LENGTH = 12  # base32: 60 bits, typed from paper


class CaseActionDenied(PermissionDenied):
    """The actor may not do this to this case (a 403 in the views)."""


class InvalidTransition(ValidationError):
    """The case's status does not allow this action now."""


# --- Who may do what ------------------------------------------------------------------------


def _is_admin(user: User | None) -> bool:
    return bool(user and user.is_authenticated and user.is_superuser)


def can_handle(user: User | None, case: Case) -> bool:
    """Handle the case: work on it, ask the citizen, answer, close. Case handlers of its units."""
    if user is None or not user.is_authenticated:
        return False
    if _is_admin(user):
        return True
    if not user.has_perm("cases.manage"):
        return False
    units = unit_ids_for_user(user)
    return case.unit_id in units or case.assignee_id == user.pk


def can_assign(user: User | None, case: Case) -> bool:
    """Route the case to a unit and handler: citizen service (any case) or its unit's handlers."""
    if user is None or not user.is_authenticated:
        return False
    return _is_admin(user) or user.has_perm("cases.register") or can_handle(user, case)


def can_register(user: User | None, unit: Unit | None = None) -> bool:
    """Register a filing made through another channel: citizen service for any unit, case
    handlers for their own units."""
    if user is None or not user.is_authenticated:
        return False
    if _is_admin(user) or user.has_perm("cases.register"):
        return True
    return user.has_perm("cases.manage") and unit is not None and unit.pk in unit_ids_for_user(user)


def can_comment(user: User | None, case: Case) -> bool:
    """Internal comments: whoever handles the case, or works on one of its tasks."""
    if user is None or not user.is_authenticated:
        return False
    if can_handle(user, case) or can_assign(user, case):
        return True
    units = unit_ids_for_user(user)
    return user.has_perm("cases.manage") and case.tasks.filter(unit_id__in=units).exists()


def _require(allowed: bool) -> None:
    if not allowed:
        raise CaseActionDenied(_("You may not do this to this case."))


def _require_status(case: Case, statuses: Sequence[str]) -> None:
    if case.status not in statuses:
        raise InvalidTransition(
            _("This cannot be done to a case that is %(status)s.")
            % {"status": case.get_status_display().lower()},
            code="status",
        )


# --- Filing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filer:
    """How the citizen identified themself when filing (as typed; checked by ``clean``)."""

    given_name: str
    first_surname: str = ""
    second_surname: str = ""
    document_type: str = ""
    document_number: str = ""
    email: str = ""
    phone: str = ""
    street: str = ""
    street_number: str = ""
    postcode: str = ""
    municipality: str = ""
    province: str = ""
    country: str = "ES"
    organization_tax_id: str = ""
    organization_name: str = ""

    def cleaned(self) -> Filer:
        """The same with canonical document, tax id, email and phone; ValidationError (by
        field name) for what is wrong."""
        errors: dict[str, Any] = {}
        values = {name: (getattr(self, name) or "").strip() for name in self.__dataclass_fields__}
        if not values["given_name"]:
            errors["given_name"] = _("Write your name.")
        try:
            values["document_number"] = clean_document(
                values["document_type"], values["document_number"]
            )
        except ValidationError as error:
            errors["document_number"] = error
        try:
            values["organization_tax_id"] = clean_tax_id(values["organization_tax_id"])
        except ValidationError as error:
            errors["organization_tax_id"] = error
        try:
            values["phone"] = clean_phone(values["phone"])
        except ValidationError as error:
            errors["phone"] = error
        values["email"] = values["email"].lower()
        if not values["email"] and not values["phone"] and not values["street"]:
            errors["email"] = _("Give an email, a phone or a postal address to answer you.")
        if errors:
            raise ValidationError(errors)
        return Filer(**values)

    def as_record(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_person(cls, person: Person) -> Filer:
        email = person.emailaddress_set.order_by("-is_primary", "id").first()
        phone = person.phonenumber_set.order_by("-is_primary", "id").first()
        address = person.postaladdress_set.order_by("-is_notification", "id").first()
        return cls(
            given_name=person.given_name,
            first_surname=person.first_surname,
            second_surname=person.second_surname,
            document_type=person.document_type,
            document_number=person.document_number,
            email=email.address if email else "",
            phone=phone.number if phone else "",
            street=address.street if address else "",
            street_number=address.number if address else "",
            postcode=address.postcode if address else "",
            municipality=address.municipality if address else "",
            province=address.province if address else "",
            country=address.country if address else "ES",
        )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.first_surname, self.second_surname) if p)


@dataclass(frozen=True)
class Upload:
    """A file already checked and cleaned (cases.uploads): what the case keeps."""

    name: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Filing:
    case: Case
    tracking_secret: str  # shown to the citizen on the receipt page and in the receipt's email
    new_person: bool


def _tracking_secret(registry_number: str, nonce: str, key: str) -> str:
    digest = salted_hmac(
        TRACKING_SALT, f"{registry_number}:{nonce}", secret=key, algorithm="sha256"
    ).digest()
    return base64.b32encode(digest).decode("ascii")[:TRACKING_SECRET_LENGTH]


def tracking_secret(case: Case) -> str:
    """The secret that, with the registry number, opens the case's tracking page. Derived from
    the server's secret key, so the receipt's email can be sent (or sent again) at any time
    while the database holds no secret a leak would reveal."""
    return _tracking_secret(case.registry_number, case.tracking_nonce, settings.SECRET_KEY)


def check_tracking_secret(case: Case, secret: str) -> bool:
    """Whether ``secret`` (as typed: any case, spaces and dashes ignored) is the case's; the
    previous secret keys (``SECRET_KEY_FALLBACKS``) still open cases filed before a rotation."""
    typed = "".join(ch for ch in (secret or "").upper() if ch.isalnum())
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(
        hmac.compare_digest(_tracking_secret(case.registry_number, case.tracking_nonce, key), typed)
        for key in keys
    )


def display_secret(secret: str) -> str:
    """``ABCDEFGHJKLM`` → ``ABCD-EFGH-JKLM``."""
    return "-".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def find_person(filer: Filer) -> Person | None:
    """The person this filer already is (citizens.services.find_person)."""
    return citizens_find_person(
        document_number=filer.document_number,
        document_type=filer.document_type,
        email=filer.email,
    )


def _new_person(filer: Filer, *, actor: User | None, language: str) -> Person:
    address = (
        [
            AddressInput(
                street=filer.street,
                number=filer.street_number,
                postcode=filer.postcode,
                municipality=filer.municipality,
                province=filer.province,
                country=filer.country or "ES",
                is_notification=True,
            )
        ]
        if filer.street and filer.municipality
        else []
    )
    return person_create(
        actor=actor,
        given_name=filer.given_name,
        first_surname=filer.first_surname,
        second_surname=filer.second_surname,
        document_type=filer.document_type if filer.document_number else "",
        document_number=filer.document_number,
        preferred_language=language,
        contacts=Contacts(
            emails=[EmailInput(address=filer.email, is_primary=True)] if filer.email else [],
            phones=[PhoneInput(number=filer.phone, is_primary=True)] if filer.phone else [],
            addresses=address,
        ),
    )


def _organization(filer: Filer, person: Person, *, actor: User | None) -> Organization | None:
    if not filer.organization_tax_id:
        return None
    organization = Organization.objects.in_use().filter(tax_id=filer.organization_tax_id).first()
    if organization is None:
        organization = organization_create(
            actor=actor,
            name=filer.organization_name or filer.organization_tax_id,
            tax_id=filer.organization_tax_id,
        )
    if not organization.relationships.filter(person=person).exists():
        relationship_add(
            person=person,
            organization=organization,
            role=Relationship.Role.CONTACT,
            actor=actor,
        )
    return organization


def _save_uploads(case: Case, uploads: Sequence[Upload], *, entry: CaseEntry | None, staff: bool):
    for upload in uploads:
        digest = hashlib.sha256(upload.content).hexdigest()
        attachment = CaseAttachment(
            case=case,
            entry=entry,
            name=upload.name[:200],
            content_type=upload.content_type,
            size=len(upload.content),
            sha256=digest,
            from_citizen=not staff,
        )
        attachment.file.save(upload.name, ContentFile(upload.content), save=False)
        attachment.save()


@transaction.atomic
def case_file(
    *,
    case_type: CaseType,
    filer: Filer,
    subject: str,
    text: str,
    channel: str = Channel.WEB_FORM,
    subject_area: SubjectArea | None = None,
    language: str = "es",
    place_address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    hearing: Hearing | None = None,
    uploads: Sequence[Upload] = (),
    person: Person | None = None,
    unit: Unit | None = None,
    actor: User | None = None,
    filed_at: datetime | None = None,
    campaign: Campaign | None = None,
) -> Filing:
    """Register a filing: match or create the citizen, give the case its registry number and
    official time, start its clock, keep its files, put it in the citizen's timeline, and (after
    the commit) issue the receipt and email it.

    ``actor`` is None for a filing on the public site, or the member of staff registering one
    made in person, by phone, letter, email or social network (``channel``); staff may pass the
    ``person`` they picked instead of a filer to match.
    """
    if channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}")
    if actor is not None:
        _require(can_register(actor, unit))
    if (
        hearing is not None
        and not Hearing.objects.open_on(timezone.localdate()).filter(pk=hearing.pk).exists()
    ):
        raise ValidationError({"hearing": _("This public hearing is closed.")})
    filer = filer.cleaned()
    unit = unit or (subject_area.unit if subject_area else None) or case_type.default_unit
    calendar = BusinessCalendar(citizen_municipality=filer.municipality or None)
    # The case is built and checked before the first write: the checks' queries (references,
    # constraints) run before the audit chain's lock, which the first audited write takes.
    case = Case(
        filed_at=filed_at or timezone.now(),
        channel=channel,
        tracking_nonce=secrets.token_hex(16),
        case_type=case_type,
        subject_area=subject_area,
        filer=filer.as_record(),
        subject=subject.strip()[:200],
        text=text.strip(),
        language=language,
        place_address=place_address.strip(),
        latitude=latitude,
        longitude=longitude,
        hearing=hearing,
        campaign=campaign,
        unit=unit,
        registered_by=actor,
        deadline_days=case_type.deadline_days,
    )
    case.official_filed_at = calendar.official_filing_time(case.filed_at)
    refresh_clock(case, calendar)
    case.full_clean(
        exclude=["tracking_nonce", "registry_number", "filer", "person", "organization"]
    )
    new_person = False
    if person is None:
        person = find_person(filer)
        if person is None:
            person = _new_person(filer, actor=actor, language=language)
            new_person = True
    organization = _organization(filer, person, actor=actor)
    case.person, case.organization = person, organization

    # From here the transaction holds the audit chain's lock (from the new person's audit event,
    # or taken now), then the series' counter: keep it short. The number is taken last, right
    # before the rows that carry it; the filing's time is the number's, unless given.
    hold_chain_lock()
    number = next_registry_number(series=case_type.series, year=calendar.today().year)
    case.registry_number = number.formatted
    if filed_at is None and number.registered_at is not None:
        case.filed_at = number.registered_at
        case.official_filed_at = calendar.official_filing_time(case.filed_at)
        refresh_clock(case, calendar)
    filed_at = case.filed_at
    case.save(force_insert=True)
    entry = CaseEntry.objects.create(
        case=case,
        kind=EntryKind.FILED,
        public=True,
        actor=actor,
        to_status=case.status,
        created_at=filed_at,
    )
    _save_uploads(case, uploads, entry=entry, staff=actor is not None)
    interaction_log(
        actor=actor,
        person=person,
        organization=organization,
        channel=channel,
        direction="in",
        subject=f"{case.registry_number} {case_type.label}: {case.subject}"[:200],
        text=case.text[:2000],
        occurred_at=filed_at,
        unit=unit,
        related=case,
    )
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=case,
        changes={
            "registry_number": case.registry_number,
            "type": case_type.code,
            "channel": channel,
            "unit": unit.pk if unit else None,
            "attachments": len(uploads),
        },
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.issue_receipt.delay(case.pk))
    return Filing(case=case, tracking_secret=tracking_secret(case), new_person=new_person)


# --- Workflow ---------------------------------------------------------------------------------


def _lock(case: Case) -> Case:
    """The case's row, locked until the transaction ends, with its current values."""
    return Case.objects.select_for_update().get(pk=case.pk)


def _transition(
    case: Case,
    *,
    to: str,
    actor: User | None,
    kind: str = EntryKind.STATUS,
    text: str = "",
    public: bool = False,
    changes: dict[str, Any] | None = None,
) -> CaseEntry:
    before = case.status
    case.status = to
    case.updated_at = timezone.now()
    case.save()
    entry = CaseEntry.objects.create(
        case=case,
        kind=kind,
        public=public,
        actor=actor,
        text=text,
        from_status=before,
        to_status=to,
    )
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=case,
        changes={"status": [before, to], **(changes or {})},
    )
    return entry


@transaction.atomic
def case_assign(
    *, case: Case, actor: User, unit: Unit, assignee: User | None = None, note: str = ""
) -> Case:
    """Give the case to a unit and, optionally, a handler of it."""
    case = _lock(case)
    _require(can_assign(actor, case))
    _require_status(case, OPEN_STATUSES)
    if assignee is not None and not assignee.has_perm("cases.manage"):
        raise ValidationError({"assignee": _("This person does not handle cases.")})
    if assignee is not None and unit.pk not in unit_ids_for_user(assignee):
        raise ValidationError({"assignee": _("This person does not belong to the unit.")})
    before = {"unit": case.unit_id, "assignee": case.assignee_id}
    case.unit = unit
    case.assignee = assignee
    to = CaseStatus.ASSIGNED if case.status == CaseStatus.RECEIVED else case.status
    who = f"{unit}" + (
        f" · {assignee.get_full_name() or assignee.get_username()}" if assignee else ""
    )
    _transition(
        case,
        to=to,
        actor=actor,
        kind=EntryKind.ASSIGNMENT,
        text=(f"{who}\n{note}" if note else who),
        changes={
            "unit": [before["unit"], unit.pk],
            "assignee": [before["assignee"], assignee.pk if assignee else None],
        },
    )
    if assignee is not None and assignee != actor:
        from . import tasks

        transaction.on_commit(lambda: tasks.notify_assignment.delay(case.pk, assignee.pk))
    return case


@transaction.atomic
def case_start(*, case: Case, actor: User) -> Case:
    """The handler starts working on it."""
    case = _lock(case)
    _require(can_handle(actor, case))
    _require_status(case, (CaseStatus.RECEIVED, CaseStatus.ASSIGNED))
    if case.assignee_id is None:
        case.assignee = actor
    _transition(case, to=CaseStatus.IN_PROGRESS, actor=actor)
    return case


@transaction.atomic
def case_comment(*, case: Case, actor: User, text: str) -> CaseEntry:
    """An internal comment: never shown to the citizen."""
    # The case's row first, the audit chain's lock after, as every writer of the case does: a
    # worker issuing its receipt holds the row and waits for the chain (no deadlock).
    case = _lock(case)
    _require(can_comment(actor, case))
    if not text.strip():
        raise ValidationError({"text": _("Write the comment.")})
    entry = CaseEntry.objects.create(
        case=case, kind=EntryKind.COMMENT, actor=actor, text=text.strip()
    )
    log_event(actor=actor, action=AuditAction.UPDATE, obj=case, changes={"comment": entry.pk})
    return entry


@transaction.atomic
def case_request_information(
    *, case: Case, actor: User, text: str, today: date | None = None
) -> CaseEntry:
    """Ask the citizen for more information: the clock stops from today (which still counts)
    and the citizen has ``CITIZEN_REPLY_DAYS`` business days to reply through the tracking
    page."""
    case = _lock(case)
    _require(can_handle(actor, case))
    _require_status(case, (CaseStatus.RECEIVED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS))
    if not text.strip():
        raise ValidationError({"text": _("Say what information the citizen must give.")})
    calendar = case_calendar(case)
    # A request made before the filing's official date (a Sunday filing handled on Sunday)
    # suspends from that date: the term had not started yet.
    today = max(today or calendar.today(), filing_date(case, calendar))
    CaseSuspension.objects.create(
        case=case, started_on=today, reason=str(_("More information requested"))
    )
    case.reply_due_date = calendar.add_business_days(today, CITIZEN_REPLY_DAYS)
    refresh_clock(case, calendar)
    entry = _transition(
        case,
        to=CaseStatus.WAITING,
        actor=actor,
        kind=EntryKind.INFORMATION_REQUEST,
        text=text.strip(),
        public=True,
        changes={"reply_due_date": case.reply_due_date},
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.notify_information_request.delay(case.pk, entry.pk))
    return entry


def _resume(case: Case, *, ended_on: date, calendar: BusinessCalendar) -> None:
    for suspension in CaseSuspension.objects.filter(case=case, ended_on__isnull=True):
        suspension.ended_on = max(ended_on, suspension.started_on)
        suspension.save(update_fields=["ended_on"])
    case.reply_due_date = None
    refresh_clock(case, calendar)


def _in_timeline(
    case: Case, *, actor: User | None, channel: str, direction: str, what: str, text: str
) -> None:
    """A contact about the case in its citizen's timeline (the 360° page)."""
    if case.person_id:
        interaction_log(
            actor=actor,
            person=case.person,
            organization=case.organization,
            channel=channel,
            direction=direction,
            subject=f"{case.registry_number}: {what}"[:200],
            text=text[:2000],
            unit=case.unit,
            related=case,
        )


@transaction.atomic
def case_citizen_reply(
    *, case: Case, text: str, uploads: Sequence[Upload] = (), today: date | None = None
) -> CaseEntry:
    """The citizen's reply through the tracking page: the clock runs again from the day after."""
    case = _lock(case)
    _require_status(case, (CaseStatus.WAITING,))
    if not text.strip() and not uploads:
        raise ValidationError({"text": _("Write your reply or attach a file.")})
    calendar = case_calendar(case)
    today = today or calendar.today()
    _resume(case, ended_on=today, calendar=calendar)
    entry = _transition(
        case,
        to=CaseStatus.IN_PROGRESS,
        actor=None,
        kind=EntryKind.CITIZEN_REPLY,
        text=text.strip(),
        public=True,
        changes={"attachments": len(uploads)},
    )
    _save_uploads(case, uploads, entry=entry, staff=False)
    _in_timeline(
        case,
        actor=None,
        channel=Channel.WEB_FORM,
        direction="in",
        what=_("reply to a request for information"),
        text=entry.text,
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.notify_citizen_reply.delay(case.pk))
    return entry


@transaction.atomic
def case_resume_unanswered(*, case: Case, today: date | None = None) -> bool:
    """The citizen did not reply within their term: the clock runs again from the day after
    the term ended and the handler decides (beat calls this; False when nothing was due)."""
    case = _lock(case)
    calendar = case_calendar(case)
    today = today or calendar.today()
    if case.status != CaseStatus.WAITING or not case.reply_due_date or case.reply_due_date >= today:
        return False
    _resume(case, ended_on=case.reply_due_date, calendar=calendar)
    _transition(
        case,
        to=CaseStatus.IN_PROGRESS,
        actor=None,
        text=str(_("The citizen did not reply within the term.")),
    )
    return True


def answer_timing(
    calendar: BusinessCalendar,
    *,
    filed_on: date,
    answered_on: date,
    deadline_days: int,
    suspensions: Sequence[tuple[date, date | None]] = (),
) -> tuple[int, bool]:
    """Business days taken to answer (after the official filing date up to the answer date,
    the days the clock was stopped left out) and whether the answer came by the due date.

    A suspension still open on the answer date counts as ended that day. An answer on a
    non-business day after the last day of the term is late even though it adds no business
    day; an answer before the official filing date (a Sunday filing answered that Sunday)
    took 0 days."""
    periods = [
        (max(begin, filed_on), max(begin, filed_on, end or answered_on))
        for begin, end in suspensions
    ]
    if periods:
        days = calendar.business_days_counted(filed_on, answered_on, periods)
    else:  # the usual case: by whole weeks, not day by day
        days = max(0, calendar.business_days_between(filed_on, answered_on))
    due = calendar.deadline(filed_on, deadline_days, periods)
    return days, due is not None and answered_on <= due


@transaction.atomic
def case_answer(*, case: Case, actor: User, text: str) -> Case:
    """Send the public answer: the case is answered now (for the statistics) and, after the
    commit, the citizen gets the answer document (PDF with its own verification code)."""
    case = _lock(case)
    _require(can_handle(actor, case))
    _require_status(case, (CaseStatus.RECEIVED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS))
    if not text.strip():
        raise ValidationError({"text": _("Write the answer.")})
    case.public_answer = text.strip()
    case.answered_at = timezone.now()
    calendar = case_calendar(case)
    case.answer_days, case.answered_on_time = answer_timing(
        calendar,
        filed_on=filing_date(case, calendar),
        answered_on=case.answered_at.astimezone(calendar.time_zone).date(),
        deadline_days=case.deadline_days,
        suspensions=[(s.started_on, s.ended_on) for s in case.suspensions.all()],
    )
    if case.assignee_id is None:
        case.assignee = actor
    _transition(
        case,
        to=CaseStatus.ANSWERED,
        actor=actor,
        kind=EntryKind.ANSWER,
        text=case.public_answer,
        public=True,
        changes={
            "answered_at": case.answered_at,
            "answer_days": case.answer_days,
            "answered_on_time": case.answered_on_time,
        },
    )
    _in_timeline(
        case,
        actor=actor,
        channel=Channel.EMAIL,
        direction="out",
        what=_("answer"),
        text=case.public_answer,
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.issue_answer.delay(case.pk))
    return case


@transaction.atomic
def case_close(*, case: Case, actor: User) -> Case:
    case = _lock(case)
    _require(can_handle(actor, case))
    _require_status(case, (CaseStatus.ANSWERED,))
    case.closed_at = timezone.now()
    _transition(case, to=CaseStatus.CLOSED, actor=actor)
    return case


def _end(case: Case, *, to: str, actor: User, text: str, changes: dict[str, Any]) -> Case:
    _require(can_handle(actor, case))
    _require_status(case, OPEN_STATUSES)
    if not text.strip():
        raise ValidationError({"text": _("Give the reason.")})
    if case.status == CaseStatus.WAITING:
        calendar = case_calendar(case)
        _resume(case, ended_on=calendar.today(), calendar=calendar)
    case.closed_at = timezone.now()
    _transition(case, to=to, actor=actor, text=text.strip(), public=True, changes=changes)
    return case


@transaction.atomic
def case_reject(*, case: Case, actor: User, reason: str) -> Case:
    """Not admissible (e.g. anonymous, or not a matter of this body): said to the citizen."""
    return _end(_lock(case), to=CaseStatus.REJECTED, actor=actor, text=reason, changes={})


@transaction.atomic
def case_mark_duplicate(*, case: Case, actor: User, original: Case, note: str = "") -> Case:
    case = _lock(case)
    if original.pk == case.pk:
        raise ValidationError({"original": _("A case cannot duplicate itself.")})
    case.duplicate_of = original
    text = note.strip() or str(
        _("Same matter as %(number)s.") % {"number": original.registry_number}
    )
    return _end(
        case,
        to=CaseStatus.DUPLICATE,
        actor=actor,
        text=text,
        changes={"duplicate_of": original.pk},
    )


@transaction.atomic
def case_forward(*, case: Case, actor: User, administration: str, note: str = "") -> Case:
    """Sent to the administration it belongs to (Ley 39/2015 art. 16.4): said to the citizen."""
    case = _lock(case)
    if not administration.strip():
        raise ValidationError({"administration": _("Say which administration.")})
    case.forwarded_to = administration.strip()[:200]
    text = note.strip() or str(_("Forwarded to %(to)s.") % {"to": case.forwarded_to})
    return _end(
        case,
        to=CaseStatus.FORWARDED,
        actor=actor,
        text=text,
        changes={"forwarded_to": case.forwarded_to},
    )


# --- Tasks for other units ---------------------------------------------------------------------


@transaction.atomic
def case_task_add(
    *, case: Case, actor: User, unit: Unit, description: str, assignee: User | None = None
) -> CaseTask:
    """Involve another unit: it gets a task and sees the case."""
    case = _lock(case)  # the row before the audit chain's lock (see case_comment)
    _require(can_handle(actor, case) or can_assign(actor, case))
    _require_status(case, OPEN_STATUSES)
    if not description.strip():
        raise ValidationError({"description": _("Say what the unit has to do.")})
    task = CaseTask.objects.create(
        case=case, unit=unit, assignee=assignee, description=description.strip(), created_by=actor
    )
    CaseEntry.objects.create(
        case=case, kind=EntryKind.TASK, actor=actor, text=f"{unit}: {task.description}"
    )
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=task,
        changes={"case": case.pk, "unit": unit.pk},
    )
    return task


@transaction.atomic
def case_task_complete(*, task: CaseTask, actor: User, outcome: str) -> CaseTask:
    task = CaseTask.objects.select_for_update().get(pk=task.pk)
    task.case = _lock(task.case)  # the row before the audit chain's lock (see case_comment)
    units = unit_ids_for_user(actor)
    _require(
        _is_admin(actor)
        or (
            actor.has_perm("cases.manage")
            and (task.unit_id in units or can_handle(actor, task.case))
        )
    )
    if task.done_at is not None:
        raise InvalidTransition(_("This task is already done."), code="done")
    task.done_at = timezone.now()
    task.outcome = outcome.strip()
    task.save()
    CaseEntry.objects.create(
        case=task.case,
        kind=EntryKind.TASK,
        actor=actor,
        text=f"{task.unit}: {_('done')}. {task.outcome}".strip(),
    )
    log_event(actor=actor, action=AuditAction.UPDATE, obj=task, changes={"done": True})
    return task


# --- Reads and the queue's saved views -----------------------------------------------------------


def case_read(
    *, actor: User, case: Case, what: str = "detail", details: dict[str, Any] | None = None
) -> None:
    """A member of staff saw a case (the citizen's personal data in it) or one of its files or
    documents (ENS op.exp.8): the case page, every download."""
    log_event(
        actor=actor, action=AuditAction.READ, obj=case, changes={"what": what, **(details or {})}
    )


@transaction.atomic
def saved_view_save(*, user: User, name: str, query: str) -> SavedView:
    """Keep the queue's filters (``query``, a query string) under a name of the user's; the
    same name again replaces what it held."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": _("Give the view a name.")})
    if not query:
        raise ValidationError({"name": _("Choose some filters before saving them as a view.")})
    field = SavedView._meta.get_field("query")
    if len(query) > field.max_length:
        raise ValidationError({"name": _("These filters are too long to be saved.")})
    view, created = SavedView.objects.update_or_create(
        user=user, name=name[:100], defaults={"query": query}
    )
    log_event(
        actor=user,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        obj=view,
        changes={"name": view.name, "query": query},
    )
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor: User) -> None:
    """Remove one of the user's own saved views."""
    if view.user_id != actor.pk:
        raise CaseActionDenied(_("This view is not yours."))
    log_event(actor=actor, action=AuditAction.DELETE, obj=view, changes={"name": view.name})
    view.delete()
