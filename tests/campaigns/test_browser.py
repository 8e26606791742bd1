"""The campaign pages in a real browser: axe-core clean on a desktop and at 360 px (list,
campaign page, edit form, email, results, segment editor, segment page), no sideways scrolling,
no console or CSP errors, and the segment editor's live count with htmx."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns import services
from tests.fixtures.browser import PHONE, assert_accessible, assert_no_console_errors, log_in

from .helpers import PASSWORD, campaign, person, purpose, segment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_sideways_scroll(page, url: str = "") -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 360px"


@pytest.fixture
def worked_campaign(make_user):
    comms = make_user("communication", username="comms", email="comms@example.org")
    for n in range(3):
        person(f"Persona{n}", tags=["mayores"], municipality="Cádiz", email=f"p{n}@example.org")
    target = segment(
        comms,
        {
            "op": "and",
            "rules": [
                {"type": "tags", "values": ["mayores"]},
                {
                    "op": "or",
                    "rules": [
                        {"type": "age", "min": 18},
                        {"type": "municipality", "values": ["Cádiz"]},
                    ],
                },
            ],
        },
        name="Mayores",
    )
    shown = campaign(comms, segment=target, purpose=purpose())
    services.budget_line_save(
        campaign=shown,
        actor=comms,
        concept="Radio",
        planned=Decimal(1000),
        actual=Decimal(400),
        currency="EUR",
    )
    services.objective_save(
        campaign=shown, actor=comms, name="Alcance", indicator="reach", target=Decimal(100)
    )
    return shown


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_campaign_pages_are_accessible(page, console_errors, worked_campaign, viewport):
    log_in(page, "comms", PASSWORD)
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    pk = worked_campaign.pk
    frozen_pk = services.segment_freeze(
        segment=worked_campaign.segment, actor=worked_campaign.created_by, name="Congelada"
    ).pk
    for url in (
        "/campaigns/",
        f"/campaigns/{pk}/",
        f"/campaigns/{pk}/edit/",
        f"/campaigns/{pk}/email/?person=p0@example.org",
        f"/campaigns/{pk}/results/",
        "/campaigns/targets/",
        f"/campaigns/segments/{worked_campaign.segment_id}/",
        f"/campaigns/segments/{worked_campaign.segment_id}/edit/",
        "/campaigns/segments/new/",
        f"/campaigns/{pk}/budget/new/",
        f"/campaigns/{pk}/interactions/new/",
        "/campaigns/lists/upload/",
        "/campaigns/templates/",
        "/campaigns/templates/new/",
        f"/campaigns/lists/{frozen_pk}/",
    ):
        page.goto(url)
        assert_accessible(page)
        if viewport == "phone":
            no_sideways_scroll(page, url)
    assert_no_console_errors(console_errors)


def test_the_segment_editor_counts_live_and_shows_only_the_inputs_of_a_condition(
    page, console_errors, worked_campaign
):
    log_in(page, "comms", PASSWORD)
    # The English UI, whose texts the test reads.
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": page.url}])
    page.goto("/campaigns/segments/new/")
    age_input = page.locator("#g0-c0-min")
    assert not age_input.is_visible()
    page.locator("#g0-c0-type").select_option("tags")
    assert page.locator("#g0-c0-values").is_visible()
    assert not age_input.is_visible()
    page.locator("#g0-c0-values").fill("mayores")
    page.locator("#segment-count").get_by_text("3 people match now").wait_for()
    page.locator("#g0-c0-values").fill("nadie")
    page.locator("#segment-count").get_by_text("0 people match now").wait_for()
    # Without a value the count says what is wrong instead.
    page.locator("#g0-c0-values").fill("")
    page.locator("#segment-count").get_by_text("Condition 1").wait_for()
    assert_accessible(page)
    assert_no_console_errors(console_errors)
