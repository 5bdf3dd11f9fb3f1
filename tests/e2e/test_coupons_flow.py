"""Coupons over real HTTP against the local stack: a platform admin creates one, a new customer's
owner validates it for a plan and starts a subscription with it; the subscription remembers it and
the admin sees the redemption counted."""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.tenancy import HttpApi, HttpUser
from tests.support.world import expect

pytestmark = pytest.mark.e2e


def test_create_validate_and_start_a_subscription_with_a_coupon(stack_url: str, admin_token: str) -> None:
    api = HttpApi(stack_url)
    admin = HttpUser("admin", admin_token)
    code = f"welcome-{secrets.token_hex(3)}"
    coupon = {
        "code": code,
        "name": "Welcome: 20 % off the first three months",
        "percent_off": "20",
        "duration": "repeating",
        "duration_months": 3,
        "max_redemptions": 10,
        "max_per_account": 1,
        "plans": ["essential", "professional"],
        "eligibility": "new_customers",
    }
    created = expect(api.call(admin, "POST", "/v1/coupons", coupon), 201)
    assert (created["code"], created["redemptions"]) == (code.upper(), 0)

    owner = api.new_user("coupon-owner")
    company = {"name": "Queue Thiès", "email": owner.email, "country": "SN", "currency": "XOF"}
    account_id = expect(api.call(owner, "POST", "/v1/accounts", company), 201)["id"]
    ask = {"code": code, "plan": "essential", "cycle": "monthly", "currency": "XOF"}
    shown = expect(api.call(owner, "POST", "/v1/coupons/validate", ask, {"X-Account-Id": account_id}), 200)
    assert (shown["original"], shown["discount"], shown["final"], shown["periods"]) == (15000, 3000, 12000, 3)
    not_for = api.call(owner, "POST", "/v1/coupons/validate", {**ask, "plan": "bronze", "currency": "EUR"})
    assert (not_for[0], not_for[1]["code"]) == (422, "coupon_not_for_plan")

    base = f"/v1/accounts/{account_id}/subscription"
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "coupon": code}
    started = expect(api.call(owner, "POST", base, start), 201)
    assert started["coupon"]["code"] == code.upper()
    assert started["coupon"]["percent_off"] == "20"
    assert (
        expect(api.call(owner, "GET", base), 200)["coupon"]["redemption_id"]
        == started["coupon"]["redemption_id"]
    )

    again = api.call(owner, "POST", "/v1/coupons/validate", ask)
    assert (again[0], again[1]["code"]) == (422, "coupon_already_used")
    assert expect(api.call(admin, "GET", f"/v1/coupons/{code}"), 200)["redemptions"] == 1
    assert api.call(admin, "DELETE", f"/v1/coupons/{code}")[0] == 409
