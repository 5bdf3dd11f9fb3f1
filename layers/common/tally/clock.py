"""The one injectable clock.

Domain code asks `now()`; tests and the local stack move time with `set_clock`, the way
Stripe's test clocks let a developer run jobs "as of" any instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """The system clock shifted by a fixed offset (the local stack's "as of" clock)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FixedClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


_clock: Clock = SystemClock()


def now() -> datetime:
    return _clock.now()


def set_clock(clock: Clock | None) -> None:
    """Replace the process clock; None restores the system clock."""
    global _clock
    _clock = clock if clock is not None else SystemClock()


def get_clock() -> Clock:
    return _clock
