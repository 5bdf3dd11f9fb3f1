"""One inbound pipeline for every provider's notifications (DESIGN.md "Payments").

The route (functions/webhooks/app.py) runs `WebhookPipeline.receive` for each notification:

1. **Verify** it on the raw body with the provider's `Verifier`, before anything is written; a
   bad one raises `InvalidNotification` (400) and nothing is written or enqueued.
2. **Record** its event id in the ledger with a conditional write (status `received`).
3. **Enqueue** it, then mark the entry `queued`, and answer 2xx.

A duplicate answers 2xx and does nothing, except for an entry still `received` after
`RESEND_AFTER`: its enqueue failed (or the process died) after the record, so it is enqueued
again; nothing is lost between the two writes. The worker (functions/webhooks/worker.py) runs
`WebhookWorker.handle` for each queued message: an entry already `applied` is skipped (SQS
delivers at least once), else the provider's `EventApplier` applies it and the entry is marked
`applied` with the outcome. An applier's exception propagates: the message is retried, then
dead-lettered. The skip saves work, it is not a lock: two copies of one event handled at the same
instant may both be applied, which appliers tolerate (they are idempotent; tally.payments.events).

Each provider plugs in a `Verifier` (Stripe: tally.payments.stripe_webhooks) and an
`EventApplier`; the ledger, the queue and this module are shared. Nothing here imports a
provider's SDK.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, cast, get_args

from tally import clock
from tally.errors import DomainError
from tally.payments.events import Applied, EventApplier, Provider, ProviderEvent

LOGGER = logging.getLogger(__name__)

LedgerStatus = Literal["received", "queued", "applied"]
# An entry still `received` this long after it was recorded lost its enqueue (an error answered
# 5xx, or the process died): the provider's retry enqueues it again. Shorter would let two
# concurrent deliveries of one new event both enqueue (harmless, the worker skips what is
# applied, but wasted); providers retry after minutes, so this never delays a real retry.
RESEND_AFTER = timedelta(seconds=30)
PROVIDERS: frozenset[str] = frozenset(get_args(Provider))


class InvalidNotification(DomainError):
    """The notification does not verify (signature, secret, timestamp) or cannot be read: 400."""

    status_code = 400
    code = "invalid_notification"


class Verifier(Protocol):
    """A provider's check of a notification, on the raw body as received."""

    provider: Provider

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """The verified event, or raise InvalidNotification (naming the header or body at fault)."""
        ...


@dataclass(frozen=True)
class LedgerEntry:
    provider: Provider
    event_id: str
    status: LedgerStatus
    received_at: datetime
    outcome: str | None = None  # once applied: applied | unchanged | ignored


class WebhookLedger(Protocol):
    def record(self, event: ProviderEvent, *, at: datetime) -> LedgerEntry | None:
        """Record a new event (status `received`); None if recorded now, else the existing entry."""
        ...

    def mark_queued(self, provider: Provider, event_id: str, *, at: datetime) -> None: ...

    def entry(self, provider: Provider, event_id: str) -> LedgerEntry | None: ...

    def mark_applied(self, provider: Provider, event_id: str, applied: Applied, *, at: datetime) -> None: ...


class EventQueue(Protocol):
    def send(self, event: ProviderEvent) -> None:
        """Hand the event to the worker (raise if it could not be enqueued)."""
        ...


@dataclass(frozen=True)
class Acknowledgement:
    event_id: str
    duplicate: bool  # the ledger already had it
    enqueued: bool  # this delivery enqueued it


class WebhookPipeline:
    def __init__(
        self, ledger: WebhookLedger, queue: EventQueue, now: Callable[[], datetime] = clock.now
    ) -> None:
        self._ledger = ledger
        self._queue = queue
        self._now = now

    def receive(self, verifier: Verifier, raw_body: bytes, headers: Mapping[str, str]) -> Acknowledgement:
        event = verifier.verify(raw_body, headers)
        at = self._now()
        existing = self._ledger.record(event, at=at)
        if existing is not None and not (
            existing.status == "received" and at - existing.received_at >= RESEND_AFTER
        ):
            LOGGER.info("Duplicate %s event %s (%s)", event.provider, event.id, existing.status)
            return Acknowledgement(event.id, duplicate=True, enqueued=False)
        if existing is not None:
            LOGGER.warning("Re-enqueuing %s event %s, recorded but never queued", event.provider, event.id)
        self._queue.send(event)
        self._ledger.mark_queued(event.provider, event.id, at=self._now())
        return Acknowledgement(event.id, duplicate=existing is not None, enqueued=True)


class WebhookWorker:
    """Applies queued events through each provider's applier, at most once per ledger entry."""

    def __init__(
        self,
        ledger: WebhookLedger,
        appliers: Callable[[Provider], EventApplier],
        now: Callable[[], datetime] = clock.now,
    ) -> None:
        self._ledger = ledger
        self._appliers = appliers
        self._now = now

    def handle(self, event: ProviderEvent) -> Applied:
        entry = self._ledger.entry(event.provider, event.id)
        if entry is not None and entry.status == "applied":
            return Applied("unchanged", f"already applied ({entry.outcome})")
        applied = self._appliers(event.provider).apply(event)
        self._ledger.mark_applied(event.provider, event.id, applied, at=self._now())
        return applied


# --- the queue's message: a ProviderEvent as JSON --------------------------------------------


def to_message(event: ProviderEvent) -> str:
    return json.dumps(
        {
            "provider": event.provider,
            "id": event.id,
            "type": event.type,
            "created": event.created.astimezone(UTC).isoformat(),
            "payload": event.payload,
        },
        separators=(",", ":"),
    )


def from_message(body: str) -> ProviderEvent:
    """The event a message carries; ValueError if it is not one (the record fails, then dead-letters)."""
    data: Any = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("A webhook message is a JSON object")
    provider, event_id, kind = data.get("provider"), data.get("id"), data.get("type")
    if (
        provider not in PROVIDERS
        or not isinstance(event_id, str)
        or not event_id
        or not isinstance(kind, str)
    ):
        raise ValueError("A webhook message names its provider, event id and type")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("A webhook message carries the event's payload")
    created = datetime.fromisoformat(str(data.get("created")))
    if created.tzinfo is None:
        raise ValueError("A webhook message's `created` is an aware instant")
    return ProviderEvent(cast("Provider", provider), event_id, kind, created.astimezone(UTC), payload)
