"""Every object the local Stripe serves carries the fields of Stripe's published example of its
resource (`local/stripe/fixtures.json`, a verbatim subset of Stripe's `openapi/fixtures3.json`),
recursively: what Tally reads locally is what it will read from Stripe.

Values may differ in kind where Stripe's do: a nullable sub-object may be null, an expandable field
an id or the object, a list may be empty (else its first item is compared)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from local.stripe import StripeSandbox
from local.stripe.shapes import FIXTURES, fixtures
from tests.support.stripe_sandbox import KEY, SECRET, catalogue, client, ok, raw

# Fields Stripe's live objects carry that its published examples leave out.
REAL_EXTRAS = {
    "pricing": {"price_details"},  # an invoice line's price and product
    "payment": {"payment_intent"},  # an invoice payment's PaymentIntent
    "data": {"previous_attributes"},  # an update event's earlier values
    "last_payment_error": {"code", "decline_code", "message", "charge", "payment_method"},  # a decline
}
FREE_MAPS = {"metadata"}  # the caller's keys, not Stripe's
SHARED = Path("/work/shared/stripe/fixtures3.json")


def key_problems(actual: Any, example: Any, path: str) -> list[str]:
    last = path.rsplit(".", 1)[-1]
    if isinstance(example, dict) and isinstance(actual, dict) and last not in FREE_MAPS:
        problems = [f"{path}: missing {key}" for key in sorted(set(example) - set(actual))]
        problems += [
            f"{path}: extra {key}"
            for key in sorted(set(actual) - set(example) - REAL_EXTRAS.get(last, set()))
        ]
        for key in sorted(set(example) & set(actual)):
            problems += key_problems(actual[key], example[key], f"{path}.{key}")
        return problems
    if isinstance(example, list) and isinstance(actual, list) and example and actual:
        return key_problems(actual[0], example[0], f"{path}[0]")
    return []


def assert_shape(resource: str, actual: dict[str, Any]) -> None:
    assert actual["object"] == resource
    example = fixtures()[resource]
    if resource == "event":  # an event's object is whatever changed: compared on its own
        example = {**example, "data": {"object": None}}
    problems = key_problems(actual, example, resource)
    assert problems == [], "\n".join(problems)


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(port=0, secret_key=KEY, webhook_secret=SECRET) as running:
        yield running


def test_the_fixtures_are_stripes_own_examples() -> None:
    if not SHARED.exists():
        pytest.skip("Stripe's fixtures3.json is not on this machine")
    published = json.loads(SHARED.read_text())["resources"]
    for name, example in json.loads(FIXTURES.read_text())["resources"].items():
        assert example == published[name], name


def test_every_resource_served_has_stripes_fields(sandbox: StripeSandbox) -> None:
    api = client(sandbox)
    price = catalogue(api)
    assert_shape(
        "product", raw(api.v1.products.retrieve(price.product if isinstance(price.product, str) else ""))
    )
    assert_shape("price", raw(api.v1.prices.retrieve(price.id)))
    coupon = api.v1.coupons.create(params={"percent_off": 20, "duration": "forever"})
    assert_shape("coupon", raw(api.v1.coupons.retrieve(coupon.id)))
    promo = api.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "TWENTY"}
    )
    assert_shape("promotion_code", raw(api.v1.promotion_codes.retrieve(promo.id)))
    clock = api.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    assert_shape("test_helpers.test_clock", raw(api.v1.test_helpers.test_clocks.retrieve(clock.id)))
    customer = api.v1.customers.create(params={"email": "jo@example.com", "test_clock": clock.id})
    assert_shape("customer", raw(api.v1.customers.retrieve(customer.id)))

    session = api.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "discounts": [{"promotion_code": promo.id}],
            "success_url": "http://localhost:3000/done",
        }
    )
    assert_shape("checkout.session", raw(session))
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    completed = raw(api.v1.checkout.sessions.retrieve(session.id))
    assert_shape("checkout.session", completed)

    subscription = raw(
        api.v1.subscriptions.retrieve(
            completed["subscription"], params={"expand": ["discounts", "latest_invoice"]}
        )
    )
    assert_shape("subscription", subscription)
    assert_shape("subscription_item", subscription["items"]["data"][0])
    assert_shape("discount", subscription["discounts"][0])
    assert_shape("invoice", subscription["latest_invoice"])
    invoice = raw(api.v1.invoices.retrieve(completed["invoice"]))
    assert_shape("invoice", invoice)
    assert_shape("line_item", invoice["lines"]["data"][0])
    payment = raw(api.v1.invoice_payments.list(params={"invoice": invoice["id"]}))["data"][0]
    assert_shape("invoice_payment", payment)
    intent = raw(api.v1.payment_intents.retrieve(payment["payment"]["payment_intent"]))
    assert_shape("payment_intent", intent)
    assert_shape("payment_method", raw(api.v1.payment_methods.retrieve(intent["payment_method"])))
    assert_shape("charge", raw(api.v1.charges.retrieve(intent["latest_charge"])))
    refund = raw(api.v1.refunds.create(params={"charge": intent["latest_charge"], "amount": 100}))
    assert_shape("refund", refund)
    charge = raw(api.v1.charges.retrieve(intent["latest_charge"]))
    assert_shape("charge", charge)
    dispute = ok(sandbox, f"charges/{charge['id']}/dispute", {})
    assert_shape("dispute", raw(api.v1.disputes.retrieve(dispute["id"])))

    preview = raw(api.v1.invoices.create_preview(params={"subscription": subscription["id"]}))
    assert_shape("invoice", preview)
    portal = raw(
        api.v1.billing_portal.sessions.create(params={"customer": customer.id, "return_url": "http://x"})
    )
    assert_shape("billing_portal.session", portal)

    events = api.v1.events.list(params={"limit": 100}).data
    assert {"checkout.session.completed", "customer.subscription.created", "invoice.paid"} <= {
        e.type for e in events
    }
    for event in events:
        shown = raw(api.v1.events.retrieve(event.id))
        assert_shape("event", shown)
        inner = shown["data"]["object"]
        if inner["object"] in fixtures():
            assert_shape(inner["object"], inner)


def test_a_list_answer_has_stripes_list_fields(sandbox: StripeSandbox) -> None:
    api = client(sandbox)
    for _ in range(3):
        api.v1.customers.create(params={"email": "same@example.com"})
    first = api.v1.customers.list(params={"email": "same@example.com", "limit": 2})
    assert set(raw(first)) == {"object", "data", "has_more", "url"}
    assert first.has_more is True
    rest = api.v1.customers.list(params={"email": "same@example.com", "starting_after": first.data[-1].id})
    assert len(rest.data) == 1
    assert rest.has_more is False
    assert {c.id for c in first.data}.isdisjoint({c.id for c in rest.data})


def test_the_sdk_reads_the_objects_as_its_own_types(sandbox: StripeSandbox) -> None:
    customer = client(sandbox).v1.customers.create(params={"email": "jo@example.com"})
    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_")
    assert customer.livemode is False


def test_a_declined_payment_intent_has_stripes_fields(sandbox: StripeSandbox) -> None:
    api = client(sandbox)
    customer = api.v1.customers.create(params={"email": "jo@example.com"})
    with pytest.raises(stripe.CardError) as declined:
        api.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )
    error = declined.value.error
    assert error is not None
    assert error.payment_intent is not None
    intent = raw(api.v1.payment_intents.retrieve(error.payment_intent.id))
    assert intent["status"] == "requires_payment_method"
    assert_shape("payment_intent", intent)
    charge = raw(api.v1.charges.retrieve(intent["latest_charge"]))
    assert charge["status"] == "failed"
    assert_shape("charge", charge)
