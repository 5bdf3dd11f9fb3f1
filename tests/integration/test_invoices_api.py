"""The invoices function against moto: seller settings, a one-off invoice from draft to paid with
its coupon, numbers, credit notes, voids, and who reads what."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tally import clock
from tests.support.billing_api import BillingApi
from tests.support.inprocess import InProcessApi
from tests.support.stack import Stack
from tests.support.tenancy import User, reset_function_caches, staff
from tests.support.world import Tenant, build_tenant, expect

LINE = {"description": "Onboarding workshop", "quantity": "2", "unit_amount": 45000, "tax_rate": "fr_vat_20"}
RECEIVED = "2026-11-20T09:30:00Z"


@pytest.fixture
def apis(stack: Stack) -> Iterator[tuple[InProcessApi, BillingApi, BillingApi]]:
    reset_function_caches()
    yield InProcessApi(stack), BillingApi(stack), BillingApi(stack, "InvoicesFunction")
    reset_function_caches()
    clock.set_clock(None)


@pytest.fixture
def admin(stack: Stack) -> User:
    return staff(stack)


@pytest.fixture
def api(apis: tuple[InProcessApi, BillingApi, BillingApi]) -> BillingApi:
    return apis[2]


@pytest.fixture
def tenant(apis: tuple[InProcessApi, BillingApi, BillingApi]) -> Tenant[User]:
    return build_tenant(apis[0], "t")


def _draft(api: BillingApi, admin: User, account_id: str, **extra: Any) -> dict[str, Any]:
    body = {"account_id": account_id, "currency": "EUR", "lines": [LINE], **extra}
    created: dict[str, Any] = expect(api.call(admin, "POST", "/v1/invoices", body), 201)
    return created


def _pay(api: BillingApi, admin: User, invoice_id: str, amount: int, reference: str) -> tuple[int, Any]:
    body = {"amount": amount, "method": "bank_transfer", "reference": reference, "received_at": RECEIVED}
    return api.call(admin, "POST", f"/v1/invoices/{invoice_id}/payments", body)


def test_settings_are_platform_admins_and_say_what_is_wrong(
    api: BillingApi, admin: User, tenant: Tenant[User]
) -> None:
    assert api.call(tenant.owner, "GET", "/v1/settings/billing")[0] == 403
    shipped = expect(api.call(admin, "GET", "/v1/settings/billing"), 200)
    assert shipped["invoice_numbering"]["format"] == "INV-{YYYY}{MM}-{NNNNN}"
    status, refused = api.call(admin, "PUT", "/v1/settings/billing", {**shipped, "default_tax_rate": "nope"})
    assert status == 422
    assert "nope" in refused["message"]
    saved = expect(api.call(admin, "PUT", "/v1/settings/billing", {**shipped, "payment_terms_days": 30}), 200)
    assert saved["payment_terms_days"] == 30
    assert expect(api.call(admin, "GET", "/v1/settings/billing"), 200)["payment_terms_days"] == 30
    assert api.call(tenant.owner, "PUT", "/v1/settings/billing", shipped)[0] == 403


def test_an_invoice_from_draft_to_paid(api: BillingApi, admin: User, tenant: Tenant[User]) -> None:
    assert api.call(tenant.owner, "POST", "/v1/invoices", {"account_id": tenant.account_id})[0] in (403, 422)
    draft = _draft(api, admin, tenant.account_id)
    assert (draft["status"], draft["number"], draft["subtotal"], draft["total"]) == (
        "draft",
        None,
        90000,
        108000,
    )
    one = f"/v1/invoices/{draft['id']}"
    changed = expect(api.call(admin, "PATCH", one, {"memo": "PO 4471", "due_days": 10}), 200)
    assert (changed["memo"], changed["due_days"]) == ("PO 4471", 10)

    opened = expect(api.call(admin, "POST", f"{one}/finalize"), 200)
    assert opened["status"] == "open"
    assert opened["number"].startswith("INV-")
    assert opened["number"].endswith("-00001")
    assert opened["customer"]["name"] == "Tenant t"
    assert opened["seller"]["legal_name"]
    again = expect(api.call(admin, "POST", f"{one}/finalize"), 200)
    assert again["number"] == opened["number"]
    assert api.call(admin, "PATCH", one, {"memo": "late"})[0] == 409

    assert _pay(api, admin, draft["id"], 200000, "VIR 0")[0] == 422  # above the amount due
    partial = expect(_pay(api, admin, draft["id"], 8000, "VIR 1"), 201)
    assert (partial["status"], partial["amount_paid"], partial["amount_due"]) == ("open", 8000, 100000)
    assert _pay(api, admin, draft["id"], 100, "VIR 1")[0] == 409  # the same reference twice
    paid = expect(_pay(api, admin, draft["id"], 100000, "VIR 2"), 201)
    assert (paid["status"], paid["amount_due"]) == ("paid", 0)
    assert _pay(api, admin, draft["id"], 1, "VIR 3")[0] == 409

    too_much = {"amount": 108001, "reason": "Too much"}
    assert api.call(admin, "POST", f"{one}/credit-notes", too_much)[0] == 422
    credited = expect(
        api.call(
            admin, "POST", f"{one}/credit-notes", {"amount": 12000, "reason": "Goodwill", "refund": True}
        ),
        201,
    )
    assert credited["credit_note"]["number"].startswith("CN-")
    assert credited["credit_note"]["number"].endswith("-00001")
    assert credited["invoice"]["refund_due"] == 12000
    notes = expect(api.call(tenant.owner, "GET", f"{one}/credit-notes"), 200)["credit_notes"]
    assert [note["number"] for note in notes] == [credited["credit_note"]["number"]]


def test_numbers_stay_gapless_through_a_void(api: BillingApi, admin: User, tenant: Tenant[User]) -> None:
    first = _draft(api, admin, tenant.account_id)
    second = _draft(api, admin, tenant.account_id)
    numbered = [
        expect(api.call(admin, "POST", f"/v1/invoices/{draft['id']}/finalize"), 200)["number"]
        for draft in (first, second)
    ]
    assert [number[-5:] for number in numbered] == ["00001", "00002"]
    void = expect(
        api.call(admin, "POST", f"/v1/invoices/{first['id']}/void", {"reason": "Wrong account"}), 200
    )
    assert (void["status"], void["number"], void["status_reason"]) == ("void", numbered[0], "Wrong account")
    third = _draft(api, admin, tenant.account_id)
    assert (
        expect(api.call(admin, "POST", f"/v1/invoices/{third['id']}/finalize"), 200)["number"][-5:] == "00003"
    )
    bad = expect(api.call(admin, "POST", f"/v1/invoices/{second['id']}/mark-uncollectible", {}), 200)
    assert bad["status"] == "uncollectible"
    assert api.call(admin, "POST", f"/v1/invoices/{second['id']}/mark-uncollectible", {})[0] == 409


def test_a_coupon_comes_off_a_one_off_invoice_and_is_redeemed_with_it(
    apis: tuple[InProcessApi, BillingApi, BillingApi], admin: User, tenant: Tenant[User]
) -> None:
    billing, api = apis[1], apis[2]
    coupon = {"code": "loyal", "name": "Loyal", "percent_off": "10", "max_redemptions": 1}
    expect(billing.call(admin, "POST", "/v1/coupons", coupon), 201)
    draft = _draft(api, admin, tenant.account_id, coupon="LOYAL")
    assert draft["coupon"]["code"] == "LOYAL"
    assert (draft["discount_total"], draft["total_excluding_tax"], draft["total"]) == (9000, 81000, 97200)
    # New lines get the same 10 % off.
    patched = expect(
        api.call(admin, "PATCH", f"/v1/invoices/{draft['id']}", {"lines": [{**LINE, "quantity": "1"}]}), 200
    )
    assert patched["discount_total"] == 4500
    status, refused = api.call(
        admin,
        "POST",
        "/v1/invoices",
        {"account_id": tenant.account_id, "currency": "EUR", "lines": [LINE], "coupon": "loyal"},
    )
    assert (status, refused["code"]) == (422, "coupon_used_up")
    assert expect(billing.call(admin, "GET", "/v1/coupons/loyal"), 200)["redemptions"] == 1
    months = {"code": "months", "name": "Months", "free_months": 2}
    expect(billing.call(admin, "POST", "/v1/coupons", months), 201)
    status, refused = api.call(
        admin,
        "POST",
        "/v1/invoices",
        {"account_id": tenant.account_id, "currency": "EUR", "lines": [LINE], "coupon": "months"},
    )
    assert (status, refused["errors"][0]["field"]) == (422, "coupon")
    assert expect(billing.call(admin, "GET", "/v1/coupons/months"), 200)["redemptions"] == 0


def test_bad_input_names_the_field(api: BillingApi, admin: User, tenant: Tenant[User]) -> None:
    base = {"account_id": tenant.account_id, "currency": "EUR", "lines": [LINE]}
    cases = [
        ({**base, "currency": "ZZZ"}, "currency"),
        ({**base, "lines": []}, "lines"),
        ({**base, "lines": [{**LINE, "unit_amount": 1.5}]}, "lines.0.unit_amount"),
        ({**base, "lines": [{**LINE, "tax_rate": "nope"}]}, "tax_rate"),
        ({**base, "lines": [{**LINE, "currency": "USD"}]}, "lines"),
        ({**base, "due_days": 400}, "due_days"),
    ]
    for body, field in cases:
        status, answer = api.call(admin, "POST", "/v1/invoices", body)
        assert status == 422, (body, answer)
        assert field in answer["errors"][0]["field"], (field, answer)
    status, answer = api.call(admin, "POST", "/v1/invoices", {**base, "account_id": "acc_nobody"})
    assert (status, answer["errors"][0]["field"]) == (404, "account_id")
    assert api.call(admin, "GET", "/v1/invoices/inv_nothing")[0] == 404
    listed = expect(api.call(admin, "GET", "/v1/invoices"), 200)
    assert listed["invoices"] == []  # nothing half-written


def test_owners_read_their_own_invoices_only(
    apis: tuple[InProcessApi, BillingApi, BillingApi], admin: User, tenant: Tenant[User]
) -> None:
    api = apis[2]
    other = build_tenant(apis[0], "o")
    mine = _draft(api, admin, tenant.account_id)
    theirs = _draft(api, admin, other.account_id)
    expect(api.call(admin, "POST", f"/v1/invoices/{mine['id']}/finalize"), 200)
    assert expect(api.call(tenant.owner, "GET", f"/v1/invoices/{mine['id']}"), 200)["id"] == mine["id"]
    assert api.call(tenant.owner, "GET", f"/v1/invoices/{theirs['id']}")[0] == 403
    assert api.call(tenant.viewer, "GET", f"/v1/invoices/{mine['id']}")[0] == 403
    path = f"/v1/accounts/{tenant.account_id}/invoices"
    page = expect(api.call(tenant.owner, "GET", path), 200)
    assert [invoice["id"] for invoice in page["invoices"]] == [mine["id"]]
    assert expect(api.call(tenant.owner, "GET", path, query={"status": "draft"}), 200)["invoices"] == []
    assert api.call(tenant.owner, "GET", f"/v1/accounts/{other.account_id}/invoices")[0] == 403
    everyone = expect(api.call(admin, "GET", "/v1/invoices", query={"limit": "1"}), 200)
    assert len(everyone["invoices"]) == 1
    assert everyone["next_cursor"]
    rest = expect(api.call(admin, "GET", "/v1/invoices", query={"cursor": everyone["next_cursor"]}), 200)
    assert {everyone["invoices"][0]["id"], rest["invoices"][0]["id"]} == {mine["id"], theirs["id"]}
    drafts = expect(api.call(admin, "GET", "/v1/invoices", query={"status": "draft"}), 200)
    assert [invoice["id"] for invoice in drafts["invoices"]] == [theirs["id"]]
    one_account = expect(api.call(admin, "GET", "/v1/invoices", query={"account_id": other.account_id}), 200)
    assert [invoice["id"] for invoice in one_account["invoices"]] == [theirs["id"]]
    assert api.call(admin, "GET", "/v1/invoices", query={"from": "2026-12-01", "to": "2026-01-01"})[0] == 422


def test_numbers_are_not_instants_nor_strings_booleans(
    api: BillingApi, admin: User, tenant: Tenant[User]
) -> None:
    """pydantic would read 0 or "0.5" as seconds since 1970 and "true" as a boolean: refused."""
    for query in ({"to": "0.5"}, {"from": "1700000000"}):
        status, answer = api.call(admin, "GET", "/v1/invoices", query=query)
        assert status == 422, (query, answer)
    draft = _draft(api, admin, tenant.account_id)
    expect(api.call(admin, "POST", f"/v1/invoices/{draft['id']}/finalize"), 200)
    body = {"amount": 100, "method": "bank_transfer", "reference": "VIR", "received_at": 0}
    status, answer = api.call(admin, "POST", f"/v1/invoices/{draft['id']}/payments", body)
    assert (status, answer["errors"][0]["field"]) == (422, "received_at")
    shipped = expect(api.call(admin, "GET", "/v1/settings/billing"), 200)
    late = {**shipped["late_payment"], "business_customers_only": "yes"}
    for wrong in ({"late_payment": late}, {"prices_include_tax": 1}, {"payment_terms_days": "15"}):
        status, answer = api.call(admin, "PUT", "/v1/settings/billing", {**shipped, **wrong})
        assert status == 422, (wrong, answer)
    credit = {"amount": 100, "reason": "x", "refund": "true"}
    assert api.call(admin, "POST", f"/v1/invoices/{draft['id']}/credit-notes", credit)[0] == 422


def test_a_coupons_minimum_is_checked_on_the_lines_taxed_at_the_customers_rate(
    apis: tuple[InProcessApi, BillingApi, BillingApi], admin: User
) -> None:
    billing, api = apis[1], apis[2]
    company = {"name": "Queue Thiès", "email": "compta@thies.example.sn", "country": "SN", "currency": "XOF"}
    account_id = expect(apis[0].call(admin, "POST", "/v1/accounts", company), 201)["id"]
    # 10 000 XOF at Senegal's 18 % is 11 800, below the minimum (at the default 20 % it would pass).
    coupon = {
        "code": "big",
        "name": "Big",
        "percent_off": "10",
        "minimum": {"amount": 11900, "currency": "XOF"},
    }
    expect(billing.call(admin, "POST", "/v1/coupons", coupon), 201)
    line = {"description": "Set-up", "unit_amount": 10000}
    body = {"account_id": account_id, "currency": "XOF", "lines": [line], "coupon": "BIG"}
    status, refused = api.call(admin, "POST", "/v1/invoices", body)
    assert (status, refused["code"]) == (422, "coupon_below_minimum")
    taxed = _draft(api, admin, account_id, currency="XOF", lines=[line])
    assert (taxed["lines"][0]["tax_rate"], taxed["total"]) == ("sn_vat_18", 11800)
