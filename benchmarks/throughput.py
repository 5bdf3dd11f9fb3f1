"""Warm requests per second through one tracking.app instance, in-process.

Two backends: the moto server (the whole path, HTTP to a DynamoDB API included) and the tests'
in-memory fakes behind the same handler (tracking.routes.service swapped for a TrackingService
wired to tests/support/fakes), which shows what the handler itself costs per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from benchmarks.harness import (
    ACCOUNT,
    DynamoMeter,
    Handler,
    bench_stack,
    call,
    click_event,
    counter_batches,
    counter_function,
    env_int,
    heading,
    median,
    patient_clients,
    percentile,
    quiet,
    stats_event,
    table,
    tracking_function,
)
from tally.storage import clients
from tests.support.events import FakeContext
from tests.support.fakes import InMemoryAccountDirectory
from tests.support.stack import stream_batch
from tests.support.tracking import TrackingWorld

WARM_UP = 50


@dataclass(frozen=True)
class Sample:
    backend: str
    request: str
    latencies: list[float]  # seconds, one per request
    retries: int | None = None  # HTTP requests botocore resent (None: no HTTP involved)

    @property
    def rate(self) -> float:
        return len(self.latencies) / sum(self.latencies)


def _timed(handler: Handler, events: Iterator[dict[str, Any]], expect: int) -> list[float]:
    latencies = []
    for event in events:
        started = time.perf_counter()
        call(handler, event, expect)
        latencies.append(time.perf_counter() - started)
    return latencies


def _clicks(tag: str, count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """Distinct pages, so every click is counted (no duplicate inside the dedup window)."""
    for index in range(start, start + count):
        yield click_event(f"/bench/{tag}/{index}")


def _stats(count: int) -> Iterator[dict[str, Any]]:
    for _ in range(count):
        yield stats_event(ACCOUNT, 30)


def _moto(requests: int) -> list[Sample]:
    with bench_stack() as stack, tracking_function(stack) as handler:
        _timed(handler, _clicks("warm", WARM_UP), 202)  # client, connection, account cache
        meter = DynamoMeter(clients.dynamodb())
        click_latencies = _timed(handler, _clicks("moto", requests), 202)
        meter.close()
        click_retries = _retries(meter)

    with bench_stack() as stack, patient_clients():
        with tracking_function(stack) as handler:
            _timed(handler, _clicks("seed", 50), 202)
        with counter_function(stack) as counter:
            for batch in counter_batches(stack, stream_batch(stack, "EventsTable")):
                counter({"Records": batch}, FakeContext())
        with tracking_function(stack) as handler:
            _timed(handler, _stats(WARM_UP), 200)
            meter = DynamoMeter(clients.dynamodb())
            stats_latencies = _timed(handler, _stats(requests), 200)
            meter.close()
    return [
        Sample("moto server", "click", click_latencies, click_retries),
        Sample("moto server", "stats, 30 days", stats_latencies, _retries(meter)),
    ]


def _retries(meter: DynamoMeter) -> int:
    return sum(op.attempts - op.calls for op in meter.operations.values())


@contextmanager
def _fake_backend(world: TrackingWorld) -> Iterator[None]:
    with mock.patch("tracking.routes.service", return_value=world.service):
        yield


def _in_memory(requests: int) -> list[Sample]:
    world = TrackingWorld(accounts=InMemoryAccountDirectory({ACCOUNT}))
    with bench_stack() as stack, tracking_function(stack) as handler, _fake_backend(world):
        _timed(handler, _clicks("fake-warm", WARM_UP), 202)
        clicks = _timed(handler, _clicks("fake", requests), 202)
        world.drain_stream()
        _timed(handler, _stats(WARM_UP), 200)
        stats = _timed(handler, _stats(requests), 200)
    return [Sample("in-memory fakes", "click", clicks), Sample("in-memory fakes", "stats, 30 days", stats)]


def run() -> str:
    requests = env_int("BENCH_THROUGHPUT_REQUESTS", 2_000)
    with quiet():
        samples = _moto(requests) + _in_memory(requests)
    rows = [
        [
            sample.backend,
            sample.request,
            f"{len(sample.latencies):,}",
            f"{sample.rate:,.0f}",
            f"{median(sample.latencies) * 1000:.2f}",
            f"{percentile(sample.latencies, 0.95) * 1000:.2f}",
            f"{max(sample.latencies) * 1000:.1f}",
            "" if sample.retries is None else str(sample.retries),
        ]
        for sample in samples
    ]
    return "\n".join(
        [
            heading("3. Warm throughput: one tracking.app instance, in-process, sequential"),
            table(
                ["backend", "request", "requests", "req/s", "p50 ms", "p95 ms", "max ms", "retries"],
                rows,
                "<<>>>>>>",
            ),
            "",
            "How: lambda_handler called with v2 events, one at a time, after a warm-up; each call timed",
            "  with time.perf_counter; req/s = requests / summed latency (one instance, no concurrency).",
            "  Clicks are counted (distinct page_url); stats are a tenant's GET ?days=30 over counters.",
            "  moto server: the real adapters over HTTP to moto in its own process (moto's speed, not",
            "  DynamoDB's), on one stack: with local.moto_server a transaction no longer copies the",
            "  table, so the table growing through the run does not slow the clicks down.",
            "  in-memory fakes: tracking.routes.service swapped for TrackingService on tests/support/fakes;",
            "  the same handler, validation, routing, EMF metrics, JSON: what the code costs per request.",
            "  retries: requests botocore resent (a timeout or a dropped connection); max shows them.",
        ]
    )
