"""Invoice finalisation (issue 8): the DynamoDB operations one finalisation sends, alone and under
50 concurrent ones (lost races for a number cost extra TransactWriteItems), the latency of one
finalisation, and 50 concurrent finalisations' wall time, throughput and latency, with a check
that they took exactly the next 50 numbers.

The service has what functions/invoices/wiring.py gives it for finalising (seller settings,
customers from the accounts, the invoice store, all over the billing table; the deployed retry
pause with its jitter), against the out-of-process moto server. That server serialises every
DynamoDB request under one lock (local.moto_dynamodb): its absolute times are moto's, not
DynamoDB's. What transfers is the operation count and the retry count. The counts come from
botocore hooks on the service's own clients (DynamoMeter).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config

from benchmarks.harness import (
    ACCOUNT,
    DynamoMeter,
    OperationCount,
    bench_stack,
    env_int,
    heading,
    median,
    percentile,
    quiet,
    table,
)
from tally.accounts.domain import Account
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.items import account_item
from tally.accounts.dynamo.table import BillingTable
from tally.audit.records import Actor, AuditContext
from tally.billing.numbering import render, sequence_key
from tally.clock import FixedClock
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.service import AccountCustomers, DraftIn, InvoiceService, SellerSettingsService
from tally.storage import clients

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CONCURRENT = 50
# As deployed, but patient: a moto stall behind 50 queued requests must not become a botocore
# resend (the counts would show the machine, not the code); see harness.patient_clients.
_PATIENT = clients._CONFIG.merge(Config(read_timeout=300))
_DRAFT = DraftIn.model_validate(
    {
        "account_id": ACCOUNT,
        "currency": "EUR",
        "lines": [
            {"description": "Gold plan, April", "unit_amount": 19900},
            {"description": "Extra seats", "unit_amount": 1500, "quantity": "3"},
        ],
    }
)


@dataclass
class World:
    """One "Lambda container": its own client (and meter on it), table, stores and service."""

    service: InvoiceService
    meter: DynamoMeter
    client: DynamoDBClient


class GetItemKeys:
    """What each GetItem on a client reads (its PK's first segment) and whether it found it."""

    def __init__(self, client: DynamoDBClient) -> None:
        self.reads: list[str] = []
        self._events = client.meta.events
        # botocore keys unique ids per emitter, not per event: one id each
        self._events.register("before-parameter-build.dynamodb.GetItem", self._before, "bench-keys-before")
        self._events.register("after-call.dynamodb.GetItem", self._after, "bench-keys-after")

    def close(self) -> None:
        self._events.unregister("before-parameter-build.dynamodb.GetItem", unique_id="bench-keys-before")
        self._events.unregister("after-call.dynamodb.GetItem", unique_id="bench-keys-after")

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_key"] = str(params["Key"]["PK"]["S"]).split("#")[0]

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        found = "" if parsed.get("Item") else " (absent)"
        self.reads.append(f"{context.get('bench_key', '?')}{found}")


def _context(request: str) -> AuditContext:
    return AuditContext(Actor.system("bench"), request, None, None)


def _world(table_name: str, clock: FixedClock) -> World:
    client = cast("DynamoDBClient", clients.session().create_client("dynamodb", config=_PATIENT))
    billing = BillingTable(client, table_name, clock)
    service = InvoiceService(
        DynamoInvoiceStore(billing),
        SellerSettingsService(DynamoSellerStore(billing)),
        AccountCustomers(DynamoAccountStore(billing)),
        clock=clock,
    )
    return World(service, DynamoMeter(client), client)


@contextmanager
def _billing() -> Iterator[tuple[str, FixedClock]]:
    """The stack, with the invoiced account; a clock fixed for the run, so every number comes
    from one monthly sequence (a month turning mid-run would start a new one)."""
    clock = FixedClock(datetime.now(UTC))
    with bench_stack(accounts=()) as stack, quiet():
        table_name = stack.ref("BillingTable")
        account = Account(
            id=ACCOUNT,
            name="Bench SARL",
            email="billing@bench.example",
            country="FR",
            currency="EUR",
            created_at=clock.now(),
            status="active",
        )
        clients.dynamodb().put_item(TableName=table_name, Item=account_item(account))
        yield table_name, clock


def _drafts(service: InvoiceService, count: int) -> list[str]:
    return [service.create_draft(_DRAFT, _context(f"draft-{n}")).id for n in range(count)]


def _finalise(service: InvoiceService, invoice_id: str, request: str) -> tuple[float, str]:
    started = time.perf_counter()
    invoice = service.finalize(invoice_id, _context(request))
    elapsed = time.perf_counter() - started
    if invoice.number is None:
        raise RuntimeError(f"invoice {invoice_id} came back without a number")
    return elapsed, invoice.number


# --- figures ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One concurrent finalisation, as its thread saw it."""

    started: float = 0.0
    ended: float = 0.0
    number: str | None = None
    error: str | None = None
    operations: dict[str, OperationCount] | None = None


@dataclass
class Figures:
    single: dict[str, OperationCount]
    single_reads: list[str]
    sequential: list[float]
    sequential_same_ops: bool
    runs: list[Run]
    expected: list[str]
    counter_before: int
    counter_after: int


def _measure() -> Figures:
    sequential_runs = env_int("BENCH_FINALISE_RUNS", 30)
    with _billing() as (table_name, clock):
        one = _world(table_name, clock)
        uncounted = BillingTable(clients.dynamodb(), table_name, clock)
        seller = SellerSettingsService(DynamoSellerStore(uncounted)).current()
        rule = seller.invoice_numbering
        key = sequence_key("invoice", rule.reset, clock.now(), seller.time_zone)
        store = DynamoInvoiceStore(uncounted)

        # Warm: the client's connection made, the sequence's counter created.
        warm = _drafts(one.service, 2 + sequential_runs)
        _finalise(one.service, warm.pop(), "warm")
        one.meter.reset()
        reads = GetItemKeys(one.client)
        _finalise(one.service, warm.pop(), "single")
        reads.close()
        single = dict(one.meter.operations)

        times: list[float] = []
        same = True
        for n, invoice_id in enumerate(warm):
            one.meter.reset()
            elapsed, _ = _finalise(one.service, invoice_id, f"sequential-{n}")
            times.append(elapsed)
            same = same and _calls(one.meter.operations) == _calls(single)
        one.meter.close()

        # One world per thread, made (and its drafts written) before the clock starts.
        drafts = _drafts(one.service, CONCURRENT)
        worlds = [_world(table_name, clock) for _ in range(CONCURRENT)]
        before = store.sequence_value(key)
        runs = _concurrent(worlds, drafts)
        after = store.sequence_value(key)
        for world in worlds:
            world.meter.close()
    expected = [render(rule.format, clock.now(), seller.time_zone, n) for n in range(before + 1, before + 51)]
    return Figures(single, reads.reads, times, same, runs, expected, before, after)


def _concurrent(worlds: Sequence[World], drafts: Sequence[str]) -> list[Run]:
    """Each thread finalises one draft through its own world, all released at once."""
    gate = threading.Barrier(len(worlds))
    runs = [Run() for _ in worlds]

    def finalise(index: int) -> None:
        world, run = worlds[index], runs[index]
        world.meter.reset()
        gate.wait()
        run.started = time.perf_counter()
        try:
            run.number = world.service.finalize(drafts[index], _context(f"concurrent-{index}")).number
        except Exception as error:  # reported, not raised: the other 49 figures still stand
            run.error = f"{type(error).__name__}: {error}"
        run.ended = time.perf_counter()
        run.operations = dict(world.meter.operations)

    threads = [threading.Thread(target=finalise, args=(index,)) for index in range(len(worlds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def _calls(operations: dict[str, OperationCount]) -> dict[str, tuple[int, int]]:
    return {name: (op.calls, op.failed) for name, op in operations.items()}


# --- report ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _operations(figures: Figures) -> str:
    summed: dict[str, OperationCount] = {}
    for run in figures.runs:
        for name, op in (run.operations or {}).items():
            summed.setdefault(name, OperationCount()).add(op)
    count = len(figures.runs)
    rows = []
    for name in sorted(set(figures.single) | set(summed)):
        alone = figures.single.get(name, OperationCount())
        together = summed.get(name, OperationCount())
        rows.append(
            (
                name,
                alone.calls,
                alone.failed,
                f"{together.calls / count:.2f}",
                f"{together.failed / count:.2f}",
            )
        )
    rows.append(
        (
            "all",
            sum(op.calls for op in figures.single.values()),
            sum(op.failed for op in figures.single.values()),
            f"{sum(op.calls for op in summed.values()) / count:.2f}",
            f"{sum(op.failed for op in summed.values()) / count:.2f}",
        )
    )
    writes = [(run.operations or {}).get("TransactWriteItems", OperationCount()) for run in figures.runs]
    lost = [op.failed for op in writes]
    resent = sum(op.attempts - op.calls for op in summed.values())
    return "\n".join(
        [
            "\nDynamoDB requests per finalisation (botocore hooks on the service's clients):",
            table(
                (
                    "operation",
                    "one alone",
                    "of which failed",
                    f"avg of {count} concurrent",
                    "of which failed",
                ),
                rows,
            ),
            "The one alone reads, by partition: " + ", ".join(figures.single_reads) + "; then one"
            " TransactWriteItems (counter, invoice, audit record).",
            f"Lost races under {count} concurrent (cancelled TransactWriteItems, retried with the next"
            f" number): {sum(lost)} in all, {sum(lost) / count:.2f} per finalisation; per finalisation"
            f" min {min(lost)}, median {median(lost):.0f}, p95 {percentile(lost, 0.95):.0f},"
            f" max {max(lost)}; finalisations that lost none: {lost.count(0)}.",
            "DynamoDB may also cancel a transaction that meets another on the counter with"
            " TransactionConflict (moto, serialised, never does): the service then re-reads the"
            " counter, one more GetItem per such retry.",
            f"Requests botocore resent (timeouts, throttling): {resent}.",
            f"The {len(figures.sequential)} sequential finalisations each sent the same requests as the"
            " one alone: " + ("yes" if figures.sequential_same_ops else "NO"),
        ]
    )


def _latency(figures: Figures) -> str:
    times = figures.sequential
    return (
        f"\nOne finalisation at a time ({len(times)} in a row, each a fresh draft, one warm service):"
        f" median {_ms(median(times))} ms, p95 {_ms(percentile(times, 0.95))} ms,"
        f" max {_ms(max(times))} ms"
    )


def _concurrency(figures: Figures) -> str:
    runs = figures.runs
    done = [run for run in runs if run.error is None]
    wall = max(run.ended for run in runs) - min(run.started for run in runs)
    latencies = [run.ended - run.started for run in done]
    numbers = [run.number for run in done if run.number is not None]
    gapless = (
        len(done) == len(runs)
        and sorted(numbers) == sorted(figures.expected)
        and len(set(numbers)) == len(numbers)
        and figures.counter_after == figures.counter_before + len(runs)
    )
    lines = [
        f"\n{len(runs)} concurrent finalisations of {len(runs)} drafts (threads released together;"
        " one InvoiceService per thread, each over its own botocore client, as 50 Lambda containers"
        " would be: no shared connection pool to queue on, and each thread's meter counts exactly"
        " its own finalisation's requests):",
        table(
            ("wall s", "finalisations/s", "median ms", "p95 ms", "max ms", "failed"),
            [
                (
                    f"{wall:.2f}",
                    f"{len(done) / wall:.1f}",
                    _ms(median(latencies)),
                    _ms(percentile(latencies, 0.95)),
                    _ms(max(latencies, default=float("nan"))),
                    len(runs) - len(done),
                )
            ],
            ">>>>>>",
        ),
        f"Numbers taken: {min(numbers, default='-')} .. {max(numbers, default='-')}; the counter moved"
        f" {figures.counter_before} -> {figures.counter_after}.",
        f"gapless: {'yes' if gapless else 'no'} (exactly the next {len(runs)} numbers, each once)",
    ]
    errors = sorted({run.error for run in runs if run.error})
    if errors:
        lines.append("Errors: " + "; ".join(errors))
    return "\n".join(lines)


def run() -> str:
    figures = _measure()
    return "\n".join(
        [
            heading("Invoice finalisation: DynamoDB operations, latency, 50 concurrent (issue 8)"),
            "Absolute times are moto's (one process, every DynamoDB request serialised under one lock,"
            " 50 client threads sharing one GIL); what transfers to DynamoDB is the operation count"
            " and the retry (lost race) count.",
            _operations(figures),
            _latency(figures),
            _concurrency(figures),
        ]
    )
