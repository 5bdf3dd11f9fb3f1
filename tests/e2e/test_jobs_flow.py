"""The scheduled jobs over real HTTP against the local stack, as a person would walk them with
`make dev`: an XOF subscription renewed month after month by running the recurring-invoicing
schedule "as of" each renewal day (`POST /_local/schedules/{name}/run`), each run twice; twelve
invoices numbered in sequence, twelve emails in the mailbox; the runs as a platform admin reads
them."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
import requests

from tests.e2e.tenancy import HttpApi, HttpUser
from tests.support.world import expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def clock(stack_url: str) -> Iterator[None]:
    yield
    requests.post(f"{stack_url}/_local/clock", json={"now": None}, timeout=10).raise_for_status()


def _run(stack_url: str, job: str, as_of: datetime) -> dict[str, Any]:
    answer = requests.post(
        f"{stack_url}/_local/schedules/{job}/run", json={"as_of": as_of.isoformat()}, timeout=120
    )
    assert answer.status_code == 200, answer.text[:500]
    body: dict[str, Any] = answer.json()
    return body


def test_a_year_of_monthly_renewals_run_by_the_schedule(
    stack_url: str, admin_token: str, clock: None
) -> None:
    api = HttpApi(stack_url)
    admin = HttpUser("admin", admin_token)
    shipped = json.loads(resources.files("tally.billing.seller_data").joinpath("defaults.json").read_text())
    expect(api.call(admin, "PUT", "/v1/settings/billing", shipped), 200)
    email = f"compta-{secrets.token_hex(3)}@dakar.example.sn"
    company = {"name": "Renouvellements SARL", "email": email, "country": "SN", "currency": "XOF"}
    account = expect(api.call(admin, "POST", "/v1/accounts", company), 201)["id"]
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "status": "active", "reason": "Deal"}
    expect(api.call(admin, "POST", f"/v1/accounts/{account}/subscription", start), 201)

    for _ in range(12):
        subscription = expect(api.call(admin, "GET", f"/v1/accounts/{account}/subscription"), 200)
        renewal = datetime.fromisoformat(subscription["current_period_end"]).astimezone(UTC)
        requests.post(
            f"{stack_url}/_local/clock", json={"now": renewal.isoformat()}, timeout=10
        ).raise_for_status()
        _run(stack_url, "recurring-invoicing", renewal)
        _run(stack_url, "recurring-invoicing", renewal)  # the same day again: nothing more

    listed = expect(api.call(admin, "GET", f"/v1/accounts/{account}/invoices", query={"limit": "50"}), 200)
    invoices = sorted(listed["invoices"], key=lambda invoice: invoice["period_start"])
    assert len(invoices) == 12
    numbers = [invoice["number"] for invoice in invoices]
    assert all(number for number in numbers)
    assert numbers == sorted(numbers)  # in sequence
    mail = requests.get(f"{stack_url}/_local/mailbox", params={"to": email}, timeout=10).json()["messages"]
    issued = [m for m in mail if any(number in m["subject"] for number in numbers)]
    assert len(issued) == 12

    runs = expect(api.call(admin, "GET", "/v1/jobs/runs", query={"job": "recurring-invoicing"}), 200)
    assert runs["runs"][0]["job"] == "recurring-invoicing"
    expect(api.call(admin, "GET", "/v1/jobs/dead-letters"), 200)
