"""Import of people and organisations from CSV and Excel (XLSX) files.

The steps, each a service below: ``job_create`` (upload: format, encoding and separator detected or
chosen) → ``job_set_mapping`` (each column → a field or ignored; remembered per user and kind) →
``dry_run`` (Celery: what every row would do, nothing written) → ``job_start`` → ``run`` (Celery:
the import itself) → the report of the rejected rows (``ImportRow`` with their values). Reading
files and checking each row is citizens.import_files.

Matching: a row is the same person (organisation) as an existing record when their document number
(tax id) is the same; otherwise when they share an email; otherwise a phone. A match is updated with
the row's non-empty values, never duplicated, and rows of the same file match each other the same
way. An email or phone that leads to several records is not guessed: the row is rejected.

Designed for 100,000 rows against a million people: rows are read as a stream and written in
batches of ``job.batch_size``; each batch is one transaction that looks up every candidate with one
query per kind of key, writes new records, their contact points and the rows' results with COPY
(changed records through a temporary table and one UPDATE), builds ``search_text`` and
``municipalities`` in Python, stores the job's counters and writes one audit event. A batch is
all or nothing, so a crash loses at most the batch in progress; ``ImportRow`` is unique per
(job, row), and a resumed run starts after ``job.last_row``, the last row whose result was
committed.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from citizens.import_files import (
    PREVIEW_ROWS,
    REQUIRED,
    ImportFileError,
    ParsedRow,
    RowParser,
    check_mapping,
    describe_error,
    inspect_file,
    name_key,
    read_rows,
    row_error,
    target_labels,
)
from citizens.models import (
    EmailAddress,
    ImportJob,
    ImportKind,
    ImportMapping,
    ImportRow,
    Organization,
    Person,
    PhoneNumber,
    PostalAddress,
)
from citizens.text import build_search_text, municipality_key
from crm.audit import log_event
from crm.models import AuditAction, User

logger = logging.getLogger(__name__)

Status = ImportJob.Status
Action = ImportRow.Action
SAMPLE_ROWS = 50  # rows of each action the dry run keeps to show
ATTEMPTS = 3  # a batch that hits a uniqueness race is planned again against the new data


# --- Matching rows with records and planning the writes ---------------------------------------


def _address_key(address: dict[str, str]) -> tuple[str, ...]:
    return tuple(
        name_key(address.get(name, "")) for name in ("street", "number", "postcode", "municipality")
    )


class Record:
    """A person or organisation a batch creates or may change, with its contact data."""

    def __init__(self, obj: Person | Organization, *, is_new: bool) -> None:
        self.obj = obj
        self.is_new = is_new
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.address_keys: set[tuple[str, ...]] = set()
        self.municipalities: set[str] = set()  # municipality_key of each address
        self.has_notification_address = False
        self.contacts_loaded = is_new
        self.new_emails: list[tuple[str, bool]] = []
        self.new_phones: list[tuple[str, str, bool]] = []
        self.new_addresses: list[dict[str, Any]] = []
        self.changed: set[str] = set()

    @property
    def dirty(self) -> bool:
        return bool(
            self.is_new or self.changed or self.new_emails or self.new_phones or self.new_addresses
        )

    @property
    def doc_key(self) -> Any:
        obj = self.obj
        if isinstance(obj, Organization):
            return obj.tax_id or None
        return (obj.document_type, obj.document_number) if obj.document_number else None

    def search_text(self) -> str:
        obj = self.obj
        if isinstance(obj, Person):
            names = [obj.given_name, obj.first_surname, obj.second_surname]
            documents = [obj.document_number]
        else:
            names, documents = [obj.name], [obj.tax_id]
        return build_search_text(
            names=names, documents=documents, emails=self.emails, phones=self.phones
        )


@dataclass
class RowResult:
    row: ParsedRow
    action: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    record: Record | None = None
    changes: list[str] = field(default_factory=list)


_NEEDED_FOR_NEW = _("No existing record matches this row, and a new one needs this field.")
_ERASED = _("This row matches a record whose data was erased: not imported.")
_RESTRICTED = _(
    "This row matches a record whose processing is restricted (GDPR art. 18): change it by "
    "hand if the citizen asked for it."
)


class Planner:
    """Decides what each row does (create, update, unchanged, reject) against the database and
    the rows before it. ``commit=True``: one batch of a real run (matched records are locked;
    ``save()`` writes); ``commit=False``: a dry run, which keeps what earlier batches would have
    created or changed so that later rows see it."""

    def __init__(self, kind: str, *, actor: User | None, commit: bool) -> None:
        self.kind = kind
        self.model = Person if kind == ImportKind.PERSON else Organization
        self.owner = "person" if kind == ImportKind.PERSON else "organization"
        self.actor = actor
        self.commit = commit
        self.by_id: dict[int, Record] = {}
        self.by_doc: dict[Any, Record] = {}
        self.by_email: dict[str, list[Record]] = defaultdict(list)
        self.by_phone: dict[str, list[Record]] = defaultdict(list)
        self.touched: dict[int, Record] = {}  # id(record) → record, in the order first touched
        self.loaded: list[Record] = []

    # Loading: one query per kind of key, then the candidates and their contact data.

    def _queryset(self):
        queryset = self.model.objects.all()
        return queryset.select_for_update(of=("self",)) if self.commit else queryset

    def _load(self, rows: list[ParsedRow]) -> None:
        docs = {row.doc_key for row in rows if row.doc_key and row.doc_key not in self.by_doc}
        emails = {row.email for row in rows if row.email}
        phones = {row.phone for row in rows if row.phone}
        if docs:
            # Both columns of the unique index, and its condition: an index scan on PostgreSQL.
            if self.kind == ImportKind.PERSON:
                numbers = defaultdict(set)
                for document_type, number in docs:
                    numbers[document_type].add(number)
                where = Q()
                for document_type, values in numbers.items():
                    where |= Q(document_type=document_type, document_number__in=values)
                found = self._queryset().filter(where).exclude(document_number="")
            else:
                found = self._queryset().filter(tax_id__in=docs).exclude(tax_id="")
            for obj in found:
                self._register(obj)
        wanted: set[int] = set()
        owner_id = f"{self.owner}_id"
        for model, values, column in (
            (EmailAddress, emails, "address"),
            (PhoneNumber, phones, "number"),
        ):
            if values:
                wanted.update(
                    model.objects.filter(**{f"{column}__in": values, f"{owner_id}__isnull": False})
                    .values_list(owner_id, flat=True)
                    .distinct()
                )
        for _depth in range(4):  # the candidates, then whom merged ones were merged into
            wanted -= set(self.by_id)
            if not wanted:
                break
            objects = list(self._queryset().filter(pk__in=wanted))
            for obj in objects:
                self._register(obj)
            wanted = {obj.merged_into_id for obj in objects if obj.merged_into_id}
        self._load_contacts()

    def _register(self, obj: Person | Organization) -> Record:
        record = self.by_id.get(obj.pk)
        if record is None:
            record = Record(obj, is_new=False)
            self.by_id[obj.pk] = record
            self.loaded.append(record)
            if record.doc_key:
                self.by_doc.setdefault(record.doc_key, record)
        return record

    def _load_contacts(self) -> None:
        pending = {record.obj.pk: record for record in self.loaded if not record.contacts_loaded}
        if not pending:
            return
        for record in pending.values():
            record.contacts_loaded = True
        owner_id = f"{self.owner}_id"
        where = {f"{owner_id}__in": list(pending)}
        # In the order they were added, as services.refresh_search_text lists them.
        emails = EmailAddress.objects.filter(**where).order_by("id")
        for pk, address in emails.values_list(owner_id, "address"):
            pending[pk].emails.append(address)
        phones = PhoneNumber.objects.filter(**where).order_by("id")
        for pk, number in phones.values_list(owner_id, "number"):
            pending[pk].phones.append(number)
        addresses = PostalAddress.objects.filter(**where).values_list(
            owner_id, "street", "number", "postcode", "municipality", "is_notification"
        )
        for pk, street, number, postcode, municipality, notification in addresses:
            record = pending[pk]
            record.address_keys.add(
                _address_key(
                    {
                        "street": street,
                        "number": number,
                        "postcode": postcode,
                        "municipality": municipality,
                    }
                )
            )
            record.has_notification_address |= notification
            record.municipalities.add(municipality_key(municipality))
        for record in pending.values():
            self._index(record)

    def _index(self, record: Record) -> None:
        if record.doc_key:
            self.by_doc.setdefault(record.doc_key, record)
        for email in record.emails:
            if not any(other is record for other in self.by_email[email]):
                self.by_email[email].append(record)
        for phone in record.phones:
            if not any(other is record for other in self.by_phone[phone]):
                self.by_phone[phone].append(record)

    # Deciding.

    def plan(self, rows: list[ParsedRow]) -> list[RowResult]:
        self._load([row for row in rows if not row.errors])
        results = [self._decide(row) for row in rows]
        if not self.commit:
            self._forget_unchanged()
        return results

    def _resolve(self, record: Record) -> Record:
        for _depth in range(4):
            merged_into = record.obj.merged_into_id
            if not merged_into or merged_into not in self.by_id:
                break
            record = self.by_id[merged_into]
        return record

    def _match(self, row: ParsedRow) -> tuple[Record | None, dict[str, Any] | None]:
        key = row.doc_key
        if key and key in self.by_doc:
            return self._resolve(self.by_doc[key]), None
        for name, value, index in (
            ("email", row.email, self.by_email),
            ("phone", row.phone, self.by_phone),
        ):
            if not value:
                continue
            candidates: list[Record] = []
            for record in index.get(value, ()):
                record = self._resolve(record)
                if key and record.doc_key and record.doc_key != key:
                    continue  # another document: another person sharing the email or phone
                if not any(other is record for other in candidates):
                    candidates.append(record)
            if len(candidates) == 1:
                return candidates[0], None
            if len(candidates) > 1:
                return None, row_error(
                    name,
                    _(
                        "This value belongs to %(count)s different records: merge them first, or "
                        "add the document number to the row."
                    ),
                    count=len(candidates),
                )
        return None, None

    def _decide(self, row: ParsedRow) -> RowResult:
        if row.errors:
            return RowResult(row, Action.REJECT, row.errors)
        record, problem = self._match(row)
        if problem:
            return RowResult(row, Action.REJECT, [problem])
        if record is None:
            required = REQUIRED[self.kind]
            if required not in row.fields:
                return RowResult(row, Action.REJECT, [row_error(required, _NEEDED_FOR_NEW)])
            record = Record(self.model(created_by=self.actor), is_new=True)
            changes = self._apply(record, row)
            action = Action.CREATE
        elif record.obj.blocked_at:
            return RowResult(row, Action.REJECT, [row_error("", _ERASED)])
        elif record.obj.restricted_at:
            return RowResult(row, Action.REJECT, [row_error("", _RESTRICTED)])
        else:
            changes = self._apply(record, row)
            action = Action.UPDATE if changes else Action.SKIP
        self.touched.setdefault(id(record), record)
        self._index(record)
        return RowResult(row, action, record=record, changes=changes)

    def _apply(self, record: Record, row: ParsedRow) -> list[str]:
        """Give the record the row's non-empty values; the names of what changed."""
        obj, changes = record.obj, []
        for name, value in row.fields.items():
            current = getattr(obj, name)
            if name == "tags":
                value = sorted(set(current) | set(value))
            elif name == "custom":
                value = {**current, **value}
            if value != current:
                setattr(obj, name, value)
                record.changed.add(name)
                changes.append(name)
        if row.email and row.email not in record.emails:
            record.new_emails.append((row.email, not record.emails))
            record.emails.append(row.email)
            changes.append("email")
        if row.phone and row.phone not in record.phones:
            record.new_phones.append((row.phone, row.phone_kind, not record.phones))
            record.phones.append(row.phone)
            changes.append("phone")
        if row.address:
            key = _address_key(row.address)
            if key not in record.address_keys:
                record.address_keys.add(key)
                notification = not record.has_notification_address
                record.has_notification_address = True
                record.new_addresses.append({**row.address, "is_notification": notification})
                record.municipalities.add(municipality_key(row.address.get("municipality", "")))
                changes.append("street")
        return changes

    def _forget_unchanged(self) -> None:
        """Dry run: drop the records this batch only looked at (the database still has them);
        keep the ones it would create or change, which later rows must see."""
        for record in self.loaded:
            if record.dirty:
                continue
            self.by_id.pop(record.obj.pk, None)
            if record.doc_key and self.by_doc.get(record.doc_key) is record:
                del self.by_doc[record.doc_key]
            for index, values in ((self.by_email, record.emails), (self.by_phone, record.phones)):
                for value in values:
                    index[value] = [other for other in index[value] if other is not record]
                    if not index[value]:
                        del index[value]
        self.loaded = []
        self.touched = {}

    # Writing (commit=True).

    def save(self) -> None:
        records = list(self.touched.values())
        new = [record for record in records if record.is_new]
        changed = [record for record in records if not record.is_new and record.dirty]
        now = timezone.now()
        for record in (*new, *changed):
            record.obj.search_text = record.search_text()
            record.obj.municipalities = sorted(record.municipalities - {""})
            record.obj.updated_at = now
        for record in new:
            record.obj.created_at = now
        copy_insert(self.model, [record.obj for record in new], assign_ids=True)
        if changed:
            names = set().union(*(record.changed for record in changed))
            copy_update(
                self.model,
                [record.obj for record in changed],
                sorted(names | {"search_text", "municipalities", "updated_at"}),
            )
        emails, phones, addresses = [], [], []
        owner_id = f"{self.owner}_id"
        for record in (*new, *changed):
            owner = {owner_id: record.obj.pk}
            emails += [
                {**owner, "address": address, "is_primary": primary}
                for address, primary in record.new_emails
            ]
            phones += [
                {**owner, "number": number, "kind": kind, "is_primary": primary}
                for number, kind, primary in record.new_phones
            ]
            addresses += [{**owner, **address} for address in record.new_addresses]
        copy_values(EmailAddress, emails)
        copy_values(PhoneNumber, phones)
        copy_values(PostalAddress, addresses)


# --- Writing many rows at once ----------------------------------------------------------------
# A batch writes thousands of rows: COPY takes them an order of magnitude faster than a multi-row
# INSERT (whose SQL Django and psycopg build in Python, and PostgreSQL parses). The columns are the
# model's own concrete fields and the values what Django would save (``get_db_prep_save``).


def _copy(cursor, table: str, fields: list[models.Field], rows: Iterable[Sequence[Any]]) -> None:
    # JSON and array values as Django saves them; text, numbers, dates and ids as they are.
    special = (models.JSONField, ArrayField)
    prepare = [
        partial(field.get_db_prep_save, connection=connection)
        if isinstance(field, special)
        else None
        for field in fields
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with cursor.cursor.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [p(value) if p else value for p, value in zip(prepare, row, strict=True)]
            )


def copy_insert(
    model: type[models.Model], objects: Sequence[models.Model], *, assign_ids: bool = False
) -> None:
    """Insert new instances; with ``assign_ids`` their ids are taken from the table's sequence
    first (so that contact points can point at them)."""
    if not objects:
        return
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    with connection.cursor() as cursor:
        if assign_ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(objects)],
            )
            for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
                obj.pk = pk
            fields.insert(0, meta.pk)
        rows = ([getattr(obj, field.attname) for field in fields] for obj in objects)
        _copy(cursor, meta.db_table, fields, rows)
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def copy_values(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as {attname: value}, without making instances; a field a row does not
    give gets its default."""
    if not rows:
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    defaults = [(field.attname, field.get_default()) for field in fields]
    with connection.cursor() as cursor:
        values = ([row.get(name, default) for name, default in defaults] for row in rows)
        _copy(cursor, model._meta.db_table, fields, values)


def copy_update(model: type[models.Model], objects: Sequence[models.Model], names: list[str]):
    """Update these fields of these instances: COPY into a temporary table, one UPDATE."""
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.pk, *(meta.get_field(name) for name in names)]
    table, changes = quote(meta.db_table), f"import_{meta.model_name}_changes"
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(f.column)} = changes.{quote(f.column)}" for f in fields[1:])
    pk = quote(meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {quote(changes)}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {quote(changes)} ON COMMIT DROP AS "  # noqa: S608 (names from the model)
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        rows = ([getattr(obj, field.attname) for field in fields] for obj in objects)
        _copy(cursor, changes, fields, rows)
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM {quote(changes)} AS changes "  # noqa: S608
            f"WHERE {table}.{pk} = changes.{pk}"
        )


# --- Services: from upload to the run ---------------------------------------------------------


def _queue(task_name: str, job_id: int) -> None:
    from citizens import tasks

    transaction.on_commit(partial(getattr(tasks, task_name).delay, job_id))


@transaction.atomic
def job_create(
    *, actor: User, kind: str, upload: UploadedFile, encoding: str = "", delimiter: str = ""
) -> ImportJob:
    """Keep an uploaded file that can be imported (ImportFileError otherwise)."""
    if upload.size is not None and upload.size > settings.IMPORT_MAX_FILE_SIZE:
        raise ImportFileError(
            _("The file is larger than %(limit)s MB: split it into smaller files."),
            limit=settings.IMPORT_MAX_FILE_SIZE // (1024 * 1024),
        )
    info = inspect_file(upload, upload.name or "", encoding=encoding, delimiter=delimiter)
    job = ImportJob(
        kind=kind,
        original_name=(upload.name or "")[:255],
        file_format=info.file_format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        headers=info.headers,
        total_rows=info.rows,
        batch_size=settings.IMPORT_BATCH_SIZE,
        created_by=actor,
    )
    upload.seek(0)
    job.file.save(upload.name or "import", upload, save=False)
    job.save()
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=job,
        changes={"kind": kind, "file": job.original_name, "rows": info.rows},
    )
    return job


def preview(job: ImportJob) -> list[list[str]]:
    with closing(read_rows(job)) as rows:
        return [cells for _number, cells in itertools.islice(rows, PREVIEW_ROWS)]


@transaction.atomic
def job_set_reading(*, job: ImportJob, actor: User, encoding: str, delimiter: str) -> ImportJob:
    """Read a CSV file again with another encoding or separator (the columns may change)."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    _require(job, Status.UPLOADED, Status.MAPPED, Status.VALIDATED)
    with job.file.open("rb") as file:
        info = inspect_file(file, job.original_name, encoding=encoding, delimiter=delimiter)
    job.encoding, job.delimiter, job.headers = info.encoding, info.delimiter, info.headers
    job.total_rows, job.status, job.column_mapping, job.dry_run = info.rows, Status.UPLOADED, [], {}
    job.save()
    return job


@transaction.atomic
def job_set_mapping(*, job: ImportJob, actor: User, mapping: list[str]) -> ImportJob:
    """Keep the column mapping (and remember it for the user's next import of this kind), then
    check the file: the dry run runs in the worker."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    _require(job, Status.UPLOADED, Status.MAPPED, Status.VALIDATED)
    check_mapping(job.kind, job.headers, mapping)
    job.column_mapping = list(mapping)
    job.status = Status.VALIDATING
    job.dry_run, job.processed_rows, job.heartbeat_at = {}, 0, timezone.now()
    job.save()
    saved, _created = ImportMapping.objects.select_for_update().get_or_create(
        user=actor, kind=job.kind
    )
    saved.mapping = {
        **saved.mapping,
        **{name_key(header): target for header, target in zip(job.headers, mapping, strict=True)},
    }
    saved.updated_at = timezone.now()
    saved.save()
    _queue("check_import", job.pk)
    return job


@transaction.atomic
def job_start(*, job: ImportJob, actor: User) -> ImportJob:
    """Run a checked import (in the worker)."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    _require(job, Status.VALIDATED)
    job.status, job.heartbeat_at, job.last_error = Status.QUEUED, timezone.now(), ""
    job.processed_rows = job.created_count = job.updated_count = 0
    job.rejected_count = job.skipped_count = 0
    job.save()
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=job,
        changes={"status": {"old": Status.VALIDATED, "new": Status.QUEUED}},
    )
    _queue("run_import", job.pk)
    return job


@transaction.atomic
def job_resume(*, job: ImportJob, actor: User) -> ImportJob:
    """Queue a failed import again: it goes on after the last row it committed."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    _require(job, Status.FAILED)
    job.status, job.heartbeat_at, job.claim_token = Status.QUEUED, timezone.now(), ""
    job.save()
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=job,
        changes={"status": {"old": Status.FAILED, "new": Status.QUEUED}},
    )
    _queue("run_import", job.pk)
    return job


class WrongStatus(Exception):
    pass


def _require(job: ImportJob, *statuses: str) -> None:
    if job.status not in statuses:
        raise WrongStatus(job.status)


def resume_stale(*, stale_after: timedelta | None = None) -> list[int]:
    """Queue again the imports that show no sign of life for ``stale_after`` (their worker died:
    a SIGKILLed worker's message only comes back after the broker's visibility timeout)."""
    if stale_after is None:
        stale_after = timedelta(minutes=settings.IMPORT_STALE_MINUTES)
    cutoff = timezone.now() - stale_after
    active = (Status.QUEUED, Status.RUNNING, Status.VALIDATING)
    stale = ImportJob.objects.filter(status__in=active).filter(
        Q(heartbeat_at__lte=cutoff) | Q(heartbeat_at__isnull=True)
    )
    resumed = []
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            # A job locked right now is in the middle of a batch: alive.
            job = stale.select_for_update(skip_locked=True).filter(pk=pk).first()
            if job is None:
                continue
            if job.status == Status.RUNNING:
                job.status, job.claim_token = Status.QUEUED, ""
            job.heartbeat_at = timezone.now()
            job.save(update_fields=["status", "claim_token", "heartbeat_at"])
            _queue("check_import" if job.status == Status.VALIDATING else "run_import", pk)
            resumed.append(pk)
    if resumed:
        logger.warning("Imports with no progress queued again: %s", resumed)
    return resumed


# --- The dry run ------------------------------------------------------------------------------


def _sample(result: RowResult) -> dict[str, Any]:
    record = result.record
    return {
        "row": result.row.number,
        **result.row.display,
        "target_id": record.obj.pk if record is not None and not record.is_new else None,
        "changes": result.changes,
        "errors": result.errors,
    }


def dry_run(job_id: int) -> None:
    """What every row would do, nothing written: counts and the first rows of each action."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.status != Status.VALIDATING:
        return
    mapping = list(job.column_mapping)
    try:
        summary, processed = _check_rows(job)
    except Exception as error:
        # Back to the columns page, which shows what went wrong.
        ImportJob.objects.filter(pk=job_id, status=Status.VALIDATING).update(
            status=Status.MAPPED, last_error=f"{type(error).__name__}: {error}"[:2000]
        )
        raise
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status != Status.VALIDATING or job.column_mapping != mapping:
            return  # the mapping changed meanwhile: that check is the one that counts
        job.dry_run = summary
        job.total_rows = processed
        job.status = Status.VALIDATED
        job.heartbeat_at = timezone.now()
        job.last_error = ""
        job.save()


def _check_rows(job: ImportJob) -> tuple[dict[str, Any], int]:
    parser = RowParser(job.kind, job.column_mapping)
    planner = Planner(job.kind, actor=job.created_by, commit=False)
    counts = dict.fromkeys(Action.values, 0)
    samples: dict[str, list[dict[str, Any]]] = {action: [] for action in Action.values}
    processed = 0
    with closing(read_rows(job)) as rows:
        for batch in itertools.batched(rows, job.batch_size):
            results = planner.plan([parser.parse(number, cells) for number, cells in batch])
            for result in results:
                counts[result.action] += 1
                if len(samples[result.action]) < SAMPLE_ROWS:
                    samples[result.action].append(_sample(result))
            processed += len(batch)
            ImportJob.objects.filter(pk=job.pk, status=Status.VALIDATING).update(
                processed_rows=processed, heartbeat_at=timezone.now()
            )
    return {"counts": counts, "rows": samples}, processed


# --- The run ----------------------------------------------------------------------------------


def claim(job_id: int, token: str) -> ImportJob | None:
    """Make ``token`` (the Celery task's id) the one runner of the job, or None when it is done,
    not queued, or run by someone else who is alive. The same task delivered again (after its
    worker died) takes its job back at once; another one after IMPORT_STALE_MINUTES."""
    stale_after = timedelta(minutes=settings.IMPORT_STALE_MINUTES)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None:
            return None  # gone, or another runner is committing a batch right now
        now = timezone.now()
        stale = job.heartbeat_at is None or job.heartbeat_at < now - stale_after
        if not (
            job.status == Status.QUEUED
            or (job.status == Status.RUNNING and (job.claim_token == token or stale))
        ):
            return None
        job.status, job.claim_token, job.heartbeat_at = Status.RUNNING, token, now
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "claim_token", "heartbeat_at", "started_at"])
    return job


def run(job_id: int, *, token: str) -> ImportJob | None:
    """Import the job's rows after ``last_row``, batch after batch, then mark it done."""
    job = claim(job_id, token)
    if job is None:
        logger.info("Import %s: nothing to do for %s", job_id, token)
        return None
    actor = job.created_by
    parser = RowParser(job.kind, job.column_mapping)
    try:
        with closing(read_rows(job)) as rows:
            pending = ((n, cells) for n, cells in rows if n > job.last_row)
            for batch in itertools.batched(pending, job.batch_size):
                parsed = [parser.parse(number, cells) for number, cells in batch]
                if not _commit_batch_retrying(job_id, token, parsed, actor):
                    logger.warning("Import %s: %s lost its claim; stopping", job_id, token)
                    return None
        return _finish(job_id, token)
    except Exception as error:
        _fail(job_id, token, error)
        raise


def _commit_batch_retrying(job_id: int, token: str, rows: list[ParsedRow], actor) -> bool:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return commit_batch(job_id, token, rows, actor)
        except (IntegrityError, OperationalError) as error:
            # Someone created a matching record between our lookup and our insert, or another
            # import locked the same records in another order: plan the batch again.
            retry = isinstance(error, IntegrityError) or _is_deadlock(error)
            if attempt == ATTEMPTS or not retry:
                raise
            logger.info("Import %s: batch conflicted, planning it again", job_id)
    return False  # pragma: no cover


def _is_deadlock(error: Exception) -> bool:
    return getattr(error.__cause__, "sqlstate", None) in ("40P01", "40001")


@transaction.atomic
def commit_batch(job_id: int, token: str, rows: list[ParsedRow], actor: User | None) -> bool:
    """One batch, all or nothing: its records, its ImportRow results, the job's counters and
    one audit event. False when the job is no longer ours."""
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status != Status.RUNNING or job.claim_token != token:
        return False
    rows = [row for row in rows if row.number > job.last_row]
    if not rows:
        return True
    planner = Planner(job.kind, actor=actor, commit=True)
    results = planner.plan(rows)
    planner.save()
    copy_values(
        ImportRow,
        [
            {
                "job_id": job.pk,
                "row_number": result.row.number,
                "action": result.action,
                "errors": result.errors,
                "values": result.row.cells if result.action == Action.REJECT else [],
                "target_id": result.record.obj.pk if result.record is not None else None,
            }
            for result in results
        ],
    )
    counts = dict.fromkeys(Action.values, 0)
    for result in results:
        counts[result.action] += 1
    job.created_count += counts[Action.CREATE]
    job.updated_count += counts[Action.UPDATE]
    job.rejected_count += counts[Action.REJECT]
    job.skipped_count += counts[Action.SKIP]
    job.processed_rows += len(results)
    job.last_row = rows[-1].number
    job.heartbeat_at = timezone.now()
    job.save(
        update_fields=[
            "created_count",
            "updated_count",
            "rejected_count",
            "skipped_count",
            "processed_rows",
            "last_row",
            "heartbeat_at",
        ]
    )
    # Last: the audit trail's lock is held from here to the commit only.
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=job,
        changes={
            "batch_rows": [rows[0].number, rows[-1].number],
            "created": counts[Action.CREATE],
            "updated": counts[Action.UPDATE],
            "unchanged": counts[Action.SKIP],
            "rejected": counts[Action.REJECT],
        },
    )
    return True


@transaction.atomic
def _finish(job_id: int, token: str) -> ImportJob | None:
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status != Status.RUNNING or job.claim_token != token:
        return None
    job.status, job.claim_token = Status.DONE, ""
    job.finished_at = job.heartbeat_at = timezone.now()
    if job.total_rows is None or job.total_rows < job.processed_rows:
        job.total_rows = job.processed_rows
    # Data minimisation: the file is not needed any more (rejected rows keep their values).
    if job.file:
        transaction.on_commit(partial(job.file.storage.delete, job.file.name))
        job.file = None
    job.save()
    return job


def _fail(job_id: int, token: str, error: Exception) -> None:
    try:
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
            if job is None or job.status != Status.RUNNING or job.claim_token != token:
                return
            job.status, job.claim_token = Status.FAILED, ""
            job.last_error = f"{type(error).__name__}: {error}"[:2000]
            job.save(update_fields=["status", "claim_token", "last_error"])
    except Exception:  # the database itself is down: resume_stale will pick the job up
        logger.exception("Import %s: could not record its failure", job_id)


# --- The report of rejected rows --------------------------------------------------------------


class ErrorDescriber:
    """Stored errors of a job's rows as "Column “DNI” (Identity document number): The check
    letter ...", in the current language."""

    def __init__(self, job: ImportJob) -> None:
        self.labels = target_labels(job.kind)
        self.columns = dict(zip(job.column_mapping, job.headers, strict=False))

    def __call__(self, errors: list[dict[str, Any]]) -> list[str]:
        described = []
        for error in errors:
            target = error.get("field") or ""
            text = describe_error(error)
            if target in self.columns:
                text = gettext("Column “%(column)s” (%(field)s): %(error)s") % {
                    "column": self.columns[target],
                    "field": self.labels.get(target, target),
                    "error": text,
                }
            described.append(text)
        return described


def rejected_rows(job: ImportJob) -> Iterator[tuple[int, list[str], list[str]]]:
    """(row number, the row's cells, the reasons) of every rejected row, in file order."""
    describe = ErrorDescriber(job)
    rows = job.rows.filter(action=Action.REJECT).order_by("row_number")
    for row in rows.iterator(chunk_size=2000):
        yield row.row_number, list(row.values), describe(row.errors)
