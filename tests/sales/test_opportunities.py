"""Opportunities: the contract service, moves (audited, permission-checked), won/lost, the
board's columns (cards, counts and sums in the base currency), the list and the forecast."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import AuditEvent
from sales.models import ExchangeRate, Opportunity
from sales.services import opportunity_close, opportunity_create, opportunity_move
from sales.views.board import CARDS_PER_COLUMN, board_columns
from sales.views.opportunities import forecast_rows
from tests.sales.funnel_helpers import make_organization, make_person, make_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture
def promoter(make_user):
    return make_user("promotion", first_name="Rosa", last_name="Sanz")


@pytest.fixture
def pipeline():
    return make_pipeline()


@pytest.fixture
def organization():
    return make_organization()


def new(pipeline, organization, actor, **fields):
    data = {
        "title": "Patrocinio",
        "organization": organization,
        "pipeline": pipeline,
        "amount": Decimal("1000"),
    }
    data.update(fields)
    return opportunity_create(actor=actor, **data)


def test_create_defaults_and_audit(pipeline, organization, promoter):
    opportunity = new(pipeline, organization, promoter, currency="usd")
    assert opportunity.stage == pipeline.stages.order_by("order").first()
    assert (opportunity.currency, opportunity.status, opportunity.owner) == (
        "USD",
        "open",
        promoter,
    )
    assert AuditEvent.objects.filter(
        object_type="sales.opportunity", object_id=str(opportunity.pk), action="create"
    ).exists()


def test_create_needs_a_party_and_a_stage_of_the_pipeline(pipeline, promoter):
    other = make_pipeline("Otro")
    with pytest.raises(ValidationError):
        opportunity_create(actor=promoter, title="X", pipeline=pipeline)
    with pytest.raises(ValidationError):
        opportunity_create(
            actor=promoter,
            title="X",
            pipeline=pipeline,
            person=make_person(),
            stage=other.stages.first(),
        )


def test_only_managers_write(pipeline, organization, make_user):
    for role in ("inspector", "data_protection_officer"):
        with pytest.raises(PermissionDenied):
            new(pipeline, organization, make_user(role))


def test_move_is_audited_and_goes_first_in_its_column(pipeline, organization, promoter):
    first, second, _third = pipeline.stages.order_by("order")
    a = new(pipeline, organization, promoter, title="A")
    b = new(pipeline, organization, promoter, title="B")
    opportunity_move(opportunity=a, stage=second, actor=promoter)
    opportunity_move(opportunity=b, stage=second, actor=promoter)
    column = Opportunity.objects.filter(stage=second).order_by("position", "id")
    assert [o.title for o in column] == ["B", "A"]
    event = (
        AuditEvent.objects.filter(object_type="sales.opportunity", object_id=str(a.pk))
        .order_by("id")
        .last()
    )
    assert event.changes == {"stage": {"old": first.pk, "new": second.pk}}
    with pytest.raises(ValidationError):
        opportunity_move(opportunity=a, stage=make_pipeline("Otro").stages.first(), actor=promoter)


def test_move_view_json_and_form(client, pipeline, organization, promoter, make_user):
    first, second, third = pipeline.stages.order_by("order")
    opportunity = new(pipeline, organization, promoter)
    client.force_login(promoter)
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": second.pk},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["ok"] is True
    opportunity.refresh_from_db()
    assert opportunity.stage == second
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": third.pk, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/sales/board/{pipeline.pk}/"
    other_stage = make_pipeline("Otro").stages.first()
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/move/",
        {"stage": other_stage.pk},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400
    opportunity.refresh_from_db()
    assert opportunity.stage == third
    # The DPO reads the funnel but may not move.
    client.force_login(make_user("data_protection_officer"))
    response = client.post(f"/sales/opportunities/{opportunity.pk}/move/", {"stage": first.pk})
    assert response.status_code == 403


def test_won_and_lost(pipeline, organization, promoter, client):
    opportunity = new(pipeline, organization, promoter)
    client.force_login(promoter)
    response = client.post(f"/sales/opportunities/{opportunity.pk}/close/", {"outcome": "lost"})
    assert response.status_code == 400
    assert "Say why the opportunity was lost." in response.content.decode()
    response = client.post(
        f"/sales/opportunities/{opportunity.pk}/close/", {"outcome": "lost", "reason": "Precio"}
    )
    assert response.status_code == 302
    opportunity.refresh_from_db()
    assert (opportunity.status, opportunity.reason) == ("lost", "Precio")
    with pytest.raises(ValidationError):
        opportunity_close(opportunity=opportunity, actor=promoter, won=True, reason="")
    client.post(f"/sales/opportunities/{opportunity.pk}/reopen/")
    opportunity.refresh_from_db()
    assert opportunity.status == "open"


def test_board_columns_counts_sums_and_more(pipeline, organization, promoter):
    today = timezone.localdate()
    ExchangeRate.objects.create(
        currency="USD", valid_from=today - timedelta(days=3), rate=Decimal("2")
    )
    _first, second, _third = pipeline.stages.order_by("order")
    for index in range(CARDS_PER_COLUMN + 3):
        new(pipeline, organization, promoter, title=f"O{index}", amount=Decimal("10.00"))
    new(
        pipeline,
        organization,
        promoter,
        title="Dollars",
        stage=second,
        amount=Decimal("101"),
        currency="USD",
    )
    new(
        pipeline,
        organization,
        promoter,
        title="Yen",
        stage=second,
        amount=Decimal("5"),
        currency="JPY",
    )
    closed = new(pipeline, organization, promoter, title="Closed", stage=second)
    opportunity_close(opportunity=closed, actor=promoter, won=True, reason="")
    columns = board_columns(pipeline, today=today)
    assert [column.count for column in columns] == [CARDS_PER_COLUMN + 3, 2, 0]
    assert len(columns[0].cards) == CARDS_PER_COLUMN
    assert columns[0].more == 3
    assert columns[0].cards[0]["title"] == f"O{CARDS_PER_COLUMN + 2}"  # the newest first
    assert columns[0].total == Decimal("230.00")
    assert columns[1].total == Decimal("50.50")  # 101 USD / 2
    assert columns[1].missing_rates == {"JPY"}
    assert (columns[0].previous, columns[0].next) == (None, second)


def test_board_page_queries_do_not_grow(client, pipeline, organization, promoter):
    client.force_login(promoter)
    new(pipeline, organization, promoter)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/sales/board/{pipeline.pk}/").status_code == 200
    for index in range(30):
        new(
            pipeline, organization, promoter, title=f"More {index}", person=make_person(f"P{index}")
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/sales/board/{pipeline.pk}/")
    assert len(many.captured_queries) <= len(few.captured_queries) + 2  # + columns now filled
    content = response.content.decode()
    assert "More 29" in content
    assert "11 more" in content
    assert client.get("/sales/board/").status_code == 302


def test_list_filters_and_keyset_pages(client, pipeline, organization, promoter):
    second = pipeline.stages.order_by("order")[1]
    for index in range(55):
        new(pipeline, organization, promoter, title=f"Item {index:02d}")
    new(pipeline, organization, promoter, title="Dólares", currency="USD", stage=second)
    client.force_login(promoter)
    response = client.get("/sales/opportunities/")
    assert response.status_code == 200
    assert len(response.context["page"].items) == 50
    cursor = response.context["page"].next_cursor
    response = client.get(f"/sales/opportunities/?cursor={cursor}")
    assert len(response.context["page"].items) == 6
    response = client.get("/sales/opportunities/?currency=usd")
    assert [o.title for o in response.context["page"].items] == ["Dólares"]
    response = client.get(f"/sales/opportunities/?stage={second.pk}&owner=me&status=open")
    assert [o.title for o in response.context["page"].items] == ["Dólares"]
    response = client.get("/sales/opportunities/?close_after=not-a-date")
    assert response.status_code == 400


def test_forecast_weighted_by_month_and_owner(pipeline, organization, promoter, make_user):
    today = timezone.localdate()
    start = today.replace(day=1)
    ExchangeRate.objects.create(
        currency="USD", valid_from=today - timedelta(days=1), rate=Decimal("2")
    )
    other = make_user("promotion", first_name="Ana", last_name="Abad")
    first, second, third = pipeline.stages.order_by("order")  # 10 %, 50 %, 80 %
    next_month = (start + timedelta(days=32)).replace(day=15)
    new(
        pipeline, organization, promoter, amount=Decimal("1000"), stage=second, expected_close=start
    )
    new(
        pipeline,
        organization,
        promoter,
        amount=Decimal("400"),
        stage=third,
        expected_close=next_month,
        currency="USD",
    )
    new(pipeline, organization, other, amount=Decimal("100"), stage=first, expected_close=start)
    new(
        pipeline,
        organization,
        other,
        amount=Decimal("999"),
        stage=first,
        expected_close=date(2099, 1, 1),
    )
    months, rows, totals, missing = forecast_rows(start=start, months=3, pipeline=None, on=today)
    assert months[0] == start
    assert len(months) == 3
    by_owner = {name: cells for name, cells, _total in rows}
    assert by_owner["Rosa Sanz"][0] == [Decimal("500.00"), Decimal("1000.00")]
    assert by_owner["Rosa Sanz"][1] == [Decimal("160.00"), Decimal("200.00")]  # 400 USD x 80 % / 2
    assert by_owner["Ana Abad"][0] == [Decimal("10.00"), Decimal("100.00")]
    assert totals == [Decimal("510.00"), Decimal("160.00"), Decimal("0.00")]
    assert not missing


def test_forecast_page(client, promoter):
    client.force_login(promoter)
    assert client.get("/sales/forecast/").status_code == 200
    assert client.get("/sales/forecast/?months=99").status_code == 400


def test_stage_totals_follow_every_write(pipeline, organization, promoter):
    """The triggers' per-stage counts and sums equal the aggregate after creates, moves,
    closes, reopenings, edits, bulk updates and deletes."""
    from django.db.models import Count, Sum

    from sales.models import StageTotal
    from sales.services import opportunity_reopen, opportunity_update

    def aggregate():
        rows = (
            Opportunity.objects.open()
            .values("stage_id", "currency")
            .annotate(n=Count("id"), total=Sum("amount"))
        )
        return {(r["stage_id"], r["currency"]): (r["n"], r["total"]) for r in rows}

    def kept():
        return {
            (t.stage_id, t.currency): (t.open_count, t.open_amount)
            for t in StageTotal.objects.filter(open_count__gt=0)
        }

    first, second, third = pipeline.stages.order_by("order")
    a = new(pipeline, organization, promoter, amount=Decimal("10.50"))
    b = new(pipeline, organization, promoter, amount=Decimal("20"), currency="USD")
    c = new(pipeline, organization, promoter, amount=Decimal("5"))
    assert (
        kept()
        == aggregate()
        == {
            (first.pk, "EUR"): (2, Decimal("15.50")),
            (first.pk, "USD"): (1, Decimal("20.00")),
        }
    )
    opportunity_move(opportunity=a, stage=third, actor=promoter)
    opportunity_update(opportunity=b, actor=promoter, amount=Decimal("99"), currency="EUR")
    opportunity_close(opportunity=c, actor=promoter, won=False, reason="No")
    assert kept() == aggregate()
    opportunity_reopen(opportunity=c, actor=promoter)
    Opportunity.objects.filter(stage=first).update(stage=second)
    assert kept() == aggregate()
    Opportunity.objects.filter(pk=a.pk).delete()
    assert kept() == aggregate() == {(second.pk, "EUR"): (2, Decimal("104.00"))}


def test_home_panel_lists_my_opportunities_closing_soon(client, pipeline, organization, promoter):
    today = timezone.localdate()
    new(pipeline, organization, promoter, title="Cierra pronto", expected_close=today)
    new(
        pipeline,
        organization,
        promoter,
        title="Cierra tarde",
        expected_close=today + timedelta(days=90),
    )
    client.force_login(promoter)
    content = client.get("/").content.decode()
    assert "Cierra pronto" in content
    assert "Cierra tarde" not in content


def test_products_of_an_opportunity(client, pipeline, organization, promoter):
    from tests.sales.funnel_helpers import make_product

    stand = make_product("stand", price="1200")
    opportunity = new(pipeline, organization, promoter)
    client.force_login(promoter)
    url = f"/sales/opportunities/{opportunity.pk}/lines/"
    response = client.post(url, {"product": stand.pk, "quantity": "-1"})
    assert response.status_code == 400
    assert 'id="line-errors"' in response.content.decode()
    assert client.post(url, {"product": stand.pk, "quantity": "2"}).status_code == 302
    assert client.post(url, {"product": stand.pk, "quantity": "3"}).status_code == 302
    assert list(opportunity.lines.values_list("product__code", "quantity")) == [
        ("stand", Decimal("3.000"))
    ]
    page = client.get(f"/sales/opportunities/{opportunity.pk}/").content.decode()
    assert "Producto stand" in page
    client.post(url, {"product": stand.pk, "quantity": "0"})
    assert not opportunity.lines.exists()
