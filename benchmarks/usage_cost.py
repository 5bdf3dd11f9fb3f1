"""Usage metering (issue 7): ingestion throughput through one handler (batches of 100), and the
DynamoDB operations per usage event and per quota check with 1,000 and with 1,000,000 events
already stored for the account (they must be equal: nothing is summed from events).

The million is put straight into the in-process moto backend's table (the items the store writes,
without 40,000 BatchWriteItem round trips); the counts come from botocore hooks on the handler's
own client (DynamoMeter), so they are what the code sends.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import tests.support.stack as stack_module
from benchmarks.harness import ACCOUNT, DynamoMeter, Handler, OperationCount, env_int, heading, quiet, table
from tally.storage import clients, keys
from tests.support.events import http_event
from tests.support.stack import Stack, moto_stack
from tests.support.usage import METRICS, metric_item, plan_version, plan_version_item, subscription_item

IN_PROCESS_MOTO = stack_module.moto_endpoint  # bench_stack swaps it for the out-of-process server
BATCH = 100
KEY = {"kind": "api_key", "key_id": "key_bench", "account_id": ACCOUNT, "scopes": "usage:write usage:read"}
# api_calls: hard quota (the conditional ADD); sms: soft (one more GetItem after each event).
TERMS: dict[str, Any] = {
    "prices": [{"cycle": "monthly", "currency": "EUR", "amount": 2900}],
    "quotas": {
        "api_calls": {"limit": 10**12, "enforcement": "hard"},
        "sms": {"limit": 10**12, "enforcement": "soft"},
    },
    "data_retention_days": 90,
}


@contextmanager
def usage_stack() -> Iterator[Stack]:
    """The template's resources in the in-process moto server (its backend is reachable here)."""
    saved = stack_module.moto_endpoint
    stack_module.moto_endpoint = IN_PROCESS_MOTO
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process server's access log
    try:
        with moto_stack() as stack:
            client = clients.dynamodb()
            billing = stack.ref("BillingTable")
            now = datetime.now(UTC)
            start = now - timedelta(days=1)
            items = [
                keys.account(ACCOUNT) | {"kind": {"S": "account"}, "status": {"S": "active"}},
                plan_version_item("bench", 1, plan_version(TERMS)),
                subscription_item(
                    ACCOUNT,
                    "bench",
                    1,
                    anchor=start,
                    period_start=start,
                    period_end=start + timedelta(days=30),
                ),
                *(metric_item(metric) for metric in METRICS),
            ]
            for item in items:
                client.put_item(TableName=billing, Item=item)
            yield stack
    finally:
        stack_module.moto_endpoint = saved


@contextmanager
def usage_function(stack: Stack) -> Iterator[Handler]:
    with stack.environment("UsageFunction"):
        from usage import routes
        from usage.app import lambda_handler

        from tally.identity import wiring

        routes.service.cache_clear()
        routes.store.cache_clear()
        wiring.access_policy.cache_clear()
        try:
            yield lambda_handler
        finally:
            routes.service.cache_clear()
            routes.store.cache_clear()
            wiring.access_policy.cache_clear()


def _event(method: str, path: str, body: Any) -> dict[str, Any]:
    event = http_event(method, path, body=body)
    event["requestContext"]["authorizer"] = {"lambda": dict(KEY)}
    return event


def _send(handler: Handler, prefix: str, metric: str, count: int) -> None:
    from tests.support.events import FakeContext

    for start in range(0, count, BATCH):
        events = [
            {"id": f"{prefix}-{n}", "metric": metric, "quantity": 1}
            for n in range(start, min(start + BATCH, count))
        ]
        answer = handler(_event("POST", "/v1/usage", {"events": events}), FakeContext())
        body = json.loads(answer["body"])
        if answer["statusCode"] != 202 or body["accepted"] != len(events):
            raise RuntimeError(f"usage batch not accepted: {answer['statusCode']} {answer['body'][:300]}")


def _check(handler: Handler, count: int) -> None:
    from tests.support.events import FakeContext

    for _ in range(count):
        answer = handler(
            _event("POST", "/v1/quotas/check", {"metric": "api_calls", "quantity": 1}), FakeContext()
        )
        if answer["statusCode"] != 200:
            raise RuntimeError(f"quota check failed: {answer['body']}")


def store_events_directly(stack: Stack, count: int) -> None:
    """`count` accepted events' idempotency items, written into moto's table in-process."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from local.moto_dynamodb import LOCK

    backend = dynamodb_backends["123456789012"][stack_module.REGION]
    moto_table = backend.get_table(stack.ref("BillingTable"))
    pk = {"S": keys.usage_pk(ACCOUNT)}
    hash_key = DynamoType(pk)
    result = {"S": json.dumps({"status": 202, "metric": "api_calls", "period": "seed"})}
    with LOCK:
        partition = moto_table.items[hash_key]
        for n in range(count):
            sk = {"S": f"{keys.USAGE_EVENT_PREFIX}stored-{n:08d}"}
            partition[DynamoType(sk)] = Item(
                hash_key, DynamoType(sk), {"PK": pk, "SK": sk, "kind": {"S": "usage_event"}, "result": result}
            )


def _per(count: dict[str, OperationCount], per: int) -> str:
    return ", ".join(f"{name} {op.calls / per:.3f}" for name, op in sorted(count.items()))


def _calls(count: dict[str, OperationCount]) -> int:
    return sum(op.calls for op in count.values())


def _throughput() -> str:
    batches = env_int("BENCH_USAGE_BATCHES", 20)
    with usage_stack() as stack, quiet(), usage_function(stack) as handler:
        _send(handler, "warm", "api_calls", BATCH)
        started = time.perf_counter()
        _send(handler, "tp", "api_calls", batches * BATCH)
        elapsed = time.perf_counter() - started
    events = batches * BATCH
    return (
        f"\nIngestion through usage.app (one handler, in-process moto): {events} events in {batches} "
        f"batches of {BATCH}, hard-quota metric: {events / elapsed:.0f} events/s "
        f"({elapsed * 1000 / batches:.0f} ms a batch)"
    )


def _cost_at(stored: int, events: int, checks: int) -> tuple[dict[str, Any], str]:
    with usage_stack() as stack, quiet():
        started = time.perf_counter()
        store_events_directly(stack, stored)
        loaded = time.perf_counter() - started
        with usage_function(stack) as handler:
            _send(handler, "warm", "api_calls", BATCH)  # clients made, caches warm
            meter = DynamoMeter(clients.dynamodb())
            _send(handler, "hard", "api_calls", events)
            hard = dict(meter.operations)
            meter.reset()
            _send(handler, "soft", "sms", events)
            soft = dict(meter.operations)
            meter.reset()
            _check(handler, checks)
            check = dict(meter.operations)
            meter.close()
    figures = {
        "hard": _calls(hard) / events,
        "soft": _calls(soft) / events,
        "check": _calls(check) / checks,
    }
    detail = (
        f"  {stored:>9,} stored (loaded in {loaded:.0f} s): per hard-quota event {_per(hard, events)}; "
        f"per soft-quota event {_per(soft, events)}; per quota check {_per(check, checks)}"
    )
    return figures, detail


def _cost() -> str:
    events = env_int("BENCH_USAGE_EVENTS", 500)
    checks = env_int("BENCH_USAGE_CHECKS", 100)
    large = env_int("BENCH_USAGE_STORED", 1_000_000)
    rows, details = [], []
    results = {}
    for stored in (1_000, large):
        figures, detail = _cost_at(stored, events, checks)
        results[stored] = figures
        details.append(detail)
        rows.append(
            [f"{stored:,}", f"{figures['hard']:.3f}", f"{figures['soft']:.3f}", f"{figures['check']:.3f}"]
        )
    equal = results[1_000] == results[large]
    return "\n".join(
        [
            f"\nDynamoDB requests (all operations, per-batch reads amortised over batches of {BATCH}):",
            table(
                ["events stored", "per hard-quota event", "per soft-quota event", "per quota check"],
                rows,
                "<>>>",
            ),
            *details,
            f"Equal at 1,000 and at {large:,} stored events: {'yes' if equal else 'NO'}",
        ]
    )


def run() -> str:
    return "\n".join(
        [heading("Usage metering: ingestion and DynamoDB operations per event"), _throughput(), _cost()]
    )
