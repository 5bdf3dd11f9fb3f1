"""`python -m benchmarks [cold|cost|throughput|local|authorizer|usage|pdf|finalise|jobs|webhook ...]`: run the
benchmarks and print the report.

Figures only: nothing asserts on timing, and the exit status is 0 unless a benchmark itself
breaks (a request answering an unexpected status, the moto server not starting).
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
from collections.abc import Callable

from benchmarks import (
    authorizer_latency,
    cold_start,
    dynamo_cost,
    finalisation,
    jobs_cost,
    local_load,
    pdf_render,
    throughput,
    usage_cost,
    webhook,
)
from benchmarks.harness import restart_moto

SECTIONS: dict[str, Callable[[], str]] = {
    "cold": cold_start.run,
    "cost": dynamo_cost.run,
    "throughput": throughput.run,
    "local": local_load.run,
    "authorizer": authorizer_latency.run,
    "usage": usage_cost.run,  # issue 7, usage half
    "pdf": pdf_render.run,  # issue 8: invoice PDF render time
    "finalise": finalisation.run,  # issue 8: finalisation operations, latency, 50 concurrent
    "jobs": jobs_cost.run,  # issue 10: planner reads per run at two table sizes, renewals' time
    "webhook": webhook.run,  # issue 9: webhook route cold start, acknowledgement, worker throughput
}


def main(argv: list[str]) -> int:
    wanted = argv or list(SECTIONS)
    unknown = [name for name in wanted if name not in SECTIONS]
    if unknown:
        print(f"usage: python -m benchmarks [{'|'.join(SECTIONS)} ...]; unknown: {', '.join(unknown)}")
        return 2
    started = time.perf_counter()
    print(
        f"Tally benchmarks: Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; moto server in its own process stands in for DynamoDB."
    )
    for name in wanted:
        restart_moto()  # each benchmark on a fresh moto process and a collected heap
        gc.collect()
        section_started = time.perf_counter()
        print(SECTIONS[name](), flush=True)
        print(f"\n[{name}: {time.perf_counter() - section_started:.0f} s]", flush=True)
    print(f"\nTotal: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
