"""The counter projection: counted events from the events table's stream become counters.

Exactly once, whatever the delivery: each chunk is one transaction that marks its events
applied (conditionally) and adds their increments, so a redelivered, bisected or reordered
batch never counts an event twice, and a failed chunk counts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tally.errors import ServiceUnavailable
from tally.tracking.counters import chunk_for_transactions, increments_for
from tally.tracking.domain import EVENT_KIND, CountedEvent
from tally.tracking.ports import CounterStore


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    event_name: str
    keys: Mapping[str, Mapping[str, str]]
    new_image: Mapping[str, Any]  # already deserialised to Python values


def counted_event(record: StreamRecord) -> CountedEvent | None:
    """The counted event a record carries, or None for anything else (counters, claims, updates)."""
    image = record.new_image
    if record.event_name != "INSERT" or image.get("kind") != EVENT_KIND or image.get("counted") is not True:
        return None
    kind = image.get("type")
    if kind not in ("click", "view"):
        return None
    return CountedEvent(
        sequence_number=record.sequence_number,
        key=record.keys,
        account_id=str(image["account_id"]),
        day=datetime.fromisoformat(str(image["occurred_at"])).date(),
        type=kind,
        source=str(image["source"]),
        sponsorship_id=str(image["sponsorship_id"]) if image.get("sponsorship_id") else None,
    )


class CounterProjection:
    def __init__(
        self,
        store: CounterStore,
        conflict_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._retries = conflict_retries
        self._sleep = sleep

    def project(self, records: Sequence[StreamRecord]) -> list[str]:
        """Apply the batch; return the sequence number to resume from, if a chunk failed.

        Chunks before the failure are applied; the stream redelivers from the failed one.
        """
        events = [event for record in records if (event := counted_event(record)) is not None]
        for chunk in chunk_for_transactions(events):
            try:
                self._apply(chunk)
            except ServiceUnavailable:
                return [chunk[0].sequence_number]
        return []

    def _apply(self, chunk: list[CountedEvent]) -> None:
        pending = chunk
        attempt = 0
        while pending:
            try:
                already = self._store.apply(pending, increments_for(pending))
            except ServiceUnavailable:
                attempt += 1
                if attempt > self._retries:
                    raise
                self._sleep(0.05 * 2**attempt)
                continue
            if not already:
                return
            skip = set(already)
            pending = [event for index, event in enumerate(pending) if index not in skip]
