"""The board of a pipeline: one column per stage with its first cards, its count and its sum.

A board costs the same whatever the number of opportunities: one query for the pipelines and
stages, one for the columns' counts and sums per currency (``StageTotal``, kept by database
triggers: a few rows, never an aggregate over every open opportunity), one rate per foreign
currency, and one short index range per column for its first cards (``CARDS_PER_COLUMN``,
partial index ``sales_opp_board``; the rest are behind a "more" link to the list). Currency
sums are converted to the base currency with the day's rates (sales.currency).

Moves are POSTs to ``opportunity_move`` (the service checks and audits them): the drag and
drop and the "previous/next stage" buttons of static/js/sales.js send them with fetch and get
JSON back; without JavaScript, the same buttons are plain forms that redirect to the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ..board_cards import card_texts
from ..currency import MissingRate, RateBook, base_currency
from ..forms import MoveForm
from ..models import Opportunity, Pipeline, Stage, StageTotal
from ..services import opportunity_move
from .common import funnel_required, manage_required, opportunity_for

CARDS_PER_COLUMN = 20
CARD_FIELDS = (
    "id",
    "title",
    "amount",
    "currency",
    "expected_close",
    "stage_id",
    "position",
    "person__given_name",
    "person__first_surname",
    "organization__name",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
)


@dataclass
class Column:
    stage: Stage
    cards: list = field(default_factory=list)
    count: int = 0
    total: Decimal = Decimal("0.00")
    missing_rates: set = field(default_factory=set)
    previous: Stage | None = None
    next: Stage | None = None

    @property
    def more(self) -> int:
        return max(self.count - len(self.cards), 0)


def board_columns(pipeline: Pipeline, *, today=None) -> list[Column]:
    today = today or timezone.localdate()
    stages = list(pipeline.stages.order_by("order", "id"))
    columns = {stage.pk: Column(stage=stage) for stage in stages}
    for index, stage in enumerate(stages):
        columns[stage.pk].previous = stages[index - 1] if index else None
        columns[stage.pk].next = stages[index + 1] if index + 1 < len(stages) else None
    totals = StageTotal.objects.filter(stage__in=stages, open_count__gt=0).values_list(
        "stage_id", "currency", "open_count", "open_amount"
    )
    rates = RateBook(today)
    for stage_id, currency, count, amount in totals:
        column = columns[stage_id]
        column.count += count
        try:
            column.total += rates.to_base(amount, currency)
        except MissingRate:
            column.missing_rates.add(currency)
    filled = [column for column in columns.values() if column.count]
    if filled:
        # The first cards of every column in one round trip (UNION ALL of short index ranges),
        # as plain rows: no model instances to build.
        first, *others = (
            Opportunity.objects.open()
            .filter(stage=column.stage)
            .order_by("position", "id")
            .values(*CARD_FIELDS)[:CARDS_PER_COLUMN]
            for column in filled
        )
        for row in first.union(*others, all=True) if others else first:
            columns[row["stage_id"]].cards.append(row)
        for column in filled:
            column.cards.sort(key=lambda row: (row["position"], row["id"]))
    return list(columns.values())


@require_GET
@funnel_required
def board(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    pipelines = list(Pipeline.objects.filter(is_active=True))
    if pk is None:
        if not pipelines:
            return render(request, "sales/board.html", {"pipelines": [], "pipeline": None})
        return redirect("sales:board", pk=pipelines[0].pk)
    pipeline = get_object_or_404(Pipeline, pk=pk)
    columns = board_columns(pipeline)
    return render(
        request,
        "sales/board.html",
        {
            "pipelines": pipelines,
            "pipeline": pipeline,
            "columns": columns,
            "base_currency": base_currency(),
            "may_move": request.user.has_perm("sales.manage"),
            "cards_per_column": CARDS_PER_COLUMN,
            "card_texts": card_texts(request),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


@require_POST
@manage_required
def move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move an opportunity to a stage of its pipeline (board and opportunity page)."""
    opportunity = opportunity_for(request, pk)
    form = MoveForm(request.POST)
    form.fields["stage"].queryset = Stage.objects.filter(pipeline=opportunity.pipeline_id)
    error = None
    if form.is_valid():
        stage = form.cleaned_data["stage"]
        try:
            opportunity_move(opportunity=opportunity, stage=stage, actor=request.user)
        except ValidationError as exception:
            error = " ".join(exception.messages)
    else:
        error = _("Choose a stage of this opportunity's pipeline.")
    if _wants_json(request):
        if error:
            return JsonResponse({"ok": False, "error": error}, status=400)
        return JsonResponse(
            {
                "ok": True,
                "stage": stage.pk,
                "message": _("%(title)s moved to %(stage)s.")
                % {"title": opportunity.title, "stage": stage.name},
            }
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request,
            _("%(title)s moved to %(stage)s.") % {"title": opportunity.title, "stage": stage.name},
        )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("sales:board", args=[opportunity.pipeline_id])
    return redirect(target)
