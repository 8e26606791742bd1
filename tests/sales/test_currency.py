"""Multi-currency: rates kept by date, one conversion function, totals in the base currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from sales.currency import MissingRate, convert, rate_on, total_in_base
from sales.models import ExchangeRate

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates():
    ExchangeRate.objects.create(currency="USD", valid_from=date(2026, 1, 1), rate=D("1.10"))
    ExchangeRate.objects.create(currency="USD", valid_from=date(2026, 6, 1), rate=D("1.25"))
    ExchangeRate.objects.create(currency="GBP", valid_from=date(2026, 1, 1), rate=D("0.80"))


def test_the_rate_of_a_day_is_the_latest_valid_then(rates):
    assert rate_on("USD", date(2026, 3, 15)) == D("1.10")
    assert rate_on("USD", date(2026, 6, 1)) == D("1.25")
    assert rate_on("usd", date(2027, 1, 1)) == D("1.25")
    assert rate_on("EUR", date(2000, 1, 1)) == D("1")
    with pytest.raises(MissingRate):
        rate_on("USD", date(2025, 12, 31))
    with pytest.raises(MissingRate):
        rate_on("JPY", date(2026, 3, 1))


def test_convert_at_a_date(rates):
    assert convert(D("110"), "USD", on=date(2026, 3, 1)) == D("100.00")
    assert convert(D("110"), "USD", on=date(2026, 7, 1)) == D("88.00")
    # 100 / 1.10 = 90.909... -> 90.91 (half up to cents)
    assert convert(D("100"), "USD", on=date(2026, 3, 1)) == D("90.91")
    # Between two foreign currencies, through the base one: 100 USD -> 90.909 EUR -> 72.73 GBP
    assert convert(D("100"), "USD", on=date(2026, 3, 1), to="GBP") == D("72.73")
    assert convert(D("100"), "EUR", on=date(2026, 3, 1), to="USD") == D("110.00")


def test_totals_in_base_currency_at_a_date(rates):
    amounts = [(D("110"), "USD"), (D("80"), "GBP"), (D("10.005"), "EUR")]
    assert total_in_base(amounts, on=date(2026, 3, 1)) == D("100.00") + D("100.00") + D("10.01")
    # The same amounts later: the dollar moved, the total with it.
    assert total_in_base(amounts, on=date(2026, 7, 1)) == D("88.00") + D("100.00") + D("10.01")
