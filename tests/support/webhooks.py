"""Builders and fakes for the webhook pipeline: Stripe events signed with the SDK's own helper,
an in-memory ledger faithful to DynamoWebhookLedger's conditions, a queue, appliers, SQS records."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import stripe

from tally.payments.events import Applied, Provider, ProviderEvent
from tally.payments.webhooks import LedgerEntry, to_message

SECRET = "whsec_test_current_0123456789abcdef"
OLD_SECRET = "whsec_test_previous_fedcba9876543210"


def stripe_event(event_id: str = "evt_1", kind: str = "invoice.paid", created: int = 1_790_000_000) -> str:
    """A Stripe event body, as Stripe sends it (the shape of its published examples)."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": created,
            "data": {"object": {"id": "in_1", "object": "invoice", "status": "paid"}},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
    )


def signature(payload: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send (the SDK's own signing helper)."""
    at = int(time.time()) if timestamp is None else timestamp
    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=at))


def signed_headers(payload: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {"stripe-signature": signature(payload, secret, timestamp)}


class FakeLedger:
    """DynamoWebhookLedger in memory: a conditional record, queued only from received."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], LedgerEntry] = {}
        self.recorded: list[str] = []

    def record(self, event: ProviderEvent, *, at: datetime) -> LedgerEntry | None:
        self.recorded.append(event.id)
        key = (event.provider, event.id)
        if key in self.entries:
            return self.entries[key]
        self.entries[key] = LedgerEntry(event.provider, event.id, "received", at)
        return None

    def mark_queued(self, provider: Provider, event_id: str, *, at: datetime) -> None:
        entry = self.entries[(provider, event_id)]
        if entry.status == "received":
            self.entries[(provider, event_id)] = LedgerEntry(provider, event_id, "queued", entry.received_at)

    def entry(self, provider: Provider, event_id: str) -> LedgerEntry | None:
        return self.entries.get((provider, event_id))

    def mark_applied(self, provider: Provider, event_id: str, applied: Applied, *, at: datetime) -> None:
        received = (
            self.entries[(provider, event_id)].received_at if (provider, event_id) in self.entries else at
        )
        self.entries[(provider, event_id)] = LedgerEntry(
            provider, event_id, "applied", received, applied.outcome
        )


@dataclass
class FakeQueue:
    sent: list[ProviderEvent] = field(default_factory=list)
    fail: bool = False

    def send(self, event: ProviderEvent) -> None:
        if self.fail:
            raise RuntimeError("SQS is down")
        self.sent.append(event)


@dataclass
class FakeApplier:
    """Applies every event (`applied`), except the ids in `failing`, which raise."""

    failing: set[str] = field(default_factory=set)
    applied: list[str] = field(default_factory=list)

    def apply(self, event: ProviderEvent) -> Applied:
        if event.id in self.failing:
            raise RuntimeError(f"cannot apply {event.id}")
        self.applied.append(event.id)
        return Applied("applied", event.type)


def sqs_event(
    bodies: Iterable[str], queue_arn: str = "arn:aws:sqs:eu-west-1:123456789012:q"
) -> dict[str, Any]:
    """An SQS batch as Lambda's event source mapping delivers it."""
    return {"Records": [sqs_record(body, queue_arn) for body in bodies]}


def sqs_record(body: str, queue_arn: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1790000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1790000000000",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "eu-west-1",
    }


def message_of(event: ProviderEvent) -> str:
    return to_message(event)
