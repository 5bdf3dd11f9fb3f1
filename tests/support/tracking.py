"""Wires the tracking service to in-memory fakes, with the stream emulated in between."""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.storage import keys
from tally.tracking.domain import TrackedEvent
from tally.tracking.projection import CounterProjection, StreamRecord
from tally.tracking.service import TrackingPolicy, TrackingService
from tests.support.fakes import InMemoryAccountDirectory, InMemoryCounterStore, InMemoryEventLedger


def stream_record(event: TrackedEvent, sequence: int) -> StreamRecord:
    image = {
        "kind": "event",
        "id": event.id,
        "account_id": event.account_id,
        "type": event.type,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "counted": event.counted,
        "sponsorship_id": event.sponsorship_id,
    }
    return StreamRecord(
        sequence_number=str(sequence),
        event_name="INSERT",
        keys=keys.event(event.account_id, event.occurred_at, event.id),
        new_image={name: value for name, value in image.items() if value is not None},
    )


@dataclass
class TrackingWorld:
    accounts: InMemoryAccountDirectory = field(default_factory=lambda: InMemoryAccountDirectory({"acc_1"}))
    ledger: InMemoryEventLedger = field(default_factory=InMemoryEventLedger)
    counters: InMemoryCounterStore = field(default_factory=InMemoryCounterStore)
    policy: TrackingPolicy = field(default_factory=TrackingPolicy)
    streamed: int = 0

    @property
    def service(self) -> TrackingService:
        return TrackingService(self.ledger, self.accounts, self.counters, self.policy)

    def drain_stream(self) -> list[str]:
        """Deliver every event stored since the last drain to the counter projection."""
        fresh = self.ledger.events[self.streamed :]
        records = [stream_record(event, self.streamed + offset + 1) for offset, event in enumerate(fresh)]
        self.streamed = len(self.ledger.events)
        return CounterProjection(self.counters, sleep=lambda _: None).project(records)
