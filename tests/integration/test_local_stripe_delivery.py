"""The local Stripe delivers its events as Stripe does: signed with the endpoint's secret (checked
here by the SDK's own `construct_event`), retried with backoff on a non-2xx answer or no answer."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import stripe

from local.stripe import StripeSandbox
from tests.support.stripe_sandbox import SECRET, client, control, receiver


def test_a_failed_delivery_is_retried_until_the_endpoint_answers_2xx() -> None:
    with (
        receiver(statuses=[500, 503]) as endpoint,
        StripeSandbox(
            port=0, webhook_secret=SECRET, webhook_url=endpoint.url, retry_delays=(0.05, 0.1, 0.2)
        ) as sandbox,
    ):
        customer = client(sandbox).v1.customers.create(params={"email": "jo@example.com"})
        event = endpoint.wait_for("customer.created")[0]
        assert event.data.object["id"] == customer.id
        assert endpoint.answers == [500, 503, 200]
        assert sandbox.deliverer.wait_idle()
        status, log = control(sandbox, "events")
        assert status == 200
        entry = next(item for item in log["data"] if item["type"] == "customer.created")
        assert entry["object"] == customer.id
        assert [attempt["status"] for attempt in entry["delivery"]["attempts"]] == [500, 503, 200]
        assert entry["delivery"]["state"] == "delivered"


def test_a_delivery_that_never_succeeds_gives_up_after_the_last_retry() -> None:
    with socket.socket() as closed:  # a port nothing listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1/webhooks/stripe"
    with StripeSandbox(port=0, webhook_secret=SECRET, webhook_url=url, retry_delays=(0.02, 0.02)) as sandbox:
        client(sandbox).v1.customers.create(params={"email": "jo@example.com"})
        assert sandbox.deliverer.wait_idle(5)
        (entry,) = control(sandbox, "events")[1]["data"]
        assert entry["delivery"]["state"] == "failed"
        assert len(entry["delivery"]["attempts"]) == 3
        assert all(attempt["error"] for attempt in entry["delivery"]["attempts"])


def test_the_signature_is_stripes_and_a_wrong_secret_fails_it() -> None:
    with (
        receiver(secret="whsec_another") as endpoint,
        StripeSandbox(port=0, webhook_secret=SECRET, webhook_url=endpoint.url, retry_delays=()) as sandbox,
    ):
        client(sandbox).v1.customers.create(params={"email": "jo@example.com"})
        assert sandbox.deliverer.wait_idle(5)
        assert endpoint.bad_signatures == 1
        assert endpoint.events == []
    with (
        receiver() as endpoint,
        StripeSandbox(port=0, webhook_secret=SECRET, webhook_url=endpoint.url) as sandbox,
    ):
        client(sandbox).v1.customers.create(params={"email": "jo@example.com"})
        event = endpoint.wait_for("customer.created")[0]
        assert isinstance(event, stripe.Event)
        assert event.pending_webhooks == 1
        assert event.request is not None
        assert str(event.request.id).startswith("req_")
        assert abs(event.created - time.time()) < 60


def test_without_an_endpoint_events_are_kept_not_sent() -> None:
    with StripeSandbox(port=0, webhook_secret=SECRET) as sandbox:
        customer = client(sandbox).v1.customers.create(params={"email": "jo@example.com"})
        events = client(sandbox).v1.events.list(params={"type": "customer.created"}).data
        assert [e.data.object["id"] for e in events] == [customer.id]
        assert events[0].pending_webhooks == 0
        assert control(sandbox, "events")[1]["data"][0]["delivery"] is None


def test_control_endpoints_take_json_sent_as_curl_sends_it() -> None:
    with StripeSandbox(port=0, webhook_secret=SECRET) as sandbox:
        api = client(sandbox)
        clock = api.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_800_000_000})
        request = urllib.request.Request(  # noqa: S310 - the sandbox, on loopback
            f"{sandbox.base_url}/_control/test_clocks/{clock.id}/advance",
            data=b'{"days": 2}',
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},  # curl -d's default
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert json.load(response)["frozen_time"] == 1_800_000_000 + 2 * 86_400


def test_concurrent_requests_are_served_one_state_change_at_a_time() -> None:
    with StripeSandbox(port=0, webhook_secret=SECRET) as sandbox:
        api = client(sandbox)

        def create(index: int) -> str:
            key = f"key-{index % 10}"  # ten keys, each sent four times at once
            made = api.v1.customers.create(
                params={"email": f"{key}@example.com"}, options={"idempotency_key": key}
            )
            return str(made.id)

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(create, range(40)))
        assert len(set(ids)) == 10
        assert len(api.v1.customers.list(params={"limit": 100}).data) == 10
        assert len(api.v1.events.list(params={"type": "customer.created", "limit": 100}).data) == 10
