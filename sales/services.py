"""Every write of the funnel: leads, conversion, opportunities and their moves, quotes and
agreements. Each function is atomic, checks what it needs and writes the audit trail
(``crm.audit.log_event``). Field work (visits, tasks) has its own services in
``sales.fieldwork``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.es import nie

from citizens.models import (
    Channel,
    DocumentType,
    EmailAddress,
    Interaction,
    Organization,
    Person,
)
from citizens.services import (
    Contacts,
    EmailInput,
    PhoneInput,
    interaction_log,
    organization_create,
    person_create,
)
from citizens.services import (
    find_person as citizens_find_person,
)
from citizens.validation import clean_tax_id
from crm.audit import diff, log_event
from crm.models import AuditAction, User
from crm.registry import next_registry_number

from .models import (
    OPEN_LEAD_STATUSES,
    Agreement,
    Lead,
    LeadEvent,
    LeadSource,
    LeadStatus,
    Opportunity,
    OpportunityLine,
    OpportunityStatus,
    Pipeline,
    Product,
    Quote,
    QuoteLine,
    QuoteVersion,
    QuoteVersionStatus,
    Stage,
)
from .quotes import LineInput, quote_totals

QUOTE_SERIES = "PRE"  # presupuesto

OPPORTUNITY_FIELDS = (
    "title",
    "person",
    "organization",
    "pipeline",
    "stage",
    "amount",
    "currency",
    "expected_close",
    "owner",
    "unit",
    "description",
)
LEAD_FIELDS = (
    "given_name",
    "surnames",
    "document_number",
    "email",
    "phone",
    "organization_name",
    "tax_id",
    "interest",
    "event",
    "language",
    "owner",
    "unit",
)
# Personal values the audit records as "changed" without showing them.
LEAD_MASKED = ("document_number", "email", "phone", "given_name", "surnames")


def _snapshot(obj, names) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _require_manage(actor: User | None) -> None:
    """Writes of the funnel need ``sales.manage`` (None: the system, e.g. the public form)."""
    if actor is not None and not actor.has_perm("sales.manage"):
        raise PermissionDenied


# --- Leads -------------------------------------------------------------------------------------


def _lead_event(lead: Lead, *, actor: User | None, status: str = "", note: str = "") -> LeadEvent:
    return LeadEvent.objects.create(lead=lead, actor=actor, status=status, note=note)


@transaction.atomic
def lead_create(*, actor: User | None, source: str, note: str = "", **fields) -> Lead:
    """A new lead from the public form (actor None), staff entry, an import or a fair."""
    _require_manage(actor)
    if source not in LeadSource.values:
        raise ValueError(f"Unknown lead source {source!r}")
    unknown = set(fields) - set(LEAD_FIELDS)
    if unknown:
        raise TypeError(f"Unknown lead fields: {sorted(unknown)}")
    lead = Lead(source=source, created_by=actor, **fields)
    if lead.owner is None and actor is not None:
        lead.owner = actor
    lead.email = lead.email.strip().lower()
    lead.full_clean()
    lead.save()
    _lead_event(lead, actor=actor, status=LeadStatus.NEW, note=note)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=lead,
        changes=diff({}, {"source": source, **fields}, masked=LEAD_MASKED),
    )
    return lead


@transaction.atomic
def lead_update(*, lead: Lead, actor: User, **fields) -> Lead:
    _require_manage(actor)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if not lead.is_open:
        raise ValidationError(_("A converted or discarded lead cannot be changed."))
    unknown = set(fields) - set(LEAD_FIELDS)
    if unknown:
        raise TypeError(f"Unknown lead fields: {sorted(unknown)}")
    before = _snapshot(lead, fields)
    for name, value in fields.items():
        setattr(lead, name, value)
    lead.email = lead.email.strip().lower()
    lead.full_clean()
    lead.save()
    changes = diff(before, fields, masked=LEAD_MASKED)
    if changes:
        _lead_event(lead, actor=actor, note=_("Data changed."))
        log_event(actor=actor, action=AuditAction.UPDATE, obj=lead, changes=changes)
    return lead


# The moves a lead's status allows by hand (conversion has its own service).
LEAD_TRANSITIONS = {
    LeadStatus.NEW: {LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.DISCARDED},
    LeadStatus.CONTACTED: {LeadStatus.QUALIFIED, LeadStatus.DISCARDED},
    LeadStatus.QUALIFIED: {LeadStatus.CONTACTED, LeadStatus.DISCARDED},
    LeadStatus.DISCARDED: {LeadStatus.NEW},
    LeadStatus.CONVERTED: set(),
}


@transaction.atomic
def lead_set_status(*, lead: Lead, actor: User, status: str, note: str = "") -> Lead:
    """Contacted, qualified, discarded (a reason is required) or back to new."""
    _require_manage(actor)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if status not in LEAD_TRANSITIONS[LeadStatus(lead.status)]:
        raise ValidationError(
            _("A lead that is %(current)s cannot become %(new)s.")
            % {"current": lead.get_status_display(), "new": LeadStatus(status).label}
        )
    note = note.strip()
    if status == LeadStatus.DISCARDED and not note:
        raise ValidationError({"note": _("Say why the lead is discarded.")})
    before = lead.status
    lead.status = status
    lead.discard_reason = note[:200] if status == LeadStatus.DISCARDED else ""
    lead.save(update_fields=["status", "discard_reason"])
    _lead_event(lead, actor=actor, status=status, note=note)
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=lead,
        changes={"status": {"old": before, "new": status}, "note": note},
    )
    return lead


@transaction.atomic
def lead_add_note(*, lead: Lead, actor: User, note: str) -> LeadEvent:
    _require_manage(actor)
    note = note.strip()
    if not note:
        raise ValidationError({"note": _("Write the note.")})
    event = _lead_event(lead, actor=actor, note=note)
    log_event(actor=actor, action=AuditAction.UPDATE, obj=lead, changes={"note": note})
    return event


def _document_type(number: str) -> str:
    return DocumentType.NIE if nie.is_valid(number) else DocumentType.DNI


def find_person(*, document_number: str = "", email: str = "") -> Person | None:
    """The person a lead already is: the same rule as the public site's filings
    (citizens.services.find_person)."""
    return citizens_find_person(document_number=document_number, email=email)


def find_organization(*, tax_id: str = "", name: str = "", email: str = "") -> Organization | None:
    """The organisation a lead already is: the same tax id; without one, an organisation with
    this email; without either, one of exactly this name (case aside)."""
    organizations = Organization.objects.in_use()
    if tax_id:
        found = organizations.filter(tax_id=tax_id).order_by("pk").first()
        if found:
            return found
    if email:
        owner = (
            EmailAddress.objects.filter(address__iexact=email, organization__isnull=False)
            .order_by("organization_id")
            .values_list("organization_id", flat=True)
            .first()
        )
        if owner and organizations.filter(pk=owner).exists():
            return Organization.objects.get(pk=owner)
    if name and not tax_id:
        return organizations.filter(name__iexact=name.strip()).order_by("pk").first()
    return None


@dataclass(frozen=True)
class Conversion:
    lead: Lead
    person: Person | None
    organization: Organization | None
    opportunity: Opportunity
    person_created: bool
    organization_created: bool


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    actor: User,
    pipeline: Pipeline,
    stage: Stage | None = None,
    title: str = "",
    amount: Decimal = Decimal("0"),
    currency: str = "EUR",
    expected_close: date | None = None,
) -> Conversion:
    """The lead becomes a person and/or organisation (the existing ones when the document, tax
    id or email match) and an opportunity, in one transaction; the lead keeps its history and
    points at what it became, so that those records show it."""
    _require_manage(actor)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status not in OPEN_LEAD_STATUSES:
        raise ValidationError(_("Only a new, contacted or qualified lead can be converted."))
    person = organization = None
    person_created = organization_created = False
    if lead.given_name:
        person = find_person(document_number=lead.document_number, email=lead.email)
        if person is None:
            surnames = lead.surnames.split(maxsplit=1)
            person = person_create(
                actor=actor,
                given_name=lead.given_name,
                first_surname=surnames[0] if surnames else "",
                second_surname=surnames[1] if len(surnames) > 1 else "",
                document_type=_document_type(lead.document_number) if lead.document_number else "",
                document_number=lead.document_number,
                preferred_language=lead.language or "es",
                contacts=Contacts(
                    emails=[EmailInput(lead.email, is_primary=True)] if lead.email else [],
                    phones=[PhoneInput(lead.phone, is_primary=True)] if lead.phone else [],
                ),
            )
            person_created = True
    if lead.organization_name or lead.tax_id:
        tax_id = clean_tax_id(lead.tax_id) if lead.tax_id else ""
        organization = find_organization(
            tax_id=tax_id,
            name=lead.organization_name,
            email="" if person is not None else lead.email,
        )
        if organization is None:
            organization = organization_create(
                actor=actor,
                name=lead.organization_name or tax_id,
                tax_id=tax_id,
                contacts=Contacts(
                    emails=[EmailInput(lead.email, is_primary=True)]
                    if lead.email and person is None
                    else []
                ),
            )
            organization_created = True
    stage = stage or pipeline.stages.order_by("order", "id").first()
    opportunity = opportunity_create(
        actor=actor,
        title=title or lead.interest[:200] or str(lead),
        person=person,
        organization=organization,
        pipeline=pipeline,
        stage=stage,
        amount=amount,
        currency=currency,
        expected_close=expected_close,
        owner=lead.owner or actor,
        unit=lead.unit,
        description=lead.interest,
    )
    status_before = lead.status
    lead.status = LeadStatus.CONVERTED
    lead.person, lead.organization, lead.opportunity = person, organization, opportunity
    lead.converted_at = timezone.now()
    lead.save(update_fields=["status", "person", "organization", "opportunity", "converted_at"])
    _lead_event(lead, actor=actor, status=LeadStatus.CONVERTED, note=str(opportunity))
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=lead,
        changes={
            "status": {"old": status_before, "new": LeadStatus.CONVERTED},
            "person": getattr(person, "pk", None),
            "organization": getattr(organization, "pk", None),
            "opportunity": opportunity.pk,
            "person_created": person_created,
            "organization_created": organization_created,
        },
    )
    return Conversion(lead, person, organization, opportunity, person_created, organization_created)


# --- Opportunities -----------------------------------------------------------------------------


def _check_stage(pipeline: Pipeline, stage: Stage) -> None:
    if stage.pipeline_id != pipeline.pk:
        raise ValidationError({"stage": _("This stage belongs to another pipeline.")})


def _top_position(stage: Stage) -> int:
    """A position before every open card of the stage: a moved or new card shows first."""
    lowest = Opportunity.objects.open().filter(stage=stage).aggregate(low=Min("position"))["low"]
    return (lowest if lowest is not None else 0) - 1


@transaction.atomic
def opportunity_create(
    *, actor: User | None, lines: Sequence[tuple[Product, Decimal]] = (), **fields
) -> Opportunity:
    """A new open opportunity (from a converted lead, a visit or staff). ``fields`` are model
    fields: title, person and/or organization, pipeline, stage (default: the first), amount,
    currency, expected_close, owner, unit, description."""
    _require_manage(actor)
    unknown = set(fields) - set(OPPORTUNITY_FIELDS)
    if unknown:
        raise TypeError(f"Unknown opportunity fields: {sorted(unknown)}")
    pipeline = fields["pipeline"]
    if fields.get("stage") is None:
        fields["stage"] = pipeline.stages.order_by("order", "id").first()
    _check_stage(pipeline, fields["stage"])
    fields["currency"] = (fields.get("currency") or "EUR").upper()
    opportunity = Opportunity(created_by=actor, **fields)
    if opportunity.owner is None and actor is not None:
        opportunity.owner = actor
    opportunity.position = _top_position(fields["stage"])
    opportunity.full_clean()
    opportunity.save()
    for product, quantity in lines:
        OpportunityLine.objects.create(opportunity=opportunity, product=product, quantity=quantity)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=opportunity,
        changes=diff({}, {name: fields.get(name) for name in fields}),
    )
    return opportunity


def _locked(opportunity: Opportunity) -> Opportunity:
    return Opportunity.objects.select_for_update().get(pk=opportunity.pk)


@transaction.atomic
def opportunity_update(*, opportunity: Opportunity, actor: User, **fields) -> Opportunity:
    _require_manage(actor)
    unknown = set(fields) - set(OPPORTUNITY_FIELDS)
    if unknown:
        raise TypeError(f"Unknown opportunity fields: {sorted(unknown)}")
    opportunity = _locked(opportunity)
    before = _snapshot(opportunity, fields)
    for name, value in fields.items():
        setattr(opportunity, name, value)
    opportunity.currency = opportunity.currency.upper()
    _check_stage(opportunity.pipeline, opportunity.stage)
    opportunity.full_clean()
    opportunity.save()
    changes = diff(before, fields)
    if changes:
        log_event(actor=actor, action=AuditAction.UPDATE, obj=opportunity, changes=changes)
    return opportunity


@transaction.atomic
def opportunity_move(*, opportunity: Opportunity, stage: Stage, actor: User) -> Opportunity:
    """Move an open opportunity to another stage of its pipeline (the board's drag and drop
    and its buttons); it goes first in the new column."""
    _require_manage(actor)
    opportunity = _locked(opportunity)
    if opportunity.status != OpportunityStatus.OPEN:
        raise ValidationError(_("Only an open opportunity can change stage."))
    _check_stage(opportunity.pipeline, stage)
    if opportunity.stage_id == stage.pk:
        return opportunity
    before = opportunity.stage_id
    opportunity.stage = stage
    opportunity.position = _top_position(stage)
    opportunity.save(update_fields=["stage", "position"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opportunity,
        changes={"stage": {"old": before, "new": stage.pk}},
    )
    return opportunity


@transaction.atomic
def opportunity_close(
    *, opportunity: Opportunity, actor: User, won: bool, reason: str
) -> Opportunity:
    """Won or lost, with a reason (required when lost)."""
    _require_manage(actor)
    opportunity = _locked(opportunity)
    if opportunity.status != OpportunityStatus.OPEN:
        raise ValidationError(_("This opportunity is already closed."))
    reason = reason.strip()
    if not won and not reason:
        raise ValidationError({"reason": _("Say why the opportunity was lost.")})
    opportunity.status = OpportunityStatus.WON if won else OpportunityStatus.LOST
    opportunity.reason = reason[:200]
    opportunity.closed_at = timezone.now()
    opportunity.save(update_fields=["status", "reason", "closed_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opportunity,
        changes={"status": {"old": "open", "new": opportunity.status}, "reason": reason},
    )
    return opportunity


@transaction.atomic
def opportunity_reopen(*, opportunity: Opportunity, actor: User) -> Opportunity:
    _require_manage(actor)
    opportunity = _locked(opportunity)
    if opportunity.status == OpportunityStatus.OPEN:
        return opportunity
    before = opportunity.status
    opportunity.status = OpportunityStatus.OPEN
    opportunity.reason = ""
    opportunity.closed_at = None
    opportunity.position = _top_position(opportunity.stage)
    opportunity.save(update_fields=["status", "reason", "closed_at", "position"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opportunity,
        changes={"status": {"old": before, "new": "open"}},
    )
    return opportunity


@transaction.atomic
def opportunity_set_line(
    *, opportunity: Opportunity, product: Product, quantity: Decimal, actor: User
) -> OpportunityLine | None:
    """Set how much of a product or service the opportunity is about; 0 removes it."""
    _require_manage(actor)
    opportunity = _locked(opportunity)
    if quantity < 0:
        raise ValidationError({"quantity": _("The quantity cannot be negative.")})
    existing = OpportunityLine.objects.filter(opportunity=opportunity, product=product).first()
    before = existing.quantity if existing else None
    line = None
    if quantity == 0:
        if existing:
            existing.delete()
    elif existing:
        existing.quantity = quantity
        existing.save(update_fields=["quantity"])
        line = existing
    else:
        line = OpportunityLine.objects.create(
            opportunity=opportunity, product=product, quantity=quantity
        )
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opportunity,
        changes={"product": {"id": product.pk, "old": before, "new": quantity or None}},
    )
    return line


# --- Quotes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteLineData:
    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    discount: Decimal = Decimal("0")
    product: Product | None = None


def _store_totals(version: QuoteVersion) -> None:
    totals = quote_totals(
        LineInput(line.quantity, line.unit_price, line.vat_rate, line.discount)
        for line in version.lines.all()
    )
    version.total_base, version.total_vat, version.total = totals.base, totals.vat, totals.total
    version.save(update_fields=["total_base", "total_vat", "total"])


@transaction.atomic
def quote_create(*, opportunity: Opportunity, actor: User) -> Quote:
    """A quote for the opportunity, with a first draft version whose lines are the
    opportunity's products at their catalogue prices."""
    _require_manage(actor)
    opportunity = _locked(opportunity)
    if opportunity.status != OpportunityStatus.OPEN:
        raise ValidationError(_("Quotes are made for open opportunities."))
    number = next_registry_number(series=QUOTE_SERIES, year=timezone.localdate().year)
    quote = Quote.objects.create(opportunity=opportunity, number=str(number), created_by=actor)
    version = QuoteVersion.objects.create(quote=quote, version=1, currency=opportunity.currency)
    QuoteLine.objects.bulk_create(
        QuoteLine(
            version=version,
            position=position,
            product=line.product,
            description=line.product.name,
            quantity=line.quantity,
            unit_price=line.product.price,
            vat_rate=line.product.vat_rate,
        )
        for position, line in enumerate(opportunity.lines.select_related("product"))
    )
    _store_totals(version)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=quote,
        changes={"opportunity": opportunity.pk, "number": quote.number},
    )
    return quote


def _locked_version(version: QuoteVersion) -> QuoteVersion:
    return QuoteVersion.objects.select_for_update().select_related("quote").get(pk=version.pk)


@transaction.atomic
def quote_version_update(
    *,
    version: QuoteVersion,
    actor: User,
    lines: Sequence[QuoteLineData],
    valid_until: date | None,
    notes: str,
    currency: str,
) -> QuoteVersion:
    """Replace a draft version's lines and conditions; a sent version never changes."""
    _require_manage(actor)
    version = _locked_version(version)
    if not version.is_editable:
        raise ValidationError(_("A sent quote cannot be changed: make a new version."))
    version.lines.all().delete()
    created = []
    for position, data in enumerate(lines):
        line = QuoteLine(
            version=version,
            position=position,
            product=data.product,
            description=data.description,
            quantity=data.quantity,
            unit_price=data.unit_price,
            discount=data.discount,
            vat_rate=data.vat_rate,
        )
        line.full_clean(exclude=["version"])
        created.append(line)
    QuoteLine.objects.bulk_create(created)
    version.valid_until, version.notes, version.currency = valid_until, notes, currency.upper()
    version.save(update_fields=["valid_until", "notes", "currency"])
    _store_totals(version)
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=version,
        changes={"lines": len(created), "total": version.total, "currency": version.currency},
    )
    return version


@transaction.atomic
def quote_version_new(*, quote: Quote, actor: User) -> QuoteVersion:
    """A new draft version, copying the latest one (which, when still a draft or sent,
    becomes superseded)."""
    _require_manage(actor)
    quote = Quote.objects.select_for_update().get(pk=quote.pk)
    latest = quote.versions.order_by("-version").first()
    if latest.status == QuoteVersionStatus.ACCEPTED:
        raise ValidationError(_("This quote was accepted: it has no more versions."))
    if latest.status == QuoteVersionStatus.DRAFT:
        raise ValidationError(_("The latest version is still a draft: change it instead."))
    version = QuoteVersion.objects.create(
        quote=quote,
        version=latest.version + 1,
        currency=latest.currency,
        valid_until=latest.valid_until,
        notes=latest.notes,
    )
    QuoteLine.objects.bulk_create(
        QuoteLine(
            version=version,
            position=line.position,
            product=line.product,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            discount=line.discount,
            vat_rate=line.vat_rate,
        )
        for line in latest.lines.all()
    )
    if latest.status == QuoteVersionStatus.SENT:
        latest.status = QuoteVersionStatus.SUPERSEDED
        latest.save(update_fields=["status"])
    _store_totals(version)
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=version,
        changes={"copied_from": latest.version, "version": version.version},
    )
    return version


def _party_email(opportunity: Opportunity) -> str:
    where = (
        {"organization": opportunity.organization}
        if opportunity.organization_id and not opportunity.person_id
        else {"person": opportunity.person}
    )
    return (
        EmailAddress.objects.filter(**where)
        .order_by("-is_primary", "id")
        .values_list("address", flat=True)
        .first()
        or ""
    )


def default_recipient(version: QuoteVersion) -> str:
    return version.sent_to or _party_email(version.quote.opportunity)


@transaction.atomic
def quote_send(
    *, version: QuoteVersion, actor: User, to: str, language: str, message: str = ""
) -> QuoteVersion:
    """Mark the version sent (immutable from now on), email it with its PDF once the
    transaction commits, and record the sending in the citizen's timeline."""
    from .quote_mail import send_quote

    _require_manage(actor)
    version = _locked_version(version)
    if version.status not in (QuoteVersionStatus.DRAFT, QuoteVersionStatus.SENT):
        raise ValidationError(_("This version can no longer be sent."))
    if not version.lines.exists():
        raise ValidationError(_("Add at least one line before sending the quote."))
    opportunity = version.quote.opportunity
    version.status = QuoteVersionStatus.SENT
    version.sent_at = timezone.now()
    version.sent_to = to
    version.save(update_fields=["status", "sent_at", "sent_to"])
    interaction_log(
        actor=actor,
        channel=Channel.EMAIL,
        direction=Interaction.Direction.OUTBOUND,
        subject=_("Quote %(number)s (version %(version)s) sent")
        % {"number": version.quote.number, "version": version.version},
        text=message,
        person=opportunity.person,
        organization=opportunity.organization,
        unit=opportunity.unit,
        related=opportunity,
    )
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=version,
        changes={"status": {"old": "draft", "new": "sent"}, "to": to},
    )
    transaction.on_commit(lambda: send_quote.delay(version.pk, to, language, message))
    return version


@dataclass(frozen=True)
class AgreementData:
    title: str
    start_date: date
    end_date: date | None


@transaction.atomic
def quote_accept(
    *, version: QuoteVersion, actor: User, agreement: AgreementData | None = None
) -> tuple[QuoteVersion, Agreement | None]:
    """The citizen accepted this sent version: the opportunity is won (its amount becomes
    the quote's total) and, when asked, an agreement is recorded."""
    _require_manage(actor)
    version = _locked_version(version)
    if version.status != QuoteVersionStatus.SENT:
        raise ValidationError(_("Only a sent quote can be accepted."))
    version.status = QuoteVersionStatus.ACCEPTED
    version.decided_at = timezone.now()
    version.save(update_fields=["status", "decided_at"])
    opportunity = version.quote.opportunity
    if opportunity.status == OpportunityStatus.OPEN:
        opportunity_update(
            opportunity=opportunity,
            actor=actor,
            amount=version.total_base,
            currency=version.currency,
        )
        opportunity = opportunity_close(
            opportunity=opportunity,
            actor=actor,
            won=True,
            reason=_("Quote %(number)s accepted") % {"number": version.quote.number},
        )
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=version,
        changes={"status": {"old": "sent", "new": "accepted"}},
    )
    created = None
    if agreement is not None:
        created = agreement_create(
            opportunity=opportunity, actor=actor, data=agreement, quote_version=version
        )
    return version, created


@transaction.atomic
def quote_reject(*, version: QuoteVersion, actor: User) -> QuoteVersion:
    _require_manage(actor)
    version = _locked_version(version)
    if version.status != QuoteVersionStatus.SENT:
        raise ValidationError(_("Only a sent quote can be rejected."))
    version.status = QuoteVersionStatus.REJECTED
    version.decided_at = timezone.now()
    version.save(update_fields=["status", "decided_at"])
    log_event(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=version,
        changes={"status": {"old": "sent", "new": "rejected"}},
    )
    return version


@transaction.atomic
def agreement_create(
    *,
    opportunity: Opportunity,
    actor: User,
    data: AgreementData,
    quote_version: QuoteVersion | None = None,
) -> Agreement:
    _require_manage(actor)
    if data.end_date and data.end_date < data.start_date:
        raise ValidationError({"end_date": _("The end date is before the start date.")})
    agreement = Agreement(
        opportunity=opportunity,
        quote_version=quote_version,
        title=data.title,
        start_date=data.start_date,
        end_date=data.end_date,
        amount=quote_version.total_base if quote_version else opportunity.amount,
        currency=quote_version.currency if quote_version else opportunity.currency,
        created_by=actor,
    )
    agreement.full_clean()
    agreement.save()
    log_event(
        actor=actor,
        action=AuditAction.CREATE,
        obj=agreement,
        changes={
            "opportunity": opportunity.pk,
            "start_date": data.start_date,
            "end_date": data.end_date,
        },
    )
    return agreement


__all__ = [
    "AgreementData",
    "Conversion",
    "QuoteLineData",
    "agreement_create",
    "find_organization",
    "find_person",
    "lead_add_note",
    "lead_convert",
    "lead_create",
    "lead_set_status",
    "lead_update",
    "opportunity_close",
    "opportunity_create",
    "opportunity_move",
    "opportunity_reopen",
    "opportunity_set_line",
    "opportunity_update",
    "quote_accept",
    "quote_create",
    "quote_reject",
    "quote_send",
    "quote_version_new",
    "quote_version_update",
]
