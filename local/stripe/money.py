"""Amounts and calendars as Stripe computes them: integer minor units, billing periods, prorations."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

# Stripe's zero-decimal currencies: amounts are whole units (1000 XOF is 1000 francs).
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
DAY = 86_400


def exponent(currency: str) -> int:
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def display(amount: int, currency: str) -> str:
    places = exponent(currency)
    value = Decimal(amount).scaleb(-places)
    return f"{value:,.{places}f} {currency.upper()}"


def rounded(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_of(amount: int, percent: Decimal) -> int:
    return rounded(Decimal(amount) * percent / 100)


def add_interval(start: int, interval: str, count: int, anchor_day: int | None = None) -> int:
    """`start` moved on by `count` intervals; months keep the anchor's day, clamped to the month's end."""
    moment = datetime.fromtimestamp(start, UTC)
    if interval == "day":
        return start + count * DAY
    if interval == "week":
        return start + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(anchor_day or moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def months_later(start: int, months: int) -> int:
    return add_interval(start, "month", months)


def prorated(amount: int, remaining: int, total: int) -> int:
    """The share of `amount` for `remaining` seconds of a `total`-second period."""
    if total <= 0:
        return 0
    return rounded(Decimal(amount) * Decimal(max(0, min(remaining, total))) / Decimal(total))


def iso_or_unix(value: object) -> int:
    """A control endpoint's time: unix seconds, or an ISO 8601 instant (UTC when naive)."""
    if isinstance(value, bool):
        raise ValueError("a time, not a boolean")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def later(start: int, days: int) -> int:
    return int((datetime.fromtimestamp(start, UTC) + timedelta(days=days)).timestamp())
