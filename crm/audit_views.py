"""The data protection officer's view of the audit trail: filter, page, export."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.audit import log_event
from crm.filters import AuditEventFilter
from crm.models import AuditAction, AuditEvent
from crm.pagination import keyset_page
from crm.permissions import permission_required

PER_PAGE = 50
EXPORT_COLUMNS = (
    "id",
    "occurred_at",
    "actor_username",
    "actor_roles",
    "action",
    "object_type",
    "object_id",
    "changes",
    "request_id",
    "ip",
    "hash",
)


@require_GET
@permission_required("crm.view_audit_trail")
def audit_list(request: HttpRequest) -> HttpResponse:
    filterset = AuditEventFilter(request.GET, queryset=AuditEvent.objects.all())
    events = filterset.qs if filterset.is_valid() else AuditEvent.objects.none()
    page = keyset_page(
        events, ordering=["-id"], cursor=request.GET.get("cursor"), per_page=PER_PAGE
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "crm/audit_list.html",
        {"filter": filterset, "page": page, "query": query.urlencode()},
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _rows(events) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for event in events.order_by("id").iterator(chunk_size=2000):
        yield writer.writerow([_cell(getattr(event, column)) for column in EXPORT_COLUMNS])


def _cell(value) -> str:
    if isinstance(value, list):
        value = " ".join(map(str, value))
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is written as text (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


@require_GET
@permission_required("crm.view_audit_trail")
def audit_export(request: HttpRequest) -> HttpResponse:
    filterset = AuditEventFilter(request.GET, queryset=AuditEvent.objects.all())
    if not filterset.is_valid():
        return audit_list(request)
    log_event(
        actor=request.user,
        action=AuditAction.EXPORT,
        object_type="crm.auditevent",
        changes={"filters": {k: v for k, v in filterset.form.cleaned_data.items() if v}},
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_rows(filterset.qs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
