"""Usage metering over real HTTP against the local stack (issue 7, usage half): a plan version and
the account's subscription pointer are seeded where the catalogue half writes them (moto, found at
/_local/resources); an API key with usage:write then sends usage until a soft and then a hard
quota trips, idempotently; the owner's warnings are in the local mailbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests

from tally.auth.claims import unverified_claims
from tally.storage import keys
from tally.storage.items import to_item
from tests.e2e.members import member_token
from tests.support.usage import plan_version, plan_version_item, subscription_item

pytestmark = pytest.mark.e2e

COMPANY = {"name": "Compteurs SA", "email": "contact@compteurs.example", "country": "FR", "currency": "EUR"}
TERMS: dict[str, Any] = {
    "prices": [{"cycle": "monthly", "currency": "EUR", "amount": 2900}],
    "quotas": {
        "api_calls": {"limit": 20, "enforcement": "hard"},
        "sms": {"limit": 10, "enforcement": "soft"},
    },
    "features": {"api_access": True},
    "data_retention_days": 90,
}


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def billing_table(stack_url: str) -> tuple[Any, str]:
    resources = requests.get(f"{stack_url}/_local/resources", timeout=10).json()
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=resources["endpoint"],
        region_name=resources["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return dynamodb, resources["resources"]["BillingTable"]["ref"]


def test_a_key_sends_usage_until_a_soft_then_a_hard_quota_trips(stack_url: str, admin_token: str) -> None:
    created = requests.post(f"{stack_url}/v1/accounts", json=COMPANY, headers=bearer(admin_token), timeout=10)
    assert created.status_code == 201, created.text
    account = str(created.json()["id"])
    owner = member_token(stack_url, account)
    claims = unverified_claims(owner)
    email = str(claims["email"])
    dynamodb, table = billing_table(stack_url)
    # The member item the accounts work writes on a join (who gets the soft-quota emails), and
    # what the catalogue half writes: a plan version and the account's subscription pointer.
    member = {
        "kind": "member",
        "account_id": account,
        "user_id": claims["sub"],
        "email": email,
        "role": "owner",
    }
    dynamodb.put_item(TableName=table, Item=keys.member(account, str(claims["sub"])) | to_item(member))
    dynamodb.put_item(TableName=table, Item=plan_version_item("e2e-usage", 1, plan_version(TERMS)))
    now = datetime.fromisoformat(requests.get(f"{stack_url}/_local/clock", timeout=10).json()["now"])
    start = (now - timedelta(days=2)).astimezone(UTC)
    pointer = subscription_item(
        account, "e2e-usage", 1, anchor=start, period_start=start, period_end=start + timedelta(days=28)
    )
    dynamodb.put_item(TableName=table, Item=pointer)

    key = requests.post(
        f"{stack_url}/v1/accounts/{account}/api-keys",
        json={"name": "metering", "scopes": ["usage:write", "usage:read"]},
        headers=bearer(owner),
        timeout=10,
    )
    assert key.status_code == 201, key.text
    server = bearer(key.json()["secret"])

    # The catalogues' metrics are seeded by the local stack.
    listed = requests.get(f"{stack_url}/v1/metrics", headers=server, timeout=10).json()["metrics"]
    assert {"api_calls", "sms", "storage_gb"} <= {m["code"] for m in listed}

    def send(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = requests.post(f"{stack_url}/v1/usage", json={"events": events}, headers=server, timeout=30)
        assert answer.status_code == 202, answer.text
        results: list[dict[str, Any]] = answer.json()["results"]
        return results

    # Soft: 12 SMS of 10 are all accepted; the owner is warned at 80 % and at 100 %, once each.
    soft = send([{"id": f"sms-{n}", "metric": "sms", "quantity": 1} for n in range(12)])
    assert [r["status"] for r in soft] == [202] * 12
    inbox = requests.get(f"{stack_url}/_local/mailbox", params={"to": email}, timeout=10).json()["messages"]
    quota_mail = [m for m in inbox if "quota" in m["subject"]]
    assert len(quota_mail) == 2, [m["subject"] for m in inbox]
    assert {"80 %", "100 %"} == {next(p for p in ("80 %", "100 %") if p in m["subject"]) for m in quota_mail}

    # Hard: 25 calls against 20: the last five are refused, naming the limit and the value.
    hard = send([{"id": f"call-{n}", "metric": "api_calls"} for n in range(25)])
    assert [r["status"] for r in hard] == [202] * 20 + [409] * 5
    assert {(r["code"], r["limit"], Decimal(str(r["value"]))) for r in hard[20:]} == {
        ("quota_exceeded", 20, Decimal(20))
    }

    # Idempotent: the same ids again change nothing and answer their first results.
    again = send([{"id": "call-0", "metric": "api_calls"}, {"id": "sms-0", "metric": "sms", "quantity": 1}])
    assert [(r["status"], r["repeat"]) for r in again] == [(202, True), (202, True)]

    usage = requests.get(f"{stack_url}/v1/accounts/{account}/usage", headers=server, timeout=10)
    assert usage.status_code == 200, usage.text
    lines = {line["metric"]: line for line in usage.json()["metrics"]}
    assert (Decimal(str(lines["api_calls"]["value"])), lines["api_calls"]["state"]) == (
        Decimal(20),
        "exceeded",
    )
    assert (Decimal(str(lines["sms"]["value"])), lines["sms"]["percent"]) == (Decimal(12), "120.0")
    check = requests.post(
        f"{stack_url}/v1/quotas/check",
        json={"metric": "api_calls", "quantity": 1},
        headers=server,
        timeout=10,
    )
    assert check.status_code == 200, check.text
    assert check.json()["allowed"] is False
    violations = requests.get(
        f"{stack_url}/v1/accounts/{account}/quota-violations", headers=bearer(owner), timeout=10
    )
    assert [v["metric"] for v in violations.json()["violations"]] == ["sms"]
