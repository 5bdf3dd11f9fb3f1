"""What every benchmark shares: a moto server, the template's resources in it, counting hooks.

The moto server runs in a process of its own (not the in-process ThreadedMotoServer the tests
use), so the code under test and DynamoDB's stand-in do not share one GIL: on a 2-core machine
the handler and "DynamoDB" each get a core, closer to a real network dependency. It is
`python -m local.moto_server`, moto with the local stack's DynamoDB fixes (local.moto_dynamodb),
so the benchmarks, the tests and `make dev` see the same DynamoDB. The stack itself is
tests.support.stack.moto_stack, pointed at that server.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TextIO, get_args
from unittest import mock

import requests

import tests.support.stack as stack_module
from benchmarks import ROOT
from tally.storage import clients, keys
from tally.tracking.domain import EventKind, TrackedEvent
from tally.tracking.models import ClickSource, ViewSource
from tests.support.events import FakeContext, http_event, tenant_claims
from tests.support.stack import Stack, moto_stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ACCOUNT = "acc_bench"
BENCH_USER = "user-bench"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# --- the moto server -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_servers: list[subprocess.Popen[bytes]] = []


@lru_cache(maxsize=1)
def moto_endpoint() -> str:
    """Start `python -m local.moto_server` (once, until restart_moto); stopped when the run exits."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    _servers.append(server)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"moto server exited with {server.returncode}")
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
        except requests.ConnectionError:
            time.sleep(0.1)
            continue
        return endpoint
    raise RuntimeError("moto server did not start within 30 s")


def restart_moto() -> None:
    """A fresh moto process for the next benchmark. After the 100k-event load, a reset moto
    still stalled one click in 2,000 for ~2 s in the throughput run; a new process does not."""
    stop_moto()
    moto_endpoint.cache_clear()


@atexit.register
def stop_moto() -> None:
    while _servers:
        server = _servers.pop()
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def bench_stack(accounts: Iterable[str] = (ACCOUNT,)) -> Iterator[Stack]:
    """The template's resources in a freshly reset moto, with these accounts in the billing table."""
    # moto_stack asks its module for the endpoint: point it at our out-of-process server.
    stack_module.moto_endpoint = moto_endpoint
    with moto_stack() as stack:
        billing = stack.ref("BillingTable")
        for account in accounts:
            clients.dynamodb().put_item(
                TableName=billing, Item=keys.account(account) | {"kind": {"S": "account"}}
            )
            # The stats reader is a member of every benchmark account (the policy reads it).
            clients.dynamodb().put_item(
                TableName=billing,
                Item=keys.membership(BENCH_USER, account)
                | {"kind": {"S": "membership"}, "account_id": {"S": account}, "role": {"S": "viewer"}},
            )
        yield stack


@contextmanager
def patient_clients(read_timeout: float = 300) -> Iterator[None]:
    """The functions' clients, created meanwhile, wait longer than their 5 s read timeout.

    On a shared 2-core machine moto can stall past 5 s now and then (a 100-item counter
    transaction behind a GC pause); botocore would resend, and the counts would show the
    machine, not the code. Only the timeout changes; retries, endpoints and all else as deployed.
    """
    from botocore.config import Config

    patient = clients._CONFIG.merge(Config(read_timeout=read_timeout))
    clients.reset_clients()
    try:
        with mock.patch.object(clients, "_CONFIG", patient):
            yield
    finally:
        clients.reset_clients()


def plain_client(max_pool_connections: int = 10) -> DynamoDBClient:
    """A DynamoDB client of our own (not the handler's), for loading data uncounted."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", region_name=stack_module.REGION, config=Config(max_pool_connections=max_pool_connections)
    )


# --- data ---------------------------------------------------------------------------------------

SPREAD_DAYS = 60
SPONSORSHIPS = ("sp_gold", "sp_silver", "sp_bronze")


def tracked_events(account_id: str, count: int, seed: int, *, counted: bool = True) -> list[TrackedEvent]:
    """Clicks and views as the tracking service stores them, spread over the last 60 days, a
    fifth of them sponsored (uncounted ones, as duplicates, are dropped by the stream's filter)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    click_sources: tuple[str, ...] = get_args(ClickSource)
    view_sources: tuple[str, ...] = get_args(ViewSource)
    events = []
    for index in range(count):
        kind: EventKind = "click" if rng.random() < 0.3 else "view"
        occurred = now - timedelta(seconds=rng.randrange(SPREAD_DAYS * 86_400))
        events.append(
            TrackedEvent(
                id=f"evt_{uuid.UUID(int=rng.getrandbits(128)).hex}",
                account_id=account_id,
                type=kind,
                source=rng.choice(click_sources if kind == "click" else view_sources),
                occurred_at=occurred,
                expires_at=int((occurred + timedelta(days=90)).timestamp()),
                counted=counted,
                reason=None if counted else "duplicate",
                page_type="listing",
                page_url=f"/pros/{index % 500}",
                position=rng.randrange(20),
                sponsorship_id=rng.choice(SPONSORSHIPS) if rng.random() < 0.2 else None,
                user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                ip_prefix=f"203.0.{rng.randrange(256)}.0",
            )
        )
    return events


def batch_write(client: DynamoDBClient, table_name: str, items: Sequence[dict[str, Any]]) -> None:
    """BatchWriteItem in chunks of 25 from 4 threads, retrying what moto leaves unprocessed."""

    def write(chunk: Sequence[dict[str, Any]]) -> None:
        request: dict[str, Any] = {table_name: [{"PutRequest": {"Item": item}} for item in chunk]}
        while request:
            answer = client.batch_write_item(RequestItems=request)
            request = dict(answer.get("UnprocessedItems") or {})

    chunks = [items[start : start + 25] for start in range(0, len(items), 25)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, chunks))


# --- the functions, in-process ---------------------------------------------------------------


@contextmanager
def tracking_function(stack: Stack) -> Iterator[Handler]:
    """tracking.app.lambda_handler with TrackingFunction's environment and a fresh service."""
    with stack.environment("TrackingFunction"):
        from tally import parameters
        from tally.identity import wiring
        from tracking import routes
        from tracking.app import lambda_handler

        # The salt's provider holds a Secrets Manager client of the moto server it was made for;
        # each section has a fresh server (restart_moto). The policy caches memberships.
        parameters.secrets_provider.cache_clear()
        routes.service.cache_clear()
        wiring.access_policy.cache_clear()
        try:
            yield lambda_handler
        finally:
            routes.service.cache_clear()
            parameters.secrets_provider.cache_clear()
            wiring.access_policy.cache_clear()


@contextmanager
def counter_function(stack: Stack) -> Iterator[Handler]:
    """tracking.counter.lambda_handler with TrackingCounterFunction's environment."""
    with stack.environment("TrackingCounterFunction"):
        from tracking import counter

        counter.projection.cache_clear()
        try:
            yield counter.lambda_handler
        finally:
            counter.projection.cache_clear()


def click_event(page: str, *, source: str = "seo", user_agent: str = FIREFOX) -> dict[str, Any]:
    body = {"account_id": ACCOUNT, "source": source, "page_url": page, "position": 1}
    return http_event("POST", "/v1/track/click", body=body, user_agent=user_agent)


def stats_event(account_id: str = ACCOUNT, days: int = 30) -> dict[str, Any]:
    return http_event(
        "GET",
        "/v1/track/stats",
        query={"account_id": account_id, "days": str(days)},
        claims=tenant_claims(BENCH_USER),
    )


def call(handler: Handler, event: dict[str, Any], expect: int) -> dict[str, Any]:
    answer = handler(event, FakeContext())
    if answer["statusCode"] != expect:
        raise RuntimeError(f"expected {expect}, got {answer['statusCode']}: {answer.get('body')}")
    body = json.loads(answer.get("body") or "null")
    return body if isinstance(body, dict) else {}


# --- the stream, as the event source mapping delivers it --------------------------------------


def _matches(pattern: Any, value: Any) -> bool:
    """Lambda event filtering, for the subset the template uses: nested keys and value lists."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            name in value and _matches(sub, value[name]) for name, sub in pattern.items()
        )
    if isinstance(pattern, list):
        if any(isinstance(option, Mapping) for option in pattern):
            raise NotImplementedError(f"content filters are not emulated: {pattern}")
        return value in pattern
    raise NotImplementedError(f"unexpected filter pattern {pattern!r}")


def counter_batches(stack: Stack, records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Stream records filtered and batched as TrackingCounterFunction's EventsStream says."""
    [source] = stack.functions["TrackingCounterFunction"].stream_sources
    wanted = [
        record
        for record in records
        if not source.filter_patterns or any(_matches(p, record) for p in source.filter_patterns)
    ]
    size = source.batch_size
    return [list(wanted[start : start + size]) for start in range(0, len(wanted), size)]


# --- counting DynamoDB requests ------------------------------------------------------------


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it (names + values; numbers approximated)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    [(kind, data)] = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + item_size(data)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    return sum(_value_size({kind[0]: element}) for element in data)  # SS, NS, BS


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


@dataclass
class OperationCount:
    calls: int = 0
    attempts: int = 0  # HTTP requests sent: more than calls when botocore retried
    failed: int = 0  # answered with an error (e.g. a cancelled transaction): nothing written
    items_written: int = 0
    keys_requested: int = 0
    items_read: int = 0  # items returned to the caller
    items_scanned: int = 0  # items DynamoDB evaluated (Query/Scan ScannedCount)
    wcu: float = 0.0  # estimated: 1 KB units, 2x in transactions; updates assumed <= 1 KB
    rcu: float = 0.0  # estimated: 4 KB units, eventually consistent = 0.5

    def add(self, other: OperationCount) -> None:
        for spec in fields(self):
            setattr(self, spec.name, getattr(self, spec.name) + getattr(other, spec.name))


@dataclass
class DynamoMeter:
    """Counts what one boto3 DynamoDB client really sends and gets back, per operation.

    botocore's event hooks see every call: `before-parameter-build` has the API parameters
    (what is written), `after-call` the parsed response (what is read, and whether it failed).
    """

    client: Any
    operations: dict[str, OperationCount] = field(default_factory=dict)

    def __post_init__(self) -> None:
        events = self.client.meta.events
        events.register("before-parameter-build.dynamodb", self._before, unique_id="bench-meter-before")
        events.register("after-call.dynamodb", self._after, unique_id="bench-meter-after")
        events.register("before-send.dynamodb", self._send, unique_id="bench-meter-send")

    def close(self) -> None:
        events = self.client.meta.events
        events.unregister("before-parameter-build.dynamodb", unique_id="bench-meter-before")
        events.unregister("after-call.dynamodb", unique_id="bench-meter-after")
        events.unregister("before-send.dynamodb", unique_id="bench-meter-send")

    def reset(self) -> None:
        self.operations = {}

    def total(self) -> OperationCount:
        summed = OperationCount()
        for count in self.operations.values():
            summed.add(count)
        return summed

    def _send(self, event_name: str, **_: Any) -> None:
        name = event_name.rsplit(".", 1)[-1]
        self.operations.setdefault(name, OperationCount()).attempts += 1

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)

    def _after(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        name = str(model.name)
        count = self.operations.setdefault(name, OperationCount())
        count.calls += 1
        if http_response.status_code >= 300:
            count.failed += 1
            return
        params: dict[str, Any] = context.get("bench_params", {})
        consistent = bool(params.get("ConsistentRead"))
        if name == "PutItem":
            count.items_written += 1
            count.wcu += _write_units(item_size(params["Item"]))
        elif name in {"UpdateItem", "DeleteItem"}:
            count.items_written += 1
            count.wcu += 1
        elif name == "BatchWriteItem":
            for requests_ in params["RequestItems"].values():
                for request in requests_:
                    count.items_written += 1
                    put = request.get("PutRequest")
                    count.wcu += _write_units(item_size(put["Item"])) if put else 1
        elif name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                count.items_written += 1
                put = entry.get("Put")
                count.wcu += 2 * (_write_units(item_size(put["Item"])) if put else 1)
        elif name == "GetItem":
            count.keys_requested += 1
            item = parsed.get("Item")
            count.items_read += 1 if item else 0
            count.rcu += _read_units(item_size(item) if item else 0, consistent)
        elif name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                count.keys_requested += len(request["Keys"])
                found = parsed.get("Responses", {}).get(table, [])
                count.items_read += len(found)
                strong = bool(request.get("ConsistentRead"))
                count.rcu += sum(_read_units(item_size(item), strong) for item in found)
        elif name in {"Query", "Scan"}:
            found = parsed.get("Items", [])
            count.items_read += int(parsed.get("Count", len(found)))
            count.items_scanned += int(parsed.get("ScannedCount", len(found)))
            # A query is billed on the summed size of what it scanned, rounded up to 4 KB.
            count.rcu += _read_units(sum(item_size(item) for item in found), consistent)


@contextmanager
def quiet() -> Iterator[None]:
    """Handlers print EMF metrics and the odd warning: keep them out of the report.

    stdout goes to /dev/null (real writes, as Lambda's log pipe costs real writes too).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with redirect_stdout(_devnull()):
            yield


@lru_cache(maxsize=1)
def _devnull() -> TextIO:
    # Never closed: a Logger created while quiet keeps writing to it.
    return open(os.devnull, "w", encoding="utf-8")


# --- reporting -------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(share * len(ordered)) - 1)
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A plain-text table; `align` gives each column '<' or '>' (default: first left, rest right)."""
    text = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in text)]) for i, h in enumerate(headers)]
    aligns = align or "<" + ">" * (len(headers) - 1)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{cell:{aligns[i]}{widths[i]}}" for i, cell in enumerate(cells)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in text)])


def heading(title: str) -> str:
    return f"\n{title}\n{'=' * len(title)}"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default
