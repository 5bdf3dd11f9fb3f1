"""What DynamoDB does per counted event (writes) and per stats call (reads), counted for real.

Every figure comes from botocore hooks on the boto3 client the functions use (DynamoMeter), so
it is what the code sends and gets back from a DynamoDB API (moto's), not what we think it does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.harness import (
    ACCOUNT,
    SPREAD_DAYS,
    DynamoMeter,
    OperationCount,
    batch_write,
    bench_stack,
    call,
    click_event,
    counter_batches,
    counter_function,
    env_int,
    heading,
    patient_clients,
    plain_client,
    quiet,
    stats_event,
    table,
    tracked_events,
    tracking_function,
)
from tally.storage import clients, keys
from tally.storage.items import number, string
from tally.tracking.domain import TrackedEvent
from tally.tracking.dynamo import _counter_key, event_item
from tally.tracking.projection import CounterProjection, StreamRecord
from tests.support.events import FakeContext
from tests.support.fakes import InMemoryCounterStore
from tests.support.stack import Stack, stream_batch

if TYPE_CHECKING:
    pass

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
STATS_DAYS = 30


def _op_rows(label: str, count: dict[str, OperationCount], per: int) -> list[list[str]]:
    rows = []
    for name, op in sorted(count.items()):
        rows.append(
            [
                label,
                name,
                f"{op.calls / per:.3f}",
                f"{op.items_written / per:.3f}",
                f"{op.wcu / per:.2f}",
                f"{(op.keys_requested + op.items_scanned) / per:.3f}",
                str(op.failed) if op.failed else "",
            ]
        )
        label = ""
    return rows


def _total(count: dict[str, OperationCount]) -> OperationCount:
    summed = OperationCount()
    for op in count.values():
        summed.add(op)
    return summed


# --- writes ----------------------------------------------------------------------------------


def _writes() -> str:
    clicks = env_int("BENCH_COST_CLICKS", 200)
    extras = 20
    out: list[str] = []
    with bench_stack() as stack, patient_clients(), quiet():
        meter = DynamoMeter(clients.dynamodb())
        with tracking_function(stack) as handler:
            for index in range(clicks):
                answer = call(handler, click_event(f"/bench/cost/{index}"), 202)
                if not answer.get("counted"):
                    raise RuntimeError(f"click {index} was not counted: {answer}")
            counted = dict(meter.operations)
            meter.reset()
            for index in range(extras):  # same visitor, same page, inside the dedup window
                answer = call(handler, click_event(f"/bench/cost/{index}"), 202)
                if answer.get("reason") != "duplicate":
                    raise RuntimeError(f"expected a duplicate: {answer}")
            duplicates = dict(meter.operations)
            meter.reset()
            for index in range(extras):
                answer = call(handler, click_event(f"/bench/cost/bot/{index}", user_agent=GOOGLEBOT), 202)
                if answer.get("reason") != "bot":
                    raise RuntimeError(f"expected a bot: {answer}")
            bots = dict(meter.operations)
            meter.reset()

        records = stream_batch(stack, "EventsTable")
        batches = counter_batches(stack, records)
        with counter_function(stack) as counter:
            for batch in batches:
                result = counter({"Records": batch}, FakeContext())
                if result.get("batchItemFailures"):
                    raise RuntimeError(f"the counter function failed part of a batch: {result}")
        projected = dict(meter.operations)
        meter.close()
        same_layout = _matches_loader(stack, records)

    delivered = sum(len(batch) for batch in batches)
    sync, projection = _total(counted), _total(projected)
    out.append(
        f"\n2a. Writes: {clicks} counted clicks through tracking.app, then the stream"
        f" ({len(records)} records) through tracking.counter\n    in {len(batches)} batch(es) as"
        f" TrackingCounterFunction's mapping delivers them (filter + BatchSize): {delivered} counted events"
    )
    rows = _op_rows("click (counted), per event", counted, clicks)
    rows += _op_rows("projection, per event", projected, delivered)
    rows += _op_rows("click (duplicate), per event", duplicates, extras)
    rows += _op_rows("click (bot), per event", bots, extras)
    out.append(
        table(
            ["path", "operation", "requests", "items written", "~WCU", "items read (all)", "failed"],
            rows,
            "<<>>>><",
        )
    )
    lookups = counted.get("BatchGetItem", OperationCount()).calls
    synchronous_items = sync.items_written / clicks
    projection_items = projection.items_written / delivered
    out.append(
        "\nPer counted event:"
        f" {synchronous_items:.2f} items written synchronously (dedup claim + event, one transaction)"
        f" + {projection_items:.2f} by the projection"
        f" (amortised over batches of {max(len(b) for b in batches)})"
        f" = {synchronous_items + projection_items:.2f} items;"
        f" ~{sync.wcu / clicks + projection.wcu / delivered:.1f} WCU"
        f" ({sync.wcu / clicks:.1f} + {projection.wcu / delivered:.2f})."
    )
    out.append(
        f"Requests per counted event: {sync.calls / clicks:.3f} synchronous (the account lookup is"
        f" cached per container for 60 s: {lookups} BatchGetItem for {clicks} clicks),"
        f" {projection.calls / delivered:.3f} in the projection."
    )
    retried = sum(op.attempts - op.calls for op in (*counted.values(), *projected.values()))
    if retried:
        out.append(
            f"NOTE: botocore retried {retried} request(s); the counts above include only final answers."
        )
    out.append(
        "Counter items the read benchmark's loader writes for the same events are identical to"
        f" DynamoCounterStore's: {'yes' if same_layout else 'NO'}"
    )
    out.append(
        "\n".join(
            [
                "How: botocore hooks on the functions' own client count each request and its items",
                "  (PutItem 1, TransactWriteItems len(TransactItems), BatchGetItem keys, Query Count).",
                "  ~WCU is an estimate: 1 KB units by item size, x2 inside transactions, updates taken",
                "  as <= 1 KB (true for events and counters here). failed: cancelled transactions (nothing",
                "  written, left out of ~WCU). items read: keys asked for + items scanned. All per event.",
            ]
        )
    )
    return "\n".join(out)


def _matches_loader(stack: Stack, records: Sequence[dict[str, Any]]) -> bool:
    """The loader used for the read benchmark lays counters out as DynamoCounterStore does."""
    from tracking.counter import _record

    expected = _counter_items([_record(raw) for raw in records])
    page = plain_client().query(
        TableName=stack.ref("EventsTable"),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": string(keys.stats_pk(ACCOUNT))},
    )
    stored = {(item["PK"]["S"], item["SK"]["S"]): item for item in page["Items"]}
    return stored == {(item["PK"]["S"], item["SK"]["S"]): item for item in expected}


# --- reads -----------------------------------------------------------------------------------


def _stream_record(event: TrackedEvent, sequence: int) -> StreamRecord:
    """The record the events table's stream would carry for this event (as tracking.counter reads it)."""
    return StreamRecord(
        sequence_number=str(sequence),
        event_name="INSERT",
        keys=keys.event(event.account_id, event.occurred_at, event.id),
        new_image={
            "kind": "event",
            "account_id": event.account_id,
            "type": event.type,
            "source": event.source,
            "occurred_at": event.occurred_at.isoformat(),
            "counted": event.counted,
            **({"sponsorship_id": event.sponsorship_id} if event.sponsorship_id else {}),
        },
    )


def _counter_items(records: Sequence[StreamRecord]) -> list[dict[str, Any]]:
    """Run the real projection (chunked, in-process) into the in-memory counter store, and lay
    its counters out as DynamoCounterStore's ADD updates leave them: key + one number each."""
    store = InMemoryCounterStore()
    projection = CounterProjection(store, sleep=lambda _: None)
    for start in range(0, len(records), 10_000):
        if projection.project(records[start : start + 10_000]):
            raise RuntimeError("the in-memory projection failed a chunk")
    return [
        _counter_key(target) | {name: number(value) for name, value in values.items()}
        for target, values in store.counters.items()
    ]


def _read_case(events: int) -> dict[str, Any]:
    account = f"acc_read_{events}"
    with bench_stack(accounts=[account]) as stack, quiet():
        table_name = stack.ref("EventsTable")
        loader = plain_client(max_pool_connections=8)
        started = time.perf_counter()
        tracked = tracked_events(account, events, seed=events)
        batch_write(loader, table_name, [event_item(event) for event in tracked])
        tracked.sort(key=lambda event: event.occurred_at)
        records = [_stream_record(event, index + 1) for index, event in enumerate(tracked)]
        counters = _counter_items(records)
        batch_write(loader, table_name, counters)
        loaded = time.perf_counter() - started

        meter = DynamoMeter(clients.dynamodb())
        with tracking_function(stack) as handler:
            first = call(handler, stats_event(account, STATS_DAYS), 200)
            cold = dict(meter.operations)
            meter.reset()
            call(handler, stats_event(account, STATS_DAYS), 200)
            warm = dict(meter.operations)
        meter.close()
    return {
        "events": events,
        "counter_items": len(counters),
        "loaded_s": loaded,
        "cold": cold,
        "warm": warm,
        "totals_ok": first["clicks_total"] + first["views_total"] == events,
        "days_with_data": sum(1 for day in first["daily"] if day["clicks"] or day["views"]),
    }


def _reads() -> str:
    sizes = [env_int("BENCH_READ_SMALL", 1_000), env_int("BENCH_READ_LARGE", 100_000)]
    cases = [_read_case(size) for size in sizes]
    out = [
        f"\n2b. Reads: one GET /v1/track/stats?days={STATS_DAYS} through tracking.app, by events stored"
        f" (spread over {SPREAD_DAYS} days)"
    ]
    rows = []
    for case in cases:
        for label in ("cold", "warm"):
            count: dict[str, OperationCount] = case[label]
            total = _total(count)
            detail = ", ".join(f"{name} {op.calls}" for name, op in sorted(count.items()))
            rows.append(
                [
                    f"{case['events']:,}",
                    "first call" if label == "cold" else "next call",
                    str(total.calls),
                    detail,
                    str(total.items_read),
                    str(total.items_scanned + total.keys_requested),
                    f"{total.rcu:.1f}",
                ]
            )
    out.append(
        table(
            ["events", "call", "requests", "by operation", "items read", "items scanned/keys", "~RCU"],
            rows,
            "><><>>>",
        )
    )

    def signature(case: dict[str, Any], label: str) -> tuple[int, int]:
        total = _total(case[label])
        return total.calls, total.items_read

    equal = all(signature(cases[0], label) == signature(cases[-1], label) for label in ("cold", "warm"))
    small, large = cases[0], cases[-1]
    out.append(
        f"\nSame requests and items read for {small['events']:,} and {large['events']:,} events:"
        f" {'yes' if equal else 'NO'}"
        f" (target: equal). Stats totals matched the events stored:"
        f" {'yes' if all(c['totals_ok'] for c in cases) else 'NO'}."
    )
    out.append(
        "\n".join(
            [
                "What was written: every event as a raw item (tally.tracking.dynamo.event_item,",
                "  batch_write_item, 4 threads), and the counters from the real CounterProjection run",
                "  in-process over those events' stream records into tests' InMemoryCounterStore,",
                "  then written as DynamoCounterStore lays them out (key + one number per counter;",
                "  2a checks the layout against the real store). DynamoCounterStore itself is not",
                "  used for the load: 1,000+ 100-item transactions over HTTP would add minutes and tell",
                "  nothing 2a does not. The stats read touches only the counter items, whatever the",
                "  raw events.",
                f"  load time: {', '.join(f'{c["events"]:,} events {c["loaded_s"]:.0f} s' for c in cases)};"
                f" counter items: {', '.join(str(c['counter_items']) for c in cases)}.",
                "How: the same hooks as 2a. ~RCU: summed item sizes in 4 KB units x0.5 (eventually",
                "  consistent); every call includes the access policy's GetItem of the account's status",
                "  (consistent); 'first call' also the account lookup the service caches for 60 s and",
                "  the policy's Query of the caller's memberships (cached 60 s per instance).",
            ]
        )
    )
    return "\n".join(out)


def run() -> str:
    return "\n".join([heading("2. DynamoDB cost (counted on a moto server)"), _writes(), _reads()])
