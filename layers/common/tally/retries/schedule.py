"""A native invoice's automatic card charges and when the next one falls due.

Attempt 0 is the first automatic charge (scheduled when recurring invoicing finalises the
invoice); its failure is the first failure. Retries n = 1..len(days) follow at the first
failure + `payment_retry_days[n - 1]` (seller settings: at most 3, strictly increasing, each 1 to
7 days). A success, a card missing, or the last failure ends the attempts: an unpaid invoice is
on the dunning ladder already, which chases it from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["succeeded", "failed", "no_card"]


@dataclass(frozen=True)
class Attempt:
    n: int
    at: datetime
    outcome: Outcome
    decline_code: str | None = None
    payment_intent: str | None = None  # Stripe's PaymentIntent id: the payment's reference
    amount: int = 0  # minor units of the invoice's currency charged (a success)
    message: str | None = None


@dataclass(frozen=True)
class RetryRecord:
    """PAYRETRY#{invoice id}: the attempts made, and when the next one falls due (its DueIndex
    entry; None: no attempt to come)."""

    invoice_id: str
    account_id: str
    attempts: tuple[Attempt, ...] = ()
    due_at: datetime | None = None

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


def idempotency_key(invoice_id: str, n: int) -> str:
    """Stripe's Idempotency-Key of attempt n: a request retried (or a second worker) never charges twice."""
    return f"tally-invoice-{invoice_id}-attempt-{n}"


def next_attempt_at(attempts: Sequence[Attempt], retry_days: Sequence[int]) -> datetime | None:
    """When the attempt after `attempts` falls due; None when none is to come."""
    if not attempts or attempts[-1].outcome != "failed":
        return None
    n = len(attempts)
    if n > len(retry_days):
        return None
    first_failure = attempts[0].at
    # Never before the last attempt (settings changed meanwhile): at once, at the job's next run.
    return max(first_failure + timedelta(days=retry_days[n - 1]), attempts[-1].at)
