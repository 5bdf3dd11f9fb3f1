"""Amounts, numbers and dates as French and English readers write them (DESIGN "Money")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.billing.formatting import (
    NBSP,
    format_amount,
    format_date,
    format_decimal,
    format_percent,
    format_unit_price,
)
from tally.money import CURRENCY_EXPONENTS


def plain(text: str) -> str:
    return text.replace(NBSP, " ")


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123456, "EUR", "fr", "1 234,56 €"),
        (15000, "XOF", "fr", "15 000 FCFA"),
        (15000, "XAF", "fr", "15 000 FCFA"),
        (123456, "USD", "en", "$1,234.56"),
        (123456, "EUR", "en", "€1,234.56"),
        (15000, "XOF", "en", "15,000 FCFA"),
        (-123456, "EUR", "fr", "-1 234,56 €"),
        (-123456, "USD", "en", "-$1,234.56"),
        (0, "EUR", "fr", "0,00 €"),
        (0, "XOF", "fr", "0 FCFA"),
        (0, "USD", "en", "$0.00"),
        (5, "EUR", "en", "€0.05"),
        (100000000, "EUR", "fr", "1 000 000,00 €"),
        (1234567, "KWD", "en", "1,234.567 KWD"),
        (123456, "USD", "fr", "1 234,56 $US"),
        (999, "JPY", "fr-FR", "999 JPY"),
    ],
)
def test_amounts_follow_the_locale_and_currency(
    amount: int, currency: str, locale: str, expected: str
) -> None:
    assert plain(format_amount(amount, currency, locale)) == expected


def test_french_spaces_are_no_break_spaces() -> None:
    assert format_amount(1500000, "XOF", "fr") == f"1{NBSP}500{NBSP}000{NBSP}FCFA"
    assert " " not in format_amount(123456, "EUR", "fr")


def test_floats_and_booleans_are_refused() -> None:
    with pytest.raises(TypeError):
        format_amount(12.5, "EUR", "fr")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_amount(True, "EUR", "fr")


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
    locale=st.sampled_from(["en", "fr"]),
)
def test_the_digits_read_back_to_the_amount(amount: int, currency: str, locale: str) -> None:
    text = format_amount(amount, currency, locale)
    digits = "".join(character for character in text if character.isdigit())
    assert int(digits) == abs(amount)
    assert text.startswith("-") == (amount < 0)
    places = CURRENCY_EXPONENTS[currency]
    decimal_mark = "," if locale == "fr" else "."
    number = text.rstrip("€$£FCAUSGBJPYKWD" + NBSP + "ABCDEFGHIJKLMNOPQRSTUVWXYZ").lstrip("-$€£")
    if places:
        assert len(number.rsplit(decimal_mark, 1)[1]) == places
    else:
        assert decimal_mark not in number


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9)
)
def test_decimals_read_back_exactly(value: Decimal) -> None:
    english = format_decimal(value, "en").replace(",", "")
    french = format_decimal(value, "fr").replace(NBSP, "").replace(",", ".")
    assert Decimal(english) == value
    assert Decimal(french) == value


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [
        (Decimal("20"), "fr", "20 %"),
        (Decimal("20"), "en", "20%"),
        (Decimal("5.5"), "fr", "5,5 %"),
        (Decimal("5.50"), "en", "5.5%"),
        (Decimal("0"), "fr", "0 %"),
    ],
)
def test_percentages(value: Decimal, locale: str, expected: str) -> None:
    assert plain(format_percent(value, locale)) == expected


def test_quantities_and_fine_unit_prices() -> None:
    assert plain(format_decimal(Decimal("12345.500"), "fr")) == "12 345,5"
    assert format_decimal(Decimal("12345.500"), "en") == "12,345.5"
    assert format_decimal(Decimal("-0.000"), "en", places=2) == "0.00"
    assert plain(format_unit_price(Decimal("0.0005"), "EUR", "fr")) == "0,0005 €"
    assert format_unit_price(Decimal("29"), "USD", "en") == "$29.00"
    assert plain(format_unit_price(Decimal("2.5"), "XOF", "fr")) == "2,5 FCFA"


@pytest.mark.parametrize(
    ("day", "locale", "long", "expected"),
    [
        (date(2026, 11, 2), "fr", False, "02/11/2026"),
        (date(2026, 11, 2), "en", False, "2 Nov 2026"),
        (date(2026, 11, 1), "fr", True, "1er novembre 2026"),
        (date(2026, 8, 15), "fr", True, "15 août 2026"),
        (date(2026, 11, 1), "en", True, "1 November 2026"),
    ],
)
def test_dates(day: date, locale: str, long: bool, expected: str) -> None:
    assert format_date(day, locale, long=long) == expected
