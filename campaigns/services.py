"""Every write on campaigns, segments, static lists, budgets and objectives (sending is
campaigns.sending's). Each service is atomic and writes the audit trail."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from citizens.import_files import (
    ImportFileError,
    _clean_rows,
    _decode,
    _detect_format,
    _guess_document_type,
    _open_workbook,
    _sniff_delimiter,
    _xlsx_rows,
)
from citizens.models import Channel, EmailAddress, Interaction, Person
from citizens.services import interaction_log
from citizens.validation import clean_document
from crm.audit import diff, log_event
from crm.models import AuditAction, User

from . import messages as campaign_messages
from . import segments
from .models import (
    BudgetLine,
    Campaign,
    EmailTemplate,
    Objective,
    Segment,
    StaticList,
    StaticListMember,
)

Status = Campaign.Status

# What staff may do by hand; sending (running, paused, finished of an email campaign) belongs to
# campaigns.sending.
MANUAL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "schedule": (Status.DRAFT,),
    "unschedule": (Status.SCHEDULED,),
    "start": (Status.SCHEDULED,),  # campaigns without email
    "finish": (Status.RUNNING, Status.PAUSED),  # campaigns without email
    "cancel": (Status.DRAFT, Status.SCHEDULED, Status.PAUSED),
}
TARGETS = {
    "schedule": Status.SCHEDULED,
    "unschedule": Status.DRAFT,
    "start": Status.RUNNING,
    "finish": Status.FINISHED,
    "cancel": Status.CANCELLED,
}
MAX_UPLOAD_ROWS = 200_000


def _require_manage(actor: User | None) -> None:
    if actor is None or not actor.has_perm("campaigns.manage"):
        raise PermissionDenied


def _audit(actor, action, obj, changes: dict[str, Any]) -> None:
    log_event(actor=actor, action=action, obj=obj, changes=changes)


# --- Campaigns ------------------------------------------------------------------------------

CAMPAIGN_FIELDS = (
    "name",
    "code",
    "kind",
    "description",
    "unit",
    "starts_on",
    "ends_on",
    "channels",
    "purpose",
    "segment",
    "static_list",
    "track_opens",
    "track_clicks",
    "send_rate",
)
EMAIL_FIELDS = ("email_subject", "email_html", "email_text", "email_language", "landing_url")


def check_email(campaign: Campaign) -> None:
    """ValidationError (by field) when the campaign's templates cannot be used."""
    errors: dict[str, list] = {}
    for field, html in (("email_subject", False), ("email_html", True), ("email_text", False)):
        try:
            campaign_messages.check_template(getattr(campaign, field), html=html)
        except ValidationError as error:
            errors[field] = error.messages
    if errors:
        raise ValidationError(errors)


def _full_clean(campaign: Campaign) -> None:
    errors: dict[str, list] = {}
    try:
        campaign.full_clean(validate_constraints=False)  # the period is checked below
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        check_email(campaign)
    except ValidationError as error:
        errors.update(error.message_dict)
    if campaign.starts_on and campaign.ends_on and campaign.ends_on < campaign.starts_on:
        errors.setdefault("ends_on", []).append(_("The campaign cannot end before it starts."))
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def campaign_create(*, actor: User, **fields: Any) -> Campaign:
    _require_manage(actor)
    campaign = Campaign(created_by=actor, **fields)
    _full_clean(campaign)
    campaign.save()
    _audit(
        actor,
        AuditAction.CREATE,
        campaign,
        {"name": campaign.name, "code": campaign.code, "status": campaign.status},
    )
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor: User, **fields: Any) -> Campaign:
    """Change a draft or scheduled campaign (its definition and email); a running one keeps
    its target and email, only its name, description, period and unit change."""
    _require_manage(actor)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    allowed = set(CAMPAIGN_FIELDS) | set(EMAIL_FIELDS)
    if not campaign.is_editable:
        allowed = {"name", "description", "unit", "ends_on"}
    refused = set(fields) - allowed
    if refused:
        raise ValidationError(
            {name: _("It cannot change once the campaign has started.") for name in refused}
        )
    before = {name: getattr(campaign, name) for name in fields}
    for name, value in fields.items():
        setattr(campaign, name, value)
    _full_clean(campaign)
    campaign.updated_at = timezone.now()
    campaign.save()
    changes = diff(before, {name: getattr(campaign, name) for name in fields})
    if changes:
        _audit(actor, AuditAction.UPDATE, campaign, changes)
    return campaign


def launch_problems(campaign: Campaign) -> list[str]:
    """What keeps the campaign from being scheduled (empty: nothing)."""
    problems = []
    if campaign.segment_id is None and campaign.static_list_id is None:
        problems.append(_("Choose its target public: a segment, a static list or both."))
    if not campaign.channels:
        problems.append(_("Choose at least one channel."))
    if campaign.sends_email:
        if campaign.purpose_id is None:
            problems.append(_("An email campaign needs the consent purpose it is sent for."))
        if not campaign.email_subject.strip():
            problems.append(_("Write the email's subject."))
        if not campaign.email_html.strip() or not campaign.email_text.strip():
            problems.append(_("Write the email's HTML and text bodies."))
    return problems


@transaction.atomic
def campaign_transition(*, campaign: Campaign, action: str, actor: User) -> Campaign:
    """schedule / unschedule / start / finish / cancel (see MANUAL_TRANSITIONS)."""
    _require_manage(actor)
    if action not in MANUAL_TRANSITIONS:
        raise ValueError(f"Unknown action {action!r}")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in MANUAL_TRANSITIONS[action]:
        raise ValidationError(
            _("A campaign in status “%(status)s” cannot do this.")
            % {"status": campaign.get_status_display()}
        )
    if action == "schedule":
        problems = launch_problems(campaign)
        if problems:
            raise ValidationError(problems)
    if action in ("start", "finish") and campaign.sends_email:
        raise ValidationError(
            _("An email campaign starts and finishes with its sending (launch, then it ends).")
        )
    if action == "cancel" and campaign.status == Status.PAUSED:
        from campaigns import sending

        skipped = sending.cancel_pending(campaign.pk)
        if skipped:
            _audit(actor, AuditAction.UPDATE, campaign, {"deliveries cancelled": [0, skipped]})
    old = campaign.status
    campaign.status = TARGETS[action]
    campaign.updated_at = timezone.now()
    campaign.save(update_fields=["status", "updated_at"])
    _audit(actor, AuditAction.UPDATE, campaign, {"status": [old, campaign.status]})
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign, actor: User) -> None:
    _require_manage(actor)
    if campaign.status != Status.DRAFT:
        raise ValidationError(_("Only a draft can be deleted; cancel the campaign instead."))
    _audit(actor, AuditAction.DELETE, campaign, {"name": campaign.name, "code": campaign.code})
    campaign.delete()


# --- Email ----------------------------------------------------------------------------------


def campaign_test_send(*, campaign: Campaign, person: Person, actor: User) -> str:
    """Send the campaign's email, merged for ``person``, to the author alone (marked as a
    test). Returns the address it went to; SMTP errors raise."""
    from django.core.mail import EmailMultiAlternatives

    _require_manage(actor)
    if not actor.email:
        raise ValidationError(_("Your account has no email address to send the test to."))
    check_email(campaign)
    rendered = campaign_messages.render(
        campaign, person, unsubscribe_url=f"{_site_url()}/unsubscribe-test/"
    )
    message = EmailMultiAlternatives(
        subject=f"[{_('TEST')}] {rendered.subject}",
        body=rendered.text,
        to=[actor.email],
        headers={"Content-Language": campaign.email_language, "X-CRM-Test": campaign.code},
    )
    message.attach_alternative(rendered.html, "text/html")
    message.send()
    log_event(
        actor=actor,
        action=AuditAction.READ,
        obj=person,
        changes={"campaign_test_email": campaign.code, "to": actor.email},
    )
    return actor.email


def _site_url() -> str:
    return settings.PUBLIC_BASE_URL


@transaction.atomic
def email_template_save(
    *, actor: User, template: EmailTemplate | None = None, **fields: Any
) -> EmailTemplate:
    """Create or change a reusable email; its texts are checked as a campaign's are."""
    _require_manage(actor)
    created = template is None
    template = template or EmailTemplate(created_by=actor)
    before = {name: getattr(template, name) for name in fields}
    for name, value in fields.items():
        setattr(template, name, value)
    errors: dict[str, list] = {}
    for field, html in (("subject", False), ("html_body", True), ("text_body", False)):
        try:
            campaign_messages.check_template(getattr(template, field), html=html)
        except ValidationError as error:
            errors[field] = error.messages
    try:
        template.full_clean()
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    template.updated_at = timezone.now()
    template.save()
    _audit(
        actor,
        AuditAction.CREATE if created else AuditAction.UPDATE,
        template,
        {"name": template.name} if created else diff(before, fields),
    )
    return template


@transaction.atomic
def email_template_delete(*, template: EmailTemplate, actor: User) -> None:
    _require_manage(actor)
    _audit(actor, AuditAction.DELETE, template, {"name": template.name})
    template.delete()


def campaign_email_from_template(
    *, campaign: Campaign, template: EmailTemplate, actor: User
) -> Campaign:
    """The campaign's email becomes a copy of the template (a draft or scheduled campaign)."""
    return campaign_update(
        campaign=campaign,
        actor=actor,
        email_subject=template.subject,
        email_html=template.html_body,
        email_text=template.text_body,
        email_language=template.language,
    )


# --- Budget and objectives ------------------------------------------------------------------


@transaction.atomic
def budget_line_save(*, campaign: Campaign, actor: User, line: BudgetLine | None = None, **fields):
    _require_manage(actor)
    line = line or BudgetLine(campaign=campaign)
    if line.campaign_id != campaign.pk:
        raise PermissionDenied
    before = {name: getattr(line, name) for name in fields} if line.pk else {}
    created = line.pk is None
    for name, value in fields.items():
        setattr(line, name, value)
    line.currency = (line.currency or "EUR").upper()
    line.full_clean()
    line.save()
    _audit(
        actor,
        AuditAction.CREATE if created else AuditAction.UPDATE,
        line,
        {"campaign": campaign.pk, **diff(before, fields)},
    )
    return line


@transaction.atomic
def budget_line_delete(*, line: BudgetLine, actor: User) -> None:
    _require_manage(actor)
    _audit(actor, AuditAction.DELETE, line, {"campaign": line.campaign_id, "concept": line.concept})
    line.delete()


@transaction.atomic
def objective_save(
    *, campaign: Campaign, actor: User, objective: Objective | None = None, **fields
) -> Objective:
    _require_manage(actor)
    objective = objective or Objective(campaign=campaign)
    if objective.campaign_id != campaign.pk:
        raise PermissionDenied
    created = objective.pk is None
    before = {name: getattr(objective, name) for name in fields}
    for name, value in fields.items():
        setattr(objective, name, value)
    objective.full_clean()
    objective.save()
    _audit(
        actor,
        AuditAction.CREATE if created else AuditAction.UPDATE,
        objective,
        {"campaign": campaign.pk, **diff(before, fields)},
    )
    return objective


@transaction.atomic
def objective_delete(*, objective: Objective, actor: User) -> None:
    _require_manage(actor)
    _audit(
        actor,
        AuditAction.DELETE,
        objective,
        {"campaign": objective.campaign_id, "name": objective.name},
    )
    objective.delete()


# --- Interactions of other channels ---------------------------------------------------------

INTERACTION_CHANNELS = {
    "letter": Channel.LETTER,
    "phone": Channel.PHONE,
    "event": Channel.IN_PERSON,
    "social": Channel.SOCIAL,
}


@transaction.atomic
def campaign_interaction_record(
    *,
    campaign: Campaign,
    person: Person,
    channel: str,
    subject: str,
    actor: User,
    text: str = "",
    direction: str = Interaction.Direction.OUTBOUND,
    occurred_at: datetime | None = None,
) -> Interaction:
    """A letter, call, event attendance or social-network contact of the campaign, in the
    person's timeline (linked to the campaign)."""
    _require_manage(actor)
    if channel not in INTERACTION_CHANNELS:
        raise ValidationError({"channel": _("Choose a channel.")})
    return interaction_log(
        actor=actor,
        person=person,
        channel=INTERACTION_CHANNELS[channel],
        direction=direction,
        subject=subject,
        text=text,
        occurred_at=occurred_at,
        unit=campaign.unit,
        related=campaign,
    )


# --- Segments and static lists --------------------------------------------------------------


@transaction.atomic
def segment_save(
    *, actor: User, name: str, rules: Any, description: str = "", segment: Segment | None = None
) -> Segment:
    _require_manage(actor)
    rules = segments.clean_rules(rules)
    created = segment is None
    segment = segment or Segment(created_by=actor)
    before = {"name": segment.name, "description": segment.description, "rules": segment.rules}
    segment.name, segment.description, segment.rules = name, description, rules
    segment.updated_at = timezone.now()
    segment.full_clean()
    segment.save()
    after = {"name": name, "description": description, "rules": rules}
    _audit(
        actor,
        AuditAction.CREATE if created else AuditAction.UPDATE,
        segment,
        after if created else diff(before, after),
    )
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor: User) -> None:
    _require_manage(actor)
    if segment.campaigns.exists():
        raise ValidationError(_("Campaigns target this segment: change them first."))
    _audit(actor, AuditAction.DELETE, segment, {"name": segment.name})
    segment.delete()


@transaction.atomic
def segment_freeze(*, segment: Segment, actor: User, name: str = "") -> StaticList:
    """A static list of the segment's members now, written in one INSERT ... SELECT."""
    _require_manage(actor)
    static_list = StaticList.objects.create(
        name=name
        or _("%(segment)s on %(date)s") % {"segment": segment.name, "date": timezone.localdate()},
        source=StaticList.Source.FROZEN,
        segment=segment,
        created_by=actor,
    )
    people = segments.members(segment).values("pk")
    sql, params = people.query.sql_with_params()
    insert = (
        f"INSERT INTO {StaticListMember._meta.db_table} (static_list_id, person_id) "  # noqa: S608
        f"SELECT %s, people.person_id FROM ({sql}) AS people (person_id)"  # Django's SQL
    )
    with connection.cursor() as cursor:
        cursor.execute(insert, [static_list.pk, *params])
        static_list.size = cursor.rowcount
    static_list.save(update_fields=["size"])
    _audit(
        actor,
        AuditAction.CREATE,
        static_list,
        {"frozen_from": segment.pk, "people": static_list.size},
    )
    return static_list


@dataclass(frozen=True)
class UploadRow:
    row: int
    value: str
    error: str


_EMAIL_LIKE = re.compile(r"@")


def _upload_rows(file, name: str) -> Iterable[tuple[int, str]]:
    """(row number, first non-empty cell) of a CSV or XLSX file."""
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    if _detect_format(name, head) == "xlsx":
        workbook = _open_workbook(file)
        try:
            rows = list(_xlsx_rows(workbook))
        finally:
            workbook.close()
    else:
        text, _encoding = _decode(file.read(), "")
        delimiter = _sniff_delimiter(text)
        try:
            rows = list(
                _clean_rows(enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1))
            )
        except csv.Error as error:
            raise ImportFileError(
                _("The CSV file is malformed (%(error)s): check its quotes."), error=str(error)
            ) from None
    for number, cells in rows:
        value = next((cell for cell in cells if cell), "")
        yield number, value


@transaction.atomic
def static_list_upload(
    *, actor: User, name: str, file, filename: str, description: str = ""
) -> StaticList:
    """A static list from a file with one document number (DNI/NIE) or email per row (first
    column; a header row is skipped). Rows that match nobody or are malformed are kept, with
    their reason, in ``rejected``. ImportFileError when the file cannot be read at all."""
    _require_manage(actor)
    documents: dict[str, list[int]] = {}
    emails: dict[str, list[int]] = {}
    rejected: list[UploadRow] = []
    rows = list(_upload_rows(file, filename))
    if len(rows) > MAX_UPLOAD_ROWS:
        raise ImportFileError(_("At most %(n)s rows per file."), n=MAX_UPLOAD_ROWS)
    for index, (number, value) in enumerate(rows):
        if _EMAIL_LIKE.search(value):
            try:
                validate_email(value)
            except ValidationError:
                rejected.append(UploadRow(number, value, _("This is not a valid email.")))
                continue
            emails.setdefault(value.strip().lower(), []).append(number)
            continue
        document_type = _guess_document_type(value)
        try:
            if not document_type:
                raise ValidationError(_("Neither an email nor a DNI/NIE."))
            document = clean_document(document_type, value)
        except ValidationError as error:
            if index == 0:
                continue  # a header ("DNI", "email"...)
            rejected.append(UploadRow(number, value, " ".join(error.messages)))
            continue
        documents.setdefault(document, []).append(number)
    eligible = segments.eligible_people()
    found: set[int] = set()
    by_document = dict(
        eligible.filter(document_number__in=list(documents)).values_list("document_number", "pk")
    )
    by_email: dict[str, int] = {}
    for address, person_id in (
        EmailAddress.objects.filter(address__in=list(emails), person__in=eligible)
        .order_by("person_id")
        .values_list("address", "person_id")
    ):
        by_email.setdefault(address, person_id)
    for key, numbers, table in (
        *((k, v, by_document) for k, v in documents.items()),
        *((k, v, by_email) for k, v in emails.items()),
    ):
        if key in table:
            found.add(table[key])
        else:
            rejected.extend(UploadRow(n, key, _("Nobody in the register has it.")) for n in numbers)
    if not found:
        raise ImportFileError(_("No row of the file matches a person of the register."))
    rejected.sort(key=lambda row: row.row)
    static_list = StaticList.objects.create(
        name=name,
        description=description,
        source=StaticList.Source.UPLOAD,
        size=len(found),
        rejected=[row.__dict__ for row in rejected[:1000]],
        created_by=actor,
    )
    StaticListMember.objects.bulk_create(
        [StaticListMember(static_list=static_list, person_id=pk) for pk in sorted(found)],
        batch_size=5000,
    )
    _audit(
        actor,
        AuditAction.CREATE,
        static_list,
        {"file": filename, "people": len(found), "rejected": len(rejected)},
    )
    return static_list


@transaction.atomic
def static_list_delete(*, static_list: StaticList, actor: User) -> None:
    _require_manage(actor)
    if static_list.campaigns.exists():
        raise ValidationError(_("Campaigns target this list: change them first."))
    _audit(actor, AuditAction.DELETE, static_list, {"name": static_list.name})
    static_list.delete()
