"""The cases module's bench data (cases/bench.py) on a small scale, in the test database: gap-free
registry numbers in filing order with the counters set, the legal clock exactly as cases.clock
computes it, the filer's record as the services write it, references that exist, a mix of
statuses and deadline states, and scenario URLs that answer."""

from __future__ import annotations

import argparse
import itertools
from collections import Counter, defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from cases.bench import data as bench
from cases.bench import scenarios
from cases.clock import deadline_state, refresh_clock
from cases.models import Case, CaseEntry, CaseStatus, CaseSuspension
from cases.services import Filer
from citizens.models import Organization, Person
from crm.bench import BENCH_USER
from crm.bench.crm_app import create_users
from crm.bench.registry import Registry, discover
from crm.bench.runner import build_data
from crm.calendar import DeadlineState
from crm.models import Membership, RegistryCounter, Unit
from crm.registry import RegistryNumber

pytestmark = pytest.mark.django_db

PEOPLE, ORGANIZATIONS, CASES = 200, 20, 1500


def _registry(*names: str) -> Registry:
    everything = discover()
    mine = Registry()
    for name in names:
        mine.add_generator(everything.generators[name])
    return mine


@pytest.fixture
def data(db, monkeypatch):
    """1,500 cases over the three years (the default's spacing would put them all in the first
    week), on 200 people and 20 organisations; made in chunks of 400."""
    monkeypatch.setattr(bench, "STEP_SECONDS", bench.SPAN.total_seconds() / CASES)
    generators = discover().generators
    monkeypatch.setitem(
        generators, "cases", generators["cases"].__class__(
            **{**generators["cases"].__dict__, "chunk": 400}
        )
    )  # fmt: skip
    create_users(0, 1)
    options = argparse.Namespace(
        scale=1.0, people=PEOPLE, organizations=ORGANIZATIONS, interactions=0, cases=CASES
    )
    build_data(_registry("people", "organizations"), options)
    registry = Registry()
    registry.add_generator(generators["cases"])
    return build_data(registry, options)


@pytest.fixture
def bench_client(client, data):
    client.force_login(get_user_model().objects.get(username=BENCH_USER))
    return client


def test_the_size_asked_for_is_made_and_a_second_run_makes_nothing(data):
    assert data == {"cases": CASES}
    assert bench.count_cases() == CASES
    assert list(Case.objects.order_by("id").values_list("id", flat=True)) == list(
        range(1, CASES + 1)
    )
    registry = Registry()
    registry.add_generator(discover().generators["cases"])
    options = argparse.Namespace(scale=1.0, cases=CASES)
    assert build_data(registry, options) == {"cases": CASES}
    assert Case.objects.count() == CASES
    # The sequence goes on after the generated ids.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('cases_case', 'id'))")
        assert cursor.fetchone()[0] == CASES + 1


def test_registry_numbers_are_gap_free_in_filing_order(data):
    by_series: dict[tuple[str, int], list[tuple]] = defaultdict(list)
    for number, filed_at in Case.objects.values_list("registry_number", "filed_at"):
        parsed = RegistryNumber.parse(number)
        by_series[parsed.series, parsed.year].append((parsed.number, filed_at))
    assert len(by_series) >= 10  # five series over three or four years
    for (series, year), rows in by_series.items():
        rows.sort()
        assert [n for n, _at in rows] == list(range(1, len(rows) + 1)), (series, year)
        times = [at for _n, at in rows]
        assert times == sorted(times), (series, year)
        assert RegistryCounter.objects.get(series=series, year=year).last_number == len(rows)
        assert {at.astimezone(bench.BusinessCalendar().time_zone).year for at in times} == {year}


def test_the_clock_is_what_the_services_compute(data):
    for case in Case.objects.select_related("case_type"):
        expected = Case(
            official_filed_at=case.official_filed_at,
            deadline_days=case.deadline_days,
            filer=case.filer,
        )
        refresh_clock(expected)
        calendar = bench.BusinessCalendar()
        assert case.official_filed_at == calendar.official_filing_time(case.filed_at), case.pk
        if case.status == CaseStatus.WAITING:
            assert (case.due_date, case.due_soon_from) == (None, None)
            suspension = CaseSuspension.objects.get(case=case, ended_on=None)
            assert case.reply_due_date == calendar.add_business_days(suspension.started_on, 10)
        else:
            assert (case.due_date, case.due_soon_from) == (
                expected.due_date,
                expected.due_soon_from,
            ), case.pk
    assert CaseSuspension.objects.filter(ended_on=None).count() == (
        Case.objects.filter(status=CaseStatus.WAITING).count()
    )


def test_a_mix_of_statuses_and_every_colour_of_the_light(data):
    cases = list(Case.objects.all())
    statuses = Counter(case.status for case in cases)
    assert set(statuses) == set(CaseStatus)
    assert statuses[CaseStatus.CLOSED] > CASES / 2  # most are old and done
    lights = Counter(deadline_state(case) for case in cases if case.is_open)
    assert set(lights) == set(DeadlineState)
    for state in DeadlineState:
        in_sql = Case.objects.deadline_state(state, scenarios._today()).count()
        assert in_sql == lights[state]
    assert len({case.unit_id for case in cases}) >= 9
    assert len({case.channel for case in cases}) == len(bench.CHANNELS)
    assert {case.case_type.kind for case in Case.objects.select_related("case_type")} == set(
        case_kinds()
    )


def case_kinds():
    from cases.models import CaseKind

    return CaseKind.values


def test_references_exist_and_the_filer_is_the_persons_record(data):
    people = {person.pk: person for person in Person.objects.all()}
    organizations = {org.pk: org for org in Organization.objects.all()}
    units = set(Unit.objects.values_list("pk", flat=True))
    handlers = defaultdict(set)
    for user_id, unit_id in Membership.objects.values_list("user_id", "unit_id"):
        handlers[unit_id].add(user_id)
    for case in Case.objects.all():
        person = people[case.person_id]
        record = Filer.from_person(person).as_record()
        organization = organizations.get(case.organization_id)
        record["organization_tax_id"] = organization.tax_id if organization else ""
        record["organization_name"] = organization.name if organization else ""
        assert case.filer == record, case.pk
        assert case.unit_id in units
        if case.assignee_id:
            assert case.assignee_id in handlers[case.unit_id]
        assert (case.status == CaseStatus.RECEIVED) == (case.assignee_id is None), case.pk
        if case.duplicate_of_id:
            assert Case.objects.filter(pk=case.duplicate_of_id).exists()
        assert case.receipt_emailed_at is not None  # the receipts' sweeper has nothing to do


def test_every_case_has_its_history(data):
    kinds = defaultdict(list)
    for case_id, kind, to_status in CaseEntry.objects.order_by(
        "case_id", "created_at", "id"
    ).values_list("case_id", "kind", "to_status"):
        kinds[case_id].append((kind, to_status))
    for case in Case.objects.all():
        history = kinds[case.pk]
        assert history[0] == ("filed", "received"), case.pk
        if case.status in (CaseStatus.ANSWERED, CaseStatus.CLOSED):
            assert ("answer", "answered") in history
        if case.status == CaseStatus.CLOSED:
            assert history[-1] == ("status", "closed")
        if case.status == CaseStatus.WAITING:
            assert history[-1] == ("information_request", "waiting")


def test_units_have_handlers_and_heads(data):
    heads = Membership.objects.filter(is_head=True, unit__code__startswith="bench-")
    assert heads.count() == len(bench.BENCH_UNITS) - 1
    assert get_user_model().objects.filter(username=bench.BENCH_HANDLER).exists()


def test_every_cases_scenario_answers(bench_client):
    from django.test import Client

    handler = Client()
    handler.force_login(get_user_model().objects.get(username=bench.BENCH_HANDLER))
    for name in ("case queue by unit and deadline", "case queue", "case page"):
        for url in discover().scenarios[name.replace(" ", "-")].url_list():
            response = bench_client.get(url)
            assert response.status_code == 200, url
    for url in discover().scenarios["case-queue-of-a-handler"].url_list():
        assert handler.get(url).status_code == 200, url


def test_the_queue_pages_follow_each_other(bench_client):
    urls = scenarios.queue_urls()
    assert len(urls) == 5
    pairs = [(a, b) for a, b in itertools.pairwise(urls) if "cursor" in b]
    assert pairs
    for first, second in pairs:
        one = [row.case_id for row in bench_client.get(first).context["rows"]]
        two = [row.case_id for row in bench_client.get(second).context["rows"]]
        assert one
        assert two
        assert not set(one) & set(two)
        assert Case.objects.get(pk=one[-1]).filed_at >= Case.objects.get(pk=two[0]).filed_at
