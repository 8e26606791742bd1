"""Amounts in several currencies, and the one function that converts them.

The body keeps its accounts in ``settings.BASE_CURRENCY`` (EUR by default). Administrators
enter exchange rates by date (``ExchangeRate``: units of a currency per unit of the base
currency, valid from a date until the next rate of that currency). ``convert`` turns an amount
into another currency at a given date, rounding to cents half-up; totals in the base currency
are sums of amounts converted one by one (the same rule everywhere: board, list, forecast).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Case, DecimalField, ExpressionWrapper, F, OuterRef, Subquery, When

from .models import ExchangeRate

CENT = Decimal("0.01")


class MissingRate(LookupError):
    """No exchange rate of that currency on or before the date."""

    def __init__(self, currency: str, on: date) -> None:
        super().__init__(f"No exchange rate for {currency} on or before {on}.")
        self.currency = currency
        self.on = on


def base_currency() -> str:
    return settings.BASE_CURRENCY


def rate_on(currency: str, on: date) -> Decimal:
    """Units of ``currency`` per unit of the base currency on ``on`` (1 for the base itself)."""
    currency = currency.upper()
    if currency == base_currency():
        return Decimal(1)
    rate = (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=on)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise MissingRate(currency, on)
    return rate


def convert(amount: Decimal, currency: str, *, on: date, to: str | None = None) -> Decimal:
    """``amount`` of ``currency`` in ``to`` (default: the base currency) at the rates of ``on``,
    rounded to cents half-up."""
    to = (to or base_currency()).upper()
    currency = currency.upper()
    if currency == to:
        return Decimal(amount).quantize(CENT, ROUND_HALF_UP)
    in_base = Decimal(amount) / rate_on(currency, on)
    return (in_base * rate_on(to, on)).quantize(CENT, ROUND_HALF_UP)


class RateBook:
    """The rates of one day, each read once: for pages converting many sums (board, forecast)
    with one query per currency rather than one per amount."""

    def __init__(self, on: date) -> None:
        self.on = on
        self._rates: dict[str, Decimal | MissingRate] = {}

    def rate(self, currency: str) -> Decimal:
        currency = currency.upper()
        if currency not in self._rates:
            try:
                self._rates[currency] = rate_on(currency, self.on)
            except MissingRate as error:
                self._rates[currency] = error
        found = self._rates[currency]
        if isinstance(found, MissingRate):
            raise found
        return found

    def to_base(self, amount: Decimal, currency: str) -> Decimal:
        """Like ``convert(amount, currency, on=self.on)``."""
        if currency.upper() == base_currency():
            return Decimal(amount).quantize(CENT, ROUND_HALF_UP)
        return (Decimal(amount) / self.rate(currency)).quantize(CENT, ROUND_HALF_UP)


def total_in_base(amounts: Iterable[tuple[Decimal, str]], *, on: date) -> Decimal:
    """The sum, in the base currency, of (amount, currency) pairs converted at ``on``."""
    return sum(
        (convert(amount, currency, on=on) for amount, currency in amounts), start=Decimal("0.00")
    )


def base_amount_expression(on: date, amount: str = "amount", currency: str = "currency"):
    """A SQL expression of a row's amount in the base currency at ``on``: the amount divided by
    the rate of the row's currency valid that day (one indexed subquery per currency), so that
    sums per column or per month are computed by the database. Rows in a currency without a
    rate give NULL (left out of sums, as ``convert`` would refuse them)."""
    rate = Subquery(
        ExchangeRate.objects.filter(currency=OuterRef(currency), valid_from__lte=on)
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    money = DecimalField(max_digits=20, decimal_places=2)
    return Case(
        When(**{currency: base_currency()}, then=F(amount)),
        default=ExpressionWrapper(F(amount) / rate, output_field=money),
        output_field=money,
    )
