"""People and organisations the administration deals with, their contact data, relationships,
consents and every interaction, whatever the channel.

Designed for a million people: every list is searched through ``search_text`` (accent- and
case-free, trigram-indexed) and paged by keyset over indexed orderings; nothing counts the table.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from citizens.text import normalise
from crm.models import private_storage  # uploaded files are private: see crm.models


class ModuleAccess(models.Model):
    """No table: holds the permissions that decide who uses the citizens module (see crm.roles)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("Citizens module")
        permissions = [
            ("access", _("Can use the citizens module (read)")),
            ("manage", _("Can create and change people and organisations")),
            ("export", _("Can export lists of citizens")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class Channel(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    LETTER = "letter", _("Letter")
    WEB_FORM = "web_form", _("Web form")
    SOCIAL = "social", _("Social network")
    CHAT = "chat", _("Chat")


class Language(models.TextChoices):
    SPANISH = "es", _("Spanish")
    CATALAN = "ca", _("Catalan")
    BASQUE = "eu", _("Basque")
    GALICIAN = "gl", _("Galician")
    VALENCIAN = "ca-valencia", _("Valencian")
    ENGLISH = "en", _("English")
    FRENCH = "fr", _("French")
    PORTUGUESE = "pt", _("Portuguese")
    OTHER = "other", _("Other")


class DocumentType(models.TextChoices):
    DNI = "dni", _("DNI")
    NIE = "nie", _("NIE")
    PASSPORT = "passport", _("Passport")
    OTHER = "other", _("Other document")


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    NON_BINARY = "non_binary", _("Non-binary")
    UNDISCLOSED = "undisclosed", _("Not stated")


class PartyQuerySet(models.QuerySet):
    def in_use(self):
        """Ordinary use: blocked (erased) records are kept apart, out of lists and searches, and
        so are records merged into another one (citizens.dedupe)."""
        return self.filter(blocked_at__isnull=True, merged_into_id__isnull=True)

    def search(self, text: str):
        """Every word must appear in the name, document, emails or phones (accents and case
        ignored; a phone in any format)."""
        queryset = self
        for word in normalise(text).split():
            queryset = queryset.filter(search_text__contains=word)
        return queryset


class Party(models.Model):
    """What people and organisations share. Abstract: each has its own table."""

    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=20, choices=Channel.choices, blank=True
    )
    preferred_language = models.CharField(
        _("preferred language"), max_length=12, choices=Language.choices, default=Language.SPANISH
    )
    # Maintained by the services from names, documents, emails and phones (citizens.text).
    search_text = models.TextField(editable=False, default="")
    # Maintained with search_text: the municipalities of its addresses (citizens.text
    # municipality_keys), GIN-indexed so the list's municipality filter joins the text and tag
    # bitmaps instead of an EXISTS over the addresses.
    municipalities = ArrayField(
        models.CharField(max_length=100), default=list, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # GDPR: restricted records stay visible but may not be used for campaigns or new processing;
    # blocked ones were erased: their personal data is pseudonymised and kept apart.
    restricted_at = models.DateTimeField(_("processing restricted"), null=True, blank=True)
    blocked_at = models.DateTimeField(_("blocked"), null=True, blank=True)
    merged_into_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = PartyQuerySet.as_manager()

    class Meta:
        abstract = True


class Person(Party):
    given_name = models.CharField(_("given name"), max_length=100)
    first_surname = models.CharField(_("first surname"), max_length=100, blank=True)
    second_surname = models.CharField(_("second surname"), max_length=100, blank=True)
    document_type = models.CharField(
        _("identity document"), max_length=10, choices=DocumentType.choices, blank=True
    )
    document_number = models.CharField(_("document number"), max_length=30, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=15, choices=Sex.choices, blank=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        constraints = [
            models.UniqueConstraint(
                fields=["document_type", "document_number"],
                condition=~Q(document_number=""),
                name="person_document_unique",
            ),
        ]
        indexes = [
            # The list's municipality, tags and search box in one GIN index: a query with
            # several of them is one index scan that leapfrogs through their entries, skipping
            # ahead in each (GIN "fast scan"), where three single-column indexes would each build
            # a bitmap of every entry of their key before ANDing them. The facets come first:
            # one entry each, they lead, and the text's trigrams are checked where they meet.
            GinIndex(
                fields=["municipalities", "tags", "search_text"],
                opclasses=["array_ops", "array_ops", "gin_trgm_ops"],
                name="person_find_gin",
            ),
            GinIndex(fields=["custom"], name="person_custom_gin", opclasses=["jsonb_path_ops"]),
            # The list's default order, for keyset paging.
            models.Index(
                fields=["first_surname", "second_surname", "given_name", "id"],
                name="person_name_order",
            ),
            models.Index(fields=["created_at", "id"], name="person_created_order"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.first_surname, self.second_surname) if p)

    @property
    def surnames(self) -> str:
        return " ".join(p for p in (self.first_surname, self.second_surname) if p)


class Organization(Party):
    class Kind(models.TextChoices):
        COMPANY = "company", _("Company")
        ASSOCIATION = "association", _("Association")
        FOUNDATION = "foundation", _("Foundation")
        PUBLIC_BODY = "public_body", _("Public body")
        COLLECTIVE = "collective", _("Collective")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.COMPANY)
    tax_id = models.CharField(_("tax id (CIF/NIF)"), max_length=20, blank=True)
    sector = models.CharField(_("sector"), max_length=100, blank=True)
    website = models.URLField(_("website"), blank=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.UniqueConstraint(
                fields=["tax_id"], condition=~Q(tax_id=""), name="organization_tax_id_unique"
            ),
        ]
        indexes = [
            GinIndex(  # as person_find_gin
                fields=["municipalities", "tags", "search_text"],
                opclasses=["array_ops", "array_ops", "gin_trgm_ops"],
                name="organization_find_gin",
            ),
            GinIndex(
                fields=["custom"], name="organization_custom_gin", opclasses=["jsonb_path_ops"]
            ),
            models.Index(fields=["name", "id"], name="organization_name_order"),
        ]

    def __str__(self) -> str:
        return self.name


def _one_owner(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=(Q(person__isnull=False) & Q(organization__isnull=True))
        | (Q(person__isnull=True) & Q(organization__isnull=False)),
        name=f"{prefix}_one_owner",
    )


class ContactPoint(models.Model):
    """Belongs to a person or to an organisation (exactly one)."""

    person = models.ForeignKey(
        Person, verbose_name=_("person"), null=True, blank=True, on_delete=models.CASCADE
    )
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
    )
    label = models.CharField(_("label"), max_length=50, blank=True)

    class Meta:
        abstract = True

    @property
    def owner(self) -> Person | Organization:
        return self.person or self.organization


class EmailAddress(ContactPoint):
    address = models.EmailField(_("email"))
    is_primary = models.BooleanField(_("main email"), default=False)

    class Meta:
        verbose_name = _("email address")
        verbose_name_plural = _("email addresses")
        constraints = [_one_owner("email")]
        indexes = [models.Index(fields=["address"], name="email_address_idx")]

    def __str__(self) -> str:
        return self.address


class PhoneNumber(ContactPoint):
    class Kind(models.TextChoices):
        MOBILE = "mobile", _("Mobile")
        LANDLINE = "landline", _("Landline")
        WORK = "work", _("Work")
        OTHER = "other", _("Other")

    number = models.CharField(_("phone"), max_length=20, help_text=_("Stored in E.164 (+34...)"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.MOBILE)
    is_primary = models.BooleanField(_("main phone"), default=False)

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        constraints = [_one_owner("phone")]
        indexes = [models.Index(fields=["number"], name="phone_number_idx")]

    def __str__(self) -> str:
        return self.number


class PostalAddress(ContactPoint):
    street = models.CharField(_("street"), max_length=200)
    number = models.CharField(_("number"), max_length=20, blank=True)
    extra = models.CharField(_("floor, door"), max_length=50, blank=True)
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)
    municipality = models.CharField(_("municipality"), max_length=100)
    province = models.CharField(_("province"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="ES")
    is_notification = models.BooleanField(_("address for notifications"), default=False)

    class Meta:
        verbose_name = _("postal address")
        verbose_name_plural = _("postal addresses")
        constraints = [
            _one_owner("address"),
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(is_notification=True, person__isnull=False),
                name="address_one_notification_per_person",
            ),
        ]

    def __str__(self) -> str:
        first = " ".join(p for p in (self.street, self.number, self.extra) if p)
        return ", ".join(p for p in (first, self.postcode, self.municipality) if p)


class Relationship(models.Model):
    """A person's role in an organisation (legal representative, employee, member...)."""

    class Role(models.TextChoices):
        LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")
        EMPLOYEE = "employee", _("Employee")
        MEMBER = "member", _("Member")
        CONTACT = "contact", _("Contact person")
        OWNER = "owner", _("Owner")
        OTHER = "other", _("Other")

    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="relationships"
    )
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organisation"),
        on_delete=models.CASCADE,
        related_name="relationships",
    )
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    position = models.CharField(_("position"), max_length=100, blank=True)
    start_date = models.DateField(_("since"), null=True, blank=True)
    end_date = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        indexes = [models.Index(fields=["organization", "role"], name="relationship_org_idx")]

    def __str__(self) -> str:
        return f"{self.person} — {self.get_role_display()} — {self.organization}"


class Team(models.Model):
    """A team inside an organisation (e.g. its board, a department)."""

    organization = models.ForeignKey(
        Organization, verbose_name=_("organisation"), on_delete=models.CASCADE, related_name="teams"
    )
    name = models.CharField(_("name"), max_length=100)
    members = models.ManyToManyField(
        Person, verbose_name=_("members"), blank=True, related_name="teams"
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return f"{self.organization} — {self.name}"


class Interaction(models.Model):
    """One contact with a person and/or an organisation, whatever the channel: the timeline."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("From the citizen")
        OUTBOUND = "out", _("To the citizen")

    person = models.ForeignKey(
        Person,
        verbose_name=_("person"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    organization = models.ForeignKey(
        Organization,
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="interactions",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    subject = models.CharField(_("subject"), max_length=200)
    text = models.TextField(_("text"), blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    unit = models.ForeignKey(
        "crm.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.SET_NULL
    )
    # What the interaction belongs to in another module: "cases.case", "campaigns.campaign",
    # "sales.opportunity" and its id.
    related_type = models.CharField(max_length=50, blank=True)
    related_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=False) | Q(organization__isnull=False),
                name="interaction_has_party",
            )
        ]
        indexes = [
            models.Index(fields=["person", "-occurred_at", "-id"], name="interaction_person_time"),
            models.Index(
                fields=["organization", "-occurred_at", "-id"], name="interaction_org_time"
            ),
            models.Index(fields=["related_type", "related_id"], name="interaction_related"),
        ]

    def __str__(self) -> str:
        return self.subject


class CustomField(models.Model):
    """A field an administrator adds to people or organisations; values live in ``custom``."""

    class Applies(models.TextChoices):
        PERSON = "person", _("People")
        ORGANIZATION = "organization", _("Organisations")

    class Type(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        BOOLEAN = "boolean", _("Yes/no")

    applies_to = models.CharField(_("applies to"), max_length=15, choices=Applies.choices)
    key = models.SlugField(
        _("key"), max_length=50, help_text=_("Internal name, e.g. 'dog_licence'")
    )
    label = models.CharField(_("label"), max_length=100)
    type = models.CharField(_("type"), max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = ArrayField(
        models.CharField(max_length=100),
        verbose_name=_("choices"),
        default=list,
        blank=True,
        help_text=_("For the 'choice' type: the allowed values, separated by commas."),
    )
    required = models.BooleanField(_("required"), default=False)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["applies_to", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["applies_to", "key"], name="custom_field_key_unique")
        ]

    def __str__(self) -> str:
        return self.label


class ConsentPurpose(models.Model):
    """A purpose people consent to (newsletters, surveys, event invitations...)."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    text = models.TextField(_("text shown to the citizen"))
    version = models.CharField(_("text version"), max_length=20, default="1")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("consent purpose")
        verbose_name_plural = _("consent purposes")

    def __str__(self) -> str:
        return self.name


class Consent(models.Model):
    """One statement of a person about a purpose: given or withdrawn, with its proof.

    Append-only history: the person's current consent to a purpose is their latest statement.
    """

    class Source(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        IN_PERSON = "in_person", _("In person")
        PAPER = "paper", _("Signed paper")
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        IMPORT = "import", _("Import")
        PREFERENCE_CENTRE = "preferences", _("Preference centre")

    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="consents"
    )
    purpose = models.ForeignKey(
        ConsentPurpose, verbose_name=_("purpose"), on_delete=models.PROTECT, related_name="+"
    )
    granted = models.BooleanField(_("granted"))
    stated_at = models.DateTimeField(_("when"), default=timezone.now)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    text_version = models.CharField(_("text version"), max_length=20)
    evidence = models.TextField(_("proof"), blank=True, help_text=_("e.g. form id, document ref."))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [
            models.Index(fields=["person", "purpose", "-stated_at", "-id"], name="consent_latest"),
            models.Index(fields=["purpose", "granted"], name="consent_purpose_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.purpose_id} {'✓' if self.granted else '✗'}"


class DataSubjectRequest(models.Model):
    """A GDPR request of a person, answered within one month (art. 12.3 GDPR)."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")
        RESTRICTION = "restriction", _("Restriction of processing")
        PORTABILITY = "portability", _("Portability")
        OBJECTION = "objection", _("Objection")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("data-subject request", "Open")
        DONE = "done", pgettext_lazy("data-subject request", "Answered")
        REJECTED = "rejected", pgettext_lazy("data-subject request", "Rejected")

    person = models.ForeignKey(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="data_requests"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    due_date = models.DateField(_("answer due by"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="open")
    details = models.TextField(_("details"), blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("data-subject request")
        verbose_name_plural = _("data-subject requests")
        indexes = [models.Index(fields=["status", "due_date"], name="dsr_status_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.person_id}"


class BlockedData(models.Model):
    """Personal data of an erased (blocked) person, kept apart while legal claims are possible:
    out of every ordinary use, readable only by the data protection officer."""

    person = models.OneToOneField(
        Person, verbose_name=_("person"), on_delete=models.PROTECT, related_name="blocked_data"
    )
    data = models.JSONField()
    blocked_at = models.DateTimeField(default=timezone.now)
    keep_until = models.DateField(_("keep until"))
    request = models.ForeignKey(
        DataSubjectRequest,
        verbose_name=_("request"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("blocked data")
        verbose_name_plural = _("blocked data")

    def __str__(self) -> str:
        return f"{self.person_id} ({self.blocked_at:%Y-%m-%d})"


# --- Imports of people and organisations (citizens.imports) ------------------------------------


def import_file_name(instance: ImportJob, filename: str) -> str:
    """A name nobody can guess, keeping the extension (the original name is kept on the job)."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"imports/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{extension[:5]}"


class ImportKind(models.TextChoices):
    PERSON = "person", _("People")
    ORGANIZATION = "organization", _("Organisations")


class ImportJobQuerySet(models.QuerySet):
    def for_user(self, user):
        """An import holds a file of personal data: only whoever uploaded it sees it."""
        if user.is_superuser:
            return self
        return self.filter(created_by=user)


class ImportJob(models.Model):
    """One uploaded file of people or organisations, from upload to the end of its import.

    Rows are processed in batches; each batch commits its records, its ``ImportRow`` results and
    the counters here together, so ``last_row`` is always the last row whose result is stored and
    a resumed run continues right after it.
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        MAPPED = "mapped", _("Columns chosen")
        VALIDATING = "validating", _("Being checked")
        VALIDATED = "validated", _("Checked")
        QUEUED = "queued", _("Waiting to run")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (XLSX)"

    kind = models.CharField(_("what it holds"), max_length=15, choices=ImportKind.choices)
    file = models.FileField(
        _("file"), upload_to=import_file_name, storage=private_storage, max_length=255
    )
    original_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    delimiter = models.CharField(_("separator"), max_length=1, blank=True)
    headers = models.JSONField(_("column names"), default=list, blank=True)
    # One target field name per column ("" = ignored), in the file's column order.
    column_mapping = models.JSONField(_("column mapping"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.UPLOADED
    )
    total_rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    skipped_count = models.PositiveIntegerField(_("unchanged"), default=0)
    # The number (as a spreadsheet shows it: the header is row 1) of the last row processed.
    last_row = models.PositiveIntegerField(default=1)
    batch_size = models.PositiveIntegerField(default=1000)
    # The dry run's counts and the first rows of each action (see citizens.imports.dry_run).
    dry_run = models.JSONField(default=dict, blank=True)
    # Who runs it now: the Celery task id that claimed it, and when it last committed a batch.
    claim_token = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="import_job_user_recent"),
            models.Index(fields=["status", "heartbeat_at"], name="import_job_status"),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, self.processed_rows * 100 // self.total_rows)

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.VALIDATING, self.Status.QUEUED, self.Status.RUNNING)


class ImportRow(models.Model):
    """What the import did with one row of the file. Unique per row: a resumed run can neither
    do a row twice nor skip one."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Updated")
        REJECT = "reject", _("Rejected")
        SKIP = "skip", _("Unchanged")

    job = models.ForeignKey(
        ImportJob, verbose_name=_("import"), on_delete=models.CASCADE, related_name="rows"
    )
    row_number = models.PositiveIntegerField(_("row"))
    action = models.CharField(_("result"), max_length=6, choices=Action.choices)
    # [{"field": target or "", "message": English msgid, "params": {...}}], translated on display.
    errors = models.JSONField(default=list, blank=True)
    # The row as read from the file, kept for rejected rows only (their report).
    values = models.JSONField(default=list, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("imported row")
        verbose_name_plural = _("imported rows")
        constraints = [
            models.UniqueConstraint(fields=["job", "row_number"], name="import_row_unique"),
        ]
        indexes = [
            models.Index(fields=["job", "action", "row_number"], name="import_row_action"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.action}"


class ImportMapping(models.Model):
    """The last column mapping a user chose for a kind of import: {column name: target}."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=15, choices=ImportKind.choices)
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("remembered import mapping")
        verbose_name_plural = _("remembered import mappings")
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="import_mapping_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}"


# --- Duplicates and merging of people (citizens.dedupe) ----------------------------------------


class DedupeRule(models.Model):
    """A rule that says when two people are probably the same one (as CiviCRM's dedupe rules):
    each of its fields adds its weight to a pair's score when the two people match on it; a pair
    whose score reaches the threshold is a likely duplicate, shown to staff for review."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    threshold = models.PositiveIntegerField(
        _("threshold"),
        default=100,
        help_text=_(
            "A pair is a likely duplicate when the weights of the fields it matches on add up to "
            "this or more. Keep every rule on the same scale (100 is the convention), so scores "
            "of different rules can be compared."
        ),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Only active rules are used by the nightly scan.")
    )

    class Meta:
        verbose_name = _("duplicate rule")
        verbose_name_plural = _("duplicate rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DedupeRuleField(models.Model):
    """One field a rule compares, how, and what a match on it weighs."""

    class Field(models.TextChoices):
        GIVEN_NAME = "given_name", _("Given name")
        FIRST_SURNAME = "first_surname", _("First surname")
        SECOND_SURNAME = "second_surname", _("Second surname")
        FULL_NAME = "full_name", _("Full name")
        DOCUMENT_NUMBER = "document_number", _("Document number")
        EMAIL = "email", _("Email (any of theirs)")
        PHONE = "phone", _("Phone (any of theirs)")
        BIRTH_DATE = "birth_date", _("Birth date")
        POSTCODE = "postcode", _("Postcode (of any address)")
        MUNICIPALITY = "municipality", _("Municipality (of any address)")

    class Method(models.TextChoices):
        EXACT = "exact", _("Exactly the same")
        NORMALISED = "normalised", _("The same ignoring accents and case")
        SIMILAR = "similar", _("Similar (trigram similarity at least the cut-off)")

    # Fields whose values are not words: 'similar' means nothing for them.
    NOT_SIMILAR = frozenset({Field.PHONE, Field.BIRTH_DATE, Field.POSTCODE})

    rule = models.ForeignKey(
        DedupeRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="fields"
    )
    field = models.CharField(_("field"), max_length=20, choices=Field.choices)
    method = models.CharField(
        _("comparison"), max_length=12, choices=Method.choices, default=Method.EXACT
    )
    weight = models.PositiveSmallIntegerField(
        _("weight"), help_text=_("Added to the pair's score when both people match on this field.")
    )
    cutoff = models.FloatField(
        _("similarity cut-off"),
        default=0.7,
        validators=[MinValueValidator(0.1), MaxValueValidator(1.0)],
        help_text=_(
            "Only for 'similar': from 0.1 to 1 (1 = identical once accents and case are "
            "ignored). With 0.7 a full name still matches with one or two typing mistakes or "
            "without its second surname."
        ),
    )

    class Meta:
        verbose_name = _("rule field")
        verbose_name_plural = _("rule fields")
        constraints = [
            models.UniqueConstraint(fields=["rule", "field"], name="dedupe_rule_field_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_field_display()} ({self.get_method_display()}, {self.weight})"

    def clean(self) -> None:
        if self.method == self.Method.SIMILAR and self.field in self.NOT_SIMILAR:
            raise ValidationError(
                {"method": _("This field can only be compared exactly or ignoring accents.")}
            )


class DuplicatePair(models.Model):
    """Two people a rule found alike (``person_a`` has the lower id), and what staff decided.

    Open pairs are refreshed by every scan (and dropped when they no longer meet a rule); merged
    and dismissed ones are the record of a decision and are never opened again.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("To review")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Not duplicates")

    person_a = models.ForeignKey(
        Person,
        verbose_name=_("first person"),
        on_delete=models.CASCADE,
        related_name="duplicate_pairs_as_a",
    )
    person_b = models.ForeignKey(
        Person,
        verbose_name=_("second person"),
        on_delete=models.CASCADE,
        related_name="duplicate_pairs_as_b",
    )
    score = models.PositiveIntegerField(_("score"))
    rule = models.ForeignKey(
        DedupeRule, verbose_name=_("rule"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    found_at = models.DateTimeField(_("found"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("possible duplicate")
        verbose_name_plural = _("possible duplicates")
        constraints = [
            models.UniqueConstraint(fields=["person_a", "person_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(
                condition=Q(person_a__lt=models.F("person_b")), name="duplicate_pair_ordered"
            ),
        ]
        indexes = [
            # The review queue: open pairs, highest score first (keyset paged).
            models.Index(
                fields=["-score", "-id"],
                condition=Q(status="open"),
                name="duplicate_pair_open_queue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_a_id} ~ {self.person_b_id} ({self.score})"

    @classmethod
    def merge_people(cls, survivor: Person, other: Person) -> int:
        """The merge hook (see citizens.dedupe): the other person's open pairs become the
        survivor's (unless that pair exists already, or would pair the survivor with itself);
        decided pairs stay as they were, the record of a decision."""
        moved = 0
        open_pairs = cls.objects.filter(
            Q(person_a=other) | Q(person_b=other), status=cls.Status.OPEN
        ).exclude(Q(person_a=survivor) | Q(person_b=survivor))
        for pair in open_pairs:
            third = pair.person_b_id if pair.person_a_id == other.pk else pair.person_a_id
            low, high = sorted((survivor.pk, third))
            _new, created = cls.objects.get_or_create(
                person_a_id=low,
                person_b_id=high,
                defaults={"score": pair.score, "rule_id": pair.rule_id, "found_at": pair.found_at},
            )
            moved += created
            pair.delete()
        return moved
