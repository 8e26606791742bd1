"""How fast cases are answered: figures shared by the dashboard and the annual report.

``answer_summary(cases)`` reads, in ONE SQL query over any case QuerySet (already scoped by
``reports.scope.visible(user, "cases")`` and narrowed by the caller to a period, unit, kind...),
how many of those cases were answered, how many within their legal term, and the median and 90th
percentile of the business days they took. Nothing is computed per row in Python: the business
days come from ``Case.answer_days`` and the term from ``Case.answered_on_time``, both stored by
``cases.services.case_answer`` when the case is answered (and backfilled by migration
``cases/0006_case_answer_days``):

- ``answer_days``: business days after the official filing date (Ley 39/2015, art. 31) up to and
  including the day of the answer, in the case's calendar (the body's holidays plus the
  citizen's municipality's, art. 30.6), the days the clock was stopped waiting for the citizen
  left out (RD 951/2005).
- ``answered_on_time``: the answer's date is on or before the due date of the case's own term
  (``Case.deadline_days``: 20 business days for complaints and suggestions, what the case type
  says for other kinds).

A case counts as answered once it has an answer date (``answered_at``): answered or closed
afterwards. Cases rejected, marked as duplicates or forwarded to another administration are not
answers and do not count. The percentiles are PostgreSQL's ``percentile_cont`` (interpolated:
the median of 2, 3, 5 and 9 days is 4.0).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Aggregate, Count, FloatField, Q, QuerySet

from cases.models import Case


class PercentileCont(Aggregate):
    """``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`` (PostgreSQL): the
    interpolated ``fraction`` percentile of the non-null values; NULL when there are none."""

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"A percentile is a fraction between 0 and 1, got {fraction}.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


@dataclass(frozen=True)
class AnswerSummary:
    """What ``answer_summary`` returns.

    ``answered``: cases with an answer; ``on_time``: those answered by their due date;
    ``share_on_time``: ``on_time / answered`` (0.0 to 1.0), None without answers;
    ``median_days`` and ``p90_days``: business days taken to answer, None without answers.
    """

    answered: int
    on_time: int
    share_on_time: float | None
    median_days: float | None
    p90_days: float | None


def answer_aggregates(prefix: str = "") -> dict[str, Aggregate]:
    """The aggregates ``answer_summary`` computes, for callers that add them to their own
    ``.aggregate()`` or ``.values(...).annotate()`` (e.g. per unit or per month): keys
    ``answered``, ``on_time``, ``median_days``, ``p90_days`` (with ``prefix``)."""
    answered = Q(answered_at__isnull=False, answer_days__isnull=False)
    return {
        f"{prefix}answered": Count("pk", filter=answered),
        f"{prefix}on_time": Count("pk", filter=answered & Q(answered_on_time=True)),
        f"{prefix}median_days": PercentileCont("answer_days", 0.5, filter=answered),
        f"{prefix}p90_days": PercentileCont("answer_days", 0.9, filter=answered),
    }


def summary_from(row: dict, prefix: str = "") -> AnswerSummary:
    """An ``AnswerSummary`` from a row computed with ``answer_aggregates(prefix)``."""
    answered = row[f"{prefix}answered"] or 0
    on_time = row[f"{prefix}on_time"] or 0
    return AnswerSummary(
        answered=answered,
        on_time=on_time,
        share_on_time=(on_time / answered) if answered else None,
        median_days=row[f"{prefix}median_days"],
        p90_days=row[f"{prefix}p90_days"],
    )


def answer_summary(cases: QuerySet[Case]) -> AnswerSummary:
    """Answered cases among ``cases``, how many within their term, and the median and 90th
    percentile of the business days taken, in one query. Pass a QuerySet that is already
    scoped to what the user may see (``reports.scope.visible(user, "cases")``)."""
    return summary_from(cases.order_by().aggregate(**answer_aggregates()))
