"""The funnel's demo data loads through the services and is idempotent."""

from __future__ import annotations

import pytest

from crm import demo as crm_demo
from sales import demo
from sales.models import Agreement, Lead, Opportunity, Product, QuoteVersion

pytestmark = pytest.mark.django_db


def test_demo_loads_once():
    crm_demo.load()
    assert demo.load() == ["catalogue", "funnel"]
    assert Product.objects.count() == 5
    assert Lead.objects.filter(status="converted").count() == 1
    assert Lead.objects.filter(status="new").count() == 2
    assert Opportunity.objects.filter(status="won").count() == 1
    assert Opportunity.objects.filter(status="open").count() == 4
    assert QuoteVersion.objects.filter(status="sent").count() == 1
    assert Agreement.objects.count() == 1
    assert demo.load() == []
    assert Opportunity.objects.count() == 5
