"""Finding anyone fast: the lists of people and organisations, the caller lookup and the export.

Every page costs the same number of queries whatever its position: the FilterSet reads the
active custom fields (1) and the page is one keyset query (1), whose rows bring their main email,
main phone and notification municipality as subqueries (no query per row).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from citizens.filters import CallerLookupForm, OrganizationFilter, PartyFilter, PersonFilter
from citizens.models import EmailAddress, Organization, Person, PhoneNumber, PostalAddress
from citizens.validation import display_phone
from crm.audit import log_event
from crm.models import AuditAction
from crm.pagination import KeysetPage, keyset_page
from crm.permissions import module_required, permission_required

PER_PAGE = 50
LOOKUP_LIMIT = 50  # matches of one phone number shown at most (a switchboard, say)
LOOKUP_SCAN = 4 * LOOKUP_LIMIT  # phone rows read at most to find them
EXPORT_CHUNK = 2000
XLSX_BLOCK = 64 * 1024
# What a spreadsheet would run as a formula (CSV/formula injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

PERSON_LIST_FIELDS = (
    "id",
    "given_name",
    "first_surname",
    "second_surname",
    "document_type",
    "document_number",
    "created_at",
    "restricted_at",
)
ORGANIZATION_LIST_FIELDS = ("id", "name", "kind", "tax_id", "created_at", "restricted_at")


# --- Rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyRow:
    """What a list shows of one person or organisation."""

    pk: int
    name: str
    document_end: str  # the last four characters; the rest is masked
    has_document: bool
    email: str
    phone: str  # display format
    phone_e164: str
    municipality: str  # of the notification address
    url: str | None  # the 360° page, when it exists
    restricted: bool
    kind: str = ""


def reverse_or_none(name: str, *args: Any) -> str | None:
    """A URL of a page another part of the module may not have yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def first_url(*names: str) -> str | None:
    for name in names:
        url = reverse_or_none(name)
        if url:
            return url
    return None


def document_tail(number: str) -> str:
    """GDPR publications identify a person by name plus four characters of the document; a
    document that short is not shown at all."""
    number = number or ""
    return number[-4:] if len(number) > 4 else ""


def _with_contact_rows(queryset: QuerySet, owner: str) -> QuerySet:
    """Each row's main email, main phone and notification municipality, as subqueries of the
    page's one query: PostgreSQL runs them for the rows of the page only (after the sort and
    the limit), each through the contact table's index on its owner."""

    def first(model, condition: str, column: str) -> Subquery:
        rows = model.objects.filter(**{owner: OuterRef("pk"), condition: True})
        return Subquery(rows.order_by("id").values(column)[:1])

    return queryset.annotate(
        main_email=first(EmailAddress, "is_primary", "address"),
        main_phone=first(PhoneNumber, "is_primary", "number"),
        notification_municipality=first(PostalAddress, "is_notification", "municipality"),
    )


def people_for_list(queryset: QuerySet) -> QuerySet:
    return _with_contact_rows(queryset.only(*PERSON_LIST_FIELDS), "person")


def organizations_for_list(queryset: QuerySet) -> QuerySet:
    return _with_contact_rows(queryset.only(*ORGANIZATION_LIST_FIELDS), "organization")


def _row(party: Person | Organization, *, name: str, document: str, url: str | None, kind=""):
    phone = party.main_phone or ""
    return PartyRow(
        pk=party.pk,
        name=name,
        document_end=document_tail(document),
        has_document=bool(document),
        email=party.main_email or "",
        phone=display_phone(phone) if phone else "",
        phone_e164=phone,
        municipality=party.notification_municipality or "",
        url=url,
        restricted=party.restricted_at is not None,
        kind=kind,
    )


def record_urls(name: str) -> Callable[[int], str | None]:
    """``pk -> reverse(name, args=[pk])`` for the rows of a list: reversed once, not once a row
    (fifty ``reverse`` calls cost about a millisecond of a page)."""
    marker = 9_876_543_210_123
    url = reverse_or_none(name, marker)
    if url is None or url.count(str(marker)) != 1:
        return lambda pk: reverse_or_none(name, pk)
    before, _marker, after = url.partition(str(marker))
    return lambda pk: f"{before}{pk}{after}"


def person_rows(people: Iterable[Person]) -> list[PartyRow]:
    url = record_urls("citizens:person_detail")
    return [
        _row(person, name=person.full_name, document=person.document_number, url=url(person.pk))
        for person in people
    ]


def organization_rows(organizations: Iterable[Organization]) -> list[PartyRow]:
    url = record_urls("citizens:organization_detail")
    return [
        _row(
            organization,
            name=organization.name,
            document=organization.tax_id,
            url=url(organization.pk),
            kind=organization.get_kind_display(),
        )
        for organization in organizations
    ]


# --- Lists -------------------------------------------------------------------------------------


def _page(filterset: PartyFilter, request: HttpRequest | None) -> KeysetPage:
    if filterset.is_bound and not filterset.is_valid():
        items = filterset.queryset.none()  # say what is wrong rather than show everything
    else:
        items = filterset.qs
    prepare = people_for_list if filterset.queryset.model is Person else organizations_for_list
    items, ordering = filterset.paged(prepare(items))
    cursor = request.GET.get("cursor") if request is not None else None
    return keyset_page(items, ordering=ordering, cursor=cursor, per_page=PER_PAGE)


def _query_without_cursor(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


def _render_person_list(
    request: HttpRequest,
    *,
    filterset: PersonFilter,
    lookup_form: CallerLookupForm | None = None,
    lookup_miss: str = "",
    query: str = "",
    cursor_source: HttpRequest | None = None,
) -> HttpResponse:
    page = _page(filterset, cursor_source)
    context = {
        "filter": filterset,
        "page": page,
        "rows": person_rows(page.items),
        "query": query,
        "lookup_form": lookup_form or CallerLookupForm(),
        "lookup_miss": lookup_miss,
        "create_url": first_url("citizens:person_create", "citizens:person_new"),
    }
    return render(request, "citizens/person_list.html", context)


@require_GET
@module_required("citizens")
def person_list(request: HttpRequest) -> HttpResponse:
    filterset = PersonFilter(request.GET, queryset=Person.objects.in_use(), request=request)
    return _render_person_list(
        request,
        filterset=filterset,
        query=_query_without_cursor(request),
        cursor_source=request,
    )


@require_GET
@module_required("citizens")
def organization_list(request: HttpRequest) -> HttpResponse:
    filterset = OrganizationFilter(
        request.GET, queryset=Organization.objects.in_use(), request=request
    )
    page = _page(filterset, request)
    context = {
        "filter": filterset,
        "page": page,
        "rows": organization_rows(page.items),
        "query": _query_without_cursor(request),
        "create_url": first_url("citizens:organization_create", "citizens:organization_new"),
    }
    return render(request, "citizens/organization_list.html", context)


# --- Caller lookup -----------------------------------------------------------------------------


def _in_use_ids(model: type[Person | Organization], ids: set[int]) -> list[int]:
    if not ids:
        return []
    found = model.objects.in_use().filter(pk__in=ids).order_by("pk")
    return list(found.values_list("pk", flat=True)[: LOOKUP_LIMIT + 1])


@require_GET
@module_required("citizens")
def caller_lookup(request: HttpRequest) -> HttpResponse:
    """An incoming call: its number leads straight to the caller's 360° page when exactly one
    person has it, to the list of matches when several do, to the list with a way to create
    the person when nobody does."""
    form = CallerLookupForm(request.GET)
    if not form.is_valid():
        return _render_person_list(
            request,
            filterset=PersonFilter(None, queryset=Person.objects.in_use()),
            lookup_form=form,
        )
    number = form.cleaned_data["phone"]
    owners = list(
        PhoneNumber.objects.filter(number=number)
        .order_by("id")
        .values_list("person_id", "organization_id")[:LOOKUP_SCAN]
    )
    # In ordinary use only (not blocked, not merged into another record): citizens.models.
    person_ids = _in_use_ids(Person, {pk for pk, _org in owners if pk is not None})
    organization_ids = _in_use_ids(Organization, {pk for _pk, pk in owners if pk is not None})

    if len(person_ids) == 1 and not organization_ids:
        url = reverse_or_none("citizens:person_detail", person_ids[0])
        if url:
            return redirect(url)
    if len(organization_ids) == 1 and not person_ids:
        url = reverse_or_none("citizens:organization_detail", organization_ids[0])
        if url:
            return redirect(url)
    if not person_ids and not organization_ids:
        return _render_person_list(
            request,
            filterset=PersonFilter(None, queryset=Person.objects.in_use()),
            lookup_form=form,
            lookup_miss=display_phone(number),
        )

    people = people_for_list(
        Person.objects.in_use().filter(pk__in=person_ids[:LOOKUP_LIMIT])
    ).order_by("first_surname", "second_surname", "given_name", "id")
    organizations = organizations_for_list(
        Organization.objects.in_use().filter(pk__in=organization_ids[:LOOKUP_LIMIT])
    )
    context = {
        "phone": display_phone(number),
        "phone_e164": number,
        "people": person_rows(people),
        "organizations": organization_rows(organizations.order_by("name", "id")),
        "truncated": len(owners) == LOOKUP_SCAN
        or len(person_ids) > LOOKUP_LIMIT
        or len(organization_ids) > LOOKUP_LIMIT,
        "lookup_form": form,
        "create_url": first_url("citizens:person_create", "citizens:person_new"),
    }
    return render(request, "citizens/lookup_results.html", context)


# --- Export ------------------------------------------------------------------------------------


def neutralise(value: Any) -> Any:
    """A text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_header() -> list[str]:
    return [
        _("Id"),
        _("Given name"),
        _("First surname"),
        _("Second surname"),
        _("Document type"),
        _("Document number"),
        _("Emails"),
        _("Phones"),
        _("Address for notifications"),
        _("Tags"),
        _("Created"),
    ]


def _people_for_export(queryset: QuerySet) -> QuerySet:
    return queryset.only(*PERSON_LIST_FIELDS, "tags").prefetch_related(
        Prefetch(
            "emailaddress_set",
            queryset=EmailAddress.objects.order_by("-is_primary", "id").only("person", "address"),
            to_attr="all_emails",
        ),
        Prefetch(
            "phonenumber_set",
            queryset=PhoneNumber.objects.order_by("-is_primary", "id").only("person", "number"),
            to_attr="all_phones",
        ),
        Prefetch(
            "postaladdress_set",
            queryset=PostalAddress.objects.filter(is_notification=True),
            to_attr="notification_addresses",
        ),
    )


def export_rows(queryset: QuerySet, ordering: list[str]) -> Iterator[list[Any]]:
    """One list of values per person, read in chunks (never the whole set in memory)."""
    people = _people_for_export(queryset).order_by(*ordering)
    for person in people.iterator(chunk_size=EXPORT_CHUNK):
        address = person.notification_addresses
        yield [
            person.pk,
            person.given_name,
            person.first_surname,
            person.second_surname,
            person.get_document_type_display() if person.document_type else "",
            person.document_number,
            "; ".join(email.address for email in person.all_emails),
            "; ".join(display_phone(phone.number) for phone in person.all_phones),
            str(address[0]) if address else "",
            ", ".join(person.tags),
            timezone.localtime(person.created_at).replace(tzinfo=None, microsecond=0),
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_stream(rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so that spreadsheets read the file as UTF-8 (accents)
    yield writer.writerow(export_header())
    for row in rows:
        yield writer.writerow([_csv_cell(value) for value in row])


def _csv_cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return neutralise("" if value is None else str(value))


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, str):
        return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def _xlsx_stream(rows: Iterator[list[Any]]) -> Iterator[bytes]:
    """The workbook, built in a temporary file (write-only mode streams the rows to disk, not
    to memory) when the download starts, then sent in blocks."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("People"))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for title in export_header():
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(value) for value in row])
    with tempfile.TemporaryFile() as output:
        workbook.save(output)
        output.seek(0)
        while block := output.read(XLSX_BLOCK):
            yield block


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@require_GET
@permission_required("citizens.export")
def person_export(request: HttpRequest, *, file_format: str) -> HttpResponse:
    """The people of the list, with the same filters, as CSV or XLSX; audited."""
    filterset = PersonFilter(request.GET, queryset=Person.objects.in_use(), request=request)
    if not filterset.is_valid():
        return person_list(request)
    log_event(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="citizens.person",
        changes={"format": file_format, "filters": filterset.used_filters()},
    )
    rows = export_rows(filterset.qs, filterset.ordering)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"citizens-{stamp}.{file_format}"
    if file_format == "xlsx":
        response = StreamingHttpResponse(_xlsx_stream(rows), content_type=XLSX_TYPE)
    else:
        response = StreamingHttpResponse(_csv_stream(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
