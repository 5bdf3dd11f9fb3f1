"""The scheduled jobs (issue 10): what a planner reads, and how long renewals take.

1. Reads per run: the recurring-invoicing planner as of one day, with 1,000 subscriptions due
   that day among 10,000, then among 100,000 (the others due on later days, or ended and
   carrying no due entry). Counted by botocore hooks on the planner's own client (DynamoMeter):
   Query calls, items read and scanned, read units. The two rows must be equal: the planner
   reads the DueIndex by range, never the table.
2. Renewals: 10,000 subscriptions whose period ends today, planned (the messages sent to the
   jobs queue) then worked by 4 workers fed from the queue in batches of ten, as the event
   source mapping feeds them: each renewal is the period's invoice and rollover, finalisation
   (a number drawn), the PDF stored and the email sent (SES). Wall times over the out-of-process
   moto server, which serialises every request: absolute times are moto's, the per-renewal
   operation count is the code's.

BENCH_JOBS_DUE, BENCH_JOBS_SIZES (comma-separated) and BENCH_JOBS_RENEWALS set the counts
(defaults: 1000; 10000,100000; 1000 renewals, and the time 10,000 would take at that rate:
BENCH_JOBS_RENEWALS=10000 runs the issue's figure, about half an hour over moto on 2 cores).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.harness import (
    DynamoMeter,
    OperationCount,
    batch_write,
    bench_stack,
    env_int,
    heading,
    patient_clients,
    plain_client,
    quiet,
    table,
)
from tally import clock
from tally.accounts.domain import Account
from tally.accounts.dynamo.items import account_item
from tally.billing.catalogue_files import load_catalogue
from tally.billing.subscription_state import Subscription
from tally.clock import FixedClock
from tally.jobs import wiring
from tally.jobs.planner import run_planner
from tally.jobs.registry import job_for
from tally.jobs.worker import JobWorker
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.storage import clients
from tally.subscriptions.dynamo import pointer_item, subscription_item
from tests.support.billing import CONTEXT
from tests.support.jobs import sqs_event
from tests.support.stack import Stack

TODAY = datetime(2026, 3, 1, 10, tzinfo=UTC)  # a period end (Europe/Paris: 11:00, 1 March)
AS_OF = datetime(2026, 3, 1, 1, tzinfo=UTC)  # the schedule's 02:00 in Paris
WORKERS = 4
# The issue asks for 10,000; over moto on a 2-core machine they take about half an hour (each is
# an invoice, a number, a PDF and an email), so the default is 1,000 and the report extrapolates.
RENEWALS = 1000


def _subscription(n: int, period_end: datetime, status: str = "active") -> Subscription:
    start = period_end - timedelta(days=28)
    return Subscription(
        id=f"sub_{n:06d}",
        account_id=f"acc_{n:06d}",
        plan_code="essential",
        plan_version=1,
        cycle="monthly",
        currency="XOF",
        status=status,  # type: ignore[arg-type]
        billing_anchor=start,
        time_zone="Europe/Paris",
        current_period_start=start,
        current_period_end=period_end,
        created_at=start,
    )


def _population(size: int, due: int) -> list[dict[str, Any]]:
    """`due` subscriptions ending today; of the others, half end on one of the next 27 days,
    half have ended (no due entry)."""
    items = [subscription_item(_subscription(n, TODAY)) for n in range(due)]
    for n in range(due, size):
        if n % 2:
            items.append(subscription_item(_subscription(n, TODAY + timedelta(days=1 + n % 27))))
        else:
            items.append(subscription_item(_subscription(n, TODAY, status="canceled")))
    return items


def _planner_reads(stack: Stack, sizes: list[int], due: int) -> list[list[str]]:
    rows = []
    billing = stack.ref("BillingTable")
    loaded = 0
    loader = plain_client(max_pool_connections=8)
    for size in sizes:
        batch_write(loader, billing, _population(size, due)[loaded:])
        loaded = size
        with stack.environment("JobsPlannerFunction"):
            wiring.reset()
            clients.reset_clients()
            meter = DynamoMeter(clients.dynamodb())
            planned = list(job_for("recurring-invoicing", wiring.deps()).plan(AS_OF))
            meter.close()
        query = meter.operations.get("Query", OperationCount())
        rows.append(
            [
                f"{due:,} due among {size:,}",
                str(len(planned)),
                str(query.calls),
                str(query.items_read),
                str(query.items_scanned),
                f"{query.rcu:.1f}",
            ]
        )
    return rows


def _seed_renewals(stack: Stack, count: int) -> None:
    billing = stack.ref("BillingTable")
    loader = plain_client(max_pool_connections=8)
    accounts = [
        account_item(
            Account(
                f"acc_{n:06d}", f"Client {n}", f"client{n}@example.sn", "SN", "XOF", TODAY, status="active"
            )
        )
        for n in range(count)
    ]
    subscriptions = [_subscription(n, TODAY) for n in range(count)]
    rows = [subscription_item(s) for s in subscriptions] + [pointer_item(s) for s in subscriptions]
    batch_write(loader, billing, accounts + rows)
    with stack.environment("JobsPlannerFunction"):
        wiring.reset()
        CatalogueService(DynamoPlanStore(wiring.table())).import_catalogue(
            load_catalogue("smartqueue"), CONTEXT
        )


def _renewals(stack: Stack, count: int) -> tuple[list[list[str]], dict[str, OperationCount], int]:
    _seed_renewals(stack, count)
    queue_url = stack.ref("JobsQueue")
    with stack.environment("JobsPlannerFunction"):
        wiring.reset()
        clients.reset_clients()
        started = time.perf_counter()
        run = run_planner(job_for("recurring-invoicing", wiring.deps()), AS_OF, wiring.queue(), wiring.runs())
        planned_s = time.perf_counter() - started
        meter = DynamoMeter(clients.dynamodb())
        worker = JobWorker(lambda name: job_for(name, wiring.deps()), wiring.runs())
        sqs = clients.sqs()

        def work() -> int:
            worked = 0
            while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                event = sqs_event([m["Body"] for m in messages], ids=[m["MessageId"] for m in messages])
                failed = {f["itemIdentifier"] for f in worker.handle(event, None)["batchItemFailures"]}
                done = [m for m in messages if m["MessageId"] not in failed]
                if done:
                    sqs.delete_message_batch(
                        QueueUrl=queue_url,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                        ],
                    )
                worked += len(done)
            return worked

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            worked = sum(pool.map(lambda _: work(), range(WORKERS)))
        worked_s = time.perf_counter() - started
        meter.close()
        recorded = wiring.runs().page("recurring-invoicing", limit=1)[0][0]
    rows = [
        ["plan (Query the DueIndex, SendMessageBatch)", f"{run.planned:,}", f"{planned_s:.1f}", ""],
        [
            f"work ({WORKERS} workers, batches of 10)",
            f"{worked:,}",
            f"{worked_s:.1f}",
            f"{worked / worked_s:.1f}/s" if worked_s else "",
        ],
        [
            "10,000 at this rate (extrapolated, plan + work)",
            "",
            f"{(planned_s + worked_s) * 10000 / max(count, 1):.0f}",
            "",
        ],
        [
            "the run's record: done (of which skipped) / failed",
            f"{recorded.done:,} ({recorded.skipped:,}) / {recorded.failed:,}",
            "",
            "",
        ],
    ]
    return rows, meter.operations, worked


def run() -> str:
    due = env_int("BENCH_JOBS_DUE", 1000)
    sizes = [int(s) for s in os.environ.get("BENCH_JOBS_SIZES", "10000,100000").split(",") if s.strip()]
    renewals = env_int("BENCH_JOBS_RENEWALS", RENEWALS)
    out = [heading("Scheduled jobs: the planner reads what is due, not the table (recurring invoicing)")]
    clock.set_clock(FixedClock(TODAY))
    try:
        with patient_clients(), bench_stack(accounts=()) as stack, quiet():
            reads = _planner_reads(stack, sizes, due)
        out.append(
            table(["subscriptions", "planned", "Query calls", "items read", "items scanned", "RCU"], reads)
        )
        equal = len({tuple(row[1:]) for row in reads}) == 1
        out.append(f"\nReads per run {'equal' if equal else 'NOT EQUAL'} across table sizes.")

        if renewals <= 0:
            return "\n".join(out)
        with patient_clients(), bench_stack(accounts=()) as stack, quiet():
            rows, operations, worked = _renewals(stack, renewals)
        out.append(heading(f"Scheduled jobs: {renewals:,} renewals due today, planned and worked over moto"))
        out.append(table(["step", "items", "seconds", "rate"], rows))
        per = max(worked, 1)
        out.append("\nDynamoDB operations per renewal (the workers' client):")
        out.append(
            table(
                ["operation", "calls", "items written", "items read"],
                [
                    [
                        name,
                        f"{op.calls / per:.2f}",
                        f"{op.items_written / per:.2f}",
                        f"{op.items_read / per:.2f}",
                    ]
                    for name, op in sorted(operations.items())
                ],
            )
        )
    finally:
        clock.set_clock(None)
        wiring.reset()
    return "\n".join(out)
