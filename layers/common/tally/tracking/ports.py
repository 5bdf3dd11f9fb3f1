"""What the tracking logic needs from storage; DynamoDB and in-memory fakes implement these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol

from tally.tracking.counters import CounterTarget
from tally.tracking.domain import CountedEvent, CounterSnapshot, DedupClaim, TrackedEvent


class AccountDirectory(Protocol):
    def known(self, account_ids: Iterable[str]) -> set[str]:
        """The subset of account_ids that exist."""
        ...


class EventLedger(Protocol):
    def record(self, event: TrackedEvent, claim: DedupClaim | None) -> TrackedEvent:
        """Store the event atomically with its dedup claim.

        With a claim, the event is stored counted only if the claim is won; if another event
        holds the window, it is stored uncounted with reason "duplicate". Returns what was stored.
        """
        ...


class CounterStore(Protocol):
    def read(self, account_id: str, first_day: date, last_day: date) -> CounterSnapshot: ...

    def apply(
        self, events: Sequence[CountedEvent], increments: dict[CounterTarget, dict[str, int]]
    ) -> list[int]:
        """Atomically mark the events applied and add the increments.

        Returns the indexes of events that were already applied (then nothing was written and
        the caller retries without them); an empty list means the chunk was applied.
        """
        ...
