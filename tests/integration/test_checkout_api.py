"""The checkout function in-process against moto, with Stripe in memory (tests/support/stripe_fake):
checkouts (the customer made once and reused, prices made once, idempotent retries, return URLs,
Stripe unavailable), capacity-limited placements, the self-service routes, and who may use them."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from tally import clock
from tally.audit.records import Actor, AuditContext
from tally.billing import subscription_state as machine
from tally.billing.periods import Period
from tally.checkout.models import CheckoutIn
from tally.clock import FixedClock
from tally.placements.models import PlacementFull
from tally.storage import clients, keys
from tally.storage.items import from_item
from tests.support.billing_api import BillingApi
from tests.support.events import FakeContext, http_event
from tests.support.inprocess import InProcessApi
from tests.support.stack import Stack
from tests.support.stripe_fake import FakeStripe
from tests.support.tenancy import User, reset_function_caches, staff
from tests.support.world import Tenant, build_tenant, expect

APP = "https://app.example.com"
URLS = {"success_url": f"{APP}/billing/done?session={{CHECKOUT_SESSION_ID}}", "cancel_url": f"{APP}/billing"}
BRONZE = {"plan": "bronze", "cycle": "monthly", "currency": "EUR", **URLS}
PLACEMENT = {"plan": "sponsored-placement", "cycle": "monthly", "currency": "EUR", **URLS}
SYSTEM = AuditContext(Actor.system("tests"), "req-test", None, None)


def _catalogue(name: str) -> Any:
    return json.loads(resources.files("tally.billing.catalogues").joinpath(f"{name}.json").read_text())


class CheckoutApi:
    """CheckoutFunction's handler, answering (status, body, headers)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def call(
        self,
        who: User | None,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        account: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        from checkout.app import lambda_handler

        headers = {}
        if key is not None:
            headers["idempotency-key"] = key
        if account is not None:
            headers["x-account-id"] = account
        event = http_event(method, path, body=body, claims=who.claims() if who else None, headers=headers)
        event["requestContext"]["requestId"] = f"req-{uuid.uuid4().hex[:12]}"
        with self.stack.environment("CheckoutFunction"):
            answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        text = answer.get("body")
        return answer["statusCode"], json.loads(text) if text else None, dict(answer.get("headers") or {})

    def checkout(
        self, who: User, account: str, body: dict[str, Any], key: str | None = None
    ) -> tuple[int, Any]:
        status, answer, _ = self.call(
            who, "POST", "/v1/billing/checkout", body, key=key or uuid.uuid4().hex, account=account
        )
        return status, answer


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    from checkout import wiring

    fake = FakeStripe()
    wiring.use_stripe(fake)
    yield fake
    wiring.use_stripe(None)


@pytest.fixture
def world(stack: Stack, stripe: FakeStripe) -> Iterator[tuple[InProcessApi, BillingApi, CheckoutApi, User]]:
    reset_function_caches()
    admin = staff(stack)
    billing = BillingApi(stack)
    for name in ("esxi-backup", "smartqueue", "directory"):
        expect(billing.call(admin, "POST", "/v1/plans/import", _catalogue(name)), 200)
    yield InProcessApi(stack), billing, CheckoutApi(stack), admin
    reset_function_caches()
    clock.set_clock(None)


@pytest.fixture
def tenant(world: tuple[InProcessApi, BillingApi, CheckoutApi, User]) -> Tenant[User]:
    return build_tenant(world[0], "t")


def _item(stack: Stack, key: dict[str, Any]) -> dict[str, Any] | None:
    found = clients.dynamodb().get_item(TableName=stack.ref("BillingTable"), Key=key).get("Item")
    return from_item(found) if found else None


def _audit_actions(stack: Stack, account_id: str) -> list[str]:
    answer = clients.dynamodb().query(
        TableName=stack.ref("BillingTable"),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.audit_pk(account_id)}},
    )
    return [from_item(item)["action"] for item in answer["Items"]]


# -- checkout ----------------------------------------------------------------------------------


def test_a_checkout_makes_the_customer_once_and_the_price_once(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User],
    tenant: Tenant[User],
    stripe: FakeStripe,
    stack: Stack,
) -> None:
    api = world[2]
    first = expect(api.checkout(tenant.owner, tenant.account_id, {**BRONZE, "coupon": None}), 201)
    assert first["checkout_url"].startswith("https://checkout.stripe.test/")
    assert first["session_id"].startswith("cs_test_")
    expires = datetime.fromisoformat(first["expires_at"])
    assert timedelta(minutes=30) < expires - datetime.now(UTC) <= timedelta(minutes=31)
    second = expect(api.checkout(tenant.admin, tenant.account_id, {**BRONZE, "cycle": "annual"}), 201)
    assert second["session_id"] != first["session_id"]
    assert stripe.count("create_customer") == 1
    assert stripe.count("ensure_product") == 1  # the annual price found the product's id stored
    assert stripe.count("ensure_price") == 2  # monthly and annual, each once
    expect(api.checkout(tenant.owner, tenant.account_id, BRONZE), 201)
    assert (stripe.count("create_customer"), stripe.count("ensure_price")) == (1, 2)

    _, spec = stripe.sessions[first["session_id"]]
    assert spec.mode == "subscription"
    assert (spec.trial_days, spec.card_required) == (14, True)
    assert spec.expires_at == expires
    assert spec.client_reference_id == tenant.account_id
    assert spec.metadata == {
        "tally_account_id": tenant.account_id,
        "tally_kind": "subscription",
        "tally_plan": "bronze",
        "tally_plan_version": "1",
        "tally_cycle": "monthly",
        "tally_currency": "EUR",
    }
    [(price_id, price)] = [v for k, v in stripe.prices.items() if k == "tally:bronze:1:monthly:EUR"]
    assert spec.price_id == price_id
    assert (price.amount, price.interval, price.interval_count) == (2900, "month", 1)
    assert stripe.prices["tally:bronze:1:annual:EUR"][1].interval == "year"
    customer = _item(stack, keys.stripe_customer(tenant.account_id))
    assert customer is not None
    assert stripe.customers[customer["stripe_id"]]["metadata"] == {"tally_account_id": tenant.account_id}
    stored = _item(stack, keys.stripe_object("price", "tally:bronze:1:monthly:EUR"))
    assert stored is not None
    assert stored["stripe_id"] == price_id
    actions = _audit_actions(stack, tenant.account_id)
    assert actions.count("checkout.started") == 3
    assert actions.count("checkout.session_created") == 3
    assert actions.count("account.stripe_customer_linked") == 1


def test_a_trial_without_a_card_needs_no_payment_method_and_a_coupon_has_the_same_effect(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stripe: FakeStripe
) -> None:
    _, billing, api, admin = world
    coupon = {
        "code": "welcome",
        "name": "Welcome",
        "percent_off": "12.5",
        "duration": "repeating",
        "duration_months": 3,
    }
    expect(billing.call(admin, "POST", "/v1/coupons", coupon), 201)
    body = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "coupon": "welcome", **URLS}
    made = expect(api.checkout(tenant.owner, tenant.account_id, body), 201)
    _, spec = stripe.sessions[made["session_id"]]
    assert (spec.trial_days, spec.card_required) == (14, False)
    assert spec.metadata["tally_coupon"] == "WELCOME"
    mapped = stripe.coupons[str(spec.coupon_id)]
    assert (str(mapped.percent_off), mapped.duration, mapped.duration_in_months) == ("12.5", "repeating", 3)
    # A coupon that does not apply is refused in words before anything is made in Stripe.
    sessions = stripe.count("create_checkout_session")
    refused = api.checkout(tenant.owner, tenant.account_id, {**body, "coupon": "nope"})
    assert refused[0] == 404
    assert stripe.count("create_checkout_session") == sessions


def test_an_order_is_paid_once_in_payment_mode(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stripe: FakeStripe
) -> None:
    made = expect(world[2].checkout(tenant.owner, tenant.account_id, {**BRONZE, "kind": "order"}), 201)
    _, spec = stripe.sessions[made["session_id"]]
    assert spec.mode == "payment"
    assert spec.one_off is not None
    assert (spec.one_off.amount, spec.one_off.currency, spec.price_id) == (2900, "EUR", None)
    assert spec.metadata["tally_kind"] == "order"
    assert spec.metadata["tally_order_id"].startswith("ord_")
    assert stripe.count("ensure_price") == 0


def test_the_same_key_and_body_answer_the_same_session_and_another_body_is_refused(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stripe: FakeStripe
) -> None:
    api = world[2]
    first = expect(api.checkout(tenant.owner, tenant.account_id, BRONZE, key="k-1"), 201)
    again = expect(api.checkout(tenant.owner, tenant.account_id, BRONZE, key="k-1"), 201)
    assert again == first
    assert stripe.count("create_checkout_session") == 1
    other = api.checkout(tenant.owner, tenant.account_id, {**BRONZE, "cycle": "annual"}, key="k-1")
    assert other[0] == 422
    assert other[1]["code"] == "idempotency_key_reused"
    missing = world[2].call(tenant.owner, "POST", "/v1/billing/checkout", BRONZE, account=tenant.account_id)
    assert missing[0] == 422
    assert missing[1]["errors"][0]["field"] == "idempotency-key"


@pytest.mark.parametrize(
    ("field", "url", "words"),
    [
        ("success_url", "http://app.example.com/done", "https"),
        ("cancel_url", "https://evil.example.net/phish", "not an allowed return origin"),
        ("success_url", "https://app.example.com.evil.net/x", "not an allowed return origin"),
        ("cancel_url", "https://user@app.example.com/x", "user name"),
        ("success_url", "http://localhost:3000/done", "not an allowed return origin"),
    ],
)
def test_return_urls_must_be_https_on_an_allowed_origin(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User],
    tenant: Tenant[User],
    stripe: FakeStripe,
    field: str,
    url: str,
    words: str,
) -> None:
    status, answer = world[2].checkout(tenant.owner, tenant.account_id, {**BRONZE, field: url})
    assert status == 422, answer
    assert answer["errors"][0]["field"] == field
    assert words in answer["message"]
    assert stripe.calls == []


def test_the_seller_settings_list_the_allowed_origins(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stack: Stack
) -> None:
    _, _, api, admin = world
    invoices = BillingApi(stack, "InvoicesFunction")
    settings = expect(invoices.call(admin, "GET", "/v1/settings/billing"), 200)
    assert settings["allowed_redirect_origins"] == []
    origins = ["http://localhost:3000", "https://shop.example.org"]
    expect(
        invoices.call(
            admin, "PUT", "/v1/settings/billing", {**settings, "allowed_redirect_origins": origins}
        ),
        200,
    )
    local = {
        **BRONZE,
        "success_url": "http://localhost:3000/done",
        "cancel_url": "https://shop.example.org/c",
    }
    expect(api.checkout(tenant.owner, tenant.account_id, local), 201)
    # Listing origins replaces the default (the front end's own origin).
    refused = api.checkout(tenant.owner, tenant.account_id, BRONZE)
    assert refused[0] == 422
    wrong = invoices.call(
        admin, "PUT", "/v1/settings/billing", {**settings, "allowed_redirect_origins": ["http://x.com"]}
    )
    assert wrong[0] == 422


def test_stripe_unreachable_is_a_503_and_the_retry_reuses_the_customer(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User],
    tenant: Tenant[User],
    stripe: FakeStripe,
    stack: Stack,
) -> None:
    api = world[2]
    stripe.fail("create_checkout_session")
    status, answer, headers = api.call(
        tenant.owner, "POST", "/v1/billing/checkout", BRONZE, key="k-503", account=tenant.account_id
    )
    assert status == 503, answer
    assert headers["Retry-After"] == "2"
    assert stripe.count("create_customer") == 1
    customer = _item(stack, keys.stripe_customer(tenant.account_id))
    assert customer is not None
    made = expect(api.checkout(tenant.owner, tenant.account_id, BRONZE, key="k-503"), 201)
    assert stripe.count("create_customer") == 1
    assert len(stripe.customers) == 1
    assert stripe.sessions[made["session_id"]][1].customer_id == customer["stripe_id"]
    # Unreachable while making the customer: nothing is stored, and the retry makes it once.
    other = build_tenant(world[0], "o")
    stripe.fail("create_customer")
    assert api.checkout(other.owner, other.account_id, BRONZE, key="k-c")[0] == 503
    assert _item(stack, keys.stripe_customer(other.account_id)) is None
    expect(api.checkout(other.owner, other.account_id, BRONZE, key="k-c"), 201)
    assert len(stripe.customers) == 2


def test_a_live_subscription_is_changed_not_checked_out_again(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User]
) -> None:
    _, billing, api, _ = world
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF"}
    expect(billing.call(tenant.owner, "POST", f"/v1/accounts/{tenant.account_id}/subscription", start), 201)
    refused = api.checkout(tenant.owner, tenant.account_id, BRONZE)
    assert refused[0] == 409
    assert "change it instead" in refused[1]["message"]
    assert api.checkout(tenant.owner, tenant.account_id, {**BRONZE, "kind": "order"})[0] == 201


# -- placements ----------------------------------------------------------------------------------


def _placement(location: str = "dakar", category: str = "plumbers") -> dict[str, Any]:
    return {**PLACEMENT, "placement": {"location_id": location, "category_id": category}}


def test_five_seats_then_full_until_a_reservation_expires(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User],
    tenant: Tenant[User],
    stripe: FakeStripe,
    stack: Stack,
) -> None:
    api = world[2]
    now = datetime.now(UTC).replace(microsecond=0)
    fixed = FixedClock(now)
    clock.set_clock(fixed)
    made = []
    for minute in range(5):
        fixed.at = now + timedelta(minutes=minute)
        made.append(expect(api.checkout(tenant.owner, tenant.account_id, _placement()), 201))
    reservation = made[0]["reservation_id"]
    assert reservation.startswith("rsv_")
    _, spec = stripe.sessions[made[0]["session_id"]]
    assert spec.metadata["tally_reservation_id"] == reservation
    assert spec.expires_at == now + timedelta(minutes=31)
    status, full = api.checkout(tenant.owner, tenant.account_id, _placement())
    assert status == 409
    assert full["code"] == "placement_full"
    assert full["message"].startswith("This placement is full")
    assert datetime.fromisoformat(full["next_free_at"]) == now + timedelta(minutes=31)
    seen = expect(api.call(tenant.viewer, "GET", "/v1/placements/dakar/plumbers")[:2], 200)
    assert datetime.fromisoformat(seen.pop("next_free_at")) == now + timedelta(minutes=31)
    assert seen == {
        "location_id": "dakar",
        "category_id": "plumbers",
        "capacity": 5,
        "taken": 5,
        "free": 0,
        "reserved": 5,
    }
    # Another placement is not affected.
    expect(api.checkout(tenant.owner, tenant.account_id, _placement(category="bakers")), 201)
    # The first reservation expires: its seat is reclaimed by the next checkout.
    fixed.at = now + timedelta(minutes=31, seconds=1)
    expect(api.checkout(tenant.owner, tenant.account_id, _placement()), 201)
    seen = expect(api.call(tenant.viewer, "GET", "/v1/placements/dakar/plumbers")[:2], 200)
    assert (seen["taken"], seen["free"]) == (5, 0)
    # The reclaim is on the platform's trail (its actor may be another tenant's user).
    assert "placement.reservation_expired" not in _audit_actions(stack, tenant.account_id)
    assert _audit_actions(stack, keys.PLATFORM_AUDIT).count("placement.reservation_expired") == 1


def test_ten_concurrent_checkouts_for_the_last_seat_one_gets_a_session(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User],
    tenant: Tenant[User],
    stripe: FakeStripe,
    stack: Stack,
) -> None:
    api = world[2]
    for _ in range(4):
        expect(api.checkout(tenant.owner, tenant.account_id, _placement()), 201)
    from checkout import wiring

    with stack.environment("CheckoutFunction"):
        service = wiring.checkouts()
        service.checkout  # noqa: B018 - built before the threads start
        request = CheckoutIn.model_validate(_placement())
        outcomes: list[str] = []
        barrier = threading.Barrier(10)

        def buy(index: int) -> None:
            barrier.wait()
            try:
                service.checkout(tenant.account_id, request, f"race-{index}", SYSTEM)
                outcomes.append("session")
            except PlacementFull:
                outcomes.append("full")

        threads = [threading.Thread(target=buy, args=(index,)) for index in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(outcomes) == ["full"] * 9 + ["session"]
    assert stripe.count("create_checkout_session") == 5
    counter = _item(stack, keys.placement_counter("dakar", "plumbers"))
    assert counter is not None
    assert counter["taken"] == 5


def test_confirm_and_release_move_a_seat_forward_only(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stack: Stack
) -> None:
    from tally.placements.seats import DynamoPlacementSeats

    made = expect(world[2].checkout(tenant.owner, tenant.account_id, _placement()), 201)
    seats = DynamoPlacementSeats(clients.dynamodb(), stack.ref("BillingTable"))
    now = datetime.now(UTC)
    seats.confirm(made["reservation_id"], at=now)
    seats.confirm(made["reservation_id"], at=now)  # idempotent
    seen = seats.availability("dakar", "plumbers", at=now + timedelta(days=1))
    assert (seen.taken, seen.reserved, seen.next_free_at) == (1, 0, None)
    seats.release(made["reservation_id"], at=now)
    seats.release(made["reservation_id"], at=now)
    seats.confirm(made["reservation_id"], at=now)  # a late completion does not take it back
    assert seats.availability("dakar", "plumbers", at=now).taken == 0
    reservation = _item(stack, keys.reservation(made["reservation_id"]))
    assert reservation is not None
    assert reservation["state"] == "released"


def test_placements_are_read_by_signed_in_users(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User]
) -> None:
    api = world[2]
    assert api.call(None, "GET", "/v1/placements/dakar/plumbers")[0] == 401
    empty = expect(api.call(tenant.joiner, "GET", "/v1/placements/dakar/plumbers")[:2], 200)
    assert (empty["capacity"], empty["taken"], empty["free"], empty["next_free_at"]) == (5, 0, 5, None)
    assert api.call(tenant.joiner, "GET", "/v1/placements/da%23kar/plumbers")[0] in (404, 422)


# -- self-service ------------------------------------------------------------------------------


def _seed_stripe_subscription(stack: Stack, account_id: str, stripe: FakeStripe, price_key: str) -> str:
    from tally.accounts.dynamo.table import BillingTable
    from tally.subscriptions.dynamo import DynamoSubscriptionStore

    now = datetime.now(UTC).replace(microsecond=0)
    period = Period(0, now - timedelta(days=10), now + timedelta(days=20))
    customer = _item(stack, keys.stripe_customer(account_id))
    assert customer is not None
    price_id = stripe.prices[price_key][0]
    remote = stripe.add_subscription(
        customer["stripe_id"],
        price_id,
        start=period.start,
        end=period.end,
        metadata={"tally_account_id": account_id},
    )
    subscription = machine.start_active(
        id="sub_mirror",
        account_id=account_id,
        plan_code="bronze",
        plan_version=1,
        cycle="monthly",
        currency="EUR",
        time_zone="Europe/Paris",
        period=period,
        at=now,
        reason="Checkout completed",
        collection="stripe",
    ).model_copy(update={"stripe_subscription_id": remote.id, "stripe_customer_id": customer["stripe_id"]})
    table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"))
    DynamoSubscriptionStore(table).create(subscription, None, None, SYSTEM)
    return remote.id


def test_self_service_of_a_subscription_paid_through_stripe(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User],
    tenant: Tenant[User],
    stripe: FakeStripe,
    stack: Stack,
) -> None:
    api = world[2]
    expect(api.checkout(tenant.owner, tenant.account_id, BRONZE), 201)
    remote = _seed_stripe_subscription(stack, tenant.account_id, stripe, "tally:bronze:1:monthly:EUR")
    base = "/v1/billing/subscription"

    def call(who: User, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, answer, _ = api.call(who, method, path, body, account=tenant.account_id)
        return status, answer

    current = expect(call(tenant.admin, "GET", base), 200)
    assert (current["collection"], current["stripe_subscription_id"]) == ("stripe", remote)
    cancelled = expect(call(tenant.owner, "POST", f"{base}/cancel"), 200)
    assert cancelled["cancel_at_period_end"] is True
    assert stripe.subscriptions[remote].cancel_at_period_end is True
    assert call(tenant.owner, "POST", f"{base}/cancel")[0] == 409  # already set: Stripe is not asked
    assert stripe.count("set_cancel_at_period_end") == 1
    resumed = expect(call(tenant.owner, "POST", f"{base}/resume"), 200)
    assert resumed["cancel_at_period_end"] is False
    assert stripe.subscriptions[remote].cancel_at_period_end is False

    preview = expect(call(tenant.owner, "POST", f"{base}/preview-change", {"plan": "silver"}), 200)
    assert preview["kind"] == "upgrade"
    assert (preview["current"]["plan"], preview["new"]["plan"], preview["new"]["amount"]) == (
        "bronze",
        "silver",
        7900,
    )
    assert len(preview["proration"]) == 2
    assert preview["proration_net"] == sum(line["amount"] for line in preview["proration"])
    assert preview["proration"][0]["amount"] < 0
    assert preview["next_invoice_total"] == sum(line["amount"] for line in preview["next_invoice"])
    changed = expect(call(tenant.owner, "POST", f"{base}/change", {"plan": "silver"}), 200)
    assert changed["subscription"]["plan_code"] == "silver"
    assert stripe.subscriptions[remote].price_id == stripe.prices["tally:silver:1:monthly:EUR"][0]
    assert stripe.subscriptions[remote].metadata["tally_plan"] == "silver"
    assert call(tenant.owner, "POST", f"{base}/change", {"plan": "silver"})[0] == 409
    wait = call(tenant.owner, "POST", f"{base}/change", {"plan": "gold", "immediately": False})
    assert wait[0] == 422

    portal = expect(call(tenant.owner, "POST", "/v1/billing/portal", {"return_url": f"{APP}/billing"}), 200)
    assert portal["url"].startswith("https://billing.stripe.test/")
    bad = call(tenant.owner, "POST", "/v1/billing/portal", {"return_url": "https://evil.example.net/"})
    assert bad[0] == 422
    assert bad[1]["errors"][0]["field"] == "return_url"
    actions = _audit_actions(stack, tenant.account_id)
    for action in ("subscription.cancel_scheduled", "subscription.resumed", "subscription.plan_changed"):
        assert action in actions


def test_self_service_of_a_native_subscription_is_the_native_routes(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stripe: FakeStripe
) -> None:
    _, billing, api, _ = world
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF"}
    expect(billing.call(tenant.owner, "POST", f"/v1/accounts/{tenant.account_id}/subscription", start), 201)
    base = "/v1/billing/subscription"

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, answer, _ = api.call(tenant.owner, method, path, body, account=tenant.account_id)
        return status, answer

    assert expect(call("GET", base), 200)["status"] == "trialing"
    assert expect(call("POST", f"{base}/cancel"), 200)["cancel_at_period_end"] is True
    assert expect(call("POST", f"{base}/resume"), 200)["cancel_at_period_end"] is False
    preview = expect(call("POST", f"{base}/preview-change", {"plan": "professional"}), 200)
    native = expect(
        billing.call(
            tenant.owner,
            "GET",
            f"/v1/accounts/{tenant.account_id}/subscription/preview-change",
            query={"plan": "professional"},
        ),
        200,
    )
    assert {k: v for k, v in preview.items() if k != "effective_at"} == {
        k: v for k, v in native.items() if k != "effective_at"
    }
    changed = expect(call("POST", f"{base}/change", {"plan": "professional"}), 200)
    assert changed["subscription"]["plan_code"] == "professional"
    assert call("POST", "/v1/billing/portal", {"return_url": f"{APP}/x"})[0] == 409
    assert stripe.calls == []


def test_no_subscription_yet(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User]
) -> None:
    api = world[2]
    assert api.call(tenant.owner, "GET", "/v1/billing/subscription", account=tenant.account_id)[0] == 404
    assert (
        api.call(tenant.owner, "POST", "/v1/billing/subscription/cancel", account=tenant.account_id)[0] == 409
    )


# -- who may --------------------------------------------------------------------------------------


def test_members_viewers_and_other_tenants_may_not(
    world: tuple[InProcessApi, BillingApi, CheckoutApi, User], tenant: Tenant[User], stripe: FakeStripe
) -> None:
    api = world[2]
    other = build_tenant(world[0], "x")
    for who in (tenant.member, tenant.viewer, other.owner):
        assert api.checkout(who, tenant.account_id, BRONZE)[0] == 403
        for method, path, body in (
            ("GET", "/v1/billing/subscription", None),
            ("POST", "/v1/billing/subscription/cancel", None),
            ("POST", "/v1/billing/subscription/resume", None),
            ("POST", "/v1/billing/subscription/change", {"plan": "silver"}),
            ("POST", "/v1/billing/subscription/preview-change", {"plan": "silver"}),
            ("POST", "/v1/billing/portal", {"return_url": f"{APP}/x"}),
        ):
            assert api.call(who, method, path, body, account=tenant.account_id)[0] == 403, (who, path)
    assert api.checkout(tenant.owner, "acc_nope", BRONZE)[0] == 403
    assert stripe.calls == []
    # Platform staff may act for the account.
    assert api.checkout(world[3], tenant.account_id, BRONZE)[0] == 201


def test_a_large_placement_reclaims_every_expired_reservation(stack: Stack) -> None:
    from tally.placements.seats import DynamoPlacementSeats

    seats = DynamoPlacementSeats(clients.dynamodb(), stack.ref("BillingTable"))
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    until = now + timedelta(minutes=31)
    for index in range(40):
        seats.reserve("lome", "garages", f"acc_{index}", until=until, capacity=40, at=now, context=SYSTEM)
    with pytest.raises(PlacementFull):
        seats.reserve("lome", "garages", "acc_x", until=until, capacity=40, at=now, context=SYSTEM)
    later = until + timedelta(seconds=1)
    made = seats.reserve(
        "lome", "garages", "acc_x", until=later + timedelta(minutes=31), capacity=40, at=later
    )
    seen = seats.availability("lome", "garages", at=later)
    assert (seen.taken, seen.reserved, seen.free) == (1, 1, 39)
    counter = _item(stack, keys.placement_counter("lome", "garages"))
    assert counter is not None
    assert counter["taken"] == 1
    assert made.capacity == 40
