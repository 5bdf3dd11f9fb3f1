"""Stripe end to end over real HTTP against the local stack and its local Stripe, as README step 15
walks through it: a checkout with a coupon and a placement, completed in the sandbox with a card
that is declined after its first charge (4000 0000 0000 0341); the subscription active and Stripe's
invoice listed with its PDF; a renewal on the test clock that fails (past_due, the email); paid
again (active); canceled at the period's end, the seat held until then and freed after. Then the
placement's limit under concurrency, an expired session giving its seat back, and Idempotency-Key
replays."""

from __future__ import annotations

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.tenancy import HttpApi, HttpUser
from tests.support.world import expect

pytestmark = pytest.mark.e2e

CARD_DECLINED_AFTER_FIRST = "4000000000000341"
CARD_OK = "4242424242424242"
RETURN_URLS = {
    "success_url": "https://app.example.com/billing/done?session={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://app.example.com/billing",
}


class LocalStripe:
    """The sandbox's control endpoints, found through /_local/resources."""

    def __init__(self, stack_url: str) -> None:
        self.stack_url = stack_url
        self.base = requests.get(f"{stack_url}/_local/resources", timeout=10).json()["stripe"]["api_base"]

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = requests.post(f"{self.base}/_control/{path}", json=body or {}, timeout=60)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return dict(answer.json())

    def applied(self) -> None:
        """Until Stripe's events are delivered to the webhook route and the worker applied them."""
        answer = requests.get(f"{self.stack_url}/_local/queues/drain", params={"timeout": 60}, timeout=70)
        assert answer.json() == {"drained": True}


def placement_checkout(location: str, category: str = "florists", **extra: Any) -> dict[str, Any]:
    return {
        "plan": "sponsored-placement",
        "cycle": "monthly",
        "currency": "EUR",
        "placement": {"location_id": location, "category_id": category},
        **RETURN_URLS,
        **extra,
    }


def new_account(api: HttpApi, owner: HttpUser, name: str) -> str:
    company = {"name": name, "email": owner.email, "country": "FR", "currency": "EUR"}
    return str(expect(api.call(owner, "POST", "/v1/accounts", company), 201)["id"])


def checkout(api: HttpApi, owner: HttpUser, account: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    return api.call(
        owner, "POST", "/v1/billing/checkout", body, {"X-Account-Id": account, "Idempotency-Key": key}
    )


def subjects(stack_url: str, to: str) -> list[str]:
    messages = requests.get(f"{stack_url}/_local/mailbox", params={"to": to}, timeout=10).json()["messages"]
    return [str(message["subject"]) for message in messages]


def test_checkout_with_a_coupon_a_failed_renewal_payment_and_cancel(stack_url: str, admin_token: str) -> None:
    api, stripe = HttpApi(stack_url), LocalStripe(stack_url)
    admin = HttpUser("admin", admin_token)
    code = f"bloom-{secrets.token_hex(3)}"
    coupon = {
        "code": code,
        "name": "20 % off three months",
        "percent_off": "20",
        "duration": "repeating",
        "duration_months": 3,
        "plans": ["sponsored-placement"],
    }
    expect(api.call(admin, "POST", "/v1/coupons", coupon), 201)
    lea = api.new_user("lea")
    shop_email = f"shop-{secrets.token_hex(4)}@example.com"
    company = {"name": "Fleurs Léa", "email": shop_email, "country": "FR", "currency": "EUR"}
    shop = str(expect(api.call(lea, "POST", "/v1/accounts", company), 201)["id"])
    as_shop = {"X-Account-Id": shop}
    location = f"lyon-{secrets.token_hex(3)}"
    seats = f"/v1/placements/{location}/florists"
    assert expect(api.call(lea, "GET", seats), 200) | {"next_free_at": None} == {
        "location_id": location,
        "category_id": "florists",
        "capacity": 5,
        "taken": 0,
        "free": 5,
        "reserved": 0,
        "next_free_at": None,
    }

    started = expect(checkout(api, lea, shop, placement_checkout(location, coupon=code), "lea-seat-1"), 201)
    assert started["session_id"].startswith("cs_test_")
    assert started["checkout_url"] == f"{stripe.base}/checkout/{started['session_id']}"
    assert started["reservation_id"].startswith("rsv_")
    seat = expect(api.call(lea, "GET", seats), 200)
    assert (seat["taken"], seat["reserved"], seat["free"]) == (1, 1, 4)

    session = stripe.control(
        f"checkout/sessions/{started['session_id']}/complete", {"card": CARD_DECLINED_AFTER_FIRST}
    )
    assert (session["status"], session["payment_status"]) == ("complete", "paid")
    stripe.applied()

    subscription = expect(api.call(lea, "GET", "/v1/billing/subscription", headers=as_shop), 200)
    assert (subscription["status"], subscription["collection"]) == ("active", "stripe")
    assert subscription["plan_code"] == "sponsored-placement"
    assert subscription["stripe_subscription_id"] == session["subscription"]
    assert subscription["stripe_customer_id"] == session["customer"]
    assert (subscription["coupon"]["code"], subscription["coupon"]["percent_off"]) == (code.upper(), "20")
    assert expect(api.call(lea, "GET", f"/v1/accounts/{shop}"), 200)["status"] == "active"
    invoices = expect(api.call(lea, "GET", f"/v1/accounts/{shop}/invoices"), 200)["invoices"]
    assert len(invoices) == 1
    first = invoices[0]
    assert (first["id"], first["source"], first["status"]) == (session["invoice"], "stripe", "paid")
    assert (first["subtotal"], first["discount_total"], first["total"], first["amount_due"]) == (
        9900,
        1980,
        7920,
        0,
    )
    assert first["number"].endswith("-0001")
    assert first["subscription_id"] == subscription["stripe_subscription_id"]
    assert first["invoice_pdf"] == f"{stripe.base}/invoices/{first['id']}/pdf"
    pdf = expect(api.call(lea, "GET", f"/v1/invoices/{first['id']}/pdf"), 200)
    assert pdf["url"] == first["invoice_pdf"]
    assert requests.get(pdf["url"], timeout=10).content.startswith(b"%PDF")
    assert subjects(stack_url, shop_email) == ["Bienvenue sur Tally, Fleurs Léa"]
    seat = expect(api.call(lea, "GET", seats), 200)
    assert (seat["taken"], seat["reserved"]) == (1, 0)  # the reservation became a sponsorship

    # The renewal on the subscription's test clock: the 0341 card is declined.
    renewed = stripe.control(
        f"subscriptions/{subscription['stripe_subscription_id']}/advance", {"frozen_time": "period_end"}
    )
    assert renewed["status"] == "past_due"
    stripe.applied()
    late = expect(api.call(lea, "GET", "/v1/billing/subscription", headers=as_shop), 200)
    assert late["status"] == "past_due"
    assert late["grace_until"] is not None
    assert late["current_period_start"] == subscription["current_period_end"]
    assert expect(api.call(lea, "GET", f"/v1/accounts/{shop}"), 200)["status"] == "active"  # access kept
    invoices = expect(api.call(lea, "GET", f"/v1/accounts/{shop}/invoices"), 200)["invoices"]
    renewal = invoices[0]
    assert (len(invoices), renewal["status"], renewal["amount_due"]) == (
        2,
        "open",
        7920,
    )  # the coupon's 2nd month
    assert renewal["number"].endswith("-0002")
    failed = subjects(stack_url, lea.email)[0]
    assert failed.startswith("Votre paiement de 79,20") or "79.20" in failed, failed
    assert renewal["number"] in failed

    paid = stripe.control(f"invoices/{renewal['id']}/pay", {"card": CARD_OK})
    assert paid["status"] == "paid"
    stripe.applied()
    again = expect(api.call(lea, "GET", "/v1/billing/subscription", headers=as_shop), 200)
    assert (again["status"], again["grace_until"]) == ("active", None)
    assert expect(api.call(lea, "GET", f"/v1/invoices/{renewal['id']}"), 200)["status"] == "paid"

    canceled = expect(api.call(lea, "POST", "/v1/billing/subscription/cancel", headers=as_shop), 200)
    assert (canceled["status"], canceled["cancel_at_period_end"]) == ("active", True)
    stripe.applied()
    assert expect(api.call(lea, "GET", "/v1/billing/subscription", headers=as_shop), 200)[
        "cancel_at_period_end"
    ]
    seat = expect(api.call(lea, "GET", seats), 200)
    assert (seat["taken"], seat["free"]) == (1, 4)  # held until the period ends
    trail = expect(api.call(lea, "GET", "/v1/audit", query={"account_id": shop}), 200)["records"]
    by_stripe = {record["action"] for record in trail if record["actor"] == "provider:stripe"}
    assert {"checkout.completed", "coupon.redeemed", "placement.confirmed", "invoice.mirrored"} <= by_stripe
    assert {"subscription.payment_failed", "subscription.payment_recovered"} <= by_stripe
    assert "subscription.cancel_scheduled" in {
        record["action"] for record in trail if record["actor_email"] == lea.email
    }

    # The period's end: Stripe deletes the subscription, the seat frees up, the account is cancelled.
    ended = stripe.control(
        f"subscriptions/{subscription['stripe_subscription_id']}/advance", {"frozen_time": "period_end"}
    )
    assert ended["status"] == "canceled"
    stripe.applied()
    gone = expect(api.call(lea, "GET", "/v1/billing/subscription", headers=as_shop), 200)
    assert (gone["status"], gone["ended_at"]) == ("canceled", again["current_period_end"])
    assert expect(api.call(lea, "GET", seats), 200)["taken"] == 0
    assert api.call(lea, "GET", f"/v1/accounts/{shop}")[1]["code"] == "account_suspended"


def test_ten_concurrent_checkouts_for_the_last_seat_then_an_expired_session_frees_it(stack_url: str) -> None:
    api, stripe = HttpApi(stack_url), LocalStripe(stack_url)
    owner = api.new_user("seats")
    location = f"paris-{secrets.token_hex(3)}"
    body = placement_checkout(location, "bakeries")
    accounts = [new_account(api, owner, f"Bakery {n}") for n in range(15)]
    for account in accounts[:4]:
        expect(checkout(api, owner, account, body, uuid.uuid4().hex), 201)

    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda account: checkout(api, owner, account, body, uuid.uuid4().hex), accounts[4:14])
        )
    won = [answer for status, answer in answers if status == 201]
    lost = [answer for status, answer in answers if status != 201]
    assert len(won) == 1, answers
    assert {status for status, _ in answers} == {201, 409}
    assert {answer["code"] for answer in lost} == {"placement_full"}
    assert all(answer["message"].startswith("This placement is full") for answer in lost)
    assert all(answer["next_free_at"] for answer in lost)  # when the first reservation expires
    full = expect(api.call(owner, "GET", f"/v1/placements/{location}/bakeries"), 200)
    assert (full["taken"], full["free"], full["reserved"]) == (5, 0, 5)
    sixth = checkout(api, owner, accounts[14], body, uuid.uuid4().hex)
    assert (sixth[0], sixth[1]["code"]) == (409, "placement_full")

    expired = stripe.control(f"checkout/sessions/{won[0]['session_id']}/expire")
    assert expired["status"] == "expired"
    stripe.applied()
    freed = expect(api.call(owner, "GET", f"/v1/placements/{location}/bakeries"), 200)
    assert (freed["taken"], freed["free"], freed["next_free_at"]) == (4, 1, None)
    expect(checkout(api, owner, accounts[14], body, uuid.uuid4().hex), 201)


def test_the_same_idempotency_key_and_body_answer_the_same_session_another_body_422(stack_url: str) -> None:
    api = HttpApi(stack_url)
    owner = api.new_user("replay")
    account = new_account(api, owner, "Replay")
    location = f"nice-{secrets.token_hex(3)}"
    body = placement_checkout(location)
    first = expect(checkout(api, owner, account, body, "replay-1"), 201)
    assert expect(checkout(api, owner, account, body, "replay-1"), 201) == first
    other = checkout(api, owner, account, {**body, "cancel_url": "https://app.example.com/other"}, "replay-1")
    assert (other[0], other[1]["code"]) == (422, "idempotency_key_reused")
    seats = expect(api.call(owner, "GET", f"/v1/placements/{location}/florists"), 200)
    assert seats["taken"] == 1  # one reservation for the key, not one per request
