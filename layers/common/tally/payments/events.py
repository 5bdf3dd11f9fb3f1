"""What the inbound pipeline hands to the domain: a verified provider notification.

The webhook route verifies and records a notification, then enqueues it; the queue worker turns
it back into a `ProviderEvent` and gives it to the provider's `EventApplier`. An applier must be
idempotent and order-proof: it may see an event twice (SQS redelivers) and late (providers do
not keep order), so where order matters it reads the current object from the provider and never
moves a state backwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Provider = Literal["stripe", "paypal", "mtn_momo", "orange_money", "wave"]
# applied: something changed; unchanged: already applied, or older than what is stored;
# ignored: a type Tally does not act on (recorded, nothing else).
Outcome = Literal["applied", "unchanged", "ignored"]


@dataclass(frozen=True)
class ProviderEvent:
    provider: Provider
    id: str  # the provider's event id (Stripe: evt_…), the ledger's key
    type: str  # the provider's event type (Stripe: invoice.paid)
    created: datetime  # when the provider says it happened (aware, UTC)
    payload: Mapping[str, Any] = field(repr=False)  # the verified notification, parsed JSON


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    detail: str = ""  # a few words for the logs (no personal data)


class EventApplier(Protocol):
    def apply(self, event: ProviderEvent) -> Applied:
        """Apply one event. Raise to have it retried (and dead-lettered after the retries)."""
        ...
