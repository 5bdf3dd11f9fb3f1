"""API keys end to end in-process against moto: the accounts function's routes, the items and
audit records they write, and the Lambda authorizer checking keys and Cognito id tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tally import clock
from tally.apikeys.secret import is_well_formed, key_hash
from tally.apikeys.verifier import REVOKED, UNKNOWN
from tally.audit.items import record_of
from tally.auth.claims import unverified_claims
from tally.clock import FixedClock
from tally.identity.roles import Role
from tally.storage import clients, keys
from tally.storage.items import from_item
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.tenancy import User, seed_account, seed_member, user_claims

ACCOUNT = "acc_keys"
OTHER = "acc_other"
OWNER = "owner-sub"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-9!"
CONTEXT: Any = FakeContext()


def seed(stack: Stack) -> None:
    """Two active accounts, an owner of the first, a plain member of the first, an owner of the second."""
    for account in (ACCOUNT, OTHER):
        seed_account(stack, account)
    seed_member(stack, ACCOUNT, User(OWNER, f"{OWNER}@example.com"), Role.OWNER)
    seed_member(stack, ACCOUNT, User("member-sub", "member-sub@example.com"), Role.MEMBER)
    seed_member(stack, OTHER, User("other-owner", "other-owner@example.com"), Role.OWNER)


def _forget_process_state() -> None:
    """What each Lambda process keeps (clients, the secret, cached memberships and keys)."""
    from authorizer import app as authorizer_app

    from accounts import api_keys
    from tally import parameters
    from tally.identity import wiring
    from tracking import routes as tracking_routes

    clients.reset_clients()
    parameters.secrets_provider.cache_clear()
    api_keys.service.cache_clear()
    wiring.access_policy.cache_clear()
    tracking_routes.service.cache_clear()
    authorizer_app.config.cache_clear()
    authorizer_app.key_verifier.cache_clear()
    authorizer_app.id_tokens.cache_clear()


@pytest.fixture
def api(stack: Stack) -> Iterator[Stack]:
    _forget_process_state()
    seed(stack)
    clock.set_clock(FixedClock(START))
    try:
        yield stack
    finally:
        clock.set_clock(None)
        _forget_process_state()


def accounts(stack: Stack, event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    from accounts.app import lambda_handler

    with stack.environment("AccountsFunction"):
        answer = lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"] or "null"), answer["headers"]


def authorize(stack: Stack, header: str | None) -> dict[str, Any]:
    from authorizer.app import lambda_handler

    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:api/$default/GET/v1/track/stats",
        "identitySource": [header] if header is not None else [],
        "routeKey": "GET /v1/track/stats",
        "rawPath": "/v1/track/stats",
        "rawQueryString": "",
        "headers": {"authorization": header} if header is not None else {},
        "requestContext": {"requestId": "req-auth", "http": {"method": "GET", "sourceIp": "203.0.113.7"}},
    }
    with stack.environment("AuthorizerFunction"):
        answer: dict[str, Any] = lambda_handler(event, CONTEXT)
    return answer


def keys_route(
    method: str, subject: str | None, account: str = ACCOUNT, key_id: str | None = None, body: Any = None
) -> dict[str, Any]:
    path = f"/v1/accounts/{account}/api-keys" + (f"/{key_id}" if key_id else "")
    route = f"{method} /v1/accounts/{{account_id}}/api-keys" + ("/{key_id}" if key_id else "")
    parameters = {"account_id": account, **({"key_id": key_id} if key_id else {})}
    return http_event(
        method,
        path,
        body=body,
        claims=user_claims(subject) if subject else None,
        route=route,
        path_parameters=parameters,
    )


def create(
    stack: Stack, scopes: list[str], subject: str = OWNER, account: str = ACCOUNT
) -> tuple[int, Any, dict[str, str]]:
    return accounts(
        stack, keys_route("POST", subject, account, body={"name": "billing server", "scopes": scopes})
    )


def items(stack: Stack) -> list[dict[str, Any]]:
    return list(clients.dynamodb().scan(TableName=stack.ref("BillingTable"))["Items"])


def audit_records(stack: Stack) -> list[Any]:
    return [record_of(item) for item in items(stack) if item["PK"]["S"].startswith("AUDIT#")]


def test_an_owner_creates_lists_and_revokes_a_key_each_change_audited_in_its_transaction(api: Stack) -> None:
    status, created, headers = create(api, ["stats:read", "usage:write"])
    assert status == 201
    assert headers["Cache-Control"] == "no-store"
    secret = created.pop("secret")
    assert is_well_formed(secret)
    key_id = created["id"]
    assert created == {
        "id": key_id,
        "name": "billing server",
        "prefix": secret[:12],
        "scopes": ["usage:write", "stats:read"],
        "created_at": "2026-11-20T10:00:00Z",
        "last_used_at": None,
        "revoked_at": None,
    }

    status, listed, _ = accounts(api, keys_route("GET", OWNER))
    assert (status, listed) == (200, {"api_keys": [created]})

    clock.set_clock(FixedClock(START + timedelta(minutes=5)))
    status, revoked, headers = accounts(api, keys_route("DELETE", OWNER, key_id=key_id))
    assert status == 200
    assert revoked == {**created, "revoked_at": "2026-11-20T10:05:00Z"}
    assert "Cache-Control" not in headers
    clock.set_clock(FixedClock(START + timedelta(minutes=9)))
    assert accounts(api, keys_route("DELETE", OWNER, key_id=key_id))[:2] == (200, revoked)  # the same, again

    records = sorted(audit_records(api), key=lambda record: record.at)
    assert [(r.action, r.entity_type, r.entity_id, r.account_id, str(r.actor)) for r in records] == [
        ("api_key.created", "api_key", key_id, ACCOUNT, f"user:{OWNER}"),
        ("api_key.revoked", "api_key", key_id, ACCOUNT, f"user:{OWNER}"),
    ]
    assert records[0].changes["scopes"].after == ["stats:read", "usage:write"]
    assert records[1].changes["revoked_at"].after == "2026-11-20T10:05:00+00:00"
    lookup = from_item(
        clients.dynamodb().get_item(
            TableName=api.ref("BillingTable"), Key=keys.api_key_lookup(key_hash(secret, pepper(api)))
        )["Item"]
    )
    assert (lookup["revoked"], lookup["key_id"], lookup["account_id"]) == (True, key_id, ACCOUNT)


def pepper(stack: Stack) -> str:
    secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.ref("ApiKeyPepperSecret"))
    return str(secret["SecretString"])


def test_the_secret_is_in_the_create_answer_only_never_stored(api: Stack) -> None:
    _, created, _ = create(api, ["stats:read"])
    secret = created["secret"]
    _, listed, _ = accounts(api, keys_route("GET", OWNER))
    assert "secret" not in listed["api_keys"][0]
    authorize(api, f"Bearer {secret}")
    accounts(api, keys_route("DELETE", OWNER, key_id=created["id"]))

    stored = json.dumps(items(api))
    assert secret not in stored
    assert secret[12:] not in stored  # not even past the visible prefix
    assert key_hash(secret, pepper(api)) in stored  # what is kept instead


def test_the_authorizer_accepts_a_key_records_its_use_once_a_minute_and_refuses_it_once_revoked(
    api: Stack,
) -> None:
    _, created, _ = create(api, ["stats:read"])
    bearer = f"Bearer {created['secret']}"
    assert authorize(api, bearer) == {
        "isAuthorized": True,
        "context": {
            "kind": "api_key",
            "key_id": created["id"],
            "account_id": ACCOUNT,
            "scopes": "stats:read",
        },
    }

    def last_used() -> str | None:
        _, listed, _ = accounts(api, keys_route("GET", OWNER))
        value: str | None = listed["api_keys"][0]["last_used_at"]
        return value

    assert last_used() == "2026-11-20T10:00:00Z"
    clock.set_clock(FixedClock(START + timedelta(seconds=59)))
    _forget_process_state()  # another instance: its own cache, the table's condition still holds
    authorize(api, bearer)
    assert last_used() == "2026-11-20T10:00:00Z"
    clock.set_clock(FixedClock(START + timedelta(seconds=61)))
    _forget_process_state()
    authorize(api, bearer)
    assert last_used() == "2026-11-20T10:01:01Z"

    accounts(api, keys_route("DELETE", OWNER, key_id=created["id"]))
    # This instance still has the key cached: at most 30 s more.
    clock.set_clock(FixedClock(START + timedelta(seconds=61 + 29)))
    assert authorize(api, bearer)["context"]["kind"] == "api_key"
    clock.set_clock(FixedClock(START + timedelta(seconds=61 + 30)))
    assert authorize(api, bearer) == {
        "isAuthorized": True,
        "context": {"kind": "invalid_key", "reason": REVOKED},
    }


def test_the_authorizer_takes_the_pools_id_tokens_and_denies_the_rest(api: Stack) -> None:
    pool = api.ref("UserPool")
    cognito = api.client("cognito-idp")
    email = "jo@example.com"
    cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)
    tokens = cognito.initiate_auth(
        ClientId=api.ref("UserPoolClient"),
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]

    answer = authorize(api, f"Bearer {tokens['IdToken']}")
    assert answer["isAuthorized"] is True
    assert answer["context"]["kind"] == "user"
    assert answer["context"]["email"] == email
    assert answer["context"]["sub"] == unverified_claims(tokens["IdToken"])["sub"]
    assert authorize(api, f"Bearer {tokens['AccessToken']}") == {"isAuthorized": False}
    assert authorize(api, "Bearer tally_sk_short") == {"isAuthorized": False}
    assert authorize(api, None) == {"isAuthorized": False}


def test_only_the_accounts_owners_and_admins_manage_its_keys(api: Stack) -> None:
    assert create(api, ["stats:read"], subject="member-sub")[:2][0] == 403
    assert create(api, ["stats:read"], subject="other-owner")[0] == 403
    status, body, _ = create(api, ["stats:read"], subject="other-owner", account=OTHER)
    assert status == 201
    assert accounts(api, keys_route("GET", "member-sub"))[0] == 403
    assert accounts(api, keys_route("DELETE", OWNER, key_id=body["id"]))[0] == 404  # another account's key
    assert accounts(api, keys_route("DELETE", OWNER, key_id="key_nope"))[0] == 404
    assert accounts(api, keys_route("GET", None))[0] == 401
    status, refused, _ = create(api, [])
    assert status == 422
    assert refused["errors"][0]["field"] == "scopes"


def stats_with(stack: Stack, context: dict[str, Any], account: str = ACCOUNT) -> tuple[int, Any]:
    """GET /v1/track/stats as API Gateway hands it over after the Lambda authorizer allowed it."""
    from tracking.app import lambda_handler

    event = http_event("GET", "/v1/track/stats", query={"account_id": account})
    event["requestContext"]["authorizer"] = {"lambda": context}
    with stack.environment("TrackingFunction"):
        answer = lambda_handler(event, CONTEXT)
    return answer["statusCode"], json.loads(answer["body"])


def test_stats_take_a_key_with_the_scope_for_its_own_account_only(api: Stack) -> None:
    _, reader, _ = create(api, ["stats:read"])
    _, writer, _ = create(api, ["usage:write"])
    allowed = authorize(api, f"Bearer {reader['secret']}")

    status, body = stats_with(api, allowed["context"])
    assert status == 200
    assert body["clicks_total"] == 0
    status, body = stats_with(api, allowed["context"], account=OTHER)
    assert (status, body["code"]) == (403, "forbidden")
    assert body["message"] == "This API key belongs to another account"
    status, body = stats_with(api, authorize(api, f"Bearer {writer['secret']}")["context"])
    assert (status, body["code"]) == (403, "forbidden")
    assert body["message"] == "This API key does not have the stats:read scope"


def test_stats_answer_401_in_words_for_a_revoked_or_unknown_key(api: Stack) -> None:
    _, created, _ = create(api, ["stats:read"])
    accounts(api, keys_route("DELETE", OWNER, key_id=created["id"]))
    status, body = stats_with(api, authorize(api, f"Bearer {created['secret']}")["context"])
    assert (status, body) == (401, {"message": REVOKED, "code": "not_authenticated", "errors": []})
    status, body = stats_with(api, authorize(api, "Bearer tally_sk_" + "A" * 43)["context"])
    assert (status, body["message"]) == (401, UNKNOWN)


def test_stats_still_take_a_users_id_token_through_the_lambda_authorizer(api: Stack) -> None:
    context = {"kind": "user", "sub": OWNER, "email": "o@example.com", "groups": "", "iat": "1790000000"}
    assert stats_with(api, context)[0] == 200
    assert stats_with(api, {**context, "sub": "stranger"})[0] == 403
