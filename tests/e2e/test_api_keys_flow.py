"""API keys over real HTTP against the local stack: an owner creates a key, a server reads stats
with it, the owner revokes it and it stops working within the bound; and every edge of the
authorizer's contract (docs/identity.md) answers as API Gateway would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.members import member_token

pytestmark = pytest.mark.e2e

COMPANY = {"name": "Clés & Co", "email": "contact@cles.example", "country": "FR", "currency": "EUR"}


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def new_account(stack_url: str, admin_token: str, name: str) -> str:
    answer = requests.post(
        f"{stack_url}/v1/accounts", json={**COMPANY, "name": name}, headers=bearer(admin_token), timeout=10
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


@pytest.fixture(scope="module")
def account(stack_url: str, admin_token: str) -> str:
    return new_account(stack_url, admin_token, "Clés A")


@pytest.fixture(scope="module")
def other_account(stack_url: str, admin_token: str) -> str:
    return new_account(stack_url, admin_token, "Clés B")


@pytest.fixture(scope="module")
def owner(stack_url: str, account: str) -> str:
    return member_token(stack_url, account)


def create_key(stack_url: str, owner: str, account: str, scopes: list[str]) -> requests.Response:
    return requests.post(
        f"{stack_url}/v1/accounts/{account}/api-keys",
        json={"name": "billing server", "scopes": scopes},
        headers=bearer(owner),
        timeout=10,
    )


def stats(stack_url: str, headers: dict[str, str], account: str) -> requests.Response:
    return requests.get(
        f"{stack_url}/v1/track/stats", params={"account_id": account}, headers=headers, timeout=10
    )


@pytest.fixture
def clock(stack_url: str) -> Iterator[None]:
    """Tests that move the local clock put it back."""
    try:
        yield
    finally:
        requests.post(f"{stack_url}/_local/clock", json={"now": None}, timeout=10).raise_for_status()


def move_clock(stack_url: str, seconds: float) -> None:
    now = datetime.fromisoformat(requests.get(f"{stack_url}/_local/clock", timeout=10).json()["now"])
    later = (now + timedelta(seconds=seconds)).isoformat()
    requests.post(f"{stack_url}/_local/clock", json={"now": later}, timeout=10).raise_for_status()


def test_an_owner_creates_a_key_a_server_reads_stats_with_it_and_a_revoked_key_stops_within_60_s(
    stack_url: str, owner: str, account: str, clock: None
) -> None:
    created = create_key(stack_url, owner, account, ["stats:read"])
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    key = created.json()
    secret = key.pop("secret")
    assert secret.startswith("tally_sk_")
    assert key["prefix"] == secret[:12]

    read = stats(stack_url, bearer(secret), account)
    assert read.status_code == 200, read.text
    assert read.json()["account_id"] == account

    listed = requests.get(f"{stack_url}/v1/accounts/{account}/api-keys", headers=bearer(owner), timeout=10)
    [shown] = listed.json()["api_keys"]
    assert "secret" not in shown
    assert shown["last_used_at"] is not None  # the read above was recorded

    revoked = requests.delete(
        f"{stack_url}/v1/accounts/{account}/api-keys/{key['id']}", headers=bearer(owner), timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None

    move_clock(stack_url, 61)  # past API Gateway's 30 s and the authorizer's own 30 s
    refused = stats(stack_url, bearer(secret), account)
    assert refused.status_code == 401, refused.text
    assert refused.json() == {
        "message": "This API key was revoked: create a new one",
        "code": "not_authenticated",
        "errors": [],
    }


def test_the_authorizers_contract_at_each_edge(
    stack_url: str, owner: str, account: str, other_account: str
) -> None:
    # No Authorization header: API Gateway answers 401 itself, without calling the authorizer.
    missing = stats(stack_url, {}, account)
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    # Malformed: the authorizer denies it, and API Gateway answers its own 403.
    for header in ("Bearer tally_sk_tooshort", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"):
        denied = stats(stack_url, {"Authorization": header}, account)
        assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"}), header
    # A well-formed key nobody issued: 401 in Tally's shape, in words.
    unknown = stats(stack_url, bearer("tally_sk_" + "Q" * 43), account)
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "not_authenticated"
    assert "no such key" in unknown.json()["message"]

    writer = create_key(stack_url, owner, account, ["usage:write"]).json()["secret"]
    without_scope = stats(stack_url, bearer(writer), account)
    assert without_scope.status_code == 403
    assert without_scope.json()["message"] == "This API key does not have the stats:read scope"

    reader = create_key(stack_url, owner, account, ["stats:read"]).json()["secret"]
    elsewhere = stats(stack_url, bearer(reader), other_account)
    assert elsewhere.status_code == 403
    assert elsewhere.json()["message"] == "This API key belongs to another account"

    # A user's id token still opens the route (the user path of the same authorizer).
    assert stats(stack_url, bearer(owner), account).status_code == 200
    assert stats(stack_url, bearer(owner), other_account).status_code == 403


def test_only_owners_and_admins_manage_keys(stack_url: str, account: str, owner: str) -> None:
    viewer = member_token(stack_url, account, "viewer")
    refused = create_key(stack_url, viewer, account, ["stats:read"])
    assert refused.status_code == 403
    assert "api_keys:write" in refused.json()["message"]
    listed = requests.get(f"{stack_url}/v1/accounts/{account}/api-keys", timeout=10)
    assert (listed.status_code, listed.json()) == (401, {"message": "Unauthorized"})
    # A key is not a way into the key routes: they take id tokens only (the JWT authorizer).
    secret = create_key(stack_url, owner, account, ["stats:read"]).json()["secret"]
    with_key = requests.get(f"{stack_url}/v1/accounts/{account}/api-keys", headers=bearer(secret), timeout=10)
    assert with_key.status_code == 401
    body: Any = with_key.json()
    assert body == {"message": "Unauthorized"}
