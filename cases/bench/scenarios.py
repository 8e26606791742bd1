"""The cases module's bench scenarios: the queue (filtered by unit and deadline state, whole,
as a handler) and the case page, over the data of cases.bench.data."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from cases.models import Case, CaseStatus
from crm.bench import BENCH_USER, scenario
from crm.calendar import BusinessCalendar, DeadlineState

from .data import BENCH_HANDLER

# The scenarios' units (each with its sub-units) and deadline states.
QUEUE_UNITS = ("bench-via-publica", "bench-limpieza", "bench-movilidad", "bench-licencias")
QUEUE_STATES = (DeadlineState.OVERDUE, DeadlineState.DUE_SOON, DeadlineState.ON_TIME)


def _today() -> date:
    return BusinessCalendar().today()


def _queue_page_two(cases) -> str | None:
    """The cursor of the queue's second page (the values of the first page's last row)."""
    from cases.views.queue import ORDERING, PER_PAGE
    from crm.pagination import encode_cursor

    fields = [name.lstrip("-") for name in ORDERING]
    rows = list(cases.order_by(*ORDERING).values_list(*fields)[PER_PAGE - 1 : PER_PAGE + 1])
    if len(rows) < 2:
        return None
    return encode_cursor(list(rows[0]))


def queue_by_unit_urls() -> list[str]:
    """Four busy units (with their sub-units), each overdue, due soon and on time: the first
    page and the next one through its cursor, as a reader clicking "next" would."""
    from crm.models import Unit, with_descendants

    today = _today()
    urls = []
    for unit in Unit.objects.filter(code__in=QUEUE_UNITS).order_by("code"):
        units = with_descendants([unit.pk])
        for state in QUEUE_STATES:
            query = {"unit": unit.pk, "deadline": str(state)}
            urls.append(f"/cases/?{urlencode(query)}")
            cases = Case.objects.filter(unit_id__in=units).deadline_state(state, today)
            cursor = _queue_page_two(cases)
            if cursor:
                urls.append(f"/cases/?{urlencode({**query, 'cursor': cursor})}")
    if not urls:
        raise RuntimeError("No bench unit: build the cases first.")
    return urls


def queue_urls(pages: int = 5) -> list[str]:
    """The whole queue, newest first: its first pages."""
    from cases.views.queue import ORDERING, PER_PAGE
    from crm.pagination import encode_cursor

    fields = [name.lstrip("-") for name in ORDERING]
    rows = list(Case.objects.order_by(*ORDERING).values_list(*fields)[: PER_PAGE * (pages - 1)])
    urls = ["/cases/"]
    for page in range(1, pages):
        if len(rows) >= page * PER_PAGE:
            cursor = encode_cursor(list(rows[page * PER_PAGE - 1]))
            urls.append(f"/cases/?{urlencode({'cursor': cursor})}")
    return urls


def handler_queue_urls() -> list[str]:
    return ["/cases/", "/cases/?view=my_units_overdue", "/cases/?view=mine"]


def case_page_urls() -> list[str]:
    """Open cases with a history of several steps (routed, started, asked...) and answered
    ones, of the busiest unit."""
    picks = []
    for status in (CaseStatus.IN_PROGRESS, CaseStatus.WAITING, CaseStatus.CLOSED):
        picks.extend(
            Case.objects.filter(status=status, unit__code="bench-via-publica")
            .order_by("-filed_at")
            .values_list("pk", flat=True)[:4]
        )
    if not picks:
        raise RuntimeError("No bench case: build the cases first.")
    return [f"/cases/{pk}/" for pk in picks]


scenario(
    "case queue by unit and deadline",
    description=(
        "The queue filtered by a unit (with its sub-units) and a deadline state (overdue, due "
        "soon, on time), first and second pages, over 200,000 cases."
    ),
    urls=queue_by_unit_urls,
    user=BENCH_USER,
    requests=300,
    target_p95_ms=50,
)

scenario(
    "case queue",
    description="The whole queue, newest first: its first five pages (keyset cursors).",
    urls=queue_urls,
    user=BENCH_USER,
    target_p95_ms=50,
)

scenario(
    "case queue of a handler",
    description=(
        "A case handler of one unit (cases seen through their units): the queue, the built-in "
        "views 'my units, overdue' and 'my cases'."
    ),
    urls=handler_queue_urls,
    user=BENCH_HANDLER,
    target_p95_ms=50,
)

scenario(
    "case page",
    description=(
        "The page of a case (open, waiting or closed) with its history, tasks, files and "
        "actions; each view writes the audit trail."
    ),
    urls=case_page_urls,
    user=BENCH_USER,
    target_p95_ms=60,
    max_queries=20,
)
