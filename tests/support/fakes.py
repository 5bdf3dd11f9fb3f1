"""In-memory fakes of the storage ports, faithful to the DynamoDB adapters' semantics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from tally.accounts.domain import Account
from tally.errors import Conflict, ServiceUnavailable
from tally.tracking.counters import CounterTarget
from tally.tracking.domain import CountedEvent, CounterSnapshot, DedupClaim, TrackedEvent


class InMemoryAccountDirectory:
    def __init__(self, accounts: Iterable[str] = ()) -> None:
        self.accounts = set(accounts)
        self.lookups = 0

    def known(self, account_ids: Iterable[str]) -> set[str]:
        self.lookups += 1
        return set(account_ids) & self.accounts


class InMemoryEventLedger:
    def __init__(self) -> None:
        self.events: list[TrackedEvent] = []
        self.claims: dict[str, int] = {}
        self.fail_after: int | None = None  # raise ServiceUnavailable once this many are stored
        self.writes = 0

    def record(self, event: TrackedEvent, claim: DedupClaim | None) -> TrackedEvent:
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise ServiceUnavailable()
        if claim is not None:
            window_ends = self.claims.get(claim.fingerprint)
            if window_ends is not None and window_ends > claim.now_epoch:
                event = replace(event, counted=False, reason="duplicate")
            else:
                self.claims[claim.fingerprint] = claim.window_ends_epoch
                self.writes += 1
        self.events.append(event)
        self.writes += 1
        return event

    def counted(self) -> list[TrackedEvent]:
        return [event for event in self.events if event.counted]


class InMemoryCounterStore:
    def __init__(self) -> None:
        self.counters: dict[CounterTarget, dict[str, int]] = {}
        self.applied: set[str] = set()
        self.transactions = 0
        self.unavailable_times = 0  # the next N applies raise ServiceUnavailable

    def apply(
        self, events: Sequence[CountedEvent], increments: dict[CounterTarget, dict[str, int]]
    ) -> list[int]:
        if self.unavailable_times:
            self.unavailable_times -= 1
            raise ServiceUnavailable()
        assert len(events) + len(increments) <= 100, "a DynamoDB transaction holds at most 100 items"
        already = [index for index, event in enumerate(events) if event.sequence_number in self.applied]
        if already:
            return already
        self.transactions += 1
        self.applied.update(event.sequence_number for event in events)
        for target, values in increments.items():
            counters = self.counters.setdefault(target, {})
            for name, value in values.items():
                counters[name] = counters.get(name, 0) + value
        return []

    def read(self, account_id: str, first_day: date, last_day: date) -> CounterSnapshot:
        total: dict[str, int] = {}
        days: dict[date, dict[str, int]] = {}
        sponsorships: dict[str, dict[str, int]] = {}
        for target, values in self.counters.items():
            if target.account_id != account_id:
                continue
            if target.scope == "total":
                total = dict(values)
            elif target.scope == "day" and target.day and first_day <= target.day <= last_day:
                days[target.day] = dict(values)
            elif target.scope == "sponsorship" and target.sponsorship_id:
                sponsorships[target.sponsorship_id] = dict(values)
        return CounterSnapshot(total=total, days=days, sponsorships=sponsorships)


class InMemoryAccountRepository:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.claims: dict[tuple[str, str], str] = {}  # (field, number) -> account id

    def add(self, account: Account) -> None:
        if account.id in self.accounts:
            raise Conflict(f"Account '{account.id}' already exists", field="id")
        wanted = [
            (field, value) for field, value in (("siren", account.siren), ("siret", account.siret)) if value
        ]
        for field, value in wanted:
            if (field, value) in self.claims:
                owner = self.claims[(field, value)]
                raise Conflict(f"{field.upper()} {value} already belongs to account '{owner}'", field=field)
        self.accounts[account.id] = account
        self.claims.update(dict.fromkeys(wanted, account.id))

    def get(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)
