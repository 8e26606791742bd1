"""sales.quotes.quote_totals: a table of hand-computed cases (discounts, several VAT rates,
rounding to cents half-up per line and per VAT group, as Spanish invoices do)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from sales.quotes import LineInput, quote_totals

CASES = [
    # (lines as (quantity, unit price, VAT %, discount %), line amounts, groups, base, vat, total)
    pytest.param(
        [("1", "100", "21", "0")],
        ["100.00"],
        [("21", "100.00", "21.00")],
        "100.00",
        "21.00",
        "121.00",
        id="one line",
    ),
    pytest.param(
        [("3", "19.99", "21", "10")],  # 59.97 x 0.9 = 53.973 -> 53.97; VAT 11.3337 -> 11.33
        ["53.97"],
        [("21", "53.97", "11.33")],
        "53.97",
        "11.33",
        "65.30",
        id="discount rounds the line",
    ),
    pytest.param(
        [("1", "0.125", "21", "0")],  # half-up: 0.125 -> 0.13 (banker's would give 0.12)
        ["0.13"],
        [("21", "0.13", "0.03")],  # 0.0273 -> 0.03
        "0.13",
        "0.03",
        "0.16",
        id="half up, not half even",
    ),
    pytest.param(
        [("2", "10.00", "21", "0"), ("1", "50", "10", "0"), ("4", "2.50", "4", "0")],
        ["20.00", "50.00", "10.00"],
        [("21", "20.00", "4.20"), ("10", "50.00", "5.00"), ("4", "10.00", "0.40")],
        "80.00",
        "9.60",
        "89.60",
        id="three VAT rates",
    ),
    pytest.param(
        # VAT once per group, not per line: 3 lines of 0.05 at 21 % would be 0.01 each (0.03)
        # line by line, but the group's 0.15 x 21 % = 0.0315 -> 0.03; and 0.35: 0.0735 -> 0.07
        [("1", "0.05", "21", "0")] * 7,
        ["0.05"] * 7,
        [("21", "0.35", "0.07")],
        "0.35",
        "0.07",
        "0.42",
        id="VAT per group not per line",
    ),
    pytest.param(
        [("1", "1000", "21", "100"), ("1", "200", "0", "0")],
        ["0.00", "200.00"],
        [("21", "0.00", "0.00"), ("0", "200.00", "0.00")],
        "200.00",
        "0.00",
        "200.00",
        id="full discount and exempt line",
    ),
    pytest.param(
        [("1.5", "33.3333", "21", "12.5"), ("0.333", "10", "10", "0")],
        # 49.99995 x 0.875 = 43.74995625 -> 43.75 ; 3.33 ; VAT 9.1875 -> 9.19 ; 0.333 -> 0.33
        ["43.75", "3.33"],
        [("21", "43.75", "9.19"), ("10", "3.33", "0.33")],
        "47.08",
        "9.52",
        "56.60",
        id="fractional quantities and prices",
    ),
    pytest.param([], [], [], "0.00", "0.00", "0.00", id="no lines"),
]


@pytest.mark.parametrize(("lines", "amounts", "groups", "base", "vat", "total"), CASES)
def test_quote_totals(lines, amounts, groups, base, vat, total):
    totals = quote_totals(
        LineInput(quantity=D(q), unit_price=D(p), vat_rate=D(r), discount=D(d))
        for q, p, r, d in lines
    )
    assert list(totals.lines) == [D(amount) for amount in amounts]
    assert [(group.rate, group.base, group.vat) for group in totals.groups] == [
        (D(rate), D(group_base), D(group_vat)) for rate, group_base, group_vat in groups
    ]
    assert (totals.base, totals.vat, totals.total) == (D(base), D(vat), D(total))
    assert str(totals.total) == total  # two decimals, never more


@pytest.mark.parametrize(
    "line",
    [
        LineInput(D("0"), D("1"), D("21")),
        LineInput(D("1"), D("-1"), D("21")),
        LineInput(D("1"), D("1"), D("121")),
        LineInput(D("1"), D("1"), D("21"), D("101")),
    ],
)
def test_impossible_lines_are_refused(line):
    with pytest.raises(ValueError, match=r"percent|positive"):
        quote_totals([line])
