"""The webhook route stays light (issue 9, "Performance"): its init imports neither the Stripe SDK
nor pydantic nor the settings model, and nothing of the worker's, ever; verifying imports stripe
without `requests`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.webhooks import SECRET, signature, stripe_event

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


VERIFY_PROBE = """
import os, sys
from tally.payments.stripe_webhooks import StripeVerifier
payload, header = os.environ["PROBE_PAYLOAD"], os.environ["PROBE_SIGNATURE"]
verifier = StripeVerifier(lambda: os.environ["PROBE_SECRET"])
event = verifier.verify(payload.encode(), {"stripe-signature": header})
print(event.id, "requests" in sys.modules, "charset_normalizer" in sys.modules)
import requests, stripe
client = stripe.RequestsClient(timeout=1)
print(client.requests is requests, sys.modules["requests"] is requests)
"""


def test_stripe_verifies_without_requests_which_stays_importable() -> None:
    """The verifier imports stripe with `requests` hidden (it only picks stripe's default HTTP
    client); afterwards `requests` imports as usual and stripe.RequestsClient works."""
    path = os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions"))
    payload = stripe_event("evt_1")  # signed here, by the SDK's helper: the child must not load stripe first
    probe = {"PROBE_PAYLOAD": payload, "PROBE_SIGNATURE": signature(payload), "PROBE_SECRET": SECRET}
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", VERIFY_PROBE],
        env={**os.environ, "PYTHONPATH": path, **probe},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.split() == ["evt_1", "False", "False", "True", "True"]
