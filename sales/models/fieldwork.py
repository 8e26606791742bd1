"""Field work: visits and inspections (with a checklist per visit type, photos and documents),
tasks with reminders, meetings and events, and each user's calendar feed (docs/sales.md,
"Field work"). Every write goes through sales.fieldwork.

Scoping (``for_user``): an administrator sees everything; promotion staff (``sales.access``)
see the records of their units (and the units below) and their own; inspectors, who hold
``sales.field_work`` only, see only what is assigned to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Unit, private_storage, unit_ids_for_user


def sees_units(user) -> bool:
    """Whether the user sees the field work of their units (promotion staff), not only their
    own (inspectors)."""
    return user.has_perm("sales.access")


def may_use_field_work(user) -> bool:
    return bool(
        user.is_authenticated
        and (user.has_perm("sales.field_work") or user.has_perm("sales.access"))
    )


class VisitType(models.Model):
    """A kind of visit or inspection an administrator defines, with its checklist."""

    name = models.CharField(_("name"), max_length=150)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    description = models.TextField(_("description"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("visit type")
        verbose_name_plural = _("visit types")
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class ChecklistItem(models.Model):
    """One point of a visit type's checklist; copied into each visit when it is planned."""

    visit_type = models.ForeignKey(
        VisitType, on_delete=models.CASCADE, related_name="checklist_items"
    )
    text = models.CharField(_("point to check"), max_length=300)
    help_text = models.CharField(_("guidance"), max_length=300, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text


class VisitStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class VisitQuerySet(models.QuerySet):
    def for_user(self, user) -> VisitQuerySet:
        if not may_use_field_work(user):
            return self.none()
        if user.is_superuser:
            return self
        mine = Exists(VisitAssignee.objects.filter(visit=OuterRef("pk"), user=user))
        if sees_units(user):
            return self.filter(Q(unit_id__in=unit_ids_for_user(user)) | mine)
        return self.filter(mine)

    def assigned_to(self, user) -> VisitQuerySet:
        return self.filter(assignees=user)

    def between(self, start, end) -> VisitQuerySet:
        """Visits that overlap [start, end)."""
        return self.filter(starts_at__lt=end, ends_at__gt=start)


class Visit(models.Model):
    """A planned visit or inspection to a person and/or organisation, at a place and time."""

    visit_type = models.ForeignKey(VisitType, verbose_name=_("type"), on_delete=models.PROTECT)
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
    )
    organization = models.ForeignKey(
        "citizens.Organization",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
    )
    place_address = models.CharField(_("place"), max_length=300)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    assignees = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned staff"),
        through="VisitAssignee",
        related_name="visits",
    )
    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT
    )
    purpose = models.CharField(_("purpose"), max_length=300)
    status = models.CharField(
        _("status"), max_length=20, choices=VisitStatus.choices, default=VisitStatus.PLANNED
    )
    outcome = models.TextField(_("outcome"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=300, blank=True)
    case = models.ForeignKey(
        "cases.Case",
        verbose_name=_("case opened"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity",
        verbose_name=_("opportunity opened"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visits",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = VisitQuerySet.as_manager()

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [
            models.Index(fields=["-starts_at", "-id"], name="visit_start_order"),
            models.Index(fields=["unit", "-starts_at", "-id"], name="visit_unit_start"),
            models.Index(fields=["person", "-starts_at"], name="visit_person"),
            models.Index(fields=["organization", "-starts_at"], name="visit_organization"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gte=models.F("starts_at")), name="visit_times_in_order"
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="visit_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="visit_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.visit_type} · {self.place_address}"

    @property
    def is_planned(self) -> bool:
        return self.status == VisitStatus.PLANNED


class VisitAssignee(models.Model):
    """A member of staff assigned to a visit. ``starts_at`` and ``ends_at`` repeat the visit's
    so that a user's calendar is one index range (user, starts_at) with no join to sort."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="visit_assignments"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visit", "user"], name="visit_assignee_unique")
        ]
        indexes = [models.Index(fields=["user", "starts_at"], name="visit_assignee_calendar")]

    def __str__(self) -> str:
        return f"{self.visit_id} {self.user_id}"


class ChecklistAnswer(models.Model):
    """A visit's copy of a checklist point (the template may change later) and its answer."""

    class Answer(models.TextChoices):
        YES = "yes", _("Yes")
        NO = "no", _("No")
        NOT_APPLICABLE = "na", _("Not applicable")

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="checklist")
    text = models.CharField(_("point to check"), max_length=300)
    help_text = models.CharField(_("guidance"), max_length=300, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    answer = models.CharField(_("answer"), max_length=3, choices=Answer.choices, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("checklist answer")
        verbose_name_plural = _("checklist answers")
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.text


def visit_file_name(instance: VisitFile, filename: str) -> str:
    now = timezone.now()
    return f"visits/{now:%Y/%m}/{instance.visit_id}/{instance.sha256[:16]}-{filename}"


class VisitFile(models.Model):
    """A photo or document captured during a visit (checked and cleaned as cases.uploads does:
    type by content, images re-encoded without metadata), in private storage."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to=visit_file_name, storage=private_storage, max_length=300)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("visit file")
        verbose_name_plural = _("visit files")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class TaskQuerySet(models.QuerySet):
    def for_user(self, user) -> TaskQuerySet:
        if not may_use_field_work(user):
            return self.none()
        if user.is_superuser:
            return self
        if sees_units(user):
            return self.filter(
                Q(unit_id__in=unit_ids_for_user(user)) | Q(assignee=user) | Q(created_by=user)
            )
        return self.filter(assignee=user)

    def open(self) -> TaskQuerySet:
        return self.filter(done_at__isnull=True)


class Task(models.Model):
    """Something a member of staff has to do by a date, optionally about a person,
    organisation, visit or opportunity, with an email reminder (sales.tasks)."""

    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    due_at = models.DateTimeField(_("due"))
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    # Set once, atomically, by the reminder sweep that claims the reminder (sales.tasks).
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True, editable=False)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        on_delete=models.PROTECT,
        related_name="sales_tasks",
    )
    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT
    )
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sales_tasks",
    )
    organization = models.ForeignKey(
        "citizens.Organization",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sales_tasks",
    )
    visit = models.ForeignKey(
        Visit,
        verbose_name=_("visit"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity",
        verbose_name=_("opportunity"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            models.Index(fields=["assignee", "due_at"], name="sales_task_calendar"),
            models.Index(fields=["unit", "due_at"], name="sales_task_unit"),
            models.Index(fields=["person", "-due_at"], name="sales_task_person"),
            models.Index(fields=["organization", "-due_at"], name="sales_task_organization"),
            # The reminder sweep's work list: reminders due, not claimed yet, of open tasks.
            models.Index(
                fields=["remind_at"],
                name="sales_task_reminder_due",
                condition=Q(reminded_at=None, done_at=None, remind_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.done_at is None


class MeetingKind(models.TextChoices):
    MEETING = "meeting", _("Meeting")
    EVENT = "event", _("Event")


class MeetingQuerySet(models.QuerySet):
    def for_user(self, user) -> MeetingQuerySet:
        if not may_use_field_work(user):
            return self.none()
        if user.is_superuser:
            return self
        mine = Q(organizer=user) | Exists(
            MeetingAttendee.objects.filter(meeting=OuterRef("pk"), user=user)
        )
        if sees_units(user):
            return self.filter(Q(unit_id__in=unit_ids_for_user(user)) | mine)
        return self.filter(mine)


class Meeting(models.Model):
    """A meeting or an event (a fair, a session) with staff attending."""

    kind = models.CharField(
        _("kind"), max_length=20, choices=MeetingKind.choices, default=MeetingKind.MEETING
    )
    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    place = models.CharField(_("place"), max_length=300, blank=True)
    description = models.TextField(_("description"), blank=True)
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("organiser"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT
    )
    attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("attendees"),
        through="MeetingAttendee",
        related_name="sales_meetings",
        blank=True,
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        verbose_name = _("meeting or event")
        verbose_name_plural = _("meetings and events")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gte=models.F("starts_at")), name="meeting_times_in_order"
            ),
        ]
        indexes = [models.Index(fields=["unit", "starts_at"], name="meeting_unit_start")]

    def __str__(self) -> str:
        return self.title


class MeetingAttendee(models.Model):
    """A member of staff in a meeting (the organiser is one too); the times repeat the
    meeting's, as VisitAssignee does, for the calendar's range."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meeting_attendance"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meeting", "user"], name="meeting_attendee_unique")
        ]
        indexes = [models.Index(fields=["user", "starts_at"], name="meeting_attendee_calendar")]

    def __str__(self) -> str:
        return f"{self.meeting_id} {self.user_id}"


class CalendarFeed(models.Model):
    """A user's iCalendar subscription: the secret of its URL is kept only as a SHA-256 hash
    (the URL is shown once, when made); regenerating replaces it, revoking deletes the row."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self) -> str:
        return str(self.user)


# --- A user's calendar --------------------------------------------------------------------------

# A visit or a meeting lasts at most this long (sales.fieldwork checks it): the calendar looks
# this far back for the ones that started before a period and still run in it.
MAX_DURATION_DAYS = 31


@dataclass(frozen=True)
class CalendarEntry:
    kind: str  # "visit", "meeting", "event" or "task"
    pk: int
    title: str
    place: str
    status: str  # a visit's status; "cancelled" for a meeting; "open" or "done" for a task
    starts_at: datetime
    ends_at: datetime

    @property
    def is_task(self) -> bool:
        return self.kind == "task"

    @property
    def inactive(self) -> bool:
        return self.status in ("cancelled", "done")

    @property
    def url(self) -> str:
        from django.urls import reverse

        if self.kind == "visit":
            return reverse("sales:visit_detail", args=[self.pk])
        if self.kind == "task":
            return reverse("sales:task_edit", args=[self.pk])
        return reverse("sales:meeting_detail", args=[self.pk])


# The calendar's one query, written out: the ORM's union of three annotated querysets takes
# longer to compile than PostgreSQL takes to run it (about 3 ms against 0.6 ms for a busy month).
# Each branch is an index range: VisitAssignee and MeetingAttendee by (user_id, starts_at),
# Task by (assignee_id, due_at).
CALENDAR_SQL = """
SELECT 'visit', a.visit_id, t.name, v.place_address, v.status, a.starts_at, a.ends_at
  FROM sales_visitassignee a
  JOIN sales_visit v ON v.id = a.visit_id
  JOIN sales_visittype t ON t.id = v.visit_type_id
 WHERE a.user_id = %(user)s AND a.starts_at >= %(earliest)s AND a.starts_at < %(end)s
   AND a.ends_at >= %(start)s
UNION ALL
SELECT m.kind, a.meeting_id, m.title, m.place,
       CASE WHEN m.cancelled_at IS NULL THEN '' ELSE 'cancelled' END, a.starts_at, a.ends_at
  FROM sales_meetingattendee a
  JOIN sales_meeting m ON m.id = a.meeting_id
 WHERE a.user_id = %(user)s AND a.starts_at >= %(earliest)s AND a.starts_at < %(end)s
   AND a.ends_at >= %(start)s
UNION ALL
SELECT 'task', k.id, k.title, '', CASE WHEN k.done_at IS NULL THEN 'open' ELSE 'done' END,
       k.due_at, k.due_at
  FROM sales_task k
 WHERE k.assignee_id = %(user)s AND k.due_at >= %(start)s AND k.due_at < %(end)s
ORDER BY 6, 1, 2
"""


def calendar_entries(user, start: datetime, end: datetime) -> list[CalendarEntry]:
    """The user's own visits, meetings and events that overlap [start, end), and their tasks
    due in it, in one query (CALENDAR_SQL: a UNION ALL of three index ranges), by start."""
    from django.db import connection

    params = {
        "user": user.pk,
        "start": start,
        "end": end,
        "earliest": start - timedelta(days=MAX_DURATION_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute(CALENDAR_SQL, params)
        return [CalendarEntry(*row) for row in cursor.fetchall()]
