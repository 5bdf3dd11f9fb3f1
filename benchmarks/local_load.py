"""The local stack under load, over real HTTP: `python -m local`, as `make dev` runs it.

Two questions from issue 5. Does a click cost the same with 100,000 events stored as with none
(p50 and p99 within 2x)? Does the stack hold 5,000 clicks from 50 concurrent clients (no 5xx,
its whole process tree under 1 GB, and the stats afterwards equal to the clicks it answered
`counted: true`)? Each question gets a fresh stack on a free port; requests go over sockets.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests

from benchmarks import ROOT
from benchmarks.harness import (
    FIREFOX,
    batch_write,
    env_int,
    heading,
    median,
    percentile,
    table,
    tracked_events,
)
from local.stack import FAKE_CREDENTIALS
from tally.tracking.dynamo import event_item

ADMIN = {"email": "admin@tally.local", "password": "Tally-local-2026!"}
READY = "Tally local stack ready at "
START_TIMEOUT_S = 120
WARM_UP = 20  # first clicks: cold starts of the tracking and counter instances, JWKS, caches
TARGET_RATIO = 2.0
TARGET_PEAK_MB = 1024


# -- the stack, as a process ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StackProcess:
    """`python -m local` on a free port; its output goes to a log file kept for a post-mortem."""

    def __init__(self, log: Path) -> None:
        self.log = log
        port = _free_port()
        environment = {
            **{
                key: value
                for key, value in os.environ.items()
                if key not in {"AWS_ENDPOINT_URL", "AWS_PROFILE"}
            },
            "PYTHONUNBUFFERED": "1",
            "TALLY_ADMIN_EMAIL": ADMIN["email"],
            "TALLY_ADMIN_PASSWORD": ADMIN["password"],
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local", "--port", str(port), "--stripe-port", "0"],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"
        self._ready = threading.Event()
        self._copier = threading.Thread(target=self._copy_output, name="stack-output", daemon=True)
        self._copier.start()
        if not self._ready.wait(START_TIMEOUT_S) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"the local stack did not start; see {log}")

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("wb") as sink:
            for line in self.process.stdout:
                sink.write(line)
                if line.startswith(READY.encode()):
                    self._ready.set()
        self._ready.set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._copier.join(10)


@contextmanager
def local_stack(name: str) -> Iterator[StackProcess]:
    log = Path(tempfile.gettempdir()) / f"tally-bench-local-{name}.log"
    stack = StackProcess(log)
    try:
        yield stack
    finally:
        stack.stop()


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (the stack, moto, every worker)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # a worker that just exited
            continue
    return total


class PeakMemory:
    """Samples tree_rss every 100 ms while in use; `peak` is the largest sample."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


# -- the API, as a client uses it ---------------------------------------------------------------


@dataclass
class Api:
    url: str
    session: requests.Session = field(default_factory=requests.Session)
    token: str = ""

    def login(self) -> None:
        answer = self.session.post(f"{self.url}/v1/auth/login", json=ADMIN, timeout=60)
        answer.raise_for_status()
        self.token = str(answer.json()["id_token"])

    def create_account(self, key: str) -> str:
        answer = self.session.post(
            f"{self.url}/v1/accounts",
            json={"name": "Bench Load", "email": "load@example.fr", "country": "FR", "currency": "EUR"},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": key},
            timeout=60,
        )
        if answer.status_code != 201:
            raise RuntimeError(f"creating an account: {answer.status_code} {answer.text}")
        return str(answer.json()["id"])

    def clicks_total(self, account: str) -> int:
        answer = self.session.get(
            f"{self.url}/v1/track/stats",
            params={"account_id": account, "days": "1"},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        answer.raise_for_status()
        return int(answer.json()["clicks_total"])

    def drain(self, limit_s: float = 900) -> float:
        """Wait until the stream pollers delivered everything; the seconds it took."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit_s:
            if self.session.get(f"{self.url}/_local/streams/drain", timeout=60).status_code == 200:
                return time.perf_counter() - started
        raise RuntimeError(f"the streams did not drain within {limit_s:.0f} s")

    def resources(self) -> dict[str, Any]:
        answer = self.session.get(f"{self.url}/_local/resources", timeout=10)
        answer.raise_for_status()
        resources: dict[str, Any] = answer.json()
        return resources


@dataclass(frozen=True)
class Click:
    status: int
    counted: bool
    seconds: float


def click(session: requests.Session, url: str, account: str, page: str, user_agent: str = FIREFOX) -> Click:
    started = time.perf_counter()
    try:
        answer = session.post(
            f"{url}/v1/track/click",
            json={"account_id": account, "source": "seo", "page_url": page},
            headers={"User-Agent": user_agent},
            timeout=120,
        )
    except requests.RequestException:
        return Click(0, False, time.perf_counter() - started)  # no answer at all: counted as a failure
    counted = answer.status_code == 202 and bool(answer.json().get("counted"))
    return Click(answer.status_code, counted, time.perf_counter() - started)


def sequential_clicks(api: Api, account: str, tag: str, count: int) -> list[float]:
    """Latencies of `count` clicks from one keep-alive client, each on a page of its own."""
    latencies = []
    for index in range(count):
        result = click(api.session, api.url, account, f"/bench/{tag}/{index}")
        if result.status != 202:
            raise RuntimeError(f"click {tag}/{index} answered {result.status}")
        latencies.append(result.seconds)
    return latencies


# -- 4a: a click's latency with 100,000 events stored ---------------------------------------------


def _load_events(api: Api, account: str, count: int) -> float:
    """BatchWriteItem of real event items (uncounted: the stream filter drops them) into moto."""
    import boto3

    found = api.resources()
    table_name = str(found["resources"]["EventsTable"]["ref"])
    client: Any = boto3.client(
        "dynamodb",
        endpoint_url=found["endpoint"],
        region_name=found["region"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    started = time.perf_counter()
    items = [event_item(event) for event in tracked_events(account, count, seed=count, counted=False)]
    batch_write(client, table_name, items)
    return time.perf_counter() - started


@dataclass
class LatencyCase:
    clicks: int
    events: int
    empty: list[float] = field(default_factory=list)
    loaded: list[float] = field(default_factory=list)
    load_s: float = 0.0
    drain_s: float = 0.0
    rss_empty_mb: float = 0.0
    rss_loaded_mb: float = 0.0


def _latency_case(clicks: int, events: int) -> LatencyCase:
    case = LatencyCase(clicks, events)
    with local_stack("latency") as stack:
        api = Api(stack.url)
        api.login()
        account = api.create_account("bench-latency")
        sequential_clicks(api, account, "warm", WARM_UP)
        api.drain()
        case.empty = sequential_clicks(api, account, "empty", clicks)
        case.rss_empty_mb = tree_rss(stack.pid) / 2**20
        case.load_s = _load_events(api, account, events)
        case.drain_s = api.drain()  # the pollers read (and filter out) the 100,000 records first
        case.rss_loaded_mb = tree_rss(stack.pid) / 2**20
        case.loaded = sequential_clicks(api, account, "loaded", clicks)
    return case


# -- 4b: 5,000 clicks from 50 clients ---------------------------------------------------------------


@dataclass
class LoadCase:
    clicks: int
    clients: int
    results: list[Click] = field(default_factory=list)
    elapsed_s: float = 0.0
    drain_s: float = 0.0
    peak_mb: float = 0.0
    idle_mb: float = 0.0
    stats_total: int = -1

    @property
    def server_errors(self) -> int:
        return sum(1 for result in self.results if result.status >= 500)

    @property
    def unanswered(self) -> int:
        return sum(1 for result in self.results if result.status == 0)

    @property
    def counted(self) -> int:
        return sum(1 for result in self.results if result.counted)


def _load_case(clicks: int, clients: int) -> LoadCase:
    case = LoadCase(clicks, clients)
    per_client = clicks // clients
    with local_stack("load") as stack:
        api = Api(stack.url)
        api.login()
        account = api.create_account("bench-load")
        case.idle_mb = tree_rss(stack.pid) / 2**20

        def client(number: int) -> list[Click]:
            # A visitor of its own (user agent) and a page per click: no click is a duplicate.
            session = requests.Session()
            agent = f"Mozilla/5.0 (X11; Linux x86_64; bench client {number}) Gecko/20100101 Firefox/128.0"
            return [
                click(session, stack.url, account, f"/bench/load/{number}/{index}", agent)
                for index in range(per_client)
            ]

        with PeakMemory(stack.pid) as memory:
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                for results in pool.map(client, range(clients)):
                    case.results.extend(results)
            case.elapsed_s = time.perf_counter() - started
            case.drain_s = api.drain()
        case.peak_mb = memory.peak / 2**20
        case.stats_total = api.clicks_total(account)
    return case


# -- the report -----------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    """p50 / p99 in milliseconds."""
    return f"{median(values) * 1000:.0f} / {percentile(values, 0.99) * 1000:.0f} ms"


def _yes(condition: bool) -> str:
    return "yes" if condition else "NO"


def run() -> str:
    latency = _latency_case(env_int("BENCH_LOCAL_CLICKS", 300), env_int("BENCH_LOCAL_EVENTS", 100_000))
    load = _load_case(env_int("BENCH_LOCAL_LOAD_CLICKS", 5_000), env_int("BENCH_LOCAL_CLIENTS", 50))
    ratios = (
        median(latency.loaded) / median(latency.empty),
        percentile(latency.loaded, 0.99) / percentile(latency.empty, 0.99),
    )
    failed = load.server_errors + load.unanswered
    rows = [
        ["4a", f"click p50 / p99, empty events table ({latency.clicks} clicks)", _ms(latency.empty), "", ""],
        ["", f"click p50 / p99, {latency.events:,} events stored", _ms(latency.loaded), "", ""],
        [
            "",
            "ratio stored / empty: p50, p99",
            f"{ratios[0]:.2f}x, {ratios[1]:.2f}x",
            f"<= {TARGET_RATIO:.0f}x",
            _yes(max(ratios) <= TARGET_RATIO),
        ],
        ["", f"loading the {latency.events:,} events", f"{latency.load_s:.0f} s", "", ""],
        ["", "stream pollers reading their records", f"{latency.drain_s:.0f} s", "", ""],
        [
            "",
            "stack tree RSS, empty / events stored",
            f"{latency.rss_empty_mb:.0f} / {latency.rss_loaded_mb:.0f} MB",
        ],
        [
            "4b",
            f"{len(load.results):,} clicks, {load.clients} clients: 5xx + no answer",
            str(failed),
            "0",
            _yes(failed == 0),
        ],
        [
            "",
            "elapsed; throughput",
            f"{load.elapsed_s:.0f} s; {len(load.results) / load.elapsed_s:.0f} req/s",
        ],
        [
            "",
            "click p50 / p99 under that load (cold starts in)",
            _ms([result.seconds for result in load.results]),
        ],
        [
            "",
            "peak RSS of the stack's process tree (idle before)",
            f"{load.peak_mb:.0f} MB ({load.idle_mb:.0f} MB)",
            f"< {TARGET_PEAK_MB} MB",
            _yes(load.peak_mb < TARGET_PEAK_MB),
        ],
        [
            "",
            "stats clicks_total after drain = answers counted",
            f"{load.stats_total:,} = {load.counted:,} (drain {load.drain_s:.1f} s)",
            "equal",
            _yes(load.stats_total == load.counted),
        ],
    ]
    rows = [row + [""] * (5 - len(row)) for row in rows]
    return "\n".join(
        [
            heading("4. The local stack over HTTP (python -m local, as make dev runs it)"),
            table(["", "measure", "value", "target", "met"], rows, "<<><<"),
            "",
            "How: each part starts `python -m local` on a free port (its log: tally-bench-local-*.log in",
            "  the temp directory), signs the seeded admin in and creates an account through the API.",
            f"  4a: one keep-alive client, clicks one after another on distinct pages, after {WARM_UP}",
            "  warm-up clicks (cold starts); each timed with perf_counter around the HTTP call. Then the",
            "  events go straight into the events table with BatchWriteItem (tracking's own event_item,",
            "  uncounted, so the stream's filter drops them), the stream pollers drain, and the same",
            "  clicks are timed again. 4b: a fresh stack; each client a thread with its own session and",
            "  user agent, its clicks on distinct pages; 5xx and connection failures counted; RSS of the",
            "  stack's process and all its children (moto runs inside it; every function instance is a",
            "  worker process) sampled every 100 ms with psutil from the first click to the end of the",
            "  drain; then GET /_local/streams/drain and the account's clicks_total from GET stats.",
            "  The clients run on the same machine as the stack: they share its cores.",
        ]
    )
