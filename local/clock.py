"""The local stack's clock, which `POST /_local/clock` moves like Stripe's test clocks.

It is an offset from the system clock, so time keeps running from the instant set. The gateway
stamps events with it, and every invocation carries the offset to the function's worker, which
sets the common layer's clock (`tally.clock`) to it before calling the handler.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class LocalClock:
    def __init__(self) -> None:
        self._offset: timedelta | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        offset = self._offset
        return datetime.now(UTC) + (offset or timedelta())

    def offset_seconds(self) -> float | None:
        """What workers are told: None while on the system clock."""
        offset = self._offset
        return None if offset is None else offset.total_seconds()

    def set(self, instant: datetime | None) -> timedelta | None:
        """Run time on from `instant` (aware), or return to the system clock with None."""
        with self._lock:
            self._offset = None if instant is None else instant - datetime.now(UTC)
            return self._offset
