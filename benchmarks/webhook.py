"""Issue 9's webhook figures: the route's first-request cold start against the boto3 floor, its
acknowledgement latency warm (p50/p99 over many signed events), and the worker's throughput.

1. Cold start: the same fresh-process method as the `cold` section (benchmarks/cold_start.py):
   the floor (import boto3, a DynamoDB client, one GetItem) and the webhook route's first
   request (a new Stripe event, signed with the SDK's helper: verified with the secret read from
   Secrets Manager, recorded, enqueued), interleaved, medians compared (target <= 1.3).
2. Acknowledgement: webhooks.app.lambda_handler in this process, warm, over `BENCH_WEBHOOK_EVENTS`
   new events (each verified, a conditional Put, a SendMessage, an Update), then as many
   duplicates (verified, one conditional Put). moto stands in for DynamoDB and SQS, so the
   figures are the code's plus moto's round trips on this machine, not AWS's.
3. Worker: the queued events drained in SQS batches of 10 through webhooks.worker.lambda_handler
   (ledger read, the applier, ledger update per event) with a no-op applier: the pipeline's own
   events per second of handler time, one instance. The Stripe applier reads the object from
   Stripe first and writes the mirror, which this does not measure.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.cold_start import (
    FLOOR_LABEL,
    Run,
    _compile,
    _environment,
    _import_report,
    _spawn,
    parse_importtime,
)
from benchmarks.harness import ACCOUNT, bench_stack, env_int, heading, median, percentile, quiet, table
from tally.payments.events import Applied, ProviderEvent
from tally.storage import clients, keys
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.webhooks import SECRET, signed_headers, sqs_record, stripe_event

TARGET_RATIO = 1.3
PATH = "/v1/webhooks/stripe"
MODULE = "webhooks.app"


def _signed_event(event_id: str) -> dict[str, Any]:
    payload = stripe_event(event_id, "invoice.paid", created=int(time.time()))
    return http_event("POST", PATH, raw_body=payload, headers=signed_headers(payload))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _cold(stack: Stack, scratch: Path, runs: int) -> list[str]:
    floor_env = _environment(stack, "TrackingFunction")
    hook_env = _environment(stack, "WebhooksFunction")
    _compile(floor_env)
    key = scratch / "key.json"
    key.write_text(json.dumps(keys.account(ACCOUNT)))
    count = 0

    def floor(flags: tuple[str, ...] = ()) -> tuple[Run, str]:
        return _spawn(["floor", str(key)], floor_env, flags)

    def route(flags: tuple[str, ...] = ()) -> tuple[Run, str]:
        nonlocal count
        count += 1
        path = scratch / f"webhook-{count}.json"
        # Signed now: each run's event is new (a first delivery) and within the 300 s tolerance.
        path.write_text(json.dumps(_signed_event(f"evt_cold_{count}_{uuid.uuid4().hex[:8]}")))
        run, stderr = _spawn(["handler", MODULE, str(path)], hook_env, flags)
        if run.status != 200:
            raise RuntimeError(f"the webhook route answered {run.status}, not 200:\n{stderr}")
        return run, stderr

    spawners: list[tuple[str, Callable[[tuple[str, ...]], tuple[Run, str]]]] = [
        ("floor", floor),
        ("route", route),
    ]
    samples: dict[str, list[Run]] = {"floor": [], "route": []}
    for _, spawn in spawners:  # bytecode of third-party modules, OS file cache
        spawn(())
    for index in range(runs):
        for label, spawn in spawners[index % 2 :] + spawners[: index % 2]:
            samples[label].append(spawn(())[0])
    trace = route(("-X", "importtime"))[1]

    floor_ready = median([r.ready for r in samples["floor"]])
    ready = median([r.ready for r in samples["route"]])
    ratio = ready / floor_ready

    def row(name: str, sample: list[Run]) -> list[str]:
        return [
            name,
            _ms(median([r.startup for r in sample])),
            _ms(median([r.imports for r in sample])),
            _ms(median([r.first_call for r in sample])),
            _ms(median([r.aws for r in sample])),
            _ms(median([r.ready for r in sample])),
        ]

    return [
        "",
        f"First request, spawn -> answer, median of {runs} runs (target: ratio <= {TARGET_RATIO}):",
        table(
            ["function", "request", "ready ms", "floor ms", "ratio", "target met"],
            [
                [
                    "WebhooksFunction",
                    "POST /v1/webhooks/stripe (new, signed)",
                    _ms(ready),
                    _ms(floor_ready),
                    f"{ratio:.2f}",
                    "yes" if ratio <= TARGET_RATIO else "NO",
                ]
            ],
            "<<>>><",
        ),
        "",
        "Where the time goes:",
        table(
            [f"median of {runs} runs, ms", "interpreter", "imports", "first call", "(in AWS)", "ready"],
            [row(FLOOR_LABEL, samples["floor"]), row("WebhooksFunction first request", samples["route"])],
        ),
        _import_report("WebhooksFunction first request", MODULE, parse_importtime(trace)),
    ]


def _acknowledgements(stack: Stack, events: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Latency of new events and of duplicates, warm; the queued messages for the worker."""
    from webhooks import routes
    from webhooks.app import lambda_handler

    from tally import parameters

    def timed(event: dict[str, Any], duplicate: bool) -> float:
        started = time.perf_counter()
        answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        spent = time.perf_counter() - started
        body = json.loads(answer["body"])
        if answer["statusCode"] != 200 or body.get("duplicate", False) is not duplicate:
            raise RuntimeError(f"webhook answered {answer['statusCode']}: {answer['body']}")
        return spent

    with stack.environment("WebhooksFunction"), quiet():
        parameters.secrets_provider.cache_clear()
        routes.pipeline.cache_clear()
        routes.stripe_verifier.cache_clear()
        clients.reset_clients()
        sent = [_signed_event(f"evt_bench_{n}") for n in range(events)]
        timed(_signed_event("evt_bench_warmup"), False)  # clients, the secret, stripe's import
        fresh = [timed(event, False) for event in sent]
        duplicates = [timed(event, True) for event in sent]
        routes.pipeline.cache_clear()
        routes.stripe_verifier.cache_clear()

    rows = [
        [name, len(sample), _ms(percentile(sample, 0.5)), _ms(percentile(sample, 0.99)), _ms(max(sample))]
        for name, sample in (
            ("new event (verify, Put, SendMessage, Update)", fresh),
            ("duplicate", duplicates),
        )
    ]
    lines = [
        "",
        f"Acknowledgement, warm, in-process against moto ({events} signed events):",
        table(["delivery", "count", "p50 ms", "p99 ms", "max ms"], rows),
    ]
    sqs = stack.client("sqs")
    queued: list[tuple[str, str]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=stack.ref("WebhookQueue"), MaxNumberOfMessages=10, VisibilityTimeout=600
        ).get("Messages", [])
        if not batch:
            break
        queued += [(m["MessageId"], m["Body"]) for m in batch]
    return lines, queued


class _NoOpApplier:
    def apply(self, event: ProviderEvent) -> Applied:
        return Applied("ignored", "benchmark")


def _worker(stack: Stack, queued: list[tuple[str, str]]) -> list[str]:
    from webhooks import wiring, worker

    arn = stack.registry.lookup("WebhookQueue", "Arn")
    batches = [queued[i : i + 10] for i in range(0, len(queued), 10)]
    spent = 0.0
    # quiet: the worker logs a line per event (Powertools Logger, stdout).
    with stack.environment("WebhookWorkerFunction"), quiet():
        worker.worker.cache_clear()
        wiring.set_appliers({"stripe": _NoOpApplier()})
        for batch in batches:
            event = {"Records": [sqs_record(body, arn, message_id) for message_id, body in batch]}
            started = time.perf_counter()
            answer = worker.lambda_handler(event, FakeContext())
            spent += time.perf_counter() - started
            if answer["batchItemFailures"]:
                raise RuntimeError(f"the worker failed records: {answer}")
        worker.worker.cache_clear()
    rate = len(queued) / spent if spent else float("nan")
    return [
        "",
        "Worker, one instance, SQS batches of 10, a no-op applier (the pipeline's own cost):",
        table(
            ["events", "batches", "handler s", "events/s", "ms/event"],
            [[len(queued), len(batches), f"{spent:.2f}", f"{rate:.0f}", f"{spent / len(queued) * 1000:.1f}"]],
        ),
        "  (each event: a consistent GetItem, the applier, an UpdateItem; Lambda runs up to 10",
        "  instances, ScalingConfig.MaximumConcurrency.)",
    ]


def run() -> str:
    runs = env_int("BENCH_COLD_RUNS", 9)
    events = env_int("BENCH_WEBHOOK_EVENTS", 300)
    out = [heading("Webhooks (issue 9): route cold start, acknowledgement latency, worker throughput")]
    with bench_stack() as stack, tempfile.TemporaryDirectory(prefix="tally-bench-") as scratch:
        manager = stack.client("secretsmanager")
        manager.put_secret_value(SecretId=stack.ref("StripeWebhookSecretsSecret"), SecretString=SECRET)
        out += _cold(stack, Path(scratch), runs)
        if events > 0:  # BENCH_WEBHOOK_EVENTS=0: the cold start alone
            acknowledged, queued = _acknowledgements(stack, events)
            out += acknowledged
            out += _worker(stack, queued)
    return "\n".join(out)
