"""The cases module's demo data (cases/demo.py, through ``manage.py seed_demo``): cases in every
status and colour of the traffic light, made by the services, for the demo logins."""

import io
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from cases.clock import deadline_state
from cases.demo import DEMO_CASES, DEMO_DOMAIN
from cases.models import Case, CaseEntry, CaseStatus, EntryKind, Hearing, KnowledgeArticle
from cases.services import check_tracking_secret
from citizens.models import Interaction
from crm.calendar import DeadlineState
from crm.models import AuditEvent, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_receipts(monkeypatch):
    from cases import tasks

    monkeypatch.setattr(tasks.issue_receipt, "delay", lambda case_id: None)


def seed(settings) -> str:
    settings.DEMO_LOGINS = True
    output = io.StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def test_demo_cases_cover_the_module(settings):
    output = seed(settings)
    cases = list(Case.objects.select_related("case_type", "unit", "assignee").order_by("pk"))
    assert len(cases) == len(DEMO_CASES) >= 30
    assert f"cases: created 2 hearings, 5 knowledge-base articles, {len(cases)} cases" in output

    assert {case.status for case in cases} == set(CaseStatus)
    lights = Counter(deadline_state(case) for case in cases if case.is_open)
    assert set(lights) == set(DeadlineState)
    assert all(count >= 2 for count in lights.values()), lights
    assert {case.case_type.kind for case in cases} >= {
        "complaint", "suggestion", "information", "compliment", "alert", "hearing", "proposal"
    }  # fmt: skip
    assert len({case.unit.code for case in cases}) >= 5
    assert len({case.channel for case in cases}) >= 6
    # The demo handler has cases of their own, in their units, to work on.
    handler = User.objects.get(username="tramitador")
    mine = Case.objects.for_user(handler).filter(assignee=handler).open()
    assert mine.count() >= 4
    assert Case.objects.for_user(handler).count() < len(cases)

    # Registry numbers follow the filing times.
    by_number = sorted(cases, key=lambda case: case.registry_number)
    times = [case.filed_at for case in by_number if case.case_type.series == "QS"]
    assert times == sorted(times)

    # Made by the services: people matched, history, timelines and audit trail.
    assert len({case.person_id for case in cases if case.person_id}) == 7
    assert CaseEntry.objects.filter(kind=EntryKind.FILED).count() == len(cases)
    assert Interaction.objects.filter(related_type="cases.case").count() >= len(cases)
    assert AuditEvent.objects.filter(object_type="cases.case", action="create").count() == len(
        cases
    )
    waiting = [case for case in cases if case.status == CaseStatus.WAITING]
    assert all(case.suspensions.filter(ended_on=None).exists() for case in waiting)
    assert all(case.filer["email"].endswith(DEMO_DOMAIN) for case in cases if case.filer["email"])

    [open_hearing] = Hearing.objects.open_on(timezone.localdate())
    assert open_hearing.contributions.count() == 2
    assert Hearing.objects.count() == 2
    assert KnowledgeArticle.objects.filter(body__contains="{registry_number}").count() >= 4

    # The tracking secret it prints opens that case.
    number, secret = re.search(r"tracking of (\S+) with (\S+)", output).groups()
    assert check_tracking_secret(Case.objects.get(registry_number=number), secret)


def test_demo_cases_are_made_once(settings):
    seed(settings)
    before = (Case.objects.count(), CaseEntry.objects.count(), AuditEvent.objects.count())
    output = seed(settings)
    assert "cases:" not in output
    assert (Case.objects.count(), CaseEntry.objects.count(), AuditEvent.objects.count()) == before
