"""The totals of a quote: one function, used by the pages, the PDF and the stored totals.

The rule (as on Spanish invoices, RD 1619/2012 art. 6 and AEAT practice):

1. Each line's amount is ``quantity x unit price x (1 - discount %)``, rounded to cents
   half-up (0.005 → 0.01). This is the line's taxable amount.
2. Lines are grouped by VAT rate. Each group's taxable base is the sum of its lines' rounded
   amounts; its VAT is ``base x rate %`` rounded to cents half-up, once per group (not per
   line), which is how the invoice's tax breakdown is printed.
3. The quote's base is the sum of the groups' bases, its VAT the sum of the groups' VAT, and
   the total their sum.

Everything is ``Decimal``; nothing goes through floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal  # percent, e.g. Decimal("21")
    discount: Decimal = Decimal(0)  # percent


@dataclass(frozen=True)
class VatGroup:
    rate: Decimal
    base: Decimal
    vat: Decimal


@dataclass(frozen=True)
class Totals:
    lines: tuple[Decimal, ...]  # each line's amount after discount, in the lines' order
    groups: tuple[VatGroup, ...]  # by VAT rate, highest first
    base: Decimal
    vat: Decimal
    total: Decimal


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def line_amount(line: LineInput) -> Decimal:
    gross = Decimal(line.quantity) * Decimal(line.unit_price)
    return cents(gross * (HUNDRED - Decimal(line.discount)) / HUNDRED)


def quote_totals(lines: Iterable[LineInput]) -> Totals:
    """The line amounts, the VAT breakdown and the totals of ``lines`` (see the module)."""
    amounts: list[Decimal] = []
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        if line.quantity <= 0 or line.unit_price < 0:
            raise ValueError("Quantities must be positive and prices not negative.")
        if not 0 <= line.discount <= 100 or not 0 <= line.vat_rate <= 100:
            raise ValueError("Discounts and VAT rates are percentages between 0 and 100.")
        amount = line_amount(line)
        amounts.append(amount)
        rate = Decimal(line.vat_rate).normalize()
        bases[rate] = bases.get(rate, Decimal("0.00")) + amount
    groups = tuple(
        VatGroup(rate=rate, base=cents(base), vat=cents(base * rate / HUNDRED))
        for rate, base in sorted(bases.items(), reverse=True)
    )
    base = sum((group.base for group in groups), start=Decimal("0.00"))
    vat = sum((group.vat for group in groups), start=Decimal("0.00"))
    return Totals(lines=tuple(amounts), groups=groups, base=base, vat=vat, total=base + vat)
