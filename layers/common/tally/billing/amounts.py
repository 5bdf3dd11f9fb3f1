"""Money maths shared by the billing modules: integer minor units, Decimal rates, half-up rounding.

DESIGN "Money": amounts are integer minor units with their ISO 4217 currency; unit prices and
rates are Decimal, never float; a computed amount is rounded half-up to the currency's minor unit
once, at the end of the computation of one line.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, ValidationInfo

from tally.money import CURRENCY_EXPONENTS, exponent, is_currency

ONE_MINOR_UNIT = Decimal(1)

# The currencies whose minor unit people name in words (the rest say "minor units").
_MINOR_UNIT_NAMES = {"EUR": "cents", "USD": "cents", "GBP": "pence", "CHF": "centimes", "CAD": "cents"}


def minor_unit_name(currency: str) -> str:
    return _MINOR_UNIT_NAMES.get(currency, "minor units")


def scale(currency: str) -> Decimal:
    """How many minor units make one major unit: 100 for EUR, 1 for XOF, 1000 for KWD."""
    return Decimal(10) ** exponent(currency)


def round_minor(amount_in_minor_units: Decimal) -> int:
    """Round an amount already expressed in minor units (possibly fractional) half-up to an integer."""
    return int(amount_in_minor_units.quantize(ONE_MINOR_UNIT, rounding=ROUND_HALF_UP))


def to_minor_units(amount_in_major_units: Decimal, currency: str) -> int:
    """0.125 EUR -> 13 (cents), 1500.5 XOF -> 1501: half-up at the currency's exponent."""
    return round_minor(amount_in_major_units * scale(currency))


def ratio_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up (away from zero on a tie), exactly, in integers."""
    if denominator <= 0:
        raise ValueError("The denominator must be positive")
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


# --- pydantic field types -------------------------------------------------------------------


def _currency(value: str) -> str:
    if not is_currency(value):
        hint = (
            f"; codes are upper case: '{value.upper()}'" if is_currency(value.upper()) else " (e.g. EUR, XOF)"
        )
        raise ValueError(f"'{value}' is not a supported ISO 4217 currency code{hint}")
    return value


def _currency_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(CURRENCY_EXPONENTS)


Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, description="ISO 4217", json_schema_extra=_currency_enum),
    AfterValidator(_currency),
]


def amount_problem(value: object, currency: str | None, *, allow_zero: bool = False) -> str | None:
    """Why `value` is not an amount in integer minor units of `currency`, in words; None if it is.

    Used by the models' validators, which see the currency declared before the amount.
    """
    lowest = 0 if allow_zero else 1
    kind = "a whole number of" if allow_zero else "a positive whole number of"
    known = currency is not None and is_currency(currency)
    units = minor_unit_name(currency) if known and currency else "minor units"
    if isinstance(value, bool):
        return f"Amounts are {kind} {units}, not true or false"
    if isinstance(value, int):
        return None if value >= lowest else f"Amounts are {kind} {units}: got {value}"
    if known and currency and exponent(currency) == 0:
        lead = f"{currency} has no minor unit: amounts are whole {currency}"
        example = "e.g. 15000"
    elif known and currency:
        lead = f"{currency} amounts are integers in {units} ({scale(currency)} to one {currency})"
        example = f"e.g. 1999 for 19.99 {currency}"
    else:
        lead = "Amounts are integers in the currency's minor unit"
        example = "e.g. 1999"
    if isinstance(value, str):
        return f"{lead}, written as a number, not the string '{value}' ({example})"
    if isinstance(value, Decimal | float):
        return f"{lead}, without decimals: {value} is not a whole number ({example})"
    return f"{lead} ({example})"


def check_amount(value: object, info: ValidationInfo, *, allow_zero: bool = False) -> int:
    """The body of an amount validator (mode="before") on a model with a `currency` field before it."""
    currency = info.data.get("currency")
    if problem := amount_problem(
        value, currency if isinstance(currency, str) else None, allow_zero=allow_zero
    ):
        raise ValueError(problem)
    assert isinstance(value, int)
    return value


def exact_decimal(what: str, example: str) -> Callable[[object], object]:
    """A BeforeValidator for Decimal fields: an integer, or a string such as `example`, becomes a
    Decimal (a JSON number with decimals arrives as one already). A binary float is refused in
    words: 0.1 as a float is not 0.1. Anything else is left to the field's own validation."""

    def parse(value: object) -> object:
        if isinstance(value, float):
            raise ValueError(
                f'Write {what} as a string or an exact decimal, e.g. "{value}", not a binary float'
            )
        if isinstance(value, int | str) and not isinstance(value, bool):
            try:
                return Decimal(value)
            except ArithmeticError:
                raise ValueError(f"'{value}' is not a decimal number (e.g. {example})") from None
        return value

    return parse


def _finite_non_negative(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("Expected a finite decimal number")
    if value < 0:
        raise ValueError(f"A unit price cannot be negative: got {value}")
    places = value.as_tuple().exponent
    if isinstance(places, int) and places < -12:
        raise ValueError(f"A unit price has at most 12 decimal places: got {value}")
    return value


def canonical_decimal(value: Decimal) -> str:
    """One spelling per value ("0.05", "10", never "1E+1" or "0.050"), for hashes and the wire."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


UnitPrice = Annotated[
    Decimal,
    BeforeValidator(exact_decimal("this rate", '"0.05"')),
    AfterValidator(_finite_non_negative),
    PlainSerializer(canonical_decimal, return_type=str, when_used="json"),
    Field(description='A unit price in the currency\'s major unit, as a decimal string (e.g. "0.05" EUR)'),
]
