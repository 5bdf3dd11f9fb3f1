"""Cold start of the tracking function against a fresh `import boto3` + DynamoDB client.

Each run is a fresh interpreter (`sys.executable`, default flags) with the function's
environment from template.yaml, pointed at the moto server, and PYTHONPATH set the way Lambda
lays out the layer and the function. Bytecode is compiled first, as the deployed package ships
it: into a cache prefix of our own (PYTHONPYCACHEPREFIX), so neither the repository nor the
venv is written to, and the shell's PYTHONDONTWRITEBYTECODE cannot turn runs into compiles.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import ROOT
from benchmarks.cold_child import MARK, RESULT
from benchmarks.harness import ACCOUNT, FIREFOX, bench_stack, env_int, heading, median, table
from tests.support.events import http_event
from tests.support.stack import REGION, Stack

CHILD = Path(__file__).with_name("cold_child.py")
PYCACHE = Path(tempfile.gettempdir()) / "tally-bench-pycache"
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class Run:
    startup: float  # process spawn -> first line of the script (interpreter start-up)
    imports: float  # first line -> imports done
    first_call: float  # imports done -> first response (or client created)
    dynamodb: float  # of which inside DynamoDB calls
    ready: float  # process spawn -> first response: the cold start
    wall: float  # process spawn -> process exit, timed by the parent
    status: int | None


def _environment(stack: Stack) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONPYCACHEPREFIX"}
    }
    env.update(stack.functions["TrackingFunction"].environment)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT / "functions")]),
        PYTHONPYCACHEPREFIX=str(PYCACHE),
        AWS_REGION=REGION,  # moto_stack has set the rest: test credentials, AWS_ENDPOINT_URL
        AWS_LAMBDA_FUNCTION_NAME="tracking",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
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


def _spawn(mode: str, env: dict[str, str], event_path: Path, flags: tuple[str, ...] = ()) -> tuple[Run, str]:
    # -P: the script's folder (benchmarks/) is not put on sys.path; Lambda's is the function's.
    command = [sys.executable, "-P", *flags, str(CHILD), mode, str(event_path)]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start child ({mode}) failed:\n{done.stdout}\n{done.stderr}")
    data: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT))
    run = Run(
        startup=data["t0"] - started,
        imports=data["imported"] - data["t0"],
        first_call=data["ready"] - data["requested"],
        dynamodb=data["dynamodb_s"],
        ready=data["ready"] - started,
        wall=wall,
        status=data["status"],
    )
    return run, done.stderr


def _event_file(directory: Path, run: int) -> Path:
    """A counted click: a page of its own, so the dedup window never turns it into a duplicate."""
    body = {"account_id": ACCOUNT, "source": "seo", "page_url": f"/bench/cold/{run}", "position": 1}
    path = directory / f"click-{run}.json"
    path.write_text(json.dumps(http_event("POST", "/v1/track/click", body=body, user_agent=FIREFOX)))
    return path


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


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def run() -> str:
    runs = env_int("BENCH_COLD_RUNS", 7)
    out: list[str] = [heading("1. Cold start: tracking function vs bare boto3 (fresh process each run)")]
    with bench_stack() as stack, tempfile.TemporaryDirectory(prefix="tally-bench-") as scratch:
        env = _environment(stack)
        _compile(env)
        directory = Path(scratch)
        # One discarded run of each: writes bytecode for the third-party modules the function
        # imports (the layer ships it) and warms the OS file cache, as a deployed package is.
        _spawn("handler", env, _event_file(directory, 0))
        _spawn("baseline", env, directory / "unused.json")
        handler_runs: list[Run] = []
        baseline_runs: list[Run] = []
        for index in range(1, runs + 1):  # interleaved, so drift hits both alike
            handler_runs.append(_spawn("handler", env, _event_file(directory, index))[0])
            baseline_runs.append(_spawn("baseline", env, directory / "unused.json")[0])
        _, importtime = _spawn("handler", env, _event_file(directory, runs + 1), ("-X", "importtime"))

    bad = {r.status for r in handler_runs} - {202}
    if bad:
        raise RuntimeError(f"the cold click did not answer 202: {bad}")

    def row(name: str, sample: list[Run]) -> list[str]:
        return [
            name,
            _ms(median([r.startup for r in sample])),
            _ms(median([r.imports for r in sample])),
            _ms(median([r.first_call for r in sample])),
            _ms(median([r.dynamodb for r in sample])),
            _ms(median([r.ready for r in sample])),
            _ms(median([r.wall for r in sample])),
        ]

    out.append(
        table(
            [
                "median of " + str(runs) + " runs, ms",
                "interpreter",
                "imports",
                "first call",
                "(in DynamoDB)",
                "ready",
                "process wall",
            ],
            [
                row("tracking.app + first click", handler_runs),
                row("import boto3 + dynamodb client", baseline_runs),
            ],
        )
    )
    out.append(
        f"\nimport tracking.app alone (median, untraced): {_ms(median([r.imports for r in handler_runs]))} ms"
        f"  vs import boto3: {_ms(median([r.imports for r in baseline_runs]))} ms"
    )
    ready_ratio = median([r.ready for r in handler_runs]) / median([r.ready for r in baseline_runs])
    wall_ratio = median([r.wall for r in handler_runs]) / median([r.wall for r in baseline_runs])
    verdict = "met" if ready_ratio <= TARGET_RATIO else "NOT met"
    out.append(
        f"\nratio handler/baseline: {ready_ratio:.2f}x on 'ready', {wall_ratio:.2f}x on process wall"
        f"  (target <= {TARGET_RATIO}: {verdict})"
    )
    out.append(
        "\n".join(
            [
                "",
                "How:",
                "  interpreter   parent's spawn -> the child's first line (both time.perf_counter,",
                "                CLOCK_MONOTONIC, one clock across processes on Linux)",
                "  imports       first line -> `import tracking.app` done (baseline: `import boto3`)",
                "  first call    lambda_handler(v2 POST /v1/track/click, a counted click) -> response",
                "                (baseline: boto3.client('dynamodb'))",
                "  (in DynamoDB) part of the first call spent in DynamoDB calls (moto round trips)",
                "  ready         spawn -> response: the cold start as a caller waits for it",
                "  process wall  spawn -> exit, timed by the parent (adds interpreter shutdown)",
                "  bytecode      compileall of layers/common and functions, plus one discarded warm-up run",
                f"                of each, into {PYCACHE} (PYTHONPYCACHEPREFIX)",
            ]
        )
    )
    out.append(_import_report(parse_importtime(importtime)))
    return "\n".join(out)


def _import_report(lines: list[ImportLine]) -> str:
    out: list[str] = []
    app = next((line for line in lines if line.module == "tracking.app"), None)
    timed = [line for line in lines if line.phase in {"import", "request"}]
    out.append(
        "\n-X importtime, one extra run (tracing adds overhead: compare with the untraced figure above):"
    )
    if app is not None:
        out.append(f"  tracking.app cumulative: {app.cumulative_us / 1000:.0f} ms")
    late = [line for line in timed if line.phase == "request" and line.depth == 0]
    if late:
        late_ms = sum(line.cumulative_us for line in late) / 1000
        names = ", ".join(line.module for line in sorted(late, key=lambda x: -x.cumulative_us)[:5])
        out.append(
            f"  imported lazily during the first request: {len(late)} top-level imports, "
            f"{late_ms:.0f} ms ({names}{', ...' if len(late) > 5 else ''})"
        )
    top = sorted(timed, key=lambda line: -line.cumulative_us)[:10]
    out.append("\nTop 10 modules by cumulative import time (nested: a package includes what it imports):")
    out.append(
        table(
            ["module", "cumulative ms", "self ms", "when"],
            [
                [
                    line.module,
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
    out.append("\nSelf time by top-level package (where the import time really goes):")
    out.append(
        "  "
        + ", ".join(f"{name} {own / 1000:.0f} ms" for name, own in ranked)
        + f"; all {len(timed)} modules {total / 1000:.0f} ms"
    )
    return "\n".join(out)
