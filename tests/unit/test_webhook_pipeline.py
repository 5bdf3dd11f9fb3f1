"""The webhook pipeline with fakes: verify, record once, enqueue, answer; the worker applies once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tally.clock import FixedClock
from tally.payments.events import Applied, ProviderEvent
from tally.payments.stripe_webhooks import StripeVerifier
from tally.payments.webhooks import (
    RESEND_AFTER,
    InvalidNotification,
    WebhookPipeline,
    WebhookWorker,
    from_message,
    to_message,
)
from tests.support.webhooks import SECRET, FakeApplier, FakeLedger, FakeQueue, signed_headers, stripe_event

AT = datetime(2026, 11, 22, 10, tzinfo=UTC)


def pipeline(ledger: FakeLedger, queue: FakeQueue, clock: FixedClock | None = None) -> WebhookPipeline:
    return WebhookPipeline(ledger, queue, (clock or FixedClock(AT)).now)


def deliver(target: WebhookPipeline, payload: str, headers: dict[str, str] | None = None) -> bool:
    """Deliver a payload; whether it was answered as a duplicate."""
    verifier = StripeVerifier(lambda: SECRET)
    return target.receive(
        verifier, payload.encode(), signed_headers(payload) if headers is None else headers
    ).duplicate


def test_a_new_event_is_recorded_queued_and_acknowledged() -> None:
    ledger, queue = FakeLedger(), FakeQueue()

    assert deliver(pipeline(ledger, queue), stripe_event("evt_1")) is False

    assert [event.id for event in queue.sent] == ["evt_1"]
    entry = ledger.entry("stripe", "evt_1")
    assert entry is not None
    assert (entry.status, entry.received_at) == ("queued", AT)


def test_the_same_event_five_times_is_enqueued_once() -> None:
    ledger, queue = FakeLedger(), FakeQueue()
    target = pipeline(ledger, queue)

    answers = [deliver(target, stripe_event("evt_1")) for _ in range(5)]

    assert answers == [False, True, True, True, True]
    assert len(queue.sent) == 1


def test_what_does_not_verify_writes_and_enqueues_nothing() -> None:
    ledger, queue = FakeLedger(), FakeQueue()
    payload = stripe_event()
    with pytest.raises(InvalidNotification):
        deliver(pipeline(ledger, queue), payload, signed_headers(payload, "whsec_wrong"))
    assert ledger.recorded == []
    assert queue.sent == []


def test_a_failed_enqueue_is_retried_by_the_providers_next_delivery() -> None:
    ledger, queue, clock = FakeLedger(), FakeQueue(fail=True), FixedClock(AT)
    target = pipeline(ledger, queue, clock)
    with pytest.raises(RuntimeError):
        deliver(target, stripe_event("evt_1"))
    entry = ledger.entry("stripe", "evt_1")
    assert entry is not None
    assert entry.status == "received"

    queue.fail = False
    # A duplicate seconds later may be a concurrent first delivery still enqueuing: left alone.
    assert deliver(target, stripe_event("evt_1")) is True
    assert queue.sent == []
    # The provider's retry, minutes later, enqueues what the first delivery could not.
    clock.advance(RESEND_AFTER)
    assert deliver(target, stripe_event("evt_1")) is True
    assert [event.id for event in queue.sent] == ["evt_1"]
    entry = ledger.entry("stripe", "evt_1")
    assert entry is not None
    assert entry.status == "queued"
    clock.advance(timedelta(hours=1))
    assert deliver(target, stripe_event("evt_1")) is True
    assert len(queue.sent) == 1


def _event(event_id: str = "evt_1") -> ProviderEvent:
    return ProviderEvent("stripe", event_id, "invoice.paid", AT, {"id": event_id, "type": "invoice.paid"})


def test_the_worker_applies_once_and_records_the_outcome() -> None:
    ledger, applier = FakeLedger(), FakeApplier()
    ledger.record(_event(), at=AT)
    worker = WebhookWorker(ledger, lambda provider: applier, FixedClock(AT).now)

    assert worker.handle(_event()) == Applied("applied", "invoice.paid")
    again = worker.handle(_event())  # SQS delivers at least once

    assert again.outcome == "unchanged"
    assert applier.applied == ["evt_1"]
    entry = ledger.entry("stripe", "evt_1")
    assert entry is not None
    assert (entry.status, entry.outcome) == ("applied", "applied")


def test_an_applier_failure_leaves_the_entry_unapplied_for_the_retry() -> None:
    ledger, applier = FakeLedger(), FakeApplier(failing={"evt_1"})
    ledger.record(_event(), at=AT)
    worker = WebhookWorker(ledger, lambda provider: applier, FixedClock(AT).now)
    with pytest.raises(RuntimeError):
        worker.handle(_event())
    entry = ledger.entry("stripe", "evt_1")
    assert entry is not None
    assert entry.status == "received"
    applier.failing.clear()
    assert worker.handle(_event()).outcome == "applied"


def test_a_message_carries_the_event_whole() -> None:
    event = _event()
    assert from_message(to_message(event)) == event
    assert from_message(to_message(event)).payload == event.payload


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '{"provider": "acme", "id": "e", "type": "t", "created": "2026-01-01T00:00:00+00:00", "payload": {}}',
        '{"provider": "stripe", "id": "", "type": "t", "created": "2026-01-01T00:00:00Z", "payload": {}}',
        '{"provider": "stripe", "id": "e", "type": "t", "created": "2026-01-01T00:00:00", "payload": {}}',
        '{"provider": "stripe", "id": "e", "type": "t", "created": "2026-01-01T00:00:00+00:00"}',
        "not json",
    ],
)
def test_a_message_that_is_not_an_event_fails(body: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json's and the message's own, alike
        from_message(body)


def test_the_worker_wiring_takes_fakes_and_knows_its_providers() -> None:
    from webhooks import wiring

    from tally.payments.stripe_events.wiring import applier_from_environment

    fake = FakeApplier()
    assert wiring.BUILDERS["stripe"].__module__ == "webhooks.wiring"
    assert callable(applier_from_environment)
    try:
        wiring.set_appliers(None)
        with pytest.raises(LookupError):
            wiring.applier_for("wave")
        wiring.set_appliers({"stripe": fake})
        assert wiring.applier_for("stripe") is fake
    finally:
        wiring.set_appliers(None)
