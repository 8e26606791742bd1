"""The funnel in a real browser: opportunities moved on the board by drag and drop and by
keyboard (the move buttons, with the live region announcing it), and axe-core clean on the
board, opportunity, quote and lead pages and on the public interest form (Spanish and English,
desktop and 360 px), under the real CSP."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from cases.antiabuse import FILINGS
from sales.models import Lead, LeadSource, Opportunity
from sales.services import lead_create, opportunity_create, quote_create
from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in
from tests.sales.funnel_helpers import make_organization, make_pipeline, make_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def fresh_public_limits():
    """The public form counts submissions per client address in the shared cache."""
    for address in ("127.0.0.1", "::1"):
        FILINGS.reset(address)
    yield
    for address in ("127.0.0.1", "::1"):
        FILINGS.reset(address)


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 360px"


@pytest.fixture
def funnel(make_user):
    promoter = make_user("promotion", username="rosa", first_name="Rosa")
    pipeline = make_pipeline()
    organization = make_organization()
    product = make_product()
    opportunities = [
        opportunity_create(
            actor=promoter,
            title=title,
            organization=organization,
            pipeline=pipeline,
            amount=Decimal("1200"),
            lines=[(product, Decimal("1"))],
        )
        for title in ("Patrocinio fiestas", "Stand feria")
    ]
    return pipeline, opportunities


def column(page, stage):
    return page.locator(f"section[data-stage='{stage.pk}']")


def test_drag_and_drop_moves_a_card(page, console_errors, funnel):
    pipeline, (first_opp, _second_opp) = funnel
    stages = list(pipeline.stages.order_by("order"))
    log_in(page, "rosa", PASSWORD)
    page.goto(f"/sales/board/{pipeline.pk}/")
    card = page.locator(f"#opportunity-{first_opp.pk}")
    expect(column(page, stages[0]).locator(f"#opportunity-{first_opp.pk}")).to_be_visible()
    card.drag_to(column(page, stages[2]).locator("[data-cards]"))
    expect(column(page, stages[2]).locator(f"#opportunity-{first_opp.pk}")).to_be_visible()
    expect(page.locator("#board-status")).to_contain_text("Patrocinio fiestas")
    expect(column(page, stages[2]).locator("[data-column-count]")).to_have_text("1")
    expect(column(page, stages[0]).locator("[data-column-count]")).to_have_text("1")
    first_opp.refresh_from_db()
    assert first_opp.stage == stages[2]
    # After a reload it is still there (the server moved it).
    page.reload()
    expect(column(page, stages[2]).locator(f"#opportunity-{first_opp.pk}")).to_be_visible()
    assert_no_console_errors(console_errors)


def test_keyboard_moves_a_card_and_announces_it(page, console_errors, funnel):
    pipeline, (_first_opp, second_opp) = funnel
    stages = list(pipeline.stages.order_by("order"))
    log_in(page, "rosa", PASSWORD)
    page.goto(f"/sales/board/{pipeline.pk}/")
    card = page.locator(f"#opportunity-{second_opp.pk}")
    expect(card.locator("[data-move=previous]")).to_be_hidden()
    next_button = card.locator("[data-move=next]")
    next_button.focus()
    page.keyboard.press("Enter")
    expect(column(page, stages[1]).locator(f"#opportunity-{second_opp.pk}")).to_be_visible()
    expect(page.locator("#board-status")).to_contain_text(stages[1].name)
    # The focus stays on the card's "next" button: Enter again moves it on.
    page.keyboard.press("Enter")
    expect(column(page, stages[2]).locator(f"#opportunity-{second_opp.pk}")).to_be_visible()
    expect(card.locator("[data-move=next]")).to_be_hidden()
    expect(card.locator("[data-move=previous]")).to_be_visible()
    # And back with the "previous" button, by keyboard.
    card.locator("[data-move=previous]").focus()
    page.keyboard.press("Space")
    expect(column(page, stages[1]).locator(f"#opportunity-{second_opp.pk}")).to_be_visible()
    second_opp.refresh_from_db()
    assert second_opp.stage == stages[1]
    assert_no_console_errors(console_errors)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_funnel_pages_are_accessible(page, console_errors, funnel, viewport):
    pipeline, (opportunity, _other) = funnel
    quote = quote_create(opportunity=opportunity, actor=opportunity.owner)
    lead = lead_create(
        actor=None,
        source=LeadSource.WEB_FORM,
        given_name="Luis",
        email="luis@example.org",
        interest="Patrocinio",
    )
    log_in(page, "rosa", PASSWORD)
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    for path in (
        f"/sales/board/{pipeline.pk}/",
        f"/sales/opportunities/{opportunity.pk}/",
        "/sales/opportunities/",
        f"/sales/quotes/{quote.pk}/",
        "/sales/leads/",
        f"/sales/leads/{lead.pk}/",
        "/sales/leads/new/",
        "/sales/forecast/",
        "/sales/catalogue/",
        "/sales/",
    ):
        page.goto(path)
        assert_accessible(page)
        if viewport == "phone" and "board" not in path:
            no_sideways_scroll(page)
    # A refused form: the errors are accessible too, and keep what was typed.
    page.goto(f"/sales/opportunities/{opportunity.pk}/")
    page.locator("#close-form select[name=outcome]").select_option("lost")
    with page.expect_navigation():
        page.locator("#close-form button[type=submit]").click()
    expect(page.locator("#close-errors")).to_be_focused()
    assert_accessible(page)
    assert_no_console_errors(console_errors)


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_public_interest_form(page, live_server, console_errors, language, viewport):
    if language == "en":
        page.context.add_cookies(
            [{"name": "django_language", "value": "en", "url": live_server.url}]
        )
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    page.goto("/sede/interes/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    assert_accessible(page)
    if viewport == "phone":
        no_sideways_scroll(page)
    # Sent empty: the errors, accessible; then filled in.
    with page.expect_navigation():
        page.locator("#interest-form button[type=submit]").click()
    expect(page.locator("#form-errors")).to_be_focused()
    assert_accessible(page)
    page.locator("input[name=organization_name]").fill("Asociación Cultural Río")
    page.locator("input[name=email]").fill("rio@example.org")
    page.locator("textarea[name=interest]").fill("Colaborar en la semana cultural")
    page.locator("input[name=privacy]").check()
    with page.expect_navigation():
        page.locator("#interest-form button[type=submit]").click()
    assert page.url.endswith("/sede/interes/gracias/")
    assert_accessible(page)
    assert Lead.objects.filter(organization_name="Asociación Cultural Río").exists()
    assert not Opportunity.objects.exists()
    assert_no_console_errors(console_errors)
