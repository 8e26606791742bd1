"""Cases: complaints, suggestions, requests, compliments, alerts, hearing contributions and
proposals, whatever the channel they came through (RD 951/2005; Ley 39/2015 arts. 16, 30, 31).

A case is a registry entry (``registry_number``, ``filed_at``, ``official_filed_at``) with a legal
clock (``due_date`` in business days, stopped by ``CaseSuspension`` rows), a workflow
(``status``), a responsible unit and handler, tasks for the other units involved, and a history
(``CaseEntry``) of everything that happened to it, part of which the citizen sees. Every write
goes through cases.services.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from citizens.models import Channel
from crm.models import Unit, private_storage, unit_ids_for_user
from crm.registry import MAX_LENGTH as REGISTRY_NUMBER_LENGTH

DEFAULT_DEADLINE_DAYS = 20  # RD 951/2005, art. 16: complaints and suggestions
CITIZEN_REPLY_DAYS = 10  # RD 951/2005 and Ley 39/2015 art. 68: time the citizen has to reply


class ModuleAccess(models.Model):
    """No table: holds the permissions that decide who uses the cases module (see crm.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("Cases module")
        permissions = [
            ("access", _("Can use the cases module for the cases of their units")),
            ("manage", _("Can handle the cases of their units")),
            ("register", _("Can register cases from any channel for any unit")),
            ("all_units", _("Can see the cases of every unit")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class TranslatedName(models.Model):
    """A catalogue entry named in Spanish, with optional names in other languages
    (``translations``: ``{"en": "...", "ca": "..."}``) for the public site."""

    name = models.CharField(_("name"), max_length=150)
    translations = models.JSONField(
        _("names in other languages"),
        default=dict,
        blank=True,
        help_text=_('e.g. {"en": "Complaint", "ca": "Queixa"}'),
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        language = (translation.get_language() or "es").split("-")[0]
        return self.translations.get(language) or self.name


class CaseKind(models.TextChoices):
    """What a case type is, which decides the public form's extra fields."""

    COMPLAINT = "complaint", _("Complaint")
    SUGGESTION = "suggestion", _("Suggestion")
    INFORMATION = "information", _("Request for information")
    COMPLIMENT = "compliment", _("Compliment")
    ALERT = "alert", _("Incident alert")
    HEARING = "hearing", _("Contribution to a public hearing")
    PROPOSAL = "proposal", _("Citizen proposal")


class CaseType(TranslatedName):
    """A kind of filing an administrator offers: its registry series, legal term and form."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=CaseKind.choices)
    series = models.CharField(
        _("registry series"),
        max_length=10,
        help_text=_("Capital letters, e.g. QS: numbers run per series and year (QS-2026-000123)."),
    )
    description = models.TextField(_("description for citizens"), blank=True)
    description_translations = models.JSONField(
        _("description in other languages"),
        default=dict,
        blank=True,
        help_text=_('e.g. {"en": "Tell us what went wrong."}'),
    )
    deadline_days = models.PositiveSmallIntegerField(
        _("term to answer (business days)"), default=DEFAULT_DEADLINE_DAYS
    )
    public = models.BooleanField(_("offered on the public site"), default=True)
    default_unit = models.ForeignKey(
        Unit,
        verbose_name=_("default unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("case type")
        verbose_name_plural = _("case types")
        ordering = ["order", "name"]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from crm.registry import SERIES

        super().clean()
        if self.series and not SERIES.match(self.series):
            raise ValidationError(
                {"series": _("Use 1 to 10 capital letters or digits, starting with a letter.")}
            )

    @property
    def public_description(self) -> str:
        language = (translation.get_language() or "es").split("-")[0]
        return self.description_translations.get(language) or self.description

    @property
    def has_place(self) -> bool:
        return self.kind == CaseKind.ALERT


class SubjectArea(TranslatedName):
    """What a case is about (e.g. "Streets and lighting"), with the unit that handles it."""

    unit = models.ForeignKey(
        Unit,
        verbose_name=_("handling unit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("subject area")
        verbose_name_plural = _("subject areas")
        ordering = ["order", "name"]


class HearingQuerySet(models.QuerySet):
    def open_on(self, day) -> HearingQuerySet:
        return self.filter(opens_on__lte=day, closes_on__gte=day)


class Hearing(models.Model):
    """A draft (regulation, plan...) under public hearing: citizens contribute until it closes."""

    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    document_url = models.URLField(_("address of the draft"), blank=True)
    opens_on = models.DateField(_("opens on"))
    closes_on = models.DateField(_("closes on"))
    unit = models.ForeignKey(
        Unit, verbose_name=_("unit"), null=True, blank=True, on_delete=models.SET_NULL
    )

    objects = HearingQuerySet.as_manager()

    class Meta:
        verbose_name = _("public hearing")
        verbose_name_plural = _("public hearings")
        ordering = ["closes_on", "title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_on__gte=models.F("opens_on")), name="hearing_dates_in_order"
            )
        ]

    def __str__(self) -> str:
        return self.title


class CaseStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting for the citizen")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    DUPLICATE = "duplicate", _("Duplicate")
    FORWARDED = "forwarded", _("Forwarded to another administration")


OPEN_STATUSES = (
    CaseStatus.RECEIVED,
    CaseStatus.ASSIGNED,
    CaseStatus.IN_PROGRESS,
    CaseStatus.WAITING,
)
# Statuses whose legal clock still runs (the unit owes an answer).
CLOCK_STATUSES = (CaseStatus.RECEIVED, CaseStatus.ASSIGNED, CaseStatus.IN_PROGRESS)


class CaseQuerySet(models.QuerySet):
    def for_user(self, user) -> CaseQuerySet:
        """The cases a user may see: every case with ``cases.all_units``; otherwise those of
        their units and sub-units (responsible unit or a task for one of them) and those
        assigned to them."""
        if not user.is_authenticated or not user.has_perm("cases.access"):
            return self.none()
        if user.has_perm("cases.all_units"):
            return self
        units = unit_ids_for_user(user)
        tasks = CaseTask.objects.filter(case=models.OuterRef("pk"), unit_id__in=units)
        return self.filter(Q(unit_id__in=units) | Q(assignee=user) | models.Exists(tasks))

    def open(self) -> CaseQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def deadline_state(self, state: str, today) -> CaseQuerySet:
        """Open cases in one state of the traffic light on ``today`` (crm.calendar): the
        stored ``due_date`` and ``due_soon_from`` make this an index range, not a computation
        per row."""
        from crm.calendar import DeadlineState

        running = self.filter(status__in=CLOCK_STATUSES)
        if state == DeadlineState.SUSPENDED:
            return self.filter(status=CaseStatus.WAITING)
        if state == DeadlineState.OVERDUE:
            return running.filter(due_date__lt=today)
        if state == DeadlineState.DUE_SOON:
            return running.filter(due_soon_from__lte=today, due_date__gte=today)
        if state == DeadlineState.ON_TIME:
            return running.filter(due_soon_from__gt=today)
        raise ValueError(f"Unknown deadline state {state!r}")


class Case(models.Model):
    # --- Registry entry (Ley 39/2015, arts. 16 and 31) ---------------------------------------
    registry_number = models.CharField(
        _("registry number"), max_length=REGISTRY_NUMBER_LENGTH, unique=True, editable=False
    )
    filed_at = models.DateTimeField(_("filed at"), editable=False)
    official_filed_at = models.DateTimeField(
        _("official filing time"),
        editable=False,
        help_text=_("A filing on a non-business day counts from the next business day."),
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    # With the server's secret key this derives the tracking secret the citizen gets with the
    # receipt (cases.services.tracking_secret): the database never holds the secret itself.
    tracking_nonce = models.CharField(max_length=32, editable=False)

    # --- What was filed, by whom ----------------------------------------------------------------
    case_type = models.ForeignKey(CaseType, verbose_name=_("type"), on_delete=models.PROTECT)
    subject_area = models.ForeignKey(
        SubjectArea, verbose_name=_("subject area"), null=True, blank=True, on_delete=models.PROTECT
    )
    person = models.ForeignKey(
        "citizens.Person",
        verbose_name=_("citizen"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    organization = models.ForeignKey(
        "citizens.Organization",
        verbose_name=_("on behalf of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    # The identification as filed (name, document, email, phone, notification address): the
    # registry records what the citizen gave, whatever later happens to the person's record.
    filer = models.JSONField(_("filer as identified"), default=dict, editable=False)
    subject = models.CharField(_("subject"), max_length=200)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=12, default="es")
    place_address = models.CharField(_("place"), max_length=300, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    hearing = models.ForeignKey(
        Hearing,
        verbose_name=_("public hearing"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contributions",
    )
    # The campaign whose link the citizen followed to the form (``?campaign=<code>``).
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name=_("campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
    )

    # --- Handling ------------------------------------------------------------------------------
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.RECEIVED
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("responsible unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handler"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("registered by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The member of staff who registered a filing made in person, by phone..."),
    )
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    forwarded_to = models.CharField(_("forwarded to"), max_length=200, blank=True)

    # --- Legal clock (crm.calendar; kept by cases.clock) -----------------------------------------
    deadline_days = models.PositiveSmallIntegerField(_("term (business days)"))
    # None while the clock is stopped (waiting for the citizen).
    due_date = models.DateField(_("due date"), null=True, blank=True)
    # The day the traffic light turns amber (DUE_SOON_DAYS business days before due_date).
    due_soon_from = models.DateField(null=True, blank=True, editable=False)
    # Until when the citizen may reply to a request for information.
    reply_due_date = models.DateField(_("citizen's reply due"), null=True, blank=True)

    # --- Answer ---------------------------------------------------------------------------------
    public_answer = models.TextField(_("answer"), blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    # Stored when the case is answered (cases.services.case_answer), for the statistics
    # (reports.case_stats): business days from the official filing date to the answer date in
    # the case's calendar (cases.clock.case_calendar), the days the clock was stopped left out;
    # and whether the answer came by the due date.
    answer_days = models.PositiveSmallIntegerField(
        _("business days taken to answer"), null=True, blank=True, editable=False
    )
    answered_on_time = models.BooleanField(
        _("answered within the term"), null=True, blank=True, editable=False
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    receipt = models.OneToOneField(
        "crm.IssuedDocument",
        verbose_name=_("receipt"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    answer_document = models.OneToOneField(
        "crm.IssuedDocument",
        verbose_name=_("answer document"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    receipt_emailed_at = models.DateTimeField(null=True, blank=True, editable=False)

    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        indexes = [
            # The queue: newest first, keyset-paged, usually narrowed by unit/status/deadline.
            models.Index(fields=["-filed_at", "-id"], name="case_filed_order"),
            models.Index(fields=["unit", "status", "due_date"], name="case_unit_status_due"),
            # A unit's cases on time (the queue's deadline filter: due_soon_from after today).
            models.Index(
                fields=["unit", "status", "due_soon_from"], name="case_unit_status_due_soon"
            ),
            models.Index(fields=["unit", "-filed_at", "-id"], name="case_unit_filed"),
            models.Index(fields=["assignee", "status"], name="case_assignee_status"),
            models.Index(fields=["status", "due_date"], name="case_status_due"),
            models.Index(fields=["status", "due_soon_from"], name="case_status_due_soon"),
            models.Index(fields=["person", "-filed_at"], name="case_person"),
            models.Index(fields=["organization", "-filed_at"], name="case_organization"),
            # Answers by period for the statistics (reports.case_stats), read from the index.
            models.Index(
                fields=["answered_at"],
                name="case_answered",
                include=["answer_days", "answered_on_time", "unit"],
                condition=Q(answered_at__isnull=False),
            ),
            # Receipts not emailed yet: the sweeper's (cases.tasks.sweep_receipts) work list.
            models.Index(
                fields=["filed_at"],
                name="case_receipt_pending",
                condition=Q(receipt_emailed_at=None),
            ),
            GinIndex(name="case_subject_trgm", fields=["subject"], opclasses=["gin_trgm_ops"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="case_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="case_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registry_number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def clock_running(self) -> bool:
        return self.status in CLOCK_STATUSES


class CaseSuspension(models.Model):
    """A stop of the legal clock (a request for more information): from ``started_on`` (which
    still counts) to ``ended_on`` (the citizen's reply, or the end of their term)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="suspensions")
    started_on = models.DateField(_("started on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("suspension")
        verbose_name_plural = _("suspensions")
        ordering = ["started_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(ended_on__isnull=True), name="one_open_suspension"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                name="suspension_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.started_on} - {self.ended_on or '...'}"


class CaseTask(models.Model):
    """The part of a case another unit has to do (a report, an inspection...)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    unit = models.ForeignKey(Unit, verbose_name=_("unit"), on_delete=models.PROTECT)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handler"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="case_tasks",
    )
    description = models.TextField(_("what to do"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["unit", "case"], name="case_task_unit")]

    def __str__(self) -> str:
        return f"{self.unit}: {self.description[:50]}"


class EntryKind(models.TextChoices):
    FILED = "filed", _("Filed")
    STATUS = "status", _("Status changed")
    ASSIGNMENT = "assignment", _("Assigned")
    COMMENT = "comment", _("Internal comment")
    INFORMATION_REQUEST = "information_request", _("More information requested")
    CITIZEN_REPLY = "citizen_reply", _("Citizen's reply")
    ANSWER = "answer", _("Answer")
    TASK = "task", _("Task")
    NOTICE = "notice", _("Deadline notice")


class CaseEntry(models.Model):
    """One line of a case's history. ``public`` entries are shown to the citizen on the
    tracking page (requests for information, their replies, the answer)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(_("kind"), max_length=30, choices=EntryKind.choices)
    public = models.BooleanField(_("shown to the citizen"), default=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    text = models.TextField(_("text"), blank=True)
    from_status = models.CharField(max_length=20, choices=CaseStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=CaseStatus.choices, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("history entry")
        verbose_name_plural = _("history entries")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["case", "created_at", "id"], name="case_entry_order")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"


def case_attachment_name(instance: CaseAttachment, filename: str) -> str:
    now = timezone.now()
    return f"cases/{now:%Y/%m}/{instance.case_id}/{instance.sha256[:16]}-{filename}"


class CaseAttachment(models.Model):
    """A file filed with a case or a reply (kept in private storage, served only to staff)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    entry = models.ForeignKey(
        CaseEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to=case_attachment_name, storage=private_storage, max_length=300)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    from_citizen = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class DeadlineNotice(models.Model):
    """A reminder sent (or being sent) about a case due soon or overdue: one per case and
    state, so beat never sends the same reminder twice (cases.tasks)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notices")
    state = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "state"], name="one_notice_per_case_state")
        ]
        indexes = [
            models.Index(fields=["sent_at"], name="notice_unsent", condition=Q(sent_at=None))
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.state}"


class KnowledgeArticle(models.Model):
    """An answer template: a text with placeholders (``{name}``, ``{registry_number}``...)
    staff start their answers from, searchable, per subject area."""

    title = models.CharField(_("title"), max_length=200)
    subject_area = models.ForeignKey(
        SubjectArea,
        verbose_name=_("subject area"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="articles",
    )
    language = models.CharField(_("language"), max_length=12, default="es")
    body = models.TextField(
        _("text"),
        help_text=_(
            "Placeholders: {name}, {registry_number}, {filed_on}, {subject}, {unit}, "
            "{handler}, {today}."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("knowledge-base article")
        verbose_name_plural = _("knowledge-base articles")
        ordering = ["title"]
        indexes = [
            GinIndex(name="article_title_trgm", fields=["title"], opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.title


class SavedView(models.Model):
    """A queue filter a user saved under a name (the query string of the queue)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_views"
    )
    name = models.CharField(_("name"), max_length=100)
    query = models.CharField(_("filters"), max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_unique")
        ]

    def __str__(self) -> str:
        return self.name
