"""The funnel's bench data and scenario (imported by sales.bench; docs/benchmarks.md, "Sales
funnel").

**Data.** One pipeline, "Bench: patrocinios", with five stages, and ``--opportunities`` open
opportunities in it (default 50,000), spread evenly over the stages, for the first people of the
data set, owned by the bench users, 90 % in EUR and the rest in USD and GBP (with an exchange
rate each). Every value of row ``n`` is a function of ``n``: a stopped run resumes.

**Scenario.** "pipeline board": the board of that pipeline (five columns of 20 cards, each
column's count and sum converted to EUR), goal p95 < 80 ms.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from crm.bench import BENCH_USER, copy_objects, generator, scenario

BENCH_PIPELINE = "Bench: patrocinios"
STAGES = (
    ("Prospección", 10),
    ("Contactado", 25),
    ("Propuesta", 50),
    ("Negociación", 75),
    ("Firma", 90),
)
CURRENCIES = ("EUR",) * 18 + ("USD", "GBP")
RATES = {"USD": Decimal("1.08"), "GBP": Decimal("0.85")}
DEFAULT_OPPORTUNITIES = 50_000


def _pipeline():
    from sales.models import ExchangeRate, Pipeline, Stage

    pipeline, created = Pipeline.objects.get_or_create(name=BENCH_PIPELINE)
    if created or not pipeline.stages.exists():
        Stage.objects.bulk_create(
            Stage(pipeline=pipeline, name=name, order=order, probability=probability)
            for order, (name, probability) in enumerate(STAGES)
        )
    for currency, rate in RATES.items():
        ExchangeRate.objects.get_or_create(
            currency=currency, valid_from=date(2020, 1, 1), defaults={"rate": rate}
        )
    return pipeline


def count_opportunities() -> int:
    from sales.models import Opportunity

    return Opportunity.objects.filter(pipeline__name=BENCH_PIPELINE).count()


@generator(
    "opportunities",
    count=count_opportunities,
    default=DEFAULT_OPPORTUNITIES,
    help="open opportunities of the bench pipeline, for the first people (sales)",
    chunk=25_000,
)
def create_opportunities(start: int, stop: int) -> None:
    from citizens.models import Person
    from crm.models import User
    from sales.models import Opportunity

    pipeline = _pipeline()
    stages = list(pipeline.stages.order_by("order", "id"))
    people = list(Person.objects.order_by("id").values_list("id", flat=True)[start:stop])
    if len(people) < stop - start:
        raise RuntimeError("Not enough people: build the people first.")
    owners = list(
        User.objects.filter(username__startswith="bench-")
        .order_by("id")
        .values_list("id", flat=True)[:20]
    ) or [None]
    now = timezone.now()
    today = timezone.localdate()

    def opportunity(number: int, person_id: int) -> Opportunity:
        return Opportunity(
            title=f"Patrocinio {number}",
            person_id=person_id,
            pipeline_id=pipeline.pk,
            stage_id=stages[number % len(stages)].pk,
            amount=Decimal(500 + (number * 37) % 20_000),
            currency=CURRENCIES[number % len(CURRENCIES)],
            expected_close=today + timedelta(days=number % 365),
            owner_id=owners[number % len(owners)],
            status="open",
            reason="",
            description="",
            created_at=now - timedelta(minutes=number),
            position=-number,
        )

    copy_objects(
        Opportunity,
        (
            opportunity(number, person)
            for number, person in zip(range(start, stop), people, strict=True)
        ),
    )


def board_urls() -> list[str]:
    from sales.models import Pipeline

    pipeline = Pipeline.objects.filter(name=BENCH_PIPELINE).first()
    if pipeline is None:
        raise RuntimeError("No bench pipeline: build the opportunities first.")
    return [f"/sales/board/{pipeline.pk}/"]


scenario(
    "pipeline board",
    description=(
        "The board of a pipeline with 50,000 open opportunities: five columns of 20 cards "
        "(one short index range each, rendered by sales.board_cards) and every column's count "
        "and sum in EUR (a few StageTotal rows kept by triggers, one rate query per currency)."
    ),
    urls=board_urls,
    user=BENCH_USER,
    target_p95_ms=80,
    max_queries=16,
)
