"""Subscription periods (DESIGN "Time"): anchored on a day of the month in the seller's time zone.

A subscription's `BillingAnchor` is the instant its first period began and the seller's time
zone. Period n begins n cycles (1, 3 or 12 months) after the anchor, on the anchor's day of the
month at the anchor's wall-clock time, or on the last day of a month too short for that day; it
is computed from the anchor each time, never from the previous period, so a period anchored on
the 31st ends on 28 or 29 February and the next one is back on 31 March. Boundaries are
computed in local time and stored as UTC instants; a wall-clock time that a daylight-saving
change skips is read with the offset in force before the change (zoneinfo's fold=0).

Usage is keyed by period: `period_key` is the local year and month the period starts in
(`2025-03`). Each calendar month holds at most one period start, so the key names one period.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tally.billing.catalogue import CYCLE_MONTHS, Cycle


@lru_cache(maxsize=64)
def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone (e.g. Europe/Paris, Africa/Dakar)") from None


def utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("Instants must be time-zone aware")
    return instant.astimezone(UTC)


@dataclass(frozen=True)
class BillingAnchor:
    """The instant the first period began, and the seller's time zone periods follow."""

    at: datetime
    zone: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at))
        time_zone(self.zone)

    @property
    def local(self) -> datetime:
        return self.at.astimezone(time_zone(self.zone))


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; `index` 0 is the period that begins at the anchor."""

    index: int
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def add_months(local: datetime, months: int, day: int) -> datetime:
    """`local` moved by `months` calendar months, on `day` or the month's last day if shorter;
    the wall-clock time is kept (fold=0 where it is ambiguous or skipped)."""
    month_index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return local.replace(year=year, month=month, day=min(day, last), fold=0)


def boundary(anchor: BillingAnchor, cycle: Cycle, index: int) -> datetime:
    """The UTC instant period `index` begins at."""
    if index < 0:
        raise ValueError("Periods are numbered from 0, the period that begins at the anchor")
    if index == 0:
        return anchor.at
    local = anchor.local
    return add_months(local, index * CYCLE_MONTHS[cycle], local.day).astimezone(UTC)


def period_at(anchor: BillingAnchor, cycle: Cycle, index: int) -> Period:
    return Period(index, boundary(anchor, cycle, index), boundary(anchor, cycle, index + 1))


def period_containing(anchor: BillingAnchor, cycle: Cycle, instant: datetime) -> Period:
    """The period `instant` falls in; an instant before the anchor has none (ValueError)."""
    instant = utc(instant)
    if instant < anchor.at:
        raise ValueError(f"{instant.isoformat()} is before the subscription's first period")
    local = instant.astimezone(time_zone(anchor.zone))
    start = anchor.local
    months = (local.year - start.year) * 12 + (local.month - start.month)
    index = max(0, months // CYCLE_MONTHS[cycle])
    # The month count finds the period or the one after it (before the anchor's day in its month).
    while boundary(anchor, cycle, index) > instant:
        index -= 1
    while boundary(anchor, cycle, index + 1) <= instant:
        index += 1
    return period_at(anchor, cycle, index)


def next_period(anchor: BillingAnchor, cycle: Cycle, period: Period) -> Period:
    return period_at(anchor, cycle, period.index + 1)


def first_period(
    start: datetime, cycle: Cycle, zone: str, renewal_anchor: str = "anniversary"
) -> tuple[BillingAnchor, Period]:
    """A subscription's anchor and first period when it starts (or its trial ends) at `start`.

    `anniversary`: anchored at `start`, a whole first period. `first_of_month` (issue 10): anchored
    on the 1st of `start`'s month at midnight in the seller's zone, so periods renew on the 1st;
    the first period is the rest of the anchor's period from `start` (a shorter first period,
    whose price is prorated: tally.billing.subscription_invoice.prorated_price)."""
    if renewal_anchor == "anniversary":
        anchor = BillingAnchor(start, zone)
        return anchor, period_at(anchor, cycle, 0)
    local = utc(start).astimezone(time_zone(zone))
    first = datetime(local.year, local.month, 1, tzinfo=time_zone(zone)).astimezone(UTC)
    anchor = BillingAnchor(first, zone)
    whole = period_containing(anchor, cycle, start)
    return anchor, Period(whole.index, utc(start), whole.end)


def period_key(instant: datetime, zone: str) -> str:
    """`YYYY-MM` of an instant in the seller's time zone; of a period's start, the period's key."""
    local = utc(instant).astimezone(time_zone(zone))
    return f"{local.year:04d}-{local.month:02d}"


def period_for_key(anchor: BillingAnchor, cycle: Cycle, key: str) -> Period:
    """The period that starts in month `key` (`2025-03`); ValueError, in words, when none does."""
    try:
        year, month = (int(part) for part in key.split("-"))
        first = datetime(year, month, 1, tzinfo=time_zone(anchor.zone))
    except ValueError:
        raise ValueError(f"'{key}' is not a period: write YYYY-MM, e.g. 2025-03") from None
    # The last instant of the month: the period holding it starts in the month, if any does.
    last_instant = add_months(first, 1, 1).astimezone(UTC) - timedelta(microseconds=1)
    if last_instant < anchor.at:
        raise ValueError(f"No period starts in {key}: the subscription's first period starts later")
    period = period_containing(anchor, cycle, last_instant)
    if period_key(period.start, anchor.zone) != key:
        raise ValueError(
            f"No period starts in {key}: {cycle} periods of this subscription start in "
            f"{period_key(period.start, anchor.zone)[5:]} and every {CYCLE_MONTHS[cycle]} month(s) after"
        )
    return period


def trial_end(start: datetime, days: int, zone: str) -> datetime:
    """`days` calendar days after `start` in the seller's time zone, at the same wall-clock time."""
    local = utc(start).astimezone(time_zone(zone))
    return (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=local.tzinfo).astimezone(UTC)
