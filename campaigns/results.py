"""What a campaign achieved, computed from data (never typed in): its deliveries' figures
(campaigns.sending.progress), the cases and form submissions it brought, the interactions of
its other channels, the budget spent and each objective's progress."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum

from citizens.models import Interaction
from crm.audit import object_label

from .models import Campaign, Objective


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    planned: Decimal
    actual: Decimal

    @property
    def deviation(self) -> Decimal:
        return self.actual - self.planned

    @property
    def spent_percent(self) -> Decimal | None:
        if not self.planned:
            return None
        return (100 * self.actual / self.planned).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class ObjectiveProgress:
    objective: Objective
    value: Decimal | None  # None: no data yet (e.g. a rate before any message went out)
    percent: int  # of the target, capped at 100 for the bar
    met: bool


@dataclass(frozen=True)
class Results:
    delivery: object  # campaigns.sending.Progress
    cases: int
    form_submissions: int
    interactions: int
    budget: list[CurrencyTotal]
    objectives: list[ObjectiveProgress]

    @property
    def linked_filings(self) -> int:
        return self.cases


def budget_totals(campaign: Campaign) -> list[CurrencyTotal]:
    rows = (
        campaign.budget_lines.values("currency")
        .annotate(planned=Sum("planned"), actual=Sum("actual"))
        .order_by("currency")
    )
    return [CurrencyTotal(r["currency"], r["planned"], r["actual"]) for r in rows]


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def linked_cases(campaign: Campaign) -> dict[str, int]:
    """Cases filed through the campaign's link: all, and those filed on the public site (form
    submissions)."""
    return campaign.cases.aggregate(
        cases=Count("id"), form_submissions=Count("id", filter=Q(channel="web_form"))
    )


def campaign_interactions(campaign: Campaign) -> int:
    return Interaction.objects.filter(
        related_type=object_label(campaign), related_id=campaign.pk
    ).count()


def compute(campaign: Campaign) -> Results:
    from campaigns.sending import progress

    delivery = progress(campaign)
    cases = linked_cases(campaign)
    interactions = campaign_interactions(campaign)
    budget = budget_totals(campaign)
    values = {
        Objective.Indicator.REACH: Decimal(delivery.sent - delivery.bounced),
        Objective.Indicator.SENT: Decimal(delivery.sent),
        Objective.Indicator.CASES: Decimal(cases["cases"]),
        Objective.Indicator.INTERACTIONS: Decimal(interactions),
        Objective.Indicator.OPEN_RATE: _rate(delivery.opened, delivery.sent),
        Objective.Indicator.CLICK_RATE: _rate(delivery.clicked, delivery.sent),
        Objective.Indicator.UNSUBSCRIBE_RATE: _rate(delivery.unsubscribed, delivery.sent),
        Objective.Indicator.BUDGET_SPENT: budget[0].spent_percent if len(budget) == 1 else None,
    }
    objectives = [
        progress_of(objective, values[objective.indicator])
        for objective in campaign.objectives.all()
    ]
    return Results(
        delivery=delivery,
        cases=cases["cases"],
        form_submissions=cases["form_submissions"],
        interactions=interactions,
        budget=budget,
        objectives=objectives,
    )


def progress_of(objective: Objective, value: Decimal | None) -> ObjectiveProgress:
    if value is None:
        return ObjectiveProgress(objective, None, 0, False)
    target = objective.target
    if objective.is_ceiling:
        met = value <= target
        percent = 100 if met else int(100 * target / value) if value else 100
    else:
        met = value >= target
        percent = 100 if met or not target else int(100 * value / target)
    return ObjectiveProgress(objective, value, max(0, min(percent, 100)), met)
