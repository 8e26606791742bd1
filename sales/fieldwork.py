"""Every write of field work: visits (planned, recorded, done, cancelled; their files; the case
or opportunity a visit opens), tasks, meetings and events, and the calendar feed's secret.

Each service is atomic, checks that the actor may do it (``FieldWorkDenied``: the views answer
403), and writes the audit trail. Who may do what:

- plan a visit or a meeting, add a task: ``sales.field_work`` or ``sales.manage``; who holds
  ``sales.manage`` (promotion staff) may assign colleagues of their units, an inspector only
  themself;
- record a visit (checklist, outcome, notes, files), finish or cancel it: its assigned staff,
  or promotion staff of its unit;
- a task: its assignee, its author, or promotion staff of its unit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.services import Upload
from citizens.models import Channel, Interaction, Organization, Person
from citizens.services import interaction_log
from crm.audit import log_event
from crm.models import AuditAction, Membership, Unit, User, unit_ids_for_user

from .models import (
    CalendarFeed,
    ChecklistAnswer,
    Meeting,
    MeetingAttendee,
    Task,
    Visit,
    VisitAssignee,
    VisitFile,
    VisitStatus,
    VisitType,
)
from .models.fieldwork import MAX_DURATION_DAYS

# A visit or a meeting lasts at most this long: the calendar looks this far back for items
# that started before a period and still run in it (one index range, calendar_entries).
MAX_DURATION = timedelta(days=MAX_DURATION_DAYS)
FEED_TOKEN_BYTES = 32


class FieldWorkDenied(PermissionDenied):
    """The actor may not do this (a 403 in the views)."""


def _require(allowed: bool) -> None:
    if not allowed:
        raise FieldWorkDenied(_("You may not do this."))


# --- Who may do what ----------------------------------------------------------------------------


def can_plan(user: User) -> bool:
    return user.is_authenticated and (
        user.is_superuser or user.has_perm("sales.field_work") or user.has_perm("sales.manage")
    )


def manages(user: User) -> bool:
    """Promotion staff: assign colleagues, see and change the field work of their units."""
    return user.is_superuser or user.has_perm("sales.manage")


def colleagues(user: User) -> list[User]:
    """Whom the user may assign work to: themself, and who holds ``sales.manage`` the active
    members of their units (and the units below) who do field work."""
    if not manages(user):
        return [user]
    found = User.objects.filter(is_active=True)
    if not user.is_superuser:
        units = unit_ids_for_user(user)
        members = Membership.objects.filter(unit_id__in=units).values("user_id")
        found = found.filter(pk__in=members)
    found = [
        other
        for other in found.order_by("first_name", "last_name", "username").prefetch_related(
            "groups__permissions", "user_permissions"
        )
        if other.is_superuser
        or other.has_perm("sales.field_work")
        or other.has_perm("sales.manage")
    ]
    if user not in found:
        found.insert(0, user)
    return found


def _in_units(user: User, unit_id: int | None) -> bool:
    return user.is_superuser or (
        manages(user) and unit_id is not None and unit_id in unit_ids_for_user(user)
    )


def can_change_visit(user: User, visit: Visit) -> bool:
    if not user.is_authenticated:
        return False
    if _in_units(user, visit.unit_id):
        return True
    return user.has_perm("sales.field_work") and visit.assignments.filter(user=user).exists()


def can_change_task(user: User, task: Task) -> bool:
    if not user.is_authenticated:
        return False
    if task.assignee_id == user.pk or task.created_by_id == user.pk:
        return can_plan(user)
    return _in_units(user, task.unit_id)


def can_change_meeting(user: User, meeting: Meeting) -> bool:
    if not user.is_authenticated:
        return False
    return (meeting.organizer_id == user.pk and can_plan(user)) or _in_units(user, meeting.unit_id)


def _check_staff(actor: User, people: Iterable[User], field: str) -> list[User]:
    chosen = list(dict.fromkeys(people))
    allowed = {other.pk for other in colleagues(actor)}
    if any(other.pk not in allowed for other in chosen):
        raise ValidationError({field: _("You may only assign colleagues of your units.")})
    return chosen


def _check_unit(actor: User, unit: Unit | None) -> None:
    if unit is not None and not actor.is_superuser and unit.pk not in unit_ids_for_user(actor):
        raise ValidationError({"unit": _("Choose one of your units.")})


def _own_unit(actor: User) -> Unit | None:
    """The actor's unit when they belong to exactly one: what they plan is their unit's."""
    units = list(Membership.objects.filter(user=actor).values_list("unit_id", flat=True)[:2])
    return Unit.objects.get(pk=units[0]) if len(units) == 1 else None


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at < starts_at:
        raise ValidationError({"ends_at": _("The end comes before the start.")})
    if ends_at - starts_at > MAX_DURATION:
        raise ValidationError({"ends_at": _("It may last 31 days at most.")})


# --- Visits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitInput:
    visit_type: VisitType
    place_address: str
    starts_at: datetime
    ends_at: datetime
    purpose: str
    assignees: Sequence[User]
    person: Person | None = None
    organization: Organization | None = None
    unit: Unit | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None


VISIT_FIELDS = (
    "visit_type",
    "person",
    "organization",
    "place_address",
    "latitude",
    "longitude",
    "starts_at",
    "ends_at",
    "unit",
    "purpose",
)


def _check_visit(data: VisitInput, actor: User) -> list[User]:
    errors: dict[str, Any] = {}
    if not data.assignees:
        errors["assignees"] = _("Assign at least one member of staff.")
    if (data.latitude is None) != (data.longitude is None):
        errors["longitude"] = _("Give both the latitude and the longitude, or neither.")
    try:
        _check_times(data.starts_at, data.ends_at)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        _check_unit(actor, data.unit)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    return _check_staff(actor, data.assignees, "assignees")


def _set_assignees(visit: Visit, assignees: Sequence[User]) -> None:
    VisitAssignee.objects.filter(visit=visit).exclude(user__in=assignees).delete()
    VisitAssignee.objects.filter(visit=visit).update(
        starts_at=visit.starts_at, ends_at=visit.ends_at
    )
    existing = set(VisitAssignee.objects.filter(visit=visit).values_list("user_id", flat=True))
    VisitAssignee.objects.bulk_create(
        VisitAssignee(visit=visit, user=user, starts_at=visit.starts_at, ends_at=visit.ends_at)
        for user in assignees
        if user.pk not in existing
    )


@transaction.atomic
def visit_plan(*, data: VisitInput, actor: User) -> Visit:
    """Plan a visit: the checklist of its type is copied into it."""
    _require(can_plan(actor))
    if data.unit is None:
        data = dataclasses.replace(data, unit=_own_unit(actor))
    assignees = _check_visit(data, actor)
    visit = Visit(
        **{name: getattr(data, name) for name in VISIT_FIELDS},
        created_by=actor,
    )
    visit.place_address = visit.place_address.strip()
    visit.purpose = visit.purpose.strip()
    visit.full_clean()
    visit.save()
    _set_assignees(visit, assignees)
    ChecklistAnswer.objects.bulk_create(
        ChecklistAnswer(visit=visit, text=item.text, help_text=item.help_text, order=item.order)
        for item in data.visit_type.checklist_items.all()
    )
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=visit,
        changes={
            "type": data.visit_type.pk,
            "person": getattr(data.person, "pk", None),
            "organization": getattr(data.organization, "pk", None),
            "starts_at": visit.starts_at.isoformat(),
            "assignees": [user.pk for user in assignees],
        },
    )
    return visit


def _lock_visit(visit: Visit) -> Visit:
    return Visit.objects.select_for_update(of=("self",)).get(pk=visit.pk)


@transaction.atomic
def visit_update(*, visit: Visit, data: VisitInput, actor: User) -> Visit:
    """Change a planned visit (its type stays: its checklist was copied when planned)."""
    visit = _lock_visit(visit)
    _require(can_change_visit(actor, visit))
    if not visit.is_planned:
        raise ValidationError(_("Only a planned visit can be changed."))
    assignees = _check_visit(data, actor)
    changes: dict[str, Any] = {}
    for name in VISIT_FIELDS:
        if name == "visit_type":
            continue
        old, new = getattr(visit, name), getattr(data, name)
        if old != new:
            changes[name] = [str(old) if old is not None else None, str(new) if new else None]
            setattr(visit, name, new)
    visit.updated_at = timezone.now()
    visit.full_clean()
    visit.save()
    before = set(visit.assignments.values_list("user_id", flat=True))
    _set_assignees(visit, assignees)
    after = {user.pk for user in assignees}
    if before != after:
        changes["assignees"] = [sorted(before), sorted(after)]
    log_event(actor=actor, action=AuditAction.UPDATE, obj=visit, changes=changes)
    return visit


def _save_files(visit: Visit, uploads: Sequence[Upload], actor: User) -> list[VisitFile]:
    saved = []
    for upload in uploads:
        digest = hashlib.sha256(upload.content).hexdigest()
        record = VisitFile(
            visit=visit,
            name=upload.name[:200],
            content_type=upload.content_type,
            size=len(upload.content),
            sha256=digest,
            uploaded_by=actor,
        )
        record.file.save(upload.name, ContentFile(upload.content), save=False)
        record.save()
        saved.append(record)
    return saved


@transaction.atomic
def visit_record(
    *,
    visit: Visit,
    actor: User,
    answers: Mapping[int, tuple[str, str]],
    outcome: str,
    notes: str,
    uploads: Sequence[Upload] = (),
    finish: bool = False,
) -> Visit:
    """What was found: checklist answers (``{answer id: (answer, note)}``), outcome, notes and
    the photos and documents captured; with ``finish`` the visit is done (an outcome is then
    required) and enters the timeline of its person and organisation."""
    visit = _lock_visit(visit)
    _require(can_change_visit(actor, visit))
    if visit.status == VisitStatus.CANCELLED:
        raise ValidationError(_("This visit was cancelled."))
    if finish and not visit.is_planned:
        raise ValidationError(_("This visit is already done."))
    outcome, notes = outcome.strip(), notes.strip()
    if finish and not outcome:
        raise ValidationError({"outcome": _("Write the outcome before finishing the visit.")})
    changed: list[str] = []
    valid = set(ChecklistAnswer.Answer.values) | {""}
    for item in visit.checklist.all():
        if item.pk not in answers:
            continue
        answer, note = answers[item.pk]
        if answer not in valid:
            raise ValidationError({"checklist": _("Choose one of the answers offered.")})
        note = note.strip()[:500]
        if (item.answer, item.note) != (answer, note):
            item.answer, item.note = answer, note
            item.save(update_fields=["answer", "note"])
            changed.append(str(item.pk))
    changes: dict[str, Any] = {}
    if changed:
        changes["checklist"] = changed
    for name, value in (("outcome", outcome), ("notes", notes)):
        if getattr(visit, name) != value:
            changes[name] = "changed"
            setattr(visit, name, value)
    files = _save_files(visit, uploads, actor)
    if files:
        changes["files"] = [record.name for record in files]
    if finish:
        visit.status = VisitStatus.DONE
        visit.done_at = timezone.now()
        changes["status"] = [VisitStatus.PLANNED, VisitStatus.DONE]
    visit.updated_at = timezone.now()
    visit.save()
    log_event(actor=actor, action=AuditAction.UPDATE, obj=visit, changes=changes)
    if finish:
        _in_timeline(visit, actor=actor, what=str(_("Visit done")), text=outcome)
    return visit


@transaction.atomic
def visit_cancel(*, visit: Visit, actor: User, reason: str) -> Visit:
    visit = _lock_visit(visit)
    _require(can_change_visit(actor, visit))
    if not visit.is_planned:
        raise ValidationError(_("Only a planned visit can be cancelled."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the visit is cancelled.")})
    visit.status = VisitStatus.CANCELLED
    visit.cancel_reason = reason[:300]
    visit.updated_at = timezone.now()
    visit.save(update_fields=["status", "cancel_reason", "updated_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=visit,
        changes={"status": [VisitStatus.PLANNED, VisitStatus.CANCELLED], "reason": reason},
    )
    return visit


def _in_timeline(visit: Visit, *, actor: User, what: str, text: str) -> Interaction | None:
    """The visit in the timeline of its person and/or organisation (the 360° pages)."""
    if visit.person_id is None and visit.organization_id is None:
        return None
    return interaction_log(
        actor=actor,
        person=visit.person,
        organization=visit.organization,
        channel=Channel.IN_PERSON,
        direction=Interaction.Direction.OUTBOUND,
        subject=f"{what}: {visit.visit_type.name}"[:200],
        text=text[:2000],
        occurred_at=visit.starts_at,
        unit=visit.unit,
        related=visit,
    )


@transaction.atomic
def visit_open_case(
    *,
    visit: Visit,
    actor: User,
    case_type,
    subject: str,
    text: str,
    unit: Unit | None,
    attach_files: bool = True,
):
    """Register a case from what the visit found (channel: in person), for its person (or its
    organisation), at its place, with its photos and documents; the visit keeps a link."""
    from cases.services import Filer, case_file

    visit = _lock_visit(visit)
    _require(can_change_visit(actor, visit))
    if visit.case_id:
        raise ValidationError(_("This visit already opened a case."))
    person, organization = visit.person, visit.organization
    if person is not None:
        filer = Filer.from_person(person)
    elif organization is not None:
        email = organization.emailaddress_set.order_by("-is_primary", "id").first()
        filer = Filer(
            given_name=organization.name,
            organization_tax_id=organization.tax_id,
            organization_name=organization.name,
            email=email.address if email else "",
            street=visit.place_address,
        )
    else:
        raise ValidationError(_("The visit has no person or organisation to file the case for."))
    if not (filer.email or filer.phone or filer.street):
        # Met at the visit's place: that is where the answer can be sent.
        filer = dataclasses.replace(filer, street=visit.place_address)
    uploads: list[Upload] = []
    if attach_files:
        for record in visit.files.all():
            with record.file.open("rb") as stored:
                uploads.append(Upload(record.name, stored.read(), record.content_type))
    filing = case_file(
        case_type=case_type,
        filer=filer,
        subject=subject,
        text=text,
        channel=Channel.IN_PERSON,
        place_address=visit.place_address,
        latitude=visit.latitude,
        longitude=visit.longitude,
        uploads=uploads,
        person=person,
        unit=unit,
        actor=actor,
    )
    case = filing.case
    if organization is not None and case.organization_id is None:
        type(case).objects.filter(pk=case.pk).update(organization=organization)
    visit.case = case
    visit.save(update_fields=["case"])
    log_event(actor=actor, action=AuditAction.UPDATE, obj=visit, changes={"case": case.pk})
    return case


@transaction.atomic
def visit_open_opportunity(*, visit: Visit, actor: User, **fields: Any):
    """Open an opportunity (sales.services.opportunity_create) for the visit's organisation or
    person; the visit keeps a link."""
    from sales.services import opportunity_create

    visit = _lock_visit(visit)
    _require(can_change_visit(actor, visit))
    if visit.opportunity_id:
        raise ValidationError(_("This visit already opened an opportunity."))
    if visit.person_id is None and visit.organization_id is None:
        raise ValidationError(_("The visit has no person or organisation."))
    fields.setdefault("organization", visit.organization)
    fields.setdefault("person", visit.person)
    fields.setdefault("unit", visit.unit)
    opportunity = opportunity_create(actor=actor, **fields)
    visit.opportunity = opportunity
    visit.save(update_fields=["opportunity"])
    log_event(
        actor=actor, action=AuditAction.UPDATE, obj=visit, changes={"opportunity": opportunity.pk}
    )
    return opportunity


# --- Tasks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskInput:
    title: str
    due_at: datetime
    assignee: User
    remind_at: datetime | None = None
    notes: str = ""
    unit: Unit | None = None
    person: Person | None = None
    organization: Organization | None = None
    visit: Visit | None = None
    opportunity: Any = None


TASK_FIELDS = (
    "title",
    "notes",
    "due_at",
    "remind_at",
    "assignee",
    "unit",
    "person",
    "organization",
    "visit",
    "opportunity",
)


def _check_task(data: TaskInput, actor: User) -> None:
    errors: dict[str, Any] = {}
    if not data.title.strip():
        errors["title"] = _("Write what is to be done.")
    if data.remind_at is not None and data.remind_at > data.due_at:
        errors["remind_at"] = _("The reminder comes after the due time.")
    try:
        _check_unit(actor, data.unit)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        _check_staff(actor, [data.assignee], "assignee")
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def task_create(*, data: TaskInput, actor: User) -> Task:
    _require(can_plan(actor))
    _check_task(data, actor)
    task = Task(**{name: getattr(data, name) for name in TASK_FIELDS}, created_by=actor)
    task.title = task.title.strip()
    if task.unit is None:
        task.unit = task.visit.unit if task.visit is not None else _own_unit(actor)
    task.full_clean()
    task.save()
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=task,
        changes={
            "assignee": task.assignee_id,
            "due_at": task.due_at.isoformat(),
            "person": task.person_id,
            "organization": task.organization_id,
        },
    )
    return task


@transaction.atomic
def task_update(*, task: Task, data: TaskInput, actor: User) -> Task:
    task = Task.objects.select_for_update(of=("self",)).get(pk=task.pk)
    _require(can_change_task(actor, task))
    _check_task(data, actor)
    changes: dict[str, Any] = {}
    for name in TASK_FIELDS:
        old, new = getattr(task, name), getattr(data, name)
        if old != new:
            changes[name] = [str(old) if old is not None else None, str(new) if new else None]
            setattr(task, name, new)
    if "remind_at" in changes or "assignee" in changes:
        task.reminded_at = None  # a new reminder time (or person) is reminded afresh
    task.full_clean()
    task.save()
    log_event(actor=actor, action=AuditAction.UPDATE, obj=task, changes=changes)
    return task


@transaction.atomic
def task_complete(*, task: Task, actor: User, done: bool = True) -> Task:
    """Mark the task done (or open again)."""
    task = Task.objects.select_for_update(of=("self",)).get(pk=task.pk)
    _require(can_change_task(actor, task))
    if (task.done_at is not None) == done:
        return task
    task.done_at = timezone.now() if done else None
    task.save(update_fields=["done_at"])
    log_event(actor=actor, action=AuditAction.UPDATE, obj=task, changes={"done": done})
    return task


# --- Meetings and events ------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingInput:
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime
    attendees: Sequence[User]
    place: str = ""
    description: str = ""
    unit: Unit | None = None


def _set_attendees(meeting: Meeting, attendees: Sequence[User]) -> None:
    MeetingAttendee.objects.filter(meeting=meeting).exclude(user__in=attendees).delete()
    MeetingAttendee.objects.filter(meeting=meeting).update(
        starts_at=meeting.starts_at, ends_at=meeting.ends_at
    )
    existing = set(
        MeetingAttendee.objects.filter(meeting=meeting).values_list("user_id", flat=True)
    )
    MeetingAttendee.objects.bulk_create(
        MeetingAttendee(
            meeting=meeting, user=user, starts_at=meeting.starts_at, ends_at=meeting.ends_at
        )
        for user in attendees
        if user.pk not in existing
    )


def _check_meeting(data: MeetingInput, actor: User) -> list[User]:
    errors: dict[str, Any] = {}
    if not data.title.strip():
        errors["title"] = _("Give it a title.")
    for check in (lambda: _check_times(data.starts_at, data.ends_at),
                  lambda: _check_unit(actor, data.unit)):  # fmt: skip
        try:
            check()
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    # The organiser attends; the others must be colleagues of their units.
    others = [user for user in data.attendees if user.pk != actor.pk]
    return [actor, *_check_staff(actor, others, "attendees")]


@transaction.atomic
def meeting_create(*, data: MeetingInput, actor: User) -> Meeting:
    _require(can_plan(actor))
    attendees = _check_meeting(data, actor)
    meeting = Meeting(
        kind=data.kind,
        title=data.title.strip(),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        place=data.place.strip(),
        description=data.description.strip(),
        unit=data.unit or _own_unit(actor),
        organizer=actor,
    )
    meeting.full_clean()
    meeting.save()
    _set_attendees(meeting, attendees)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=meeting,
        changes={
            "starts_at": meeting.starts_at.isoformat(),
            "attendees": [u.pk for u in attendees],
        },
    )
    return meeting


@transaction.atomic
def meeting_update(*, meeting: Meeting, data: MeetingInput, actor: User) -> Meeting:
    meeting = Meeting.objects.select_for_update(of=("self",)).get(pk=meeting.pk)
    _require(can_change_meeting(actor, meeting))
    organizer = meeting.organizer or actor
    attendees = _check_meeting(data, actor)
    if organizer not in attendees:
        attendees.insert(0, organizer)
    changes: dict[str, Any] = {}
    for name in ("kind", "title", "starts_at", "ends_at", "place", "description", "unit"):
        old, new = getattr(meeting, name), getattr(data, name)
        if isinstance(new, str):
            new = new.strip()
        if old != new:
            changes[name] = [str(old) if old is not None else None, str(new) if new else None]
            setattr(meeting, name, new)
    meeting.full_clean()
    meeting.save()
    _set_attendees(meeting, attendees)
    log_event(actor=actor, action=AuditAction.UPDATE, obj=meeting, changes=changes)
    return meeting


@transaction.atomic
def meeting_cancel(*, meeting: Meeting, actor: User) -> Meeting:
    meeting = Meeting.objects.select_for_update(of=("self",)).get(pk=meeting.pk)
    _require(can_change_meeting(actor, meeting))
    if meeting.cancelled_at is None:
        meeting.cancelled_at = timezone.now()
        meeting.save(update_fields=["cancelled_at"])
        log_event(actor=actor, action=AuditAction.UPDATE, obj=meeting, changes={"cancelled": True})
    return meeting


# --- The calendar feed's secret -----------------------------------------------------------------


def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def calendar_feed_regenerate(*, user: User) -> str:
    """A new secret for the user's iCalendar URL (the previous URL stops working); returns the
    secret, which is stored only hashed: show it now or never."""
    _require(can_plan(user) or user.has_perm("sales.access"))
    token = secrets.token_urlsafe(FEED_TOKEN_BYTES)
    feed, created = CalendarFeed.objects.update_or_create(
        user=user,
        defaults={
            "token_hash": feed_token_hash(token),
            "created_at": timezone.now(),
            "last_fetched_at": None,
        },
    )
    log_event(
        actor=user,
        action=AuditAction.CREATE if created else AuditAction.UPDATE,
        obj=feed,
        changes={"token": "regenerated"},
    )
    return token


@transaction.atomic
def calendar_feed_revoke(*, user: User) -> bool:
    feed = CalendarFeed.objects.filter(user=user).first()
    if feed is None:
        return False
    log_event(actor=user, action=AuditAction.DELETE, obj=feed, changes={"token": "revoked"})
    feed.delete()
    return True
