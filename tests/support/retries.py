"""Stand-ins for the payment retries' ports: the record store (faithful to DynamoRetryStore's
conditions, safe under threads) and a card charger that honours idempotency keys as Stripe does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from tally.accounts.errors import ChangedMeanwhile
from tally.billing.invoices import Invoice
from tally.retries.ports import NO_SAVED_CARD, AttemptTaken, ChargeResult, DueRetry
from tally.retries.schedule import Attempt, RetryRecord
from tests.support.invoices import InMemoryInvoiceStore


class InMemoryRetryStore:
    def __init__(self, *, customers: set[str] | None = None) -> None:
        self.records: dict[str, RetryRecord] = {}
        self.customers = customers if customers is not None else {"acc1"}  # accounts with a Stripe customer
        self.lock = threading.Lock()
        self.reads = 0

    def due(self, end: datetime) -> Iterator[DueRetry]:
        with self.lock:
            found = sorted(
                (r for r in self.records.values() if r.due_at is not None and r.due_at < end),
                key=lambda r: (r.due_at, r.invoice_id),
            )
        self.reads += len(found)
        for record in found:
            assert record.due_at is not None
            yield DueRetry(record.invoice_id, record.account_id, record.due_at)

    def record(self, invoice_id: str) -> RetryRecord | None:
        with self.lock:
            return self.records.get(invoice_id)

    def schedule(self, invoice: Invoice, at: datetime) -> bool:
        with self.lock:
            if invoice.account_id not in self.customers or invoice.id in self.records:
                return False
            self.records[invoice.id] = RetryRecord(invoice.id, invoice.account_id, (), at)
            return True

    def add_attempt(self, record: RetryRecord, attempt: Attempt, next_at: datetime | None) -> None:
        with self.lock:
            stored = self.records.get(record.invoice_id)
            if stored is None or len(stored.attempts) != len(record.attempts):
                raise AttemptTaken(f"attempt {attempt.n}")
            self.records[record.invoice_id] = replace(
                stored, attempts=(*stored.attempts, attempt), due_at=next_at
            )

    def close(self, record: RetryRecord) -> None:
        with self.lock:
            stored = self.records.get(record.invoice_id)
            if stored is None or len(stored.attempts) != len(record.attempts):
                raise ChangedMeanwhile("changed")
            self.records[record.invoice_id] = replace(stored, due_at=None)


@dataclass
class FakeCardCharger:
    """`outcomes`: what each new charge answers in turn ("ok", a decline code, or NO_SAVED_CARD);
    then "ok". A key seen before answers what it answered the first time, charging nothing."""

    outcomes: list[str] = field(default_factory=list)
    charges: dict[str, ChargeResult] = field(default_factory=dict)  # by idempotency key
    calls: list[tuple[str, int, str]] = field(default_factory=list)  # (invoice, attempt, key)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self, invoice: Invoice, attempt: int, *, idempotency_key: str) -> ChargeResult:
        with self.lock:
            self.calls.append((invoice.id, attempt, idempotency_key))
            if idempotency_key in self.charges:
                return self.charges[idempotency_key]
            outcome = self.outcomes.pop(0) if self.outcomes else "ok"
            if outcome == NO_SAVED_CARD:
                result = ChargeResult(False, None, NO_SAVED_CARD, "no card")
            elif outcome == "ok":
                result = ChargeResult(True, f"pi_{len(self.charges) + 1}")
            else:
                result = ChargeResult(
                    False, f"pi_{len(self.charges) + 1}", outcome, "Your card was declined."
                )
            self.charges[idempotency_key] = result
            return result

    @property
    def made(self) -> list[str]:
        """The charges made (one per idempotency key)."""
        return list(self.charges)


class LockedInvoiceStore(InMemoryInvoiceStore):
    """Conditional writes are atomic in DynamoDB: so is `save` here, under threads."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def save(self, *args: object, **kwargs: object) -> None:
        with self.lock:
            super().save(*args, **kwargs)  # type: ignore[arg-type]
