from __future__ import annotations

from decimal import Decimal

import pytest

from tally.billing.amounts import amount_problem, canonical_decimal, ratio_half_up, to_minor_units


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("0.125"), "EUR", 13),  # half-up, not to even
        (Decimal("0.135"), "EUR", 14),
        (Decimal("0.1249"), "EUR", 12),
        (Decimal("1500.5"), "XOF", 1501),
        (Decimal("1499.5"), "XOF", 1500),
        (Decimal("1.2345"), "KWD", 1235),
        (Decimal("0"), "EUR", 0),
    ],
)
def test_major_units_round_half_up_at_the_currency_exponent(
    amount: Decimal, currency: str, minor: int
) -> None:
    assert to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounded"),
    [(5, 2, 3), (7, 2, 4), (-5, 2, -3), (1, 3, 0), (2, 3, 1), (0, 7, 0), (29, 10, 3)],
)
def test_ratios_round_half_up_away_from_zero(numerator: int, denominator: int, rounded: int) -> None:
    assert ratio_half_up(numerator, denominator) == rounded


def test_a_ratio_needs_a_positive_denominator() -> None:
    with pytest.raises(ValueError, match="positive"):
        ratio_half_up(1, 0)


@pytest.mark.parametrize(
    ("value", "currency", "words"),
    [
        (Decimal("15000.5"), "XOF", "XOF has no minor unit"),
        (15000.5, "XOF", "XOF has no minor unit"),
        ("150.00", "XOF", "not the string '150.00'"),
        (Decimal("19.99"), "EUR", "EUR amounts are integers in cents"),
        ("19.99", "EUR", "e.g. 1999 for 19.99 EUR"),
        (0, "EUR", "positive whole number of cents"),
        (-5, "XOF", "positive whole number"),
        (True, "EUR", "not true or false"),
    ],
)
def test_amount_problems_are_said_in_words(value: object, currency: str, words: str) -> None:
    assert words in (amount_problem(value, currency) or "")


def test_whole_positive_amounts_have_no_problem() -> None:
    assert amount_problem(15000, "XOF") is None
    assert amount_problem(0, "EUR", allow_zero=True) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("0.050"), "0.05"), (Decimal("1E+1"), "10"), (Decimal("10.00"), "10"), (Decimal("-0"), "0")],
)
def test_decimals_have_one_spelling(value: Decimal, text: str) -> None:
    assert canonical_decimal(value) == text
