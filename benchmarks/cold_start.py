"""Cold start of every HTTP function's first request against a floor: a fresh process that imports
boto3, creates a DynamoDB client and makes one GetItem on the billing table.

Each run is a fresh interpreter (`sys.executable`, default flags) with the function's runtime
environment as the local stack builds it from template.yaml (local.invoker.runtime_environment),
pointed at the moto server, and PYTHONPATH set the way Lambda lays out the layer and the function.
Bytecode is compiled first, as the deployed package ships it: into a cache prefix of our own
(PYTHONPYCACHEPREFIX), so neither the repository nor the venv is written to, and the shell's
PYTHONDONTWRITEBYTECODE cannot turn runs into compiles. Runs are interleaved (one of each subject
per round, the order rotating), so drift on the machine hits every subject alike.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import ROOT
from benchmarks.authorizer_latency import create_key
from benchmarks.cold_child import MARK, RESULT
from benchmarks.harness import ACCOUNT, FIREFOX, bench_stack, env_int, heading, median, table
from local.invoker import runtime_environment
from tally.storage import clients, keys
from tests.support.events import admin_claims, http_event
from tests.support.stack import Stack

CHILD = Path(__file__).with_name("cold_child.py")
PYCACHE = Path(tempfile.gettempdir()) / "tally-bench-pycache"
TARGET_RATIO = 1.3
EMAIL = "cold-start@example.com"
PASSWORD = "Cold-Start-2026!"  # noqa: S105 - a user of the benchmark's own moto

# What each step of issue 5's cold-start work bought: this benchmark run against each step's
# code (11 runs), and interleaved A/Bs of 15 runs for the small ones. Figures of that machine;
# docs/decisions/0009-cold-start.md has the table and what was tried and dropped.
STEPS = (
    "before: click 484 ms (1.75x), login 496 (1.79x), admin read 493 (1.78x), openapi.json 540 (1.95x)",
    "1. docs serve the committed, drift-tested openapi.json (no router, pydantic or boto3): 540 -> 139",
    "2. botocore clients, items without boto3, Idempotency only for keyed creates: login 494 -> 444,",
    "   read 496 -> 446; click +8..12 (boto3 now loads with Parameters during the first counted click)",
    "3. wire models with pydantic defer_build: click -8, login -4 (A/B)",
    "4. accounts make each AWS client on first use: login -19, read -23 (A/B)",
    "5. init without cyclic GC, its objects frozen at the end: click -26, login -19, read -19, docs -7",
    "after: click 452 (1.67x), login 403 (1.49x), admin read 394 (1.46x), openapi.json 130 (0.48x)",
)


@dataclass(frozen=True)
class Subject:
    function: str  # the template's logical id
    request: str  # what the first request is, as the report names it
    module: str  # the handler's module
    event: Callable[[int], dict[str, Any]]  # the run's event (its number makes it unique if needed)
    status: int  # the answer it must get

    @property
    def label(self) -> str:
        return f"{self.function} {self.request}"


def _click(run: int) -> dict[str, Any]:
    """A counted click: a page of its own, so the dedup window never turns it into a duplicate."""
    body = {"account_id": ACCOUNT, "source": "seo", "page_url": f"/bench/cold/{run}", "position": 1}
    return http_event("POST", "/v1/track/click", body=body, user_agent=FIREFOX)


def _login(_: int) -> dict[str, Any]:
    return http_event("POST", "/v1/auth/login", body={"email": EMAIL, "password": PASSWORD})


def _get_account(_: int) -> dict[str, Any]:
    return http_event(
        "GET",
        f"/v1/accounts/{ACCOUNT}",
        claims=admin_claims(),
        route="GET /v1/accounts/{account_id}",
        path_parameters={"account_id": ACCOUNT},
    )


def _openapi(_: int) -> dict[str, Any]:
    return http_event("GET", "/v1/openapi.json", content_type=None)


# The authorizer's credentials, made by _seed: an API key of the account, a user's id token.
CREDENTIALS: dict[str, str] = {}


def _authorize(kind: str) -> Callable[[int], dict[str, Any]]:
    def event(_: int) -> dict[str, Any]:
        header = f"Bearer {CREDENTIALS[kind]}"
        return {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:api/$default/GET/v1/track/stats",
            "identitySource": [header],
            "routeKey": "GET /v1/track/stats",
            "rawPath": "/v1/track/stats",
            "rawQueryString": f"account_id={ACCOUNT}",
            "headers": {"authorization": header},
            "requestContext": {
                "requestId": "cold-start",
                "http": {"method": "GET", "path": "/v1/track/stats"},
            },
        }

    return event


SUBJECTS = (
    Subject("TrackingFunction", "POST /v1/track/click (counted)", "tracking.app", _click, 202),
    Subject("AuthFunction", "POST /v1/auth/login", "auth.app", _login, 200),
    Subject("AccountsFunction", "GET /v1/accounts/{id} (admin)", "accounts.app", _get_account, 200),
    Subject("DocsFunction", "GET /v1/openapi.json", "docs.app", _openapi, 200),
    # Not an HTTP function: what it adds in front of the routes that take keys, on its own cold start.
    Subject("AuthorizerFunction", "an API key (GetItem, pepper)", "authorizer.app", _authorize("key"), 200),
    Subject("AuthorizerFunction", "an id token (JWKS fetch)", "authorizer.app", _authorize("token"), 200),
)
FLOOR = "floor"
FLOOR_LABEL = "floor: import boto3, DynamoDB client, one GetItem"
# Not a target: the least any HTTP function on Tally's stack does, to show what is the stack's.
STACK = "stack"
STACK_LABEL = "reference: Powertools + pydantic + botocore, one GetItem"


@dataclass(frozen=True)
class Run:
    startup: float  # process spawn -> first line of the script (interpreter start-up)
    imports: float  # first line -> imports done
    first_call: float  # imports done -> first response
    aws: float  # of which inside AWS calls (moto round trips)
    ready: float  # process spawn -> first response: the cold start
    wall: float  # process spawn -> process exit, timed by the parent
    status: int | None


def _environment(stack: Stack, function: str) -> dict[str, str]:
    base = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONPYCACHEPREFIX"}
    }
    # moto_stack has set test credentials, the region and AWS_ENDPOINT_URL in os.environ.
    env = runtime_environment(stack.functions[function], base)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT / "functions")]),
        PYTHONPYCACHEPREFIX=str(PYCACHE),
    )
    return env


def _compile(env: dict[str, str]) -> None:
    """What `make build` does to the package (compileall), into our cache prefix."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", "layers/common", "functions"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _spawn(arguments: list[str], env: dict[str, str], flags: tuple[str, ...] = ()) -> tuple[Run, str]:
    # -P: the script's folder (benchmarks/) is not put on sys.path; Lambda's is the function's.
    command = [sys.executable, "-P", *flags, str(CHILD), *arguments]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start child {arguments} failed:\n{done.stdout}\n{done.stderr}")
    data: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT))
    run = Run(
        startup=data["t0"] - started,
        imports=data["imported"] - data["t0"],
        first_call=data["ready"] - data["imported"],
        aws=data["aws_s"],
        ready=data["ready"] - started,
        wall=wall,
        status=data["status"],
    )
    return run, done.stderr


class _Runner:
    """Spawns the floor and the subjects, each with its function's environment."""

    def __init__(self, stack: Stack, directory: Path) -> None:
        self.directory = directory
        self.environments = {s.function: _environment(stack, s.function) for s in SUBJECTS}
        # The floor reads the billing table as any function would; the tracking function's
        # environment (BILLING_TABLE_NAME, region, endpoint) serves.
        self.environments[FLOOR] = self.environments["TrackingFunction"]
        self.key = directory / "key.json"
        self.key.write_text(json.dumps(keys.account(ACCOUNT)))
        self.count = 0

    def floor(self, flags: tuple[str, ...] = ()) -> tuple[Run, str]:
        return _spawn(["floor", str(self.key)], self.environments[FLOOR], flags)

    def stack(self, flags: tuple[str, ...] = ()) -> tuple[Run, str]:
        run, stderr = _spawn(["stack", str(self.key)], self.environments[FLOOR], flags)
        if run.status != 200:
            raise RuntimeError(f"the stack reference answered {run.status}:\n{stderr}")
        return run, stderr

    def subject(self, subject: Subject, flags: tuple[str, ...] = ()) -> tuple[Run, str]:
        self.count += 1
        path = self.directory / f"event-{self.count}.json"
        path.write_text(json.dumps(subject.event(self.count)))
        arguments = ["handler", subject.module, str(path)]
        run, stderr = _spawn(arguments, self.environments[subject.function], flags)
        if run.status != subject.status:
            raise RuntimeError(f"{subject.label} answered {run.status}, not {subject.status}:\n{stderr}")
        return run, stderr


def _seed(stack: Stack) -> None:
    """The account the requests read (complete, so the accounts function can answer it) and a
    user of the pool that signs in."""
    item = keys.account(ACCOUNT) | {
        "kind": {"S": "account"},
        "id": {"S": ACCOUNT},
        "name": {"S": "Boulangerie Bench"},
        "email": {"S": "bench@example.com"},
        "country": {"S": "FR"},
        "currency": {"S": "EUR"},
        "created_at": {"S": "2026-01-01T00:00:00+00:00"},
    }
    clients.dynamodb().put_item(TableName=stack.ref("BillingTable"), Item=item)
    pool = stack.ref("UserPool")
    cognito = stack.client("cognito-idp")
    attributes = [{"Name": "email", "Value": EMAIL}, {"Name": "email_verified", "Value": "true"}]
    cognito.admin_create_user(
        UserPoolId=pool, Username=EMAIL, UserAttributes=attributes, MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password=PASSWORD, Permanent=True)
    signed_in = cognito.initiate_auth(
        ClientId=stack.ref("UserPoolClient"),
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": PASSWORD},
    )
    CREDENTIALS["token"] = signed_in["AuthenticationResult"]["IdToken"]
    pepper = stack.client("secretsmanager").get_secret_value(SecretId=stack.ref("ApiKeyPepperSecret"))
    CREDENTIALS["key"] = create_key(stack.ref("BillingTable"), pepper["SecretString"], ACCOUNT)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def run() -> str:
    runs = env_int("BENCH_COLD_RUNS", 9)
    out: list[str] = [
        heading("1. Cold start: each HTTP function's first request vs a floor (fresh processes)")
    ]
    labels = [FLOOR, STACK, *(subject.label for subject in SUBJECTS)]
    samples: dict[str, list[Run]] = {label: [] for label in labels}
    traces: dict[str, str] = {}
    with bench_stack() as stack, tempfile.TemporaryDirectory(prefix="tally-bench-") as scratch:
        _seed(stack)
        runner = _Runner(stack, Path(scratch))
        _compile(runner.environments[FLOOR])
        # One discarded run of each: writes bytecode for the third-party modules the functions
        # import (the layer ships it) and warms the OS file cache, as a deployed package is.
        spawners: list[tuple[str, Callable[[tuple[str, ...]], tuple[Run, str]]]] = [
            (FLOOR, runner.floor),
            (STACK, runner.stack),
        ]
        spawners += [(subject.label, partial(runner.subject, subject)) for subject in SUBJECTS]
        for _, spawn in spawners:
            spawn(())
        for index in range(runs):  # interleaved, the order rotating each round
            shift = index % len(spawners)
            for label, spawn in spawners[shift:] + spawners[:shift]:
                samples[label].append(spawn(())[0])
        for label, spawn in spawners:
            if label != STACK:
                traces[label] = spawn(("-X", "importtime"))[1]

    floor_ready = median([r.ready for r in samples[FLOOR]])
    out.append(_verdict_table(samples, floor_ready, runs))
    out.append(_phase_table(samples, runs))
    out.append(_how())
    out.append("\nWhat each step bought (median ms of 'ready' when it landed; decision 0009):")
    out.extend(f"  {step}" for step in STEPS)
    for label in traces:
        module = "boto3" if label == FLOOR else next(s.module for s in SUBJECTS if s.label == label)
        name = FLOOR_LABEL if label == FLOOR else label
        out.append(_import_report(name, module, parse_importtime(traces[label])))
    return "\n".join(out)


def _verdict_table(samples: dict[str, list[Run]], floor_ready: float, runs: int) -> str:
    rows = []
    for subject in SUBJECTS:
        ready = median([r.ready for r in samples[subject.label]])
        ratio = ready / floor_ready
        rows.append(
            [
                subject.function,
                subject.request,
                _ms(ready),
                _ms(floor_ready),
                f"{ratio:.2f}",
                "yes" if ratio <= TARGET_RATIO else "NO",
            ]
        )
    stack = median([r.ready for r in samples[STACK]])
    return "\n".join(
        [
            "",
            f"First request, spawn -> answer, median of {runs} runs (target: ratio <= {TARGET_RATIO}):",
            table(["function", "request", "ready ms", "floor ms", "ratio", "target met"], rows, "<<>>><"),
            f"{STACK_LABEL}: {_ms(stack)} ms, {stack / floor_ready:.2f}x the floor",
            "  (a Powertools resolver with validation, a Logger and a pydantic body, whose one route",
            "  makes a botocore client and one GetItem: what any HTTP function on this stack pays)",
            *(
                ["Where the target is not met, and what is left: docs/decisions/0009-cold-start.md"]
                if any(row[-1] != "yes" for row in rows)
                else []
            ),
        ]
    )


def _phase_table(samples: dict[str, list[Run]], runs: int) -> str:
    def row(name: str, sample: list[Run]) -> list[str]:
        return [
            name,
            _ms(median([r.startup for r in sample])),
            _ms(median([r.imports for r in sample])),
            _ms(median([r.first_call for r in sample])),
            _ms(median([r.aws for r in sample])),
            _ms(median([r.ready for r in sample])),
            _ms(median([r.wall for r in sample])),
        ]

    rows = [row(FLOOR_LABEL, samples[FLOOR]), row(STACK_LABEL, samples[STACK])]
    rows += [row(subject.label, samples[subject.label]) for subject in SUBJECTS]
    headers = [f"median of {runs} runs, ms", "interpreter", "imports", "first call", "(in AWS)", "ready"]
    headers.append("wall")
    return "\nWhere the time goes:\n" + table(headers, rows)


def _how() -> str:
    return "\n".join(
        [
            "",
            "How:",
            "  floor         a fresh process: `import boto3`, boto3.client('dynamodb'), one GetItem of the",
            "                benchmark's account in the billing table (spawn -> GetItem answered)",
            "  interpreter   parent's spawn -> the child's first line (both time.perf_counter,",
            "                CLOCK_MONOTONIC, one clock across processes on Linux)",
            "  imports       first line -> the function's app module imported (floor: `import boto3`)",
            "  first call    imports done -> lambda_handler's answer (floor: client made, GetItem answered)",
            "  (in AWS)      part of it spent inside AWS calls (moto round trips), on any thread",
            "  ready         spawn -> answer: the cold start as a caller waits for it; ratio = ready / floor",
            "  wall          spawn -> exit, timed by the parent (adds interpreter shutdown)",
            "  bytecode      compileall of layers/common and functions, plus one discarded warm-up run",
            f"                of each, into {PYCACHE} (PYTHONPYCACHEPREFIX)",
        ]
    )


@dataclass(frozen=True)
class ImportLine:
    module: str
    self_us: int
    cumulative_us: int
    depth: int
    phase: str


_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def parse_importtime(stderr: str) -> list[ImportLine]:
    """`-X importtime` lines, each tagged with the phase (startup/import/request) it happened in."""
    phase = "startup"
    lines: list[ImportLine] = []
    for raw in stderr.splitlines():
        if raw.startswith(MARK):
            phase = raw.split()[1]
            continue
        match = _IMPORT_LINE.match(raw)
        if match:
            own, cumulative, indent, module = match.groups()
            depth = (len(indent) - 1) // 2
            lines.append(ImportLine(module, int(own), int(cumulative), depth, phase))
    return lines


def _import_report(name: str, module: str, lines: list[ImportLine]) -> str:
    out: list[str] = [f"\n-X importtime, {name} (one extra run; tracing adds overhead):"]
    timed = [line for line in lines if line.phase in {"import", "request"}]
    app = next((line for line in timed if line.module == module and line.phase == "import"), None)
    if app is not None:
        out.append(f"  {module} cumulative: {app.cumulative_us / 1000:.0f} ms")
    late = [line for line in timed if line.phase == "request" and line.depth == 0]
    if late:
        late_ms = sum(line.cumulative_us for line in late) / 1000
        names = ", ".join(line.module for line in sorted(late, key=lambda x: -x.cumulative_us)[:5])
        out.append(
            f"  imported during the first request: {len(late)} top-level imports, "
            f"{late_ms:.0f} ms ({names}{', ...' if len(late) > 5 else ''})"
        )
    top = sorted(timed, key=lambda line: -line.cumulative_us)[:8]
    out.append(
        table(
            ["  module (cumulative: a package includes what it imports)", "cumulative ms", "self ms", "when"],
            [
                [
                    f"  {line.module}",
                    f"{line.cumulative_us / 1000:.1f}",
                    f"{line.self_us / 1000:.1f}",
                    "first request" if line.phase == "request" else "import",
                ]
                for line in top
            ],
            "<>><",
        )
    )
    by_package: dict[str, int] = defaultdict(int)
    for line in timed:
        by_package[line.module.split(".")[0]] += line.self_us
    total = sum(by_package.values())
    ranked = sorted(by_package.items(), key=lambda item: -item[1])[:8]
    out.append(
        "  self time by package: "
        + ", ".join(f"{package} {own / 1000:.0f}" for package, own in ranked)
        + f"; all {len(timed)} modules {total / 1000:.0f} ms"
    )
    return "\n".join(out)
