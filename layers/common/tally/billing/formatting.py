"""Amounts, numbers, percentages and dates written the way a French or English reader expects.

    format_amount(123456, "EUR", "fr") == "1 234,56 €"      format_amount(123456, "EUR", "en") == "€1,234.56"
    format_amount(15000, "XOF", "fr") == "15 000 FCFA"      format_amount(123456, "USD", "en") == "$1,234.56"

Amounts come in integer minor units and are split with integer arithmetic; quantities and rates
are Decimal. No float anywhere (DESIGN "Money").

Spaces: French groups thousands and separates the symbol with U+00A0 NO-BREAK SPACE. CLDR
prefers U+202F (narrow no-break space) for the thousands, but that character is not in the
WinAnsi encoding of the standard PDF fonts (Helvetica): the PDF would draw a missing glyph and
pypdf would not read it back. U+00A0 is in WinAnsi and Latin-1, so it draws as a space in a PDF,
reads back from it as U+00A0, never breaks "15 000 FCFA" across lines in an email, and is what
`NBSP` below lets a test compare with. The minus is ASCII "-" for the same reason.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tally.money import exponent

NBSP = "\u00a0"
LOCALES = ("en", "fr")

# Where a currency's sign goes. English puts these symbols before the number ($1,234.56);
# French writes every currency after it (1 234,56 €). Others are written with their ISO code.
_EN_PREFIX = {"USD": "$", "EUR": "€", "GBP": "£"}
_FR_SUFFIX = {"EUR": "€", "USD": "$US", "GBP": "£GB", "CAD": "$CA", "XOF": "FCFA", "XAF": "FCFA"}
# English has no prefix symbol for the CFA francs: "15,000 FCFA", as English-speaking West and
# Central Africa write it.
_EN_SUFFIX = {"XOF": "FCFA", "XAF": "FCFA"}

_SEPARATORS = {"fr": (NBSP, ","), "en": (",", ".")}  # (thousands, decimal)

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
}


def _language(locale: str) -> str:
    language = locale.split("-")[0].split("_")[0].lower()
    return language if language in LOCALES else "en"


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))]
    return separator.join(parts)


def _number(integer_part: str, fraction: str, language: str) -> str:
    thousands, decimal = _SEPARATORS[language]
    grouped = _group(integer_part, thousands)
    return f"{grouped}{decimal}{fraction}" if fraction else grouped


def currency_symbol(currency: str, locale: str) -> str:
    """The sign written with an amount: `€`, `$`, `FCFA`, or the ISO code."""
    language = _language(locale)
    table = _EN_PREFIX | _EN_SUFFIX if language == "en" else _FR_SUFFIX
    return table.get(currency, currency)


def format_amount(amount: int, currency: str, locale: str) -> str:
    """An amount in integer minor units of `currency`, e.g. -123456 EUR en -> "-€1,234.56"."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Amounts are integer minor units, not {type(amount).__name__}")
    language = _language(locale)
    places = exponent(currency)
    major, minor = divmod(abs(amount), 10**places)
    number = _number(str(major), str(minor).zfill(places) if places else "", language)
    sign = "-" if amount < 0 else ""
    if language == "en" and currency in _EN_PREFIX:
        return f"{sign}{_EN_PREFIX[currency]}{number}"
    return f"{sign}{number}{NBSP}{currency_symbol(currency, language)}"


def format_decimal(value: Decimal, locale: str, *, places: int | None = None) -> str:
    """A quantity or a rate: `1 234,5` (fr) / `1,234.5` (en). Trailing zeros dropped unless
    `places` fixes the number of decimals (rounded half-up)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError("Expected a finite Decimal")
    language = _language(locale)
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP")
        text = format(abs(value), "f")
    else:
        text = format(abs(value).normalize(), "f")
    integer_part, _, fraction = text.partition(".")
    sign = "-" if value < 0 and text.strip("0.") else ""
    return sign + _number(integer_part, fraction, language)


def format_percent(percent: Decimal, locale: str) -> str:
    """A rate given in percent (Decimal("20") is 20 %): `20 %` in French, `20%` in English."""
    number = format_decimal(percent, locale)
    return f"{number}{NBSP}%" if _language(locale) == "fr" else f"{number}%"


def format_unit_price(price: Decimal, currency: str, locale: str) -> str:
    """A unit price in major units that may be finer than the minor unit (0.0005 EUR per call):
    at least the currency's decimals, more only when the price has them."""
    places = max(exponent(currency), -int(price.normalize().as_tuple().exponent))
    number = format_decimal(price, locale, places=places)
    language = _language(locale)
    if language == "en" and currency in _EN_PREFIX:
        sign, digits = ("-", number[1:]) if number.startswith("-") else ("", number)
        return f"{sign}{_EN_PREFIX[currency]}{digits}"
    return f"{number}{NBSP}{currency_symbol(currency, language)}"


def format_date(day: date, locale: str, *, long: bool = False) -> str:
    """Short: `22/11/2026` (fr), `22 Nov 2026` (en, unambiguous on both sides of the Atlantic).
    Long: `1er novembre 2026` (fr), `1 November 2026` (en)."""
    language = _language(locale)
    month = _MONTHS[language].split()[day.month - 1]
    if language == "fr":
        if not long:
            return f"{day.day:02d}/{day.month:02d}/{day.year}"
        return f"{'1er' if day.day == 1 else day.day} {month} {day.year}"
    return f"{day.day} {month if long else month[:3]} {day.year}"
