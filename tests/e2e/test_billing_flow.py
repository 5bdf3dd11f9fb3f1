"""The catalogue and a subscription over real HTTP against the local stack: the catalogues `make
dev` seeds are listed; a new user starts a trial on the XOF Essential plan, previews and applies an
upgrade, and cancels at the period's end."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from tests.e2e.tenancy import HttpApi, HttpUser
from tests.support.world import expect

pytestmark = pytest.mark.e2e
SHIPPED = ("directory", "esxi-backup", "smartqueue")


@pytest.fixture(scope="module")
def restored(stack_url: str, admin_token: str) -> dict[str, str]:
    """The shipped catalogues imported again by a platform admin, over HTTP: every plan is there
    already (seeded by the stack, so never `created`); the import puts back what an earlier e2e
    run changed (the fuzzing admin archives the plans it finds). Answers each plan's outcome."""
    api = HttpApi(stack_url)
    admin = HttpUser("admin", admin_token)
    outcomes: dict[str, str] = {}
    for name in SHIPPED:
        text = resources.files("tally.billing.catalogues").joinpath(f"{name}.json").read_text()
        answer = expect(api.call(admin, "POST", "/v1/plans/import", json.loads(text)), 200)
        outcomes |= {plan["code"]: plan["outcome"] for plan in answer["plans"]}
    again = expect(api.call(admin, "POST", "/v1/plans/import", json.loads(text)), 200)
    assert again["changed"] is False  # the same file twice changes nothing
    return outcomes


def test_the_seeded_catalogues_are_listed(stack_url: str, restored: dict[str, str]) -> None:
    assert "created" not in restored.values()  # make dev seeded them all
    api = HttpApi(stack_url)
    xof = expect(api.call(None, "GET", "/v1/plans", query={"currency": "XOF", "cycle": "annual"}), 200)
    assert [plan["code"] for plan in xof["plans"]] == ["essential", "professional", "enterprise"]
    assert xof["plans"][0]["annual_saving_percent"] == {"XOF": "20.0"}
    euros = expect(api.call(None, "GET", "/v1/plans", query={"currency": "EUR"}), 200)
    assert {"bronze", "silver", "gold", "sponsored-placement"} <= {plan["code"] for plan in euros["plans"]}
    assert expect(api.call(None, "GET", "/v1/plans/gold"), 200)["tier_rank"] == 3


def test_a_trial_an_upgrade_and_a_cancellation_at_period_end(
    stack_url: str, restored: dict[str, str]
) -> None:
    api = HttpApi(stack_url)
    owner = api.new_user("subscriber")
    company = {"name": "Queue Dakar", "email": owner.email, "country": "SN", "currency": "XOF"}
    account_id = expect(api.call(owner, "POST", "/v1/accounts", company), 201)["id"]
    base = f"/v1/accounts/{account_id}/subscription"

    trial = expect(
        api.call(owner, "POST", base, {"plan": "essential", "cycle": "monthly", "currency": "XOF"}), 201
    )
    assert (trial["status"], trial["plan_code"]) == ("trialing", "essential")
    assert expect(api.call(owner, "GET", f"/v1/accounts/{account_id}"), 200)["status"] == "active"

    preview = expect(api.call(owner, "GET", f"{base}/preview-change", query={"plan": "professional"}), 200)
    assert preview["kind"] == "upgrade"
    assert preview["next_invoice"][0]["amount"] == 45000
    changed = expect(api.call(owner, "POST", f"{base}/change", {"plan": "professional"}), 200)
    assert changed["subscription"]["plan_code"] == "professional"

    cancel = {"at_period_end": True, "reason": "Season over"}
    cancelled = expect(api.call(owner, "POST", f"{base}/cancel", cancel), 200)
    assert cancelled["cancel_at_period_end"] is True
    assert cancelled["status"] == "trialing"
    again = api.call(owner, "POST", f"{base}/cancel", cancel)
    assert again[0] == 409
    assert again[1]["code"] == "invalid_transition"
    assert expect(api.call(owner, "GET", base), 200)["cancel_at_period_end"] is True
