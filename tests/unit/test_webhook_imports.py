"""The webhook route stays light (issue 9, "Performance"): its init imports neither the Stripe SDK
nor pydantic nor the settings model, and nothing of the worker's, ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys, webhooks.app
print(" ".join(sorted(name for name in sys.modules if name.split(".")[0] in {
    "stripe", "pydantic", "boto3", "webhooks", "tally"
} and (name.startswith(("stripe", "pydantic", "boto3")) or name in {
    "tally.settings", "tally.payments.stripe_events", "tally.payments.stripe_events.wiring",
    "tally.payments.stripe_client", "webhooks.worker", "webhooks.wiring"
}))))
"""


def test_the_route_imports_nothing_of_the_worker_and_stripe_only_to_verify() -> None:
    path = os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions"))
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.split() == []
