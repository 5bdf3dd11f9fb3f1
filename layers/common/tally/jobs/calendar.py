"""A job's calendar: the day an instant falls on in the seller's time zone (DESIGN "Time")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tally.billing.periods import time_zone, utc


def local_day(as_of: datetime, zone: str) -> date:
    return utc(as_of).astimezone(time_zone(zone)).date()


def day_start(day: date, zone: str) -> datetime:
    """The UTC instant the local day begins (midnight, or the first instant after a DST gap)."""
    local = datetime(day.year, day.month, day.day, tzinfo=time_zone(zone))
    return local.astimezone(UTC)


def day_end(as_of: datetime, zone: str) -> datetime:
    """The UTC instant the local day of `as_of` ends: what is due "that day" is due before it."""
    return day_start(local_day(as_of, zone) + timedelta(days=1), zone)


def days_until(as_of: datetime, instant: datetime, zone: str) -> int:
    """Whole local days from the day of `as_of` to the day of `instant` (0: the same day)."""
    return (local_day(instant, zone) - local_day(as_of, zone)).days
