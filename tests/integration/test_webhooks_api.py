"""The webhook route and its worker over moto: API Gateway v2 events in, the ledger in the billing
table, messages on the template's queue, SQS batches to the worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tally.payments.events import EventApplier, Provider
from tally.storage import clients, keys
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.webhooks import OLD_SECRET, SECRET, FakeApplier, signed_headers, sqs_record, stripe_event

PATH = "/v1/webhooks/stripe"


def _reset() -> None:
    from webhooks import routes, wiring, worker

    from tally import parameters

    clients.reset_clients()
    parameters.secrets_provider.cache_clear()  # its cache holds the secret's value
    routes.pipeline.cache_clear()
    routes.stripe_verifier.cache_clear()
    worker.worker.cache_clear()
    wiring.set_appliers(None)


@pytest.fixture
def webhooks(stack: Stack) -> Iterator[Stack]:
    set_secrets(stack, SECRET)
    _reset()
    yield stack
    _reset()


def set_secrets(stack: Stack, value: str) -> None:
    manager = stack.client("secretsmanager")
    manager.put_secret_value(SecretId=stack.ref("StripeWebhookSecretsSecret"), SecretString=value)
    from tally import parameters

    parameters.secrets_provider.cache_clear()
    from webhooks import routes

    routes.stripe_verifier.cache_clear()


def post(
    stack: Stack, payload: str | bytes, headers: dict[str, str], *, binary: bool = False
) -> tuple[int, dict[str, Any]]:
    from webhooks.app import lambda_handler

    if binary:
        event = http_event("POST", PATH, binary_body=bytes(payload), headers=headers)  # type: ignore[arg-type]
    else:
        event = http_event("POST", PATH, raw_body=str(payload), headers=headers)
    with stack.environment("WebhooksFunction"):
        answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"])


def deliver(stack: Stack, payload: str, secret: str = SECRET) -> tuple[int, dict[str, Any]]:
    return post(stack, payload, signed_headers(payload, secret))


def messages(stack: Stack) -> list[dict[str, Any]]:
    """Every message on the webhook queue (received once, left invisible)."""
    sqs = stack.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stack.ref("WebhookQueue"), MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", [])
        if not batch:
            return found
        found += batch


def ledger(stack: Stack, event_id: str) -> dict[str, Any] | None:
    item = clients.dynamodb().get_item(
        TableName=stack.ref("BillingTable"), Key=keys.webhook_event("stripe", event_id), ConsistentRead=True
    )
    return item.get("Item")


def webhook_items(stack: Stack) -> list[dict[str, Any]]:
    scanned = clients.dynamodb().scan(TableName=stack.ref("BillingTable"))["Items"]
    return [item for item in scanned if item["PK"]["S"].startswith("WEBHOOK#")]


def run_worker(
    stack: Stack, bodies: list[tuple[str, str]], appliers: dict[Provider, EventApplier] | None = None
) -> Any:
    """The worker on a batch of (message id, body); its partial-batch answer."""
    from webhooks import wiring
    from webhooks.worker import lambda_handler

    arn = stack.registry.lookup("WebhookQueue", "Arn")
    wiring.set_appliers(appliers)
    with stack.environment("WebhookWorkerFunction"):
        return lambda_handler(
            {"Records": [sqs_record(body, arn, message_id) for message_id, body in bodies]},
            FakeContext(),
        )


def test_a_valid_event_is_recorded_queued_and_acknowledged(webhooks: Stack) -> None:
    payload = stripe_event("evt_valid", "invoice.paid")

    assert deliver(webhooks, payload) == (200, {"received": True})

    item = ledger(webhooks, "evt_valid")
    assert item is not None
    assert (item["status"]["S"], item["type"]["S"], item["provider"]["S"]) == (
        "queued",
        "invoice.paid",
        "stripe",
    )
    assert int(item["ttl"]["N"]) > time.time() + 80 * 86400
    [message] = messages(webhooks)
    body = json.loads(message["Body"])
    assert (body["provider"], body["id"], body["type"]) == ("stripe", "evt_valid", "invoice.paid")
    assert body["payload"] == json.loads(payload)


def test_the_same_event_five_times_is_one_message(webhooks: Stack) -> None:
    payload = stripe_event("evt_dup")
    answers = [deliver(webhooks, payload) for _ in range(5)]
    assert answers[0] == (200, {"received": True})
    assert answers[1:] == [(200, {"received": True, "duplicate": True})] * 4
    assert len(messages(webhooks)) == 1
    assert len(webhook_items(webhooks)) == 1


def test_a_base64_body_is_verified_on_its_bytes(webhooks: Stack) -> None:
    payload = stripe_event("evt_b64")
    assert post(webhooks, payload.encode(), signed_headers(payload), binary=True) == (200, {"received": True})


def _one_byte_off(payload: str) -> str:
    return payload.replace('"livemode": false', '"livemode": falsf')


@pytest.mark.parametrize(
    ("case", "headers_for", "body_for"),
    [
        ("bad signature", lambda p: {"stripe-signature": "t=1790000000,v1=" + "0" * 64}, None),
        ("stale timestamp", lambda p: signed_headers(p, timestamp=int(time.time()) - 301), None),
        ("wrong secret", lambda p: signed_headers(p, "whsec_not_ours"), None),
        ("body altered by one byte", lambda p: signed_headers(p), _one_byte_off),
        ("missing header", lambda p: {}, None),
    ],
)
def test_what_does_not_verify_is_400_and_nothing_is_written_or_queued(
    webhooks: Stack, case: str, headers_for: Any, body_for: Any
) -> None:
    payload = stripe_event("evt_bad")
    sent = body_for(payload) if body_for else payload
    assert sent != payload or body_for is None

    status, body = post(webhooks, sent, headers_for(payload))

    assert status == 400, case
    assert body["code"] == "invalid_notification"
    assert body["errors"] == [{"field": "Stripe-Signature", "in": "header", "message": body["message"]}]
    assert webhook_items(webhooks) == []
    assert messages(webhooks) == []


def test_a_rotation_accepts_both_secrets_then_only_the_new_one(webhooks: Stack) -> None:
    set_secrets(webhooks, f"{SECRET},{OLD_SECRET}")
    assert deliver(webhooks, stripe_event("evt_old"), OLD_SECRET)[0] == 200
    assert deliver(webhooks, stripe_event("evt_new"), SECRET)[0] == 200
    set_secrets(webhooks, SECRET)  # the rotation's end (a deploy recycles the cached value)
    assert deliver(webhooks, stripe_event("evt_late"), OLD_SECRET)[0] == 400
    assert deliver(webhooks, stripe_event("evt_next"), SECRET)[0] == 200
    assert sorted(json.loads(m["Body"])["id"] for m in messages(webhooks)) == [
        "evt_new",
        "evt_next",
        "evt_old",
    ]


def test_the_worker_applies_queued_events_and_marks_them_applied(
    webhooks: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    for event_id in ("evt_w1", "evt_w2"):
        assert deliver(webhooks, stripe_event(event_id))[0] == 200
    queued = [(m["MessageId"], m["Body"]) for m in messages(webhooks)]
    capsys.readouterr()

    answer = run_worker(webhooks, queued, {"stripe": FakeApplier()})

    assert answer == {"batchItemFailures": []}
    # The outcomes are counted (EMF on stdout, flushed after the batch).
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["WebhookEventsApplied"] == [1.0, 1.0]
    for event_id in ("evt_w1", "evt_w2"):
        item = ledger(webhooks, event_id)
        assert item is not None
        assert (item["status"]["S"], item["outcome"]["S"]) == ("applied", "applied")


def test_a_failing_record_is_the_only_one_reported(webhooks: Stack) -> None:
    for event_id in ("evt_ok", "evt_fails", "evt_ok2"):
        assert deliver(webhooks, stripe_event(event_id))[0] == 200
    queued = {json.loads(m["Body"])["id"]: (m["MessageId"], m["Body"]) for m in messages(webhooks)}
    applier = FakeApplier(failing={"evt_fails"})

    answer = run_worker(webhooks, list(queued.values()), {"stripe": applier})

    assert answer == {"batchItemFailures": [{"itemIdentifier": queued["evt_fails"][0]}]}
    assert sorted(applier.applied) == ["evt_ok", "evt_ok2"]
    failed = ledger(webhooks, "evt_fails")
    assert failed is not None
    assert failed["status"]["S"] == "queued"
    # SQS redelivers the failed one; the applier works now.
    applier.failing.clear()
    assert run_worker(webhooks, [queued["evt_fails"]], {"stripe": applier}) == {"batchItemFailures": []}
    assert sorted(applier.applied) == ["evt_fails", "evt_ok", "evt_ok2"]


def test_a_redelivered_message_is_applied_once(webhooks: Stack) -> None:
    assert deliver(webhooks, stripe_event("evt_again"))[0] == 200
    [message] = messages(webhooks)
    applier = FakeApplier()

    run_worker(webhooks, [(message["MessageId"], message["Body"])], {"stripe": applier})
    run_worker(webhooks, [(message["MessageId"], message["Body"])], {"stripe": applier})
    # The same event in one batch twice (two deliveries that raced past the ledger).
    run_worker(webhooks, [("m1", message["Body"]), ("m2", message["Body"])], {"stripe": applier})

    assert applier.applied == ["evt_again"]
    item = ledger(webhooks, "evt_again")
    assert item is not None
    assert (item["status"]["S"], item["outcome"]["S"]) == ("applied", "applied")


def test_a_message_that_is_not_an_event_fails_only_its_record(webhooks: Stack) -> None:
    assert deliver(webhooks, stripe_event("evt_fine"))[0] == 200
    [message] = messages(webhooks)
    batch = [("junk", "not json"), (message["MessageId"], message["Body"])]
    answer = run_worker(webhooks, batch, {"stripe": FakeApplier()})
    assert answer == {"batchItemFailures": [{"itemIdentifier": "junk"}]}
