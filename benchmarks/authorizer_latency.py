"""The Lambda authorizer's added latency with a warm cache (issue 6), in two places.

In-process: authorizer.app.lambda_handler with AuthorizerFunction's environment against the moto
server, after a warm-up, each call timed: an API key this instance has cached (HMAC-SHA256 and a
dictionary lookup, no AWS call), an API key it has not (one GetItem of the key's lookup), and a
Cognito id token with the pool's keys cached (an RSA signature check and the claims).

Through the local gateway: LocalStack in this process on the real template, GET /v1/track/stats
over HTTP with a key and with an id token. The gateway's authorisation step
(LambdaAuthorizers.authorize) is timed by wrapping it, and so is the whole request: with API
Gateway's cache hit (no invocation), and with it bypassed so that every request invokes the
authorizer's (warm) worker: what a cached and an uncached authorisation add to a request.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import requests

from benchmarks.harness import ACCOUNT, bench_stack, env_int, heading, percentile, quiet, table
from local.lambda_authorizer import LambdaAuthorizers
from local.stack import LocalStack
from tally.apikeys.domain import ApiKey
from tally.apikeys.dynamo import DynamoApiKeyRepository
from tally.apikeys.secret import key_hash, new_key_id, new_secret, visible_prefix
from tally.audit.records import Actor, AuditContext
from tally.storage import clients, keys
from tally.storage.items import to_item
from tests.support.events import FakeContext
from tests.support.stack import Stack

PASSWORD = "Bench-Authorizer-2026!"  # noqa: S105 - a user of the benchmark's own moto
EMAIL = "bench-authorizer@example.com"
WARM_UP = 30
CONTEXT = AuditContext(Actor("system", "bench"), "bench", None, None)


@dataclass(frozen=True)
class Row:
    what: str
    samples: list[float]  # seconds

    def cells(self) -> list[str]:
        return [
            self.what,
            f"{len(self.samples):,}",
            f"{percentile(self.samples, 0.5) * 1000:.3f}",
            f"{percentile(self.samples, 0.99) * 1000:.3f}",
        ]


# -- shared set-up ----------------------------------------------------------------------------


def _pepper(client: Any, secret_arn: str) -> str:
    return str(client.get_secret_value(SecretId=secret_arn)["SecretString"])


def create_key(table: str, pepper: str, account: str) -> str:
    """A key with stats:read, stored as the accounts function stores it; its secret."""
    secret = new_secret()
    key = ApiKey(
        id=new_key_id(),
        account_id=account,
        name="bench",
        prefix=visible_prefix(secret),
        scopes=frozenset({"stats:read"}),
        created_at=datetime.now(UTC).replace(microsecond=0),
    )
    DynamoApiKeyRepository(clients.dynamodb(), table).add(key, key_hash(secret, pepper), CONTEXT)
    return secret


def _id_token(cognito: Any, pool: str, client_id: str) -> tuple[str, str]:
    """A user of the pool: (their id token, their sub)."""
    created = cognito.admin_create_user(UserPoolId=pool, Username=EMAIL, MessageAction="SUPPRESS")
    subject = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
    cognito.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password=PASSWORD, Permanent=True)
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": PASSWORD},
    )
    return str(answer["AuthenticationResult"]["IdToken"]), str(subject)


def _request_event(header: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:eu-west-1:123456789012:api/$default/GET/v1/track/stats",
        "identitySource": [header],
        "routeKey": "GET /v1/track/stats",
        "rawPath": "/v1/track/stats",
        "rawQueryString": f"account_id={ACCOUNT}",
        "headers": {"authorization": header},
        "requestContext": {"requestId": "bench", "http": {"method": "GET", "path": "/v1/track/stats"}},
    }


# -- 1. in-process --------------------------------------------------------------------------------


def _timed(call: Callable[[], dict[str, Any]], count: int, kind: str) -> list[float]:
    for _ in range(WARM_UP):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        answer = call()
        samples.append(time.perf_counter() - started)
    if answer.get("context", {}).get("kind") != kind:
        raise RuntimeError(f"the authorizer answered {answer}, not {kind}")
    return samples


def _in_process(calls: int) -> list[Row]:
    with bench_stack() as stack, quiet():
        table_name = stack.ref("BillingTable")
        pepper = _pepper(stack.client("secretsmanager"), stack.ref("ApiKeyPepperSecret"))
        secret = create_key(table_name, pepper, ACCOUNT)
        token, _ = _id_token(stack.client("cognito-idp"), stack.ref("UserPool"), stack.ref("UserPoolClient"))
        with _authorizer_function(stack) as app:
            handler = app.lambda_handler
            key_event, token_event = _request_event(f"Bearer {secret}"), _request_event(f"Bearer {token}")
            rows = [
                Row(
                    "API key, in the instance's cache",
                    _timed(lambda: handler(key_event, FakeContext()), calls, "api_key"),
                ),
            ]
            from authorizer.decision import Authorizer

            from tally.apikeys.lookup import DynamoKeyLookup
            from tally.apikeys.verifier import KeyVerifier

            # An instance that caches nothing: every call is a key it has not seen (a GetItem).
            uncached = KeyVerifier(
                DynamoKeyLookup(clients.dynamodb(), table_name), lambda: pepper, cache_for=timedelta(0)
            )
            with mock.patch.object(app, "authorizer", Authorizer(lambda: uncached, app.id_tokens)):
                samples = _timed(lambda: handler(key_event, FakeContext()), max(calls // 4, 50), "api_key")
            rows.append(Row("API key, not in the instance's cache (1 GetItem)", samples))
            rows.append(
                Row(
                    "Cognito id token, pool keys cached",
                    _timed(lambda: handler(token_event, FakeContext()), calls, "user"),
                )
            )
    return rows


@contextmanager
def _authorizer_function(stack: Stack) -> Iterator[Any]:
    with stack.environment("AuthorizerFunction"):
        from authorizer import app

        from tally import parameters

        def forget() -> None:
            parameters.secrets_provider.cache_clear()
            app.config.cache_clear()
            app.key_verifier.cache_clear()
            app.id_tokens.cache_clear()

        forget()
        try:
            yield app
        finally:
            forget()


# -- 2. the local gateway ---------------------------------------------------------------------------


class StepTimes:
    """Wraps LambdaAuthorizers.authorize (the gateway's authorisation step) to time each call."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._lock = threading.Lock()
        original = LambdaAuthorizers.authorize

        def timed(authorizers: LambdaAuthorizers, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(authorizers, *args, **kwargs)
            finally:
                with self._lock:
                    self.samples.append(time.perf_counter() - started)

        self.patch = mock.patch.object(LambdaAuthorizers, "authorize", timed)

    def take(self) -> list[float]:
        with self._lock:
            taken, self.samples = self.samples, []
        return taken


def _requests(session: requests.Session, url: str, header: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        answer = session.get(
            url, params={"account_id": ACCOUNT}, headers={"Authorization": header}, timeout=30
        )
        samples.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"stats answered {answer.status_code}: {answer.text}")
    return samples


def _seed_gateway_stack(stack: LocalStack) -> tuple[str, str]:
    """The account, a key of it, and a member of it: (the key, the member's id token)."""
    assert stack.registry is not None
    clients.reset_clients()  # the stack's moto, now in this process's environment
    table = str(stack.registry.lookup("BillingTable", None))
    dynamodb = clients.dynamodb()
    dynamodb.put_item(
        TableName=table, Item=keys.account(ACCOUNT) | to_item({"kind": "account", "id": ACCOUNT})
    )
    import boto3

    region = os.environ["AWS_DEFAULT_REGION"]
    manager = boto3.client("secretsmanager", region_name=region)
    pepper = _pepper(manager, str(stack.registry.lookup("ApiKeyPepperSecret", None)))
    secret = create_key(table, pepper, ACCOUNT)
    cognito = boto3.client("cognito-idp", region_name=region)
    pool, client_id = (str(stack.registry.lookup(name, None)) for name in ("UserPool", "UserPoolClient"))
    token, subject = _id_token(cognito, pool, client_id)
    mirror = keys.membership(subject, ACCOUNT) | to_item({"account_id": ACCOUNT, "role": "viewer"})
    dynamodb.put_item(TableName=table, Item=mirror)
    return secret, token


def _through_the_gateway(count: int) -> list[Row]:
    steps = StepTimes()
    rows: list[Row] = []
    with steps.patch, LocalStack(port=0, output=lambda label, line: None) as stack:
        secret, token = _seed_gateway_stack(stack)
        url = f"{stack.base_url}/v1/track/stats"
        with requests.Session() as session:
            for name, header in (("API key", f"Bearer {secret}"), ("id token", f"Bearer {token}")):
                _requests(session, url, header, WARM_UP)  # cold starts, JWKS, caches
                steps.take()
                cached = _requests(session, url, header, count)
                cached_steps = steps.take()
                with mock.patch.object(LambdaAuthorizers, "_cached", return_value=None):
                    uncached = _requests(session, url, header, count)
                uncached_steps = steps.take()
                rows += [
                    Row(f"{name}: authorisation step, cached", cached_steps),
                    Row(f"{name}: authorisation step, uncached (authorizer invoked)", uncached_steps),
                    Row(f"{name}: whole request, cached", cached),
                    Row(f"{name}: whole request, uncached", uncached),
                ]
        clients.reset_clients()
    return rows


def run() -> str:
    calls = env_int("BENCH_AUTHORIZER_CALLS", 2_000)
    requests_each = env_int("BENCH_AUTHORIZER_REQUESTS", 300)
    in_process = _in_process(calls)
    gateway = _through_the_gateway(requests_each)
    headers = ["measurement", "n", "p50 ms", "p99 ms"]

    def added(rows: list[Row], name: str) -> str:
        by_what = {row.what: row for row in rows}
        cached = percentile(by_what[f"{name}: authorisation step, cached"].samples, 0.5)
        uncached = percentile(
            by_what[f"{name}: authorisation step, uncached (authorizer invoked)"].samples, 0.5
        )
        return f"{cached * 1000:.2f} ms cached, {uncached * 1000:.2f} ms uncached"

    return "\n".join(
        [
            heading("5. The Lambda authorizer's added latency (API keys and id tokens)"),
            "\n5a. The authorizer's own time, warm, in-process (authorizer.app.lambda_handler):",
            table(headers, [row.cells() for row in in_process], "<>>>"),
            "\n5b. Through the local gateway: GET /v1/track/stats over HTTP, one client, sequential:",
            table(headers, [row.cells() for row in gateway], "<>>>"),
            f"\nWhat authorisation adds to a request (p50 of the step): API key {added(gateway, 'API key')};"
            f" id token {added(gateway, 'id token')}.",
            "The whole request's p50 is the local stack's own per-request cost (section 4), in which",
            "the authorizer's share is within its noise.",
            "",
            "How:",
            "  5a  the handler called with a payload 2.0 REQUEST event, AuthorizerFunction's environment,",
            f"      against the moto server; {WARM_UP} warm-up calls, then each call timed (perf_counter).",
            "      'in the instance's cache': the key's record is kept 30 s (tally.apikeys.verifier), so",
            "      only the HMAC-SHA256 and the dict lookup run; its last use is written once a minute.",
            "      'not in the cache': a verifier that caches nothing, so each call is one GetItem (moto's",
            "      round trip, not DynamoDB's). id token: RS256 check with the pool's keys cached.",
            "  5b  LocalStack in this process on template.yaml; the gateway's LambdaAuthorizers.authorize",
            "      wrapped to time the authorisation step; the whole request timed by the client.",
            "      cached: API Gateway's cache (30 s per Authorization header) answers, no invocation.",
            "      uncached: its cache bypassed, so each request invokes the authorizer's warm worker",
            "      (a socket round trip, JSON both ways, the handler; the key from the worker's cache).",
            "      The route's own function (stats) runs in both.",
        ]
    )
