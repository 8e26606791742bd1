"""The reports dashboard (issue #8, part 1): figures against a known data set (exact numbers),
scoping (a handler counts their units only; a role without cases has no cases section), the
filters, the cache (hits, expiry, scopes never shared) and the home page's panel."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Delivery, Objective
from campaigns.results import compute
from cases.models import Case, CaseStatus
from cases.services import case_answer, case_request_information
from citizens.models import Channel
from crm.models import Unit
from reports import dashboard
from reports.filters import DashboardFilters, default_period
from sales.models import ExchangeRate, Opportunity
from sales.services import opportunity_create
from tests.campaigns import helpers as campaign_helpers
from tests.cases.staff import file_case
from tests.conftest import forget_dashboard_figures
from tests.sales.funnel_helpers import make_person, make_pipeline

MADRID = ZoneInfo("Europe/Madrid")
# The period of the known data set: two weeks, Monday 2 to Sunday 15 March 2026.
START, END = date(2026, 3, 2), date(2026, 3, 15)
TODAY = date(2026, 11, 23)


def at(day: int, month: int = 3, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=MADRID)


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser(username="boss", password="x-password-1")


def answered(case: Case, *, actor, on: datetime, days: int, on_time: bool) -> Case:
    """Answer through the service, then put the answer on a known day with a known business-day
    count (test setup: the service stamps "now" and computes them from the calendar)."""
    case_answer(case=case, actor=actor, text="Respuesta.")
    Case.objects.filter(pk=case.pk).update(
        answered_at=on, answer_days=days, answered_on_time=on_time
    )
    return case


@pytest.fixture
def known_cases(units, admin):
    """Six cases received in the period, two outside it; five answers given in it.

    unit          filed (channel)           answered (business days, on time)
    urbanismo     2 Mar (web form)          5 Mar (2, yes)
    urbanismo     3 Mar (phone)             12 Mar (9, no)
    urbanismo     10 Mar (web form)         -
    licencias     11 Mar (email)            13 Mar (3, yes)
    sociales      4 Mar (web form)          6 Mar (5, yes)
    sociales      12 Mar (in person)        -
    urbanismo     27 Feb (web form)         9 Mar (7, yes)  <- filed before, answered in it
    urbanismo     16 Mar (web form)         20 Mar (1, yes) <- both after the period
    """
    cases = {}
    rows = [
        ("u1", "urbanismo", at(2), Channel.WEB_FORM),
        ("u2", "urbanismo", at(3), Channel.PHONE),
        ("u3", "urbanismo", at(10), Channel.WEB_FORM),
        ("l1", "licencias", at(11), Channel.EMAIL),
        ("s1", "servicios-sociales", at(4), Channel.WEB_FORM),
        ("s2", "servicios-sociales", at(12), Channel.IN_PERSON),
        ("before", "urbanismo", at(27, month=2), Channel.WEB_FORM),
        ("after", "urbanismo", at(16), Channel.WEB_FORM),
    ]
    for name, unit, filed, channel in rows:
        cases[name] = file_case(unit=unit, filed_at=filed, channel=channel)
    answered(cases["u1"], actor=admin, on=at(5), days=2, on_time=True)
    answered(cases["u2"], actor=admin, on=at(12), days=9, on_time=False)
    answered(cases["l1"], actor=admin, on=at(13), days=3, on_time=True)
    answered(cases["s1"], actor=admin, on=at(6), days=5, on_time=True)
    answered(cases["before"], actor=admin, on=at(9), days=7, on_time=True)
    answered(cases["after"], actor=admin, on=at(20), days=1, on_time=True)
    return cases


def period(unit: Unit | None = None) -> DashboardFilters:
    from crm.models import with_descendants

    if unit is None:
        return DashboardFilters(start=START, end=END)
    return DashboardFilters(
        start=START, end=END, unit_id=unit.pk, unit_ids=with_descendants([unit.pk])
    )


# --- Figures ---------------------------------------------------------------------------------


def test_case_figures_of_management_are_exact(known_cases, make_user):
    board = dashboard.build(make_user("management"), period(), today=TODAY)

    flow = board.case_flow
    assert [(w.start, w.received, w.answered, w.on_time) for w in flow.weeks] == [
        (date(2026, 3, 2), 3, 2, 2),
        (date(2026, 3, 9), 3, 3, 2),
    ]
    assert flow.received == 6
    assert flow.channels == [("web_form", 3), ("email", 1), ("in_person", 1), ("phone", 1)]
    answers = flow.answers
    assert (answers.answered, answers.on_time) == (5, 4)
    assert answers.share_on_time == pytest.approx(0.8)
    # Days 2, 3, 5, 7, 9: median 5; 90th percentile 7 + 0.6 x (9 - 7).
    assert answers.median_days == pytest.approx(5.0)
    assert answers.p90_days == pytest.approx(8.2)


def test_a_handler_counts_only_their_units(known_cases, make_user):
    handler = make_user("case_handler", unit_codes=("urbanismo",))
    board = dashboard.build(handler, period(), today=TODAY)

    flow = board.case_flow
    # Urbanismo and Licencias (below it); Servicios Sociales' two filings and answer are out.
    assert [(w.received, w.answered, w.on_time) for w in flow.weeks] == [(2, 1, 1), (2, 3, 2)]
    assert flow.channels == [("web_form", 2), ("email", 1), ("phone", 1)]
    answers = flow.answers
    assert (answers.answered, answers.on_time, answers.share_on_time) == (4, 3, 0.75)
    # Days 2, 3, 7, 9: median (3 + 7) / 2; 90th percentile 7 + 0.7 x (9 - 7).
    assert answers.median_days == pytest.approx(5.0)
    assert answers.p90_days == pytest.approx(8.4)
    # Open today: Urbanismo's filing of 10 March (Servicios Sociales' of 12 March is out).
    assert [(unit.unit_name, unit.total) for unit in board.open_cases.units] == [("Urbanismo", 1)]


def test_the_unit_filter_narrows_to_the_unit_and_those_below(known_cases, make_user, units):
    board = dashboard.build(make_user("management"), period(units["licencias"]), today=TODAY)
    assert [(w.received, w.answered) for w in board.case_flow.weeks] == [(0, 0), (1, 1)]
    assert board.case_flow.answers.median_days == pytest.approx(3.0)

    board = dashboard.build(make_user("management"), period(units["urbanismo"]), today=TODAY)
    assert board.case_flow.received == 4  # Urbanismo's three and Licencias' one


def test_open_cases_by_unit_and_deadline_state(units, admin, make_user):
    today = timezone.localdate()
    on_time = file_case(unit="urbanismo")
    due_soon = file_case(unit="urbanismo")
    overdue = file_case(unit="licencias")
    waiting = file_case(unit="licencias")
    closed = file_case(unit="licencias")
    Case.objects.filter(pk=on_time.pk).update(
        due_soon_from=today + timedelta(days=3), due_date=today + timedelta(days=10)
    )
    Case.objects.filter(pk=due_soon.pk).update(
        due_soon_from=today - timedelta(days=1), due_date=today + timedelta(days=2)
    )
    Case.objects.filter(pk=overdue.pk).update(
        due_soon_from=today - timedelta(days=9), due_date=today - timedelta(days=1)
    )
    case_request_information(case=waiting, actor=admin, text="¿Qué calle?")
    Case.objects.filter(pk=closed.pk).update(status=CaseStatus.CLOSED)

    found = dashboard.open_cases_for(make_user("management"), today).data
    by_unit = {unit.unit_name: unit for unit in found.units}
    assert (by_unit["Urbanismo"].on_time, by_unit["Urbanismo"].due_soon) == (1, 1)
    licencias = by_unit["Licencias"]
    assert (licencias.overdue, licencias.suspended, licencias.total) == (1, 1, 2)
    assert (found.total, found.on_time, found.due_soon, found.overdue, found.suspended) == (
        4,
        1,
        1,
        1,
        1,
    )
    # The same counts as the queue's own traffic light (CaseQuerySet.deadline_state).
    assert found.overdue == Case.objects.deadline_state("overdue", today).count()


def test_pipeline_value_and_forecast_by_stage(units, make_user):
    actor = make_user("promotion")
    pipeline = make_pipeline(stages=(("Contacto", 10), ("Propuesta", 50)))
    contact, proposal = pipeline.stages.order_by("order")
    ExchangeRate.objects.create(currency="USD", valid_from=date(2020, 1, 1), rate=Decimal("2"))
    who = make_person()
    licencias = units["licencias"]
    for stage, amount, currency, unit in [
        (contact, "1000", "EUR", None),
        (contact, "500", "USD", licencias),  # 250 EUR
        (proposal, "2000", "EUR", licencias),
        (proposal, "300", "EUR", None),
    ]:
        opportunity_create(
            actor=actor,
            title="Patrocinio",
            person=who,
            pipeline=pipeline,
            stage=stage,
            amount=Decimal(amount),
            currency=currency,
            unit=unit,
        )
    lost = Opportunity.objects.filter(amount=Decimal("300")).get()
    Opportunity.objects.filter(pk=lost.pk).update(status="lost")

    figures = dashboard.build(make_user("management"), period(), today=TODAY).pipeline
    stages = {stage.stage: stage for stage in figures.stages if stage.pipeline == pipeline.name}
    assert (stages["Contacto"].count, stages["Contacto"].value) == (2, Decimal("1250.00"))
    assert stages["Contacto"].forecast == Decimal("125.00")
    assert (stages["Propuesta"].count, stages["Propuesta"].value) == (1, Decimal("2000.00"))
    assert stages["Propuesta"].forecast == Decimal("1000.00")
    assert figures.forecast == Decimal("1125.00")

    # A unit chosen: one aggregate over the opportunities of that unit instead of StageTotal.
    narrowed = dashboard.build(make_user("management"), period(licencias), today=TODAY).pipeline
    stages = {stage.stage: stage for stage in narrowed.stages if stage.pipeline == pipeline.name}
    assert (stages["Contacto"].count, stages["Contacto"].value) == (1, Decimal("250.00"))
    assert (stages["Propuesta"].count, stages["Propuesta"].forecast) == (1, Decimal("1000.00"))


def test_campaign_reach_and_objectives_match_the_campaign_results(units, make_user):
    actor = make_user("communication")
    campaign = campaign_helpers.campaign(actor, starts_on=START, ends_on=END)
    objective = campaign_services.objective_save(
        campaign=campaign,
        actor=actor,
        name="Llegar a 2",
        indicator=Objective.Indicator.REACH,
        target=Decimal("2"),
    )
    people = [campaign_helpers.person(f"P{n}", email=f"p{n}@example.org") for n in range(3)]
    for n, who in enumerate(people):
        Delivery.objects.create(
            campaign=campaign,
            person=who,
            email=f"p{n}@example.org",
            status=Delivery.Status.SENT,
            bounce="hard" if n == 0 else "",
        )
    type(campaign).objects.filter(pk=campaign.pk).update(status="finished")
    file_case(campaign=campaign)

    figures = dashboard.build(make_user("management"), period(), today=TODAY).campaigns
    assert [(c.name, c.sent, c.reached, c.cases) for c in figures] == [
        ("Prevención de incendios", 3, 2, 1)
    ]
    results = compute(campaign)
    expected = results.objectives[0]
    shown = figures[0].objectives[0]
    assert (shown.name, shown.value, shown.percent, shown.met) == (
        objective.name,
        expected.value,
        expected.percent,
        expected.met,
    )
    assert (shown.value, shown.met) == (Decimal("2"), True)

    # A campaign that ended before the period is not shown.
    later = DashboardFilters(start=END + timedelta(days=1), end=END + timedelta(days=14))
    assert dashboard.build(make_user("management"), later, today=TODAY).campaigns == []


def test_a_campaign_links_to_its_results_only_for_users_of_the_campaigns_module(
    units, make_user, client_for
):
    actor = make_user("communication")
    campaign = campaign_helpers.campaign(actor, starts_on=START, ends_on=END)
    type(campaign).objects.filter(pk=campaign.pk).update(status="finished")
    query = {"start": START.isoformat(), "end": END.isoformat()}
    link = f'href="/campaigns/{campaign.pk}/results/"'

    management = client_for("management").get("/reports/", query).content.decode()
    assert "Prevención de incendios" in management
    assert link not in management  # management counts campaigns but does not use the module
    communication = client_for("communication").get("/reports/", query).content.decode()
    assert link in communication


def test_people_by_municipality_top_and_others(db, make_user, monkeypatch):
    monkeypatch.setattr(dashboard, "MUNICIPALITIES_SHOWN", 2)
    for name, town in [
        ("A", "Alcalá de Henares"),
        ("B", "alcala de henares"),
        ("C", "Alcalá de Henares"),
        ("D", "Getafe"),
        ("E", "Getafe"),
        ("F", "Leganés"),
        ("G", ""),
    ]:
        campaign_helpers.person(name, municipality=town)

    people = dashboard.build(make_user("management"), period(), today=TODAY).people
    assert people.total == 7
    # Spellings of one municipality count together, shown as most addresses spell it.
    assert people.municipalities == [("Alcalá de Henares", 3), ("Getafe", 2)]
    assert (people.others, people.other_municipalities, people.without_address) == (1, 1, 1)


# --- Sections a role may see -----------------------------------------------------------------


def test_a_role_without_cases_has_no_cases_section(known_cases, client_for):
    response = client_for("communication").get("/reports/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="section-cases"' not in content
    assert 'id="section-campaigns"' in content
    assert "cases_weekly" not in content  # nor the chart's data

    board = response.context["dashboard"]
    assert board.case_flow is None
    assert board.open_cases is None
    assert board.pipeline is None


def test_the_page_shows_the_figures_charts_and_tables(known_cases, client_for):
    response = client_for("management").get(
        "/reports/", {"start": "2026-03-02", "end": "2026-03-15"}
    )
    assert response.status_code == 200
    content = response.content.decode()
    for section in ("cases", "campaigns", "pipeline", "people"):
        assert f'id="section-{section}"' in content
    assert 'id="dashboard-charts" type="application/json"' in content
    assert "vendor/chart.js/chart.umd.min.js" in content
    assert "js/reports-dashboard.js" in content
    assert 'role="img" aria-label="Cases received and answered per week"' in content
    assert "80.0 %" in content  # answered within the term
    assert "Figures as of" in content
    table = response.context["tables"]["cases_weekly"]
    assert table.columns == ["Received", "Answered", "Answered within the term"]
    assert [values for _label, values in table.rows] == [["3", "2", "2"], ["3", "3", "2"]]


def test_anonymous_users_log_in_and_users_without_reports_are_refused(client_for, make_user):
    response = client_for(None).get("/reports/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert client_for(roles=()).get("/reports/").status_code == 403


# --- Filters ---------------------------------------------------------------------------------


def test_default_period_is_the_last_twelve_weeks(client_for):
    response = client_for("management").get("/reports/")
    board = response.context["dashboard"]
    today = timezone.localdate()
    assert (board.filters.start, board.filters.end) == default_period(today)
    assert board.filters.start.weekday() == 0
    assert len(board.case_flow.weeks) == 12


def test_bad_filters_are_shown_next_to_their_fields_with_the_values_kept(client_for):
    response = client_for("management").get(
        "/reports/", {"start": "2026-03-15", "end": "2026-03-01", "unit": ""}
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert response.context["dashboard"] is None
    assert 'id="dashboard-filter-errors"' in content
    # The message sits under its field, in the block the field points to.
    under_end = content.split('id="id_end_error"')[1].split("</div>")[0]
    assert "The end of the period comes before its start." in under_end
    assert 'aria-describedby="id_end_error' in content
    assert 'value="2026-03-15"' in content
    assert 'value="2026-03-01"' in content

    response = client_for("management").get("/reports/", {"start": "tomorrow"})
    assert "Enter a valid date." in response.content.decode()
    assert 'value="tomorrow"' in response.content.decode()

    response = client_for("management").get(
        "/reports/", {"start": "2024-01-01", "end": "2026-01-01"}
    )
    assert "Choose a period of at most 366 days." in response.content.decode()


def test_a_handler_may_not_choose_another_unit(units, client_for):
    client = client_for("case_handler", unit_codes=("urbanismo",))
    response = client.get("/reports/")
    choices = [label for _value, label in response.context["form"].fields["unit"].choices]
    assert set(choices[1:]) == {"Urbanismo", "Licencias"}

    response = client.get("/reports/", {"unit": units["servicios-sociales"].pk})
    assert response.context["dashboard"] is None
    assert "Select a valid choice." in response.content.decode()


# --- Cache -----------------------------------------------------------------------------------


def test_a_second_request_is_served_from_the_cache(known_cases, client_for):
    client = client_for("management")
    query = {"start": "2026-03-02", "end": "2026-03-15"}
    with CaptureQueriesContext(connection) as first:
        client.get("/reports/", query)
    with CaptureQueriesContext(connection) as second:
        response = client.get("/reports/", query)
    assert response.context["dashboard"].case_flow.received == 6
    figure_queries = [q["sql"] for q in first.captured_queries if "cases_case" in q["sql"]]
    assert figure_queries, "the first request computes the case figures"
    assert not [q for q in second.captured_queries if "cases_case" in q["sql"]]
    assert len(second.captured_queries) < len(first.captured_queries)


def test_a_new_case_shows_up_when_the_cache_is_cleared(known_cases, make_user):
    boss = make_user("management")
    assert dashboard.build(boss, period(), today=TODAY).case_flow.received == 6
    file_case(unit="urbanismo", filed_at=at(14))
    assert dashboard.build(boss, period(), today=TODAY).case_flow.received == 6  # cached
    forget_dashboard_figures()
    assert dashboard.build(boss, period(), today=TODAY).case_flow.received == 7


def test_a_new_case_shows_up_after_the_cache_time(known_cases, make_user, settings):
    settings.REPORTS_DASHBOARD_CACHE_SECONDS = 1
    boss = make_user("management")
    first = dashboard.build(boss, period(), today=TODAY)
    assert first.case_flow.received == 6
    file_case(unit="urbanismo", filed_at=at(14))
    time.sleep(1.2)
    later = dashboard.build(boss, period(), today=TODAY)
    assert later.case_flow.received == 7
    assert later.as_of > first.as_of


def test_users_with_different_scopes_never_share_an_entry(known_cases, make_user):
    boss = make_user("management")
    urbanismo = make_user("case_handler", unit_codes=("urbanismo",))
    sociales = make_user("case_handler", unit_codes=("servicios-sociales",))
    # Management first: its entry must not be what the handlers get, nor theirs each other's.
    assert dashboard.build(boss, period(), today=TODAY).case_flow.received == 6
    assert dashboard.build(urbanismo, period(), today=TODAY).case_flow.received == 4
    assert dashboard.build(sociales, period(), today=TODAY).case_flow.received == 2
    # Two holders of reports.all_units count the same rows: they share the entry.
    other_boss = make_user("data_protection_officer")
    file_case(unit="urbanismo", filed_at=at(14))
    assert dashboard.build(other_boss, period(), today=TODAY).case_flow.received == 6


def test_the_cache_key_follows_the_scope(units, make_user):
    def key(user):
        return dashboard.scope_fingerprint(dashboard.visible(user, "cases"))

    one = make_user("case_handler", unit_codes=("urbanismo",))
    two = make_user("case_handler", unit_codes=("urbanismo",))
    assert key(one) != key(two)  # each also counts the cases assigned to them
    assert key(make_user("management")) == key(make_user("data_protection_officer"))
    assert key(make_user("management")) != key(one)


def test_entries_expire_after_the_configured_time(known_cases, make_user, settings):
    settings.REPORTS_DASHBOARD_CACHE_SECONDS = 120
    dashboard.build(make_user("management"), period(), today=TODAY)
    client = cache._cache.get_client(write=False)
    keys = client.keys(cache.make_key(f"{dashboard.CACHE_PREFIX}:*"))
    sections = {key.decode().split(":")[-2] for key in keys}
    assert sections == {"case_flow", "case_open", "campaigns", "pipeline", "people"}
    assert all(0 < client.ttl(key) <= 120 for key in keys)


def test_beat_refreshes_the_people_figures_before_a_page_needs_them(db, make_user, settings):
    from django.conf import settings as live

    from reports.dashboard_tasks import refresh_people_figures

    campaign_helpers.person("A", municipality="Getafe")
    assert refresh_people_figures.apply().get() == 1
    campaign_helpers.person("B", municipality="Getafe")  # after the refresh: not counted yet
    for role in ("management", "case_handler"):  # all units, or one unit: the same register
        with CaptureQueriesContext(connection) as queries:
            people = dashboard.build(make_user(role), period(), today=TODAY).people
        assert people.municipalities == [("Getafe", 1)]
        assert not [q for q in queries.captured_queries if "citizens_person" in q["sql"]]
    entry = live.CELERY_BEAT_SCHEDULE["refresh-dashboard-people"]
    assert entry["task"] == refresh_people_figures.name

    settings.REPORTS_DASHBOARD_CACHE_SECONDS = 0  # no cache: nothing to refresh
    assert refresh_people_figures.apply().get() == 0


# --- Query budget ----------------------------------------------------------------------------


def test_the_page_runs_a_handful_of_queries_whatever_the_data(known_cases, client_for, settings):
    settings.REPORTS_DASHBOARD_CACHE_SECONDS = 0  # every figure computed
    client = client_for("management")
    client.get("/reports/")  # sessions, permissions, unit tree: loaded once
    with CaptureQueriesContext(connection) as few:
        client.get("/reports/", {"start": "2026-03-02", "end": "2026-03-15"})
    for n in range(10):
        file_case(unit="servicios-sociales", filed_at=at(5) + timedelta(hours=n))
    with CaptureQueriesContext(connection) as many:
        client.get("/reports/", {"start": "2026-03-02", "end": "2026-03-15"})
    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(few.captured_queries) <= 25


# --- Home page -------------------------------------------------------------------------------


def test_the_home_panel_shows_the_users_open_cases(units, client_for):
    file_case(unit="urbanismo")
    file_case(unit="servicios-sociales")
    content = client_for("case_handler", unit_codes=("urbanismo",)).get("/").content.decode()
    assert 'id="home-indicators"' in content
    panel = content.split('id="home-indicators"')[1].split("</ul>")[0]
    assert ">1</span>" in panel  # their unit's case only
    assert "No indicators to show yet." not in content


def test_no_home_panel_for_roles_without_cases(units, client_for):
    content = client_for("communication").get("/").content.decode()
    assert 'id="home-indicators"' not in content
    assert "No indicators to show yet." not in content
