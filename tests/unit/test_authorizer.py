"""The Lambda authorizer's answers (docs/identity.md, "The Lambda authorizer's context"), with
an in-memory key store and a user pool of our own."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from authorizer.config import AuthorizerConfig, AuthorizerMisconfigured
from authorizer.decision import DENY, EXPIRED, Authorizer, bearer
from authorizer.tokens import IdTokens, InvalidToken, SigningKeys

from tally.apikeys.domain import KeyRecord
from tally.apikeys.secret import new_secret
from tally.apikeys.verifier import REVOKED, UNKNOWN, KeyVerifier
from tests.support.apikeys import CLIENT_ID, ISSUER, PEPPER, InMemoryKeyLookup, MovingClock, Pool

RECORD = KeyRecord("key_1", "acc_1", frozenset({"stats:read", "usage:write"}), revoked=False)


class CountingJwks:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.fetched: list[str] = []

    def __call__(self, url: str) -> Mapping[str, Any]:
        self.fetched.append(url)
        return self.pool.jwks()


@pytest.fixture(scope="module")
def pool() -> Pool:
    return Pool()


class World:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.lookup = InMemoryKeyLookup()
        self.clock = MovingClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        self.jwks = CountingJwks(pool)
        self.monotonic = 0.0
        self.keys_built = 0
        self.tokens_built = 0
        self.verifier = KeyVerifier(self.lookup, lambda: PEPPER, now=self.clock)
        self.tokens = IdTokens(
            ISSUER,
            CLIENT_ID,
            SigningKeys("https://jwks.example/keys", self.jwks, monotonic=lambda: self.monotonic),
        )

        def keys() -> KeyVerifier:
            self.keys_built += 1
            return self.verifier

        def tokens() -> IdTokens:
            self.tokens_built += 1
            return self.tokens

        self.authorizer = Authorizer(keys, tokens)

    def decide(self, header: str | None) -> dict[str, Any]:
        return self.authorizer.decide(header)


@pytest.fixture
def world(pool: Pool) -> World:
    return World(pool)


def test_bearer_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("BEARER abc") == "abc"
    assert bearer("abc") is None
    assert bearer("Basic abc") is None
    assert bearer("Bearer ") is None
    assert bearer("Bearer a b") is None
    assert bearer(None) is None
    assert bearer("") is None


def test_a_valid_key_is_allowed_with_its_account_and_scopes(world: World) -> None:
    secret = new_secret()
    world.lookup.add(secret, RECORD)
    assert world.decide(f"Bearer {secret}") == {
        "isAuthorized": True,
        "context": {
            "kind": "api_key",
            "key_id": "key_1",
            "account_id": "acc_1",
            "scopes": "usage:write stats:read",
        },
    }
    assert world.tokens_built == 0  # a key never loads the token check


def test_unknown_and_revoked_keys_are_allowed_through_as_invalid_with_the_reason(world: World) -> None:
    secret = new_secret()
    world.lookup.add(secret, RECORD)
    world.lookup.revoke("key_1")
    assert world.decide(f"Bearer {secret}") == {
        "isAuthorized": True,
        "context": {"kind": "invalid_key", "reason": REVOKED},
    }
    assert world.decide(f"Bearer {new_secret()}")["context"] == {"kind": "invalid_key", "reason": UNKNOWN}


@pytest.mark.parametrize(
    "header",
    [None, "", "tally_sk_abc", "Bearer tally_sk_short", "Bearer tally_sk_" + "x" * 44, "Basic dXNlcjpwYXNz"],
    ids=["none", "empty", "no-scheme", "short-key", "long-key", "basic"],
)
def test_anything_malformed_is_denied_without_a_read(world: World, header: str | None) -> None:
    assert world.decide(header) == DENY
    assert world.lookup.finds == 0
    assert world.keys_built == 0


def test_a_valid_id_token_is_allowed_as_its_user(world: World) -> None:
    groups: dict[str, Any] = {"cognito:groups": ["platform-manager", "platform-admin"]}
    token = world.pool.token(**groups)
    answer = world.decide(f"Bearer {token}")
    assert answer["isAuthorized"] is True
    context = answer["context"]
    assert context["kind"] == "user"
    assert context["sub"] == "user-1"
    assert context["email"] == "owner@example.com"
    assert context["groups"] == "platform-admin platform-manager"
    assert int(context["iat"]) == pytest.approx(time.time(), abs=5)
    assert all(isinstance(value, str) for value in context.values())
    assert world.keys_built == 0  # a token never reads the pepper


def test_a_user_without_groups_has_an_empty_groups_value(world: World) -> None:
    answer = world.decide(f"Bearer {world.pool.token(**{'cognito:groups': None})}")
    assert answer["context"]["groups"] == ""


def test_an_expired_but_genuine_token_is_a_401_in_words(world: World) -> None:
    past = int(time.time()) - 7200
    token = world.pool.token(iat=past, exp=past + 3600)
    assert world.decide(f"Bearer {token}") == {
        "isAuthorized": True,
        "context": {"kind": "invalid_key", "reason": EXPIRED},
    }


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://cognito-idp.eu-west-1.amazonaws.com/other"},
        {"aud": "another-client"},
        {"aud": None, "client_id": CLIENT_ID, "token_use": "access"},
        {"token_use": "access"},
        {"token_use": None},
        {"exp": None},
        {"iat": None},
        {"sub": None},
        # Expired AND foreign: "expired" is never said of another pool's or client's token.
        {"aud": "another-client", "exp": int(time.time()) - 10},
    ],
    ids=[
        "issuer",
        "audience",
        "access-token",
        "token-use",
        "no-token-use",
        "no-exp",
        "no-iat",
        "no-sub",
        "foreign-expired",
    ],
)
def test_tokens_that_are_not_this_pools_id_tokens_are_denied(world: World, claims: dict[str, Any]) -> None:
    assert world.decide(f"Bearer {world.pool.token(**claims)}") == DENY


def test_forged_and_unsigned_tokens_are_denied(world: World) -> None:
    forger = Pool()
    assert world.decide(f"Bearer {forger.token()}") == DENY
    assert world.decide("Bearer x.y.z") == DENY
    header = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ"  # {"alg":"none","kid":"k1"}
    payload = "eyJzdWIiOiJ1c2VyLTEifQ"
    assert world.decide(f"Bearer {header}.{payload}.") == DENY


def test_the_jwks_is_kept_and_fetched_again_for_an_unknown_key_at_most_once_a_minute(world: World) -> None:
    for _ in range(3):
        assert world.decide(f"Bearer {world.pool.token()}")["isAuthorized"] is True
    assert world.jwks.fetched == ["https://jwks.example/keys"]

    # A token naming a key the pool does not publish fetches the set again, at most once a minute.
    assert world.decide(f"Bearer {world.pool.token(kid='made-up')}") == DENY
    assert len(world.jwks.fetched) == 1
    world.monotonic += 60
    assert world.decide(f"Bearer {world.pool.token(kid='made-up')}") == DENY
    assert world.decide(f"Bearer {world.pool.token(kid='made-up-too')}") == DENY
    assert len(world.jwks.fetched) == 2
    assert world.decide(f"Bearer {world.pool.token()}")["isAuthorized"] is True


def test_a_rotated_key_is_picked_up_when_a_token_names_it(pool: Pool) -> None:
    jwks = CountingJwks(pool)
    clock = [0.0]
    keys = SigningKeys("https://jwks.example/keys", jwks, monotonic=lambda: clock[0])
    tokens = IdTokens(ISSUER, CLIENT_ID, keys)
    tokens.verify(pool.token())
    rotated = Pool(kid="k2")
    jwks.pool = rotated  # the pool publishes its new key
    clock[0] += 3600
    assert tokens.verify(rotated.token())["sub"] == "user-1"
    with pytest.raises(InvalidToken):
        tokens.verify(pool.token())  # the old key is gone from the set


def test_the_configuration_reads_the_environment_and_finds_the_pools_keys() -> None:
    environ = {
        "BILLING_TABLE_NAME": "billing",
        "USER_POOL_ID": "eu-west-1_abc",
        "USER_POOL_CLIENT_ID": "client",
        "AWS_REGION": "eu-west-1",
        "API_KEY_PEPPER_SECRET_ARN": "arn:secret",
    }
    deployed = AuthorizerConfig.from_environ(environ)
    assert deployed.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
    assert (
        deployed.jwks_url == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json"
    )
    local = AuthorizerConfig.from_environ({**environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000/"})
    assert local.issuer == deployed.issuer
    assert local.jwks_url == "http://127.0.0.1:5000/eu-west-1_abc/.well-known/jwks.json"
    cognito_only = {**environ, "AWS_ENDPOINT_URL": "http://x", "AWS_ENDPOINT_URL_COGNITO_IDP": "http://c"}
    assert AuthorizerConfig.from_environ(cognito_only).jwks_url.startswith("http://c/eu-west-1_abc/")
    with pytest.raises(AuthorizerMisconfigured, match="USER_POOL_ID"):
        AuthorizerConfig.from_environ({**environ, "USER_POOL_ID": ""})
