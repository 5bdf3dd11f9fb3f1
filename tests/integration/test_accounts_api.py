"""The accounts function in-process against moto (sign-in is the auth function's: test_auth_api)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tally.storage import clients
from tests.support.events import FakeContext, admin_claims, http_event, tenant_claims
from tests.support.stack import Stack

ACCOUNT = {
    "name": "Boulangerie Dupont",
    "email": "contact@dupont.fr",
    "country": "FR",
    "currency": "EUR",
    "siren": "732829320",
    "siret": "73282932000074",
}


@pytest.fixture
def api(stack: Stack) -> Iterator[Stack]:
    with stack.environment("AccountsFunction"):
        from accounts import routes

        routes.service.cache_clear()
        routes._create_once.cache_clear()
        from tally.http import idempotency

        idempotency.persistence.cache_clear()
        yield stack
        routes.service.cache_clear()
        routes._create_once.cache_clear()
        idempotency.persistence.cache_clear()


def call(event: dict[str, Any]) -> tuple[int, Any]:
    from accounts.app import lambda_handler

    answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"] or "null")


def create(
    body: Any, claims: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    return call(
        http_event("POST", "/v1/accounts", body=body, claims=claims or admin_claims(), headers=headers)
    )


def get(account_id: str, claims: dict[str, Any] | None) -> tuple[int, Any]:
    return call(
        http_event(
            "GET",
            f"/v1/accounts/{account_id}",
            claims=claims,
            route="GET /v1/accounts/{account_id}",
            path_parameters={"account_id": account_id},
        )
    )


def test_admin_creates_and_reads_an_account(api: Stack) -> None:
    status, created = create(ACCOUNT)

    assert status == 201
    assert created["id"].startswith("acc_")
    assert {k: created[k] for k in ACCOUNT} == ACCOUNT
    assert get(created["id"], admin_claims()) == (200, created)
    assert get(created["id"], tenant_claims(created["id"])) == (200, created)
    assert get(created["id"], tenant_claims("acc_other"))[0] == 403
    assert get("acc_missing", admin_claims())[0] == 404
    assert get(created["id"], None)[0] == 401


def test_only_platform_admins_create_accounts(api: Stack) -> None:
    status, body = create(ACCOUNT, claims=tenant_claims("acc_1"))

    assert status == 403
    assert "platform administrators" in body["message"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"siren": "732829321"}, "siren", "Luhn"),
        ({"siret": "123"}, "siret", "14 digits"),
        ({"country": "France"}, "country", "at most 2"),
        ({"currency": "EURO"}, "currency", "at most 3"),
        ({"name": ""}, "name", "at least 1"),
    ],
)
def test_bad_accounts_are_422_naming_the_field(
    api: Stack, changes: dict[str, str], field: str, words: str
) -> None:
    status, body = create({**ACCOUNT, **changes})

    assert status == 422
    assert any(e["field"] == field and words in e["message"] for e in body["errors"]), body


def test_a_retried_create_with_the_same_idempotency_key_creates_one_account(api: Stack) -> None:
    key = {"Idempotency-Key": "create-dupont-1"}

    first = create(ACCOUNT, headers=key)
    second = create(ACCOUNT, headers=key)
    reused = create({**ACCOUNT, "name": "Another"}, headers=key)

    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert reused[0] == 422
    assert reused[1]["code"] == "idempotency_key_reused"
    assert reused[1]["errors"] == [
        {"field": "idempotency-key", "in": "header", "message": reused[1]["message"]}
    ]
    assert [item["kind"]["S"] for item in accounts_stored(api)].count("account") == 1


def accounts_stored(stack: Stack) -> list[dict[str, Any]]:
    items = clients.dynamodb().scan(TableName=stack.ref("BillingTable"))["Items"]
    return [item for item in items if item.get("kind", {}).get("S") in {"account", "claim"}]


@pytest.mark.parametrize(
    ("second", "field", "number"),
    [
        ({"siret": None}, "siren", "732829320"),
        ({"siren": None}, "siret", "73282932000074"),
        ({"siret": "73282932000066"}, "siren", "732829320"),
    ],
)
def test_a_siren_or_siret_belongs_to_one_account(
    api: Stack, second: dict[str, Any], field: str, number: str
) -> None:
    status, first = create(ACCOUNT, headers={"Idempotency-Key": "dupont-1"})
    assert status == 201
    before = accounts_stored(api)

    status, answer = create(
        {**ACCOUNT, "name": "Dupont bis", **second}, headers={"Idempotency-Key": "dupont-2"}
    )

    assert status == 409, answer
    assert answer["code"] == "conflict"
    assert answer["errors"] == [{"field": field, "in": "body", "message": answer["message"]}]
    assert answer["message"] == f"{field.upper()} {number} already belongs to account '{first['id']}'"
    assert accounts_stored(api) == before


def test_creating_an_account_claims_its_siren_and_siret(api: Stack) -> None:
    status, created = create(ACCOUNT)

    claims = {
        item["PK"]["S"]: item["account_id"]["S"]
        for item in accounts_stored(api)
        if item["kind"]["S"] == "claim"
    }
    assert status == 201
    assert claims == {"SIREN#732829320": created["id"], "SIRET#73282932000074": created["id"]}


def test_accounts_without_siren_do_not_conflict(api: Stack) -> None:
    bare = {key: value for key, value in ACCOUNT.items() if key not in {"siren", "siret"}}

    assert create(bare)[0] == create(bare)[0] == 201


def test_problems_outside_the_body_say_where_they_are(api: Stack) -> None:
    status, answer = create(ACCOUNT, headers={"Idempotency-Key": "k" * 256})
    assert (status, answer["errors"][0]["field"], answer["errors"][0]["in"]) == (
        422,
        "idempotency-key",
        "header",
    )

    status, answer = get("acc bad", admin_claims())
    assert (status, answer["errors"][0]["field"], answer["errors"][0]["in"]) == (422, "account_id", "path")

    status, answer = get("acc_missing", admin_claims())
    assert (status, answer["errors"][0]["field"], answer["errors"][0]["in"]) == (404, "account_id", "path")

    status, answer = get("acc_other", tenant_claims("acc_mine"))
    assert (status, answer["errors"][0]["field"], answer["errors"][0]["in"]) == (403, "account_id", "path")


def test_every_error_has_message_code_and_errors(api: Stack) -> None:
    answers = [
        create(ACCOUNT, claims=tenant_claims("acc_1")),
        get("acc_1", None),
    ]

    for status, body in answers:
        assert status in {401, 403}
        assert set(body) == {"message", "code", "errors"}
        assert body["errors"] == []
