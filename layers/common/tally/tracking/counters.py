"""From counted events to counter increments: pure, so the projection is easy to test."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from tally.tracking.domain import CountedEvent

Scope = Literal["total", "day", "sponsorship"]

# DynamoDB transactions take at most 100 items: events marked applied + counter updates.
MAX_TRANSACTION_ITEMS = 100


@dataclass(frozen=True)
class CounterTarget:
    account_id: str
    scope: Scope
    day: date | None = None
    sponsorship_id: str | None = None


def attribute_names(kind: str, source: str) -> tuple[str, str]:
    """The total attribute and the per-source attribute an event raises (flat, so ADD works)."""
    return f"{kind}s", f"{kind}_{source}"


def increments_for(events: Iterable[CountedEvent]) -> dict[CounterTarget, dict[str, int]]:
    increments: dict[CounterTarget, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for event in events:
        total_attr, source_attr = attribute_names(event.type, event.source)
        for target in (
            CounterTarget(event.account_id, "total"),
            CounterTarget(event.account_id, "day", day=event.day),
        ):
            increments[target][total_attr] += 1
            increments[target][source_attr] += 1
        if event.sponsorship_id:
            sponsorship = CounterTarget(event.account_id, "sponsorship", sponsorship_id=event.sponsorship_id)
            increments[sponsorship]["clicks" if event.type == "click" else "impressions"] += 1
    return {target: dict(values) for target, values in increments.items()}


def chunk_for_transactions(events: list[CountedEvent]) -> list[list[CountedEvent]]:
    """Split events so each chunk's events plus its counter targets fit one transaction."""
    chunks: list[list[CountedEvent]] = []
    current: list[CountedEvent] = []
    targets: set[CounterTarget] = set()
    for event in events:
        own = set(increments_for([event]))
        if current and len(current) + 1 + len(targets | own) > MAX_TRANSACTION_ITEMS:
            chunks.append(current)
            current, targets = [], set()
        current.append(event)
        targets |= own
    if current:
        chunks.append(current)
    return chunks


def by_source(counters: Mapping[str, int], kind: str, sources: Iterable[str]) -> dict[str, int]:
    return {source: int(counters.get(attribute_names(kind, source)[1], 0)) for source in sources}
