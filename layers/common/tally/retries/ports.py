"""What the payment retries job needs: the saved card's charger (Stripe), its storage
(DynamoDB; in memory in unit tests), the invoices and the seller's settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tally.audit.records import AuditContext
from tally.billing.invoices import Invoice, Payment
from tally.billing.seller import SellerSettings
from tally.retries.schedule import Attempt, RetryRecord

# ChargeResult.decline_code when the account has no saved card: nothing was attempted.
NO_SAVED_CARD = "no_saved_card"


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str | None  # the PaymentIntent's id (None: no PaymentIntent was made)
    decline_code: str | None = None
    message: str | None = None


class CardCharger(Protocol):
    def charge(self, invoice: Invoice, attempt: int, *, idempotency_key: str) -> ChargeResult:
        """Charge the invoice's amount due to the account's saved card, off-session. A decline
        is a result (succeeded False); no saved card is a result too (decline_code
        NO_SAVED_CARD, no reference). Raises when the provider could not answer (retried)."""
        ...


class AttemptTaken(Exception):
    """Attempt n is recorded already (another worker, a rerun): nothing written."""


@dataclass(frozen=True)
class DueRetry:
    invoice_id: str
    account_id: str
    at: datetime


class RetryStore(Protocol):
    def due(self, end: datetime) -> Iterator[DueRetry]:
        """The records whose next attempt falls due before `end` (DueIndex only)."""
        ...

    def record(self, invoice_id: str) -> RetryRecord | None: ...

    def add_attempt(self, record: RetryRecord, attempt: Attempt, next_at: datetime | None) -> None:
        """Attempt n (= len(record.attempts)) appended, conditional on the record holding n
        attempts (AttemptTaken otherwise); the due entry moved to `next_at`, or removed."""
        ...

    def close(self, record: RetryRecord) -> None:
        """No attempt to come (paid, void elsewhere): the due entry removed. ChangedMeanwhile when
        an attempt was added since read."""
        ...


class FirstAttempts(Protocol):
    """What recurring invoicing calls once it finalised an invoice (tally.jobs.renewals)."""

    def schedule(self, invoice: Invoice, at: datetime) -> bool:
        """Attempt 0 due at `at` when the account has a Stripe customer (its saved card is looked
        for when charging); False when it has none, or the attempt is scheduled already."""
        ...


class InvoicePayments(Protocol):
    """tally.invoices.service.InvoiceService."""

    def get(self, invoice_id: str) -> Invoice: ...

    def record_payment(self, invoice_id: str, payment: Payment, context: AuditContext) -> Invoice: ...


class SettingsReader(Protocol):
    def current(self) -> SellerSettings: ...
