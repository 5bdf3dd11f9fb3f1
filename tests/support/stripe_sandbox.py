"""Helpers for tests of the local Stripe sandbox: a webhook receiver that verifies signatures the
way Tally's route will (`stripe.Webhook.construct_event`), the control endpoints, a catalogue."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

from local.stripe import StripeSandbox

SECRET = "whsec_test_sandbox_secret"
KEY = "sk_test_local_tests"


@dataclass
class Receiver:
    """Answers `statuses` in turn (then 200), and keeps every event whose signature verified."""

    secret: str
    statuses: list[int] = field(default_factory=list)
    events: list[stripe.Event] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    bad_signatures: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> list[str]:
        with self.lock:
            return [event.type for event in self.events]

    def wait_for(self, type_: str, count: int = 1, timeout: float = 10.0) -> list[stripe.Event]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [event for event in self.events if event.type == type_]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{count} {type_} event(s) not delivered; got {self.types()}")


@contextmanager
def receiver(secret: str = SECRET, statuses: list[int] | None = None) -> Iterator[Receiver]:
    state = Receiver(secret, list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 200
            if status == 200:
                try:
                    event = stripe.Webhook.construct_event(
                        body, self.headers.get("Stripe-Signature", ""), secret
                    )
                except (ValueError, stripe.SignatureVerificationError):
                    status = 400
                    with state.lock:
                        state.bad_signatures += 1
                else:
                    with state.lock:
                        state.events.append(event)
            with state.lock:
                state.answers.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1/webhooks/stripe"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def client(sandbox: StripeSandbox, key: str = KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": sandbox.base_url}, max_network_retries=0)


def control(
    sandbox: StripeSandbox, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    reading = path.startswith("events")
    request = urllib.request.Request(  # noqa: S310 - the sandbox, on loopback
        f"{sandbox.base_url}/_control/{path}",
        data=None if reading else json.dumps(body or {}).encode(),
        method="GET" if reading else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def ok(sandbox: StripeSandbox, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, answer = control(sandbox, path, body)
    assert status == 200, answer
    return answer


def catalogue(
    api: stripe.StripeClient, *, amount: int = 2000, currency: str = "eur", interval: str = "month"
) -> stripe.Price:
    product = api.v1.products.create(params={"name": "Pro", "metadata": {"tally_plan": "pro"}})
    return api.v1.prices.create(
        params={
            "product": product.id,
            "currency": currency,
            "unit_amount": amount,
            "recurring": {"interval": interval},
            "lookup_key": f"tally:pro:1:{interval}ly:{currency}",
            "metadata": {"tally_plan": "pro", "tally_plan_version": "1", "tally_cycle": f"{interval}ly"},
        }
    )


def raw(obj: stripe.StripeObject) -> dict[str, Any]:
    """The JSON the sandbox answered (not the SDK's objects built from it)."""
    response = obj.last_response
    assert response is not None
    data = json.loads(response.body)
    assert isinstance(data, dict)
    return data
