"""Coupons against moto: the admin routes, validation for an account, a subscription started with
a coupon (redeemed in its transaction), and the limits under concurrent redemptions."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest

from tally import clock
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.audit.records import Actor, AuditContext
from tally.billing.coupons import Coupon
from tally.coupons.dynamo import DynamoCouponStore
from tally.coupons.ports import CouponRefused
from tally.coupons.service import CouponService
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.models import InvoiceIn
from tally.invoices.service import AccountCustomers, InvoiceService, SellerSettingsService
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.storage import clients, keys
from tally.storage.items import from_item
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tests.support.billing_api import BillingApi
from tests.support.inprocess import InProcessApi
from tests.support.stack import Stack
from tests.support.tenancy import User, reset_function_caches, seed_account, staff
from tests.support.world import Tenant, build_tenant, expect

CONTEXT = AuditContext(Actor.system("test"), "req-coupons", None, None)
WELCOME = {
    "code": "welcome10",
    "name": "Welcome",
    "percent_off": "12.5",
    "duration": "repeating",
    "duration_months": 3,
    "eligibility": "new_customers",
}


@pytest.fixture
def apis(stack: Stack) -> Iterator[tuple[InProcessApi, BillingApi]]:
    reset_function_caches()
    yield InProcessApi(stack), BillingApi(stack)
    reset_function_caches()
    clock.set_clock(None)


@pytest.fixture
def admin(stack: Stack) -> User:
    return staff(stack)


@pytest.fixture
def seeded(apis: tuple[InProcessApi, BillingApi], admin: User) -> BillingApi:
    catalogue = json.loads(
        resources.files("tally.billing.catalogues").joinpath("smartqueue.json").read_text()
    )
    expect(apis[1].call(admin, "POST", "/v1/plans/import", catalogue), 200)
    return apis[1]


@pytest.fixture
def tenant(apis: tuple[InProcessApi, BillingApi]) -> Tenant[User]:
    return build_tenant(apis[0], "t")


def _item(stack: Stack, key: dict[str, Any]) -> dict[str, Any] | None:
    found = clients.dynamodb().get_item(TableName=stack.ref("BillingTable"), Key=key).get("Item")
    return from_item(found) if found else None


def test_platform_admins_manage_coupons(seeded: BillingApi, admin: User, tenant: Tenant[User]) -> None:
    assert seeded.call(tenant.owner, "POST", "/v1/coupons", WELCOME)[0] == 403
    assert seeded.call(tenant.owner, "GET", "/v1/coupons")[0] == 403
    created = expect(seeded.call(admin, "POST", "/v1/coupons", WELCOME), 201)
    assert (created["code"], created["percent_off"], created["redemptions"]) == ("WELCOME10", "12.5", 0)
    taken = seeded.call(admin, "POST", "/v1/coupons", {**WELCOME, "code": "WELCOME10"})
    assert (taken[0], taken[1]["code"]) == (409, "conflict")
    both = seeded.call(admin, "POST", "/v1/coupons", {**WELCOME, "code": "x", "amount_off": 100})
    assert both[0] == 422
    assert "exactly one of" in json.dumps(both[1])
    assert expect(seeded.call(admin, "GET", "/v1/coupons/Welcome10"), 200)["name"] == "Welcome"
    assert seeded.call(admin, "GET", "/v1/coupons/nope")[0] == 404
    patched = expect(seeded.call(admin, "PATCH", "/v1/coupons/welcome10", {"max_redemptions": 10}), 200)
    assert patched["max_redemptions"] == 10
    exact = expect(seeded.call(admin, "PATCH", "/v1/coupons/welcome10", {"percent_off": 7.5}), 200)
    assert exact["percent_off"] == "7.5"  # a JSON number is read as a Decimal, never a float
    switched = {"percent_off": None, "amount_off": 500, "currency": "XOF"}
    assert expect(seeded.call(admin, "PATCH", "/v1/coupons/welcome10", switched), 200)["amount_off"] == 500
    back = expect(
        seeded.call(
            admin,
            "PATCH",
            "/v1/coupons/welcome10",
            {**switched, "amount_off": None, "currency": None, "percent_off": "12.5"},
        ),
        200,
    )
    assert (back["percent_off"], back["amount_off"]) == ("12.5", None)
    bad = seeded.call(admin, "PATCH", "/v1/coupons/welcome10", {"duration": "forever"})
    assert bad[0] == 422
    assert "duration_months" in bad[1]["message"]
    listed = expect(seeded.call(admin, "GET", "/v1/coupons"), 200)["coupons"]
    assert [(c["code"], c["redemptions"]) for c in listed] == [("WELCOME10", 0)]
    expect(seeded.call(admin, "POST", "/v1/coupons", {**WELCOME, "code": "spare"}), 201)
    assert seeded.call(admin, "DELETE", "/v1/coupons/spare")[0] == 204
    assert seeded.call(admin, "DELETE", "/v1/coupons/spare")[0] == 404


def test_validate_then_start_a_subscription_with_the_coupon(
    seeded: BillingApi, admin: User, tenant: Tenant[User], stack: Stack
) -> None:
    expect(seeded.call(admin, "POST", "/v1/coupons", {**WELCOME, "max_per_account": 1}), 201)
    ask = {"code": "Welcome10", "plan": "essential", "cycle": "monthly", "currency": "XOF"}
    assert seeded.call(tenant.viewer, "POST", "/v1/coupons/validate", ask)[0] == 403
    shown = expect(seeded.call(tenant.owner, "POST", "/v1/coupons/validate", ask), 200)
    assert shown == {
        "code": "WELCOME10",
        "original": 15000,
        "discount": 1875,
        "final": 13125,
        "currency": "XOF",
        "duration": "repeating",
        "periods": 3,
    }
    wrong = seeded.call(tenant.owner, "POST", "/v1/coupons/validate", {**ask, "plan": "enterprise"})
    assert wrong[0] == 409  # on quote
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "coupon": "welcome10"}
    started = expect(seeded.call(tenant.owner, "POST", base, start), 201)
    assert started["coupon"]["code"] == "WELCOME10"
    assert started["coupon"]["periods"] == 3
    assert started["coupon"]["starts_at"] == started["trial_end"]  # its first paid period
    redemption_id = started["coupon"]["redemption_id"]
    record = _item(stack, keys.redemption("WELCOME10", redemption_id))
    assert record is not None
    assert (record["original"], record["discount"], record["final"], record["currency"]) == (
        15000,
        1875,
        13125,
        "XOF",
    )
    assert (record["account_id"], record["applies_to"], record["applies_to_id"]) == (
        tenant.account_id,
        "subscription",
        started["id"],
    )
    assert expect(seeded.call(tenant.owner, "GET", base), 200)["coupon"]["redemption_id"] == redemption_id
    # Read back from the table, it is the subscription written (changes are conditional on that).
    cancel = {"at_period_end": True}
    assert expect(seeded.call(tenant.owner, "POST", f"{base}/cancel", cancel), 200)["coupon"]["periods"] == 3
    # Now an existing customer, and the account's one use is spent.
    again = seeded.call(tenant.owner, "POST", "/v1/coupons/validate", ask)
    assert (again[0], again[1]["code"]) == (422, "coupon_already_used")
    assert again[1]["message"] == "This coupon was already used by this account"
    used = seeded.call(admin, "DELETE", "/v1/coupons/welcome10")
    assert (used[0], used[1]["code"]) == (409, "conflict")
    assert "deactivate it instead" in used[1]["message"]
    assert expect(seeded.call(admin, "POST", "/v1/coupons/welcome10/deactivate"), 200)["active"] is False
    assert expect(seeded.call(admin, "GET", "/v1/coupons/welcome10"), 200)["redemptions"] == 1


def test_free_months_are_kept_with_the_subscription(
    seeded: BillingApi, admin: User, tenant: Tenant[User], stack: Stack
) -> None:
    free = {"code": "free2", "name": "Two months free", "free_months": 2}
    expect(seeded.call(admin, "POST", "/v1/coupons", free), 201)
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    start = {"plan": "professional", "cycle": "monthly", "currency": "XOF", "coupon": "FREE2"}
    started = expect(seeded.call(tenant.owner, "POST", base, start), 201)
    assert (started["coupon"]["free_months"], started["coupon"]["periods"]) == (2, 2)
    changed = expect(seeded.call(tenant.owner, "POST", f"{base}/change", {"plan": "essential"}), 200)
    assert changed["subscription"]["coupon"] == started["coupon"]


def test_a_refused_coupon_starts_no_subscription(
    seeded: BillingApi, admin: User, tenant: Tenant[User], stack: Stack
) -> None:
    expect(seeded.call(admin, "POST", "/v1/coupons", {**WELCOME, "plans": ["professional"]}), 201)
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "coupon": "WELCOME10"}
    refused = seeded.call(tenant.owner, "POST", base, start)
    assert (refused[0], refused[1]["code"]) == (422, "coupon_not_for_plan")
    assert refused[1]["errors"][0]["field"] == "coupon"
    assert _item(stack, keys.current_subscription(tenant.account_id)) is None


# -- the limits under concurrency ---------------------------------------------------------------


def _service(stack: Stack) -> CouponService:
    table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"))
    return CouponService(
        DynamoCouponStore(table), CatalogueService(DynamoPlanStore(table)), DynamoSubscriptionStore(table)
    )


def _invoices(stack: Stack, coupons: CouponService) -> InvoiceService:
    """One-off invoices redeeming the coupon in their draft's transaction, as POST /v1/invoices."""
    table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"))
    return InvoiceService(
        DynamoInvoiceStore(table),
        SellerSettingsService(DynamoSellerStore(table)),
        AccountCustomers(DynamoAccountStore(table)),
        subscriptions=DynamoSubscriptionStore(table),
        coupons=coupons,
    )


def _one_off(account_id: str) -> InvoiceIn:
    line = {"description": "Set-up", "unit_amount": 15000}
    return InvoiceIn.model_validate(
        {"account_id": account_id, "currency": "XOF", "lines": [line], "coupon": "WELCOME10"}
    )


def _race(count: int, attempt: Callable[[int], None]) -> list[str]:
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        barrier.wait()
        try:
            attempt(index)
            outcome = "ok"
        except CouponRefused as refused:
            outcome = refused.code
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("limit", [1, 3])
def test_of_4n_concurrent_redemptions_exactly_n_succeed(seeded: BillingApi, stack: Stack, limit: int) -> None:
    service = _service(stack)
    service.create(
        Coupon.model_validate({**WELCOME, "eligibility": "all", "max_redemptions": limit}), CONTEXT
    )

    invoices = _invoices(stack, service)

    def redeem(index: int) -> None:
        seed_account(stack, f"acc_{index}")
        invoices.create_invoice(_one_off(f"acc_{index}"), CONTEXT)

    outcomes = _race(4 * limit, redeem)
    assert sorted(outcomes).count("ok") == limit
    assert set(outcomes) == {"ok", "coupon_used_up"}
    assert service.get("welcome10").redemptions == limit
    coupon = _item(stack, keys.coupon("WELCOME10"))
    assert coupon is not None
    assert coupon["redemptions"] == limit


def test_one_accounts_concurrent_redemptions_stop_at_its_limit(seeded: BillingApi, stack: Stack) -> None:
    service = _service(stack)
    terms = {**WELCOME, "eligibility": "all", "max_redemptions": 50, "max_per_account": 2}
    service.create(Coupon.model_validate(terms), CONTEXT)

    invoices = _invoices(stack, service)
    seed_account(stack, "acc_same")

    def redeem(index: int) -> None:
        invoices.create_invoice(_one_off("acc_same"), CONTEXT)

    outcomes = _race(8, redeem)
    assert outcomes.count("ok") == 2
    assert set(outcomes) == {"ok", "coupon_already_used"}
    assert service.get("WELCOME10").redemptions == 2
    counter = _item(stack, keys.coupon_account("WELCOME10", "acc_same"))
    assert counter is not None
    assert counter["redemptions"] == 2
