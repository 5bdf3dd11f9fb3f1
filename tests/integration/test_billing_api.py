"""The billing function in-process against moto: the catalogue (public reads, admin publishing,
idempotent imports) and subscriptions (start, change, cancel, resume, the account following)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from tally import clock
from tally.storage import clients, keys
from tally.storage.items import from_item
from tests.support.billing_api import BillingApi
from tests.support.inprocess import InProcessApi
from tests.support.stack import Stack
from tests.support.tenancy import User, reset_function_caches, staff
from tests.support.world import Tenant, build_tenant, expect


def _catalogue(name: str) -> Any:
    import json

    return json.loads(resources.files("tally.billing.catalogues").joinpath(f"{name}.json").read_text())


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
    _, billing = apis
    for name in ("smartqueue", "esxi-backup"):
        expect(billing.call(admin, "POST", "/v1/plans/import", _catalogue(name)), 200)
    return billing


@pytest.fixture
def tenant(apis: tuple[InProcessApi, BillingApi]) -> Tenant[User]:
    return build_tenant(apis[0], "t")


def _item(stack: Stack, key: dict[str, Any]) -> dict[str, Any] | None:
    found = clients.dynamodb().get_item(TableName=stack.ref("BillingTable"), Key=key).get("Item")
    return from_item(found) if found else None


# -- the catalogue ----------------------------------------------------------------------------


def test_importing_a_catalogue_twice_changes_nothing_and_says_so(
    apis: tuple[InProcessApi, BillingApi], admin: User, stack: Stack
) -> None:
    _, billing = apis
    first = expect(billing.call(admin, "POST", "/v1/plans/import", _catalogue("smartqueue")), 200)
    assert first["changed"] is True
    assert {(p["code"], p["outcome"]) for p in first["plans"]} == {
        ("essential", "created"),
        ("professional", "created"),
        ("enterprise", "created"),
    }
    again = expect(billing.call(admin, "POST", "/v1/plans/import", _catalogue("smartqueue")), 200)
    assert again["changed"] is False
    assert {p["outcome"] for p in again["plans"]} == {"unchanged"}
    # The storage contract the usage half reads.
    plan = _item(stack, keys.plan("essential"))
    assert plan is not None
    assert (plan["GSI1PK"], plan["GSI1SK"], plan["latest_version"]) == ("PLANS", "0001#essential", 1)
    version = _item(stack, {"PK": {"S": "PLAN#essential"}, "SK": {"S": "VERSION#000001"}})
    assert version is not None
    assert version["version"] == 1
    assert '"prices"' in version["terms"]
    assert len(version["content_hash"]) == 64


def test_public_listing_with_the_computed_annual_saving(seeded: BillingApi) -> None:
    listed = expect(seeded.call(None, "GET", "/v1/plans", query={"currency": "XOF", "cycle": "annual"}), 200)
    codes = [plan["code"] for plan in listed["plans"]]
    assert codes == ["essential", "professional", "enterprise"]
    assert listed["plans"][0]["annual_saving_percent"] == {"XOF": "20.0"}
    euros = expect(seeded.call(None, "GET", "/v1/plans", query={"currency": "EUR"}), 200)
    assert {"bronze", "silver", "gold"} <= {plan["code"] for plan in euros["plans"]}
    assert expect(seeded.call(None, "GET", "/v1/plans/silver"), 200)["version"] == 1
    assert seeded.call(None, "GET", "/v1/plans/nope")[0] == 404
    assert seeded.call(None, "GET", "/v1/plans", query={"cycle": "weekly"})[0] == 422


def test_platform_admins_create_publish_archive(
    apis: tuple[InProcessApi, BillingApi], admin: User, tenant: Tenant[User]
) -> None:
    _, billing = apis
    terms: dict[str, Any] = {
        "prices": [{"cycle": "monthly", "currency": "EUR", "amount": 900}],
        "data_retention_days": 30,
    }
    plan = {
        "code": "starter",
        "name": "Starter",
        "tier_rank": 0,
        "version": terms,
    }
    assert billing.call(tenant.owner, "POST", "/v1/plans", plan)[0] == 403
    created = expect(billing.call(admin, "POST", "/v1/plans", plan), 201)
    assert created["version"] == 1
    assert billing.call(admin, "POST", "/v1/plans", plan)[0] == 409
    same = expect(billing.call(admin, "POST", "/v1/plans/starter/versions", terms), 200)
    assert (same["published"], same["version"]["version"]) == (False, 1)
    dearer = {**terms, "prices": [{"cycle": "monthly", "currency": "EUR", "amount": 1200}]}
    newer = expect(billing.call(admin, "POST", "/v1/plans/starter/versions", dearer), 200)
    assert (newer["published"], newer["version"]["version"]) == (True, 2)
    versions = expect(billing.call(admin, "GET", "/v1/plans/starter/versions"), 200)["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    xof = {**terms, "prices": [{"cycle": "monthly", "currency": "XOF", "amount": 1500.5}]}
    refused = billing.call(admin, "POST", "/v1/plans/starter/versions", xof)
    assert refused[0] == 422
    assert "XOF has no minor unit" in str(refused[1])
    assert expect(billing.call(admin, "POST", "/v1/plans/starter/archive"), 200)["status"] == "archived"
    assert billing.call(admin, "POST", "/v1/plans/starter/archive")[0] == 409
    assert billing.call(None, "GET", "/v1/plans/starter")[0] == 404


# -- subscriptions ----------------------------------------------------------------------------


def test_a_trial_upgrade_and_cancellation_with_the_account_following(
    apis: tuple[InProcessApi, BillingApi], seeded: BillingApi, tenant: Tenant[User], stack: Stack
) -> None:
    accounts, billing = apis
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    assert (
        expect(accounts.call(tenant.owner, "GET", f"/v1/accounts/{tenant.account_id}"), 200)["status"]
        == "pending"
    )
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF"}
    assert billing.call(tenant.viewer, "POST", base, start)[0] == 403
    assert billing.call(tenant.member, "POST", base, start)[0] == 403
    started = expect(billing.call(tenant.owner, "POST", base, start), 201)
    assert started["status"] == "trialing"
    assert started["trial_end"] is not None
    account = expect(accounts.call(tenant.owner, "GET", f"/v1/accounts/{tenant.account_id}"), 200)
    assert account["status"] == "active"
    pointer = _item(stack, keys.current_subscription(tenant.account_id))
    assert pointer is not None
    assert pointer["subscription_id"] == started["id"]
    assert (pointer["plan_code"], pointer["plan_version"], pointer["status"]) == ("essential", 1, "trialing")
    assert {
        "cycle",
        "currency",
        "current_period_start",
        "current_period_end",
        "billing_anchor",
        "time_zone",
    } <= set(pointer)
    again = billing.call(tenant.admin, "POST", base, start)
    assert again[0] == 409

    preview = expect(
        billing.call(tenant.admin, "GET", f"{base}/preview-change", query={"plan": "professional"}), 200
    )
    assert preview["kind"] == "upgrade"
    assert preview["next_invoice_total"] == 45000
    assert billing.call(tenant.admin, "GET", f"{base}/preview-change")[0] == 422
    changed = expect(billing.call(tenant.admin, "POST", f"{base}/change", {"plan": "professional"}), 200)
    assert changed["subscription"]["plan_code"] == "professional"
    assert _item(stack, keys.current_subscription(tenant.account_id))["plan_code"] == "professional"  # type: ignore[index]

    cancel = {"at_period_end": True, "reason": "Trying another tool"}
    cancelling = expect(billing.call(tenant.owner, "POST", f"{base}/cancel", cancel), 200)
    assert cancelling["cancel_at_period_end"] is True
    twice = billing.call(tenant.owner, "POST", f"{base}/cancel", cancel)
    assert twice[0] == 409
    assert twice[1]["code"] == "invalid_transition"
    assert "set to cancel already" in twice[1]["message"]
    assert expect(billing.call(tenant.owner, "POST", f"{base}/resume"), 200)["cancel_at_period_end"] is False
    assert billing.call(tenant.owner, "POST", f"{base}/resume")[0] == 409
    read = expect(billing.call(tenant.admin, "GET", base), 200)
    assert read["plan_code"] == "professional"

    page = expect(
        accounts.call(
            tenant.owner, "GET", "/v1/audit", query={"account_id": tenant.account_id, "limit": "100"}
        ),
        200,
    )
    actions = {record["action"] for record in page["records"]}
    assert {"subscription.created", "account.status_changed", "subscription.plan_changed"} <= actions
    assert {"subscription.cancel_scheduled", "subscription.resumed"} <= actions


def test_of_two_concurrent_starts_exactly_one_wins(seeded: BillingApi, tenant: Tenant[User]) -> None:
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    barrier = threading.Barrier(2)
    answers: list[tuple[int, Any]] = []

    def start(plan: str) -> None:
        barrier.wait()
        answers.append(
            seeded.call(tenant.owner, "POST", base, {"plan": plan, "cycle": "monthly", "currency": "XOF"})
        )

    threads = [threading.Thread(target=start, args=(plan,)) for plan in ("essential", "professional")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The winner is read from its body, not its status: in one process the two calls share
    # Powertools' app-level route context, and the loser finishing first may clear it before the
    # winner's 201 is read from it (a Lambda instance serves one request at a time).
    refused = [body for status, body in answers if status == 409]
    started = [body for status, body in answers if status in (200, 201)]
    assert len(refused) == 1
    assert [body["status"] for body in started] == ["trialing"]
    assert started[0]["id"] == seeded.call(tenant.owner, "GET", base)[1]["id"]


def test_platform_admins_start_active_with_a_reason(
    seeded: BillingApi, admin: User, tenant: Tenant[User]
) -> None:
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    deal = {
        "plan": "enterprise",
        "cycle": "annual",
        "currency": "XOF",
        "status": "active",
        "reason": "Signed",
    }
    assert seeded.call(tenant.owner, "POST", base, deal)[0] == 403
    assert (
        seeded.call(tenant.owner, "POST", base, {**deal, "status": None, "reason": None})[0] == 409
    )  # on quote
    started = expect(seeded.call(admin, "POST", base, deal), 201)
    assert started["status"] == "active"
    ended = expect(seeded.call(admin, "POST", f"{base}/cancel", {"at_period_end": False}), 200)
    assert ended["status"] == "canceled"
    assert seeded.call(admin, "POST", f"{base}/resume")[0] == 409


def test_a_start_retried_with_its_idempotency_key_is_answered_with_the_first_subscription(
    seeded: BillingApi, tenant: Tenant[User]
) -> None:
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF"}
    key = {"idempotency-key": "start-1"}
    first = expect(seeded.call(tenant.owner, "POST", base, start, key), 201)
    again = expect(seeded.call(tenant.owner, "POST", base, start, key), 201)
    assert again == first
    reused = seeded.call(tenant.owner, "POST", base, {**start, "plan": "professional"}, key)
    assert (reused[0], reused[1]["code"]) == (422, "idempotency_key_reused")
    # Without the key, a second start is the conflict it is.
    assert seeded.call(tenant.owner, "POST", base, start)[0] == 409


def test_the_account_ends_with_its_subscription_and_a_returning_customer_is_active_again(
    apis: tuple[InProcessApi, BillingApi], seeded: BillingApi, tenant: Tenant[User], admin: User
) -> None:
    accounts, billing = apis
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    account = f"/v1/accounts/{tenant.account_id}"
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF"}
    started = expect(billing.call(tenant.owner, "POST", base, start), 201)
    expect(billing.call(tenant.owner, "POST", f"{base}/cancel", {"at_period_end": True}), 200)
    try:
        # The trial's end passes: the next read finds it canceled, and the account cancelled.
        end = datetime.fromisoformat(started["current_period_end"])
        clock.set_clock(clock.FixedClock(end + timedelta(seconds=1)))
        ended = expect(billing.call(tenant.owner, "GET", base), 200)
        assert (ended["status"], ended["ended_at"]) == ("canceled", started["current_period_end"])
        assert expect(accounts.call(admin, "GET", account), 200)["status"] == "cancelled"
        # Members of a cancelled account see 403 outside billing, with the reason.
        refused = accounts.call(tenant.owner, "GET", account)
        assert (refused[0], refused[1]["code"]) == (403, "account_suspended")
        assert "canceled" in refused[1]["message"]
        # Starting again makes it active; cancelling now cancels it at once.
        expect(billing.call(tenant.owner, "POST", base, start), 201)
        assert expect(accounts.call(tenant.owner, "GET", account), 200)["status"] == "active"
        expect(billing.call(tenant.owner, "POST", f"{base}/cancel", {"at_period_end": False}), 200)
        assert expect(accounts.call(admin, "GET", account), 200)["status"] == "cancelled"
    finally:
        clock.set_clock(None)
    page = expect(
        accounts.call(admin, "GET", "/v1/audit", query={"account_id": tenant.account_id, "limit": "100"}),
        200,
    )
    settled = [record for record in page["records"] if record["action"] == "subscription.canceled"]
    assert {record["actor"] for record in settled} >= {"system:period-end"}


def test_a_cancellation_flag_must_be_a_boolean_not_a_word(seeded: BillingApi, tenant: Tenant[User]) -> None:
    base = f"/v1/accounts/{tenant.account_id}/subscription"
    expect(
        seeded.call(tenant.owner, "POST", base, {"plan": "essential", "cycle": "monthly", "currency": "XOF"}),
        201,
    )
    status, body = seeded.call(tenant.owner, "POST", f"{base}/cancel", {"at_period_end": "yes"})
    assert (status, body["errors"][0]["field"]) == (422, "at_period_end"), body
    assert expect(seeded.call(tenant.owner, "GET", base), 200)["cancel_at_period_end"] is False


def test_a_server_reads_the_subscription_with_a_billing_read_key(
    seeded: BillingApi, tenant: Tenant[User], stack: Stack
) -> None:
    from billing.app import lambda_handler

    from tests.support.events import FakeContext, http_event

    base = f"/v1/accounts/{tenant.account_id}/subscription"
    started = expect(
        seeded.call(tenant.owner, "POST", base, {"plan": "essential", "cycle": "monthly", "currency": "XOF"}),
        201,
    )

    def with_key(path: str, scopes: str, account_id: str = tenant.account_id) -> tuple[int, Any]:
        event = http_event("GET", path, query={"plan": "professional"} if "preview" in path else None)
        key = {"kind": "api_key", "key_id": "key_billing", "account_id": account_id, "scopes": scopes}
        event["requestContext"]["authorizer"] = {"lambda": key}
        with stack.environment("BillingFunction"):
            answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        return answer["statusCode"], json.loads(answer["body"])

    assert expect(with_key(base, "billing:read"), 200)["id"] == started["id"]
    assert expect(with_key(f"{base}/preview-change", "billing:read"), 200)["kind"] == "upgrade"
    refused = with_key(base, "usage:read")
    assert (refused[0], refused[1]["code"]) == (403, "forbidden")
    assert "billing:read" in refused[1]["message"]
    assert with_key(base, "billing:read", account_id="acc_someone_else")[0] == 403
