"""Issue 5's reproductions over real HTTP: each bad input gets a 4xx in words and writes nothing."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
import requests

from tests.e2e.members import member_token

pytestmark = pytest.mark.e2e

POST_ROUTES = [
    "/v1/track/click",
    "/v1/track/view",
    "/v1/track/events",
    "/v1/auth/login",
    "/v1/auth/register",
    "/v1/accounts",
]
JSON = {"Content-Type": "application/json"}
COMPANY = {"name": "Menuiserie Petit", "email": "contact@petit.fr", "country": "FR", "currency": "EUR"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(url: str, data: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=data, headers=headers, timeout=30)


def error_schema(stack_url: str) -> Any:
    document = requests.get(f"{stack_url}/v1/openapi.json", timeout=10).json()
    return jsonschema_rs.validator_for(
        {**document["components"]["schemas"]["Error"], "components": document["components"]}
    )


def assert_in_words(answer: requests.Response, status: int, field: str, where: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"message", "code", "errors"}, body
    assert [(e["field"], e["in"]) for e in body["errors"]] == [(field, where)], body
    assert body["message"] == body["errors"][0]["message"]


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize(
    ("data", "content_type", "status", "field", "where"),
    [
        (b"\xff", "application/json", 422, "body", "body"),
        (b"--x\r\n\r\n", "multipart/form-data", 415, "content-type", "header"),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 422, "body", "body"),
        (b'{"unknown": ' + b"7" * 4_301 + b"}", "application/json", 422, "body", "body"),
        (b'[{"a": 1}, {"b": 2}]', "application/json", 422, "body", "body"),
        (b"{}", "text/plain", 415, "content-type", "header"),
    ],
)
def test_bodies_that_used_to_reach_a_500_get_a_4xx_in_words(
    stack_url: str,
    admin_token: str,
    path: str,
    data: bytes,
    content_type: str,
    status: int,
    field: str,
    where: str,
) -> None:
    answer = post(f"{stack_url}{path}", data, {"Content-Type": content_type, **bearer(admin_token)})

    assert_in_words(answer, status, field, where)


@pytest.fixture(scope="module")
def company(stack_url: str, admin_token: str) -> dict[str, Any]:
    answer = requests.post(f"{stack_url}/v1/accounts", json=COMPANY, headers=bearer(admin_token), timeout=10)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_refused_clicks_are_not_counted(stack_url: str, admin_token: str, company: dict[str, Any]) -> None:
    click = {"account_id": company["id"], "source": "seo"}
    refused = [
        post(f"{stack_url}/v1/track/click", json.dumps({**click, "page_url": "/a\x00b"}).encode(), JSON),
        post(
            f"{stack_url}/v1/track/click",
            json.dumps({**click, "referrer": "\ud800"}).encode("utf-8", "surrogatepass"),
            JSON,
        ),
        post(f"{stack_url}/v1/track/click", json.dumps([click, click]).encode(), JSON),
    ]
    accepted = post(
        f"{stack_url}/v1/track/click", json.dumps(click).encode(), {"Content-Type": "APPLICATION/JSON"}
    )

    assert [answer.status_code for answer in refused] == [422, 422, 422]
    assert_in_words(refused[0], 422, "page_url", "body")
    assert accepted.status_code == 202, accepted.text
    requests.get(f"{stack_url}/_local/streams/drain", timeout=30).raise_for_status()
    stats = requests.get(
        f"{stack_url}/v1/track/stats",
        params={"account_id": company["id"]},
        headers=bearer(member_token(stack_url, company["id"])),
        timeout=10,
    )
    assert stats.json()["clicks_total"] == 1


def test_a_siren_belongs_to_one_account_and_a_refused_batch_claims_nothing(
    stack_url: str, admin_token: str
) -> None:
    first = {**COMPANY, "name": "Premier", "siren": "443 061 841"}
    second = {**COMPANY, "name": "Second", "siren": "404833048"}
    url, auth = f"{stack_url}/v1/accounts", bearer(admin_token)

    unwrapped = post(url, json.dumps([first, second]).encode(), {**JSON, **auth})
    created = requests.post(url, json=first, headers={**auth, "Idempotency-Key": "e2e-premier"}, timeout=10)
    again = requests.post(url, json=first, headers={**auth, "Idempotency-Key": "e2e-premier"}, timeout=10)
    taken = requests.post(
        url, json={**first, "name": "Copy"}, headers={**auth, "Idempotency-Key": "e2e-copy"}, timeout=10
    )

    assert unwrapped.status_code == 422
    assert created.status_code == 201, created.text
    assert again.json() == created.json()
    assert_in_words(taken, 409, "siren", "body")
    assert taken.json()["message"] == f"SIREN 443061841 already belongs to account '{created.json()['id']}'"
    assert requests.post(url, json=second, headers=auth, timeout=10).status_code == 201


def test_the_gateways_own_errors_fit_the_documented_error_schema(stack_url: str) -> None:
    validator = error_schema(stack_url)
    unauthorized = requests.get(f"{stack_url}/v1/track/stats", params={"account_id": "acc_1"}, timeout=10)
    not_found = requests.get(f"{stack_url}/v1/nowhere", timeout=10)

    assert (unauthorized.status_code, unauthorized.json()) == (401, {"message": "Unauthorized"})
    assert not_found.status_code == 404
    for answer in (unauthorized, not_found):
        assert validator.is_valid(answer.json())


def test_query_and_path_problems_say_where_they_are(stack_url: str, admin_token: str) -> None:
    days = requests.get(
        f"{stack_url}/v1/track/stats",
        params={"account_id": "acc_1", "days": "0"},
        headers=bearer(admin_token),
        timeout=10,
    )
    account = requests.get(f"{stack_url}/v1/accounts/acc_nobody", headers=bearer(admin_token), timeout=10)

    assert_in_words(account, 404, "account_id", "path")
    assert days.status_code == 422
    assert [(e["field"], e["in"]) for e in days.json()["errors"]] == [("days", "query")]
