"""The AWS calls the functions really make, against the IAM grants template.yaml gives them.

Every function's flows run in-process against the moto stack while a botocore hook records each
call as IAM sees it (a transaction as its per-item actions, with each item's partition key).
Each call must be allowed by its function's grants, as IAM would evaluate them
(dynamodb:LeadingKeys included), and each grant must be used by some call: no missing
permission, and none to spare.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

import pytest

from local.mailbox import MAILBOX
from local.template import load_template
from tally.accounts.dynamo import DynamoAccountRepository
from tally.auth.claims import unverified_claims
from tally.errors import Conflict
from tally.storage import clients, keys
from tests.support.events import FakeContext, admin_claims, http_event
from tests.support.policies import Grant, allows, grants
from tests.support.stack import ROOT, Stack, stream_batch
from tests.support.tenancy import seed_account, seed_member, user_claims
from tests.support.totp import current_code

EMAIL = "owner@example.com"
PASSWORD = "Correct-Horse-9!"
ACCOUNT = "acc_demo"
OWNER = user_claims("owner-sub", EMAIL)

# Granted for code paths these flows cannot reach yet: the SIREN/SIRET uniqueness claims another
# branch adds to account creation, and Powertools Idempotency's GetItem fallback (used only when
# a conditional Put does not return the existing record).
NOT_EXERCISED = {
    ("AccountsFunction", "dynamodb:GetItem", "idempotency#*"),
}
# What Lambda itself does with the function's role (stream polling), not the function's code.
LAMBDA_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}

_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str
    partition_key: str | None


@dataclass
class Recorder:
    """Records the calls made while `function` is set, named as IAM authorises them."""

    names: dict[str, str]  # physical name or ARN -> logical id
    function: str | None = None
    calls: set[Call] = field(default_factory=set)
    updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (function, UpdateItem params)
    last_function: str | None = None  # the function invoked last (see _invoke)

    def __call__(self, **kwargs: Any) -> None:
        params: dict[str, Any] = kwargs["params"]
        model: Any = kwargs["model"]
        if self.function is None or model.auth_type == "none":  # unsigned calls (InitiateAuth) need no IAM
            return
        service = model.service_model.signing_name
        if model.name == "UpdateItem":
            self.updates.append((self.function, dict(params)))
        for action, resource, key in _as_iam(service, model.name, params):
            self.calls.add(Call(self.function, action, self.names.get(resource, resource), key))

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.function = function
        try:
            yield
        finally:
            self.function = None


def _partition_key(key: dict[str, Any] | None) -> str | None:
    return str(key["PK"]["S"]) if key and "PK" in key else None


def _as_iam(service: str, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    if service == "secretsmanager":
        yield f"secretsmanager:{operation}", str(params["SecretId"]), None
    elif service == "cognito-idp":  # the admin API is authorised on the user pool
        yield f"cognito-idp:{operation}", str(params["UserPoolId"]), None
    elif service == "ses":  # SESv2 SendEmail is authorised on the sender's identity
        yield f"ses:{operation}", parseaddr(str(params["FromEmailAddress"]))[1], None
    elif operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            [(kind, body)] = item.items()
            yield (
                _TRANSACT_ACTIONS[kind],
                body["TableName"],
                _partition_key(body.get("Item") or body.get("Key")),
            )
    elif operation == "BatchGetItem":
        for table, request in params["RequestItems"].items():
            for key in request["Keys"]:
                yield "dynamodb:BatchGetItem", table, _partition_key(key)
    elif operation == "Query":
        placeholder = re.search(r"\bPK\s*=\s*(:\w+)", params["KeyConditionExpression"])
        assert placeholder, params["KeyConditionExpression"]
        yield "dynamodb:Query", params["TableName"], params["ExpressionAttributeValues"][placeholder[1]]["S"]
    else:
        yield (
            f"{service}:{operation}",
            str(params.get("TableName", "")),
            _partition_key(params.get("Item") or params.get("Key")),
        )


@pytest.fixture
def recorder(stack: Stack) -> Iterator[Recorder]:
    names = {
        stack.ref(logical): logical
        for logical in (
            "BillingTable",
            "EventsTable",
            "VisitorSaltSecret",
            "SenderEmailIdentity",
            "ApiKeyPepperSecret",
            "UserPool",
        )
    }
    recording = Recorder(names)
    session = clients.session()  # the session every function's clients come from
    # Clients copy the session's hooks when they are created: forget the cached ones first.
    _reset_caches()
    session.register("before-parameter-build", recording)
    try:
        yield recording
    finally:
        session.unregister("before-parameter-build", recording)
        _reset_caches()


def _reset_caches() -> None:
    from authorizer import app as authorizer_app

    from accounts import api_keys
    from accounts import routes as accounts_routes
    from auth import routes as auth_routes
    from tally import parameters
    from tally.http import idempotency
    from tally.identity import wiring
    from tracking import counter
    from tracking import routes as tracking_routes

    clients.reset_clients()
    api_keys.service.cache_clear()
    wiring.access_policy.cache_clear()
    authorizer_app.config.cache_clear()
    authorizer_app.key_verifier.cache_clear()
    authorizer_app.id_tokens.cache_clear()
    parameters.secrets_provider.cache_clear()
    tracking_routes.service.cache_clear()
    counter.projection.cache_clear()
    accounts_routes.service.cache_clear()
    accounts_routes._create_once.cache_clear()
    auth_routes.service.cache_clear()
    idempotency.persistence.cache_clear()


def _invoke(stack: Stack, recorder: Recorder, function: str, event: dict[str, Any]) -> tuple[int, Any]:
    module = {
        "TrackingFunction": "tracking.app",
        "TrackingCounterFunction": "tracking.counter",
        "AccountsFunction": "accounts.app",
        "AuthFunction": "auth.app",
        "DocsFunction": "docs.app",
        "AuthorizerFunction": "authorizer.app",
    }[function]
    handler = __import__(module, fromlist=["lambda_handler"]).lambda_handler
    if recorder.last_function != function:
        # Each function is a process of its own in Lambda: nothing one cached (the pepper, the
        # caller's memberships) spares another its own calls.
        _reset_caches()
        recorder.last_function = function
    with stack.environment(function), recorder.running(function):
        answer = handler(event, FakeContext())
    if "statusCode" not in answer:  # a stream batch's or an authorizer's answer
        return 200, answer
    return answer["statusCode"], json.loads(answer["body"] or "null")


def _drive_every_flow(stack: Stack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    clients.dynamodb().put_item(
        TableName=stack.ref("BillingTable"), Item=keys.account(ACCOUNT) | {"kind": {"S": "account"}}
    )
    pool = stack.ref("UserPool")
    cognito = stack.client("cognito-idp")
    cognito.admin_create_user(UserPoolId=pool, Username=EMAIL, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password=PASSWORD, Permanent=True)

    def track(event: dict[str, Any]) -> tuple[int, Any]:
        return _invoke(stack, recorder, "TrackingFunction", event)

    click = {"account_id": ACCOUNT, "source": "seo", "page_url": "/p"}
    assert track(http_event("POST", "/v1/track/click", body=click))[1]["counted"] is True
    assert track(http_event("POST", "/v1/track/click", body=click))[1]["reason"] == "duplicate"
    bot = http_event(
        "POST", "/v1/track/view", body={"account_id": ACCOUNT, "source": "seo"}, user_agent="Googlebot"
    )
    assert track(bot)[1]["reason"] == "bot"
    batch = {"events": [{"type": "view", "account_id": ACCOUNT, "source": "city"}]}
    assert track(http_event("POST", "/v1/track/events", body=batch))[0] == 202
    status, _ = _invoke(
        stack, recorder, "TrackingCounterFunction", {"Records": stream_batch(stack, "EventsTable")}
    )
    assert status == 200
    seed_account(stack, ACCOUNT)
    seed_member(stack, OWNER["sub"], ACCOUNT)
    stats = http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT}, claims=OWNER)
    assert track(stats)[1]["clicks_total"] == 1
    # Staff powers need MFA, which the policy asks Cognito about.
    staff = http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT}, claims=admin_claims())
    assert track(staff)[1]["code"] == "mfa_setup_required"

    _drive_api_keys(stack, recorder)

    _drive_sign_in(stack, recorder)

    def accounts(event: dict[str, Any]) -> tuple[int, Any]:
        return _invoke(stack, recorder, "AccountsFunction", event)

    body = {"name": "Dupont", "email": "contact@dupont.fr", "country": "FR", "currency": "EUR"}
    plain = http_event("POST", "/v1/accounts", body=body, claims=admin_claims())
    status, created = accounts(plain)
    assert status == 201
    path = f"/v1/accounts/{created['id']}"
    read = http_event(
        "GET",
        path,
        claims=admin_claims(),
        route="GET /v1/accounts/{account_id}",
        path_parameters={"account_id": created["id"]},
    )
    assert accounts(read)[0] == 200
    # A company's numbers are claimed in the account's transaction; a second claim is a 409.
    company = {**body, "name": "Dupont SAS", "siren": "732829320", "siret": "73282932000074"}
    assert accounts(http_event("POST", "/v1/accounts", body=company, claims=admin_claims()))[0] == 201
    assert accounts(http_event("POST", "/v1/accounts", body=company, claims=admin_claims()))[0] == 409
    once = http_event(
        "POST", "/v1/accounts", body=body, claims=admin_claims(), headers={"idempotency-key": "k1"}
    )
    assert accounts(once)[0] == 201
    assert accounts(once)[0] == 201  # the retry is answered from the idempotency record

    def refuse(self: DynamoAccountRepository, account: object) -> None:
        raise Conflict("taken")

    # A failed create removes its idempotency record, so a retry can run again.
    monkeypatch.setattr(DynamoAccountRepository, "add", refuse)
    failing = http_event(
        "POST", "/v1/accounts", body=body, claims=admin_claims(), headers={"idempotency-key": "k2"}
    )
    assert accounts(failing)[0] == 409
    monkeypatch.undo()

    assert _invoke(stack, recorder, "DocsFunction", http_event("GET", "/v1/openapi.json"))[0] == 200


def _drive_api_keys(stack: Stack, recorder: Recorder) -> None:
    """An owner creates, lists and revokes a key; the authorizer checks it; stats read with it."""
    path = f"/v1/accounts/{ACCOUNT}/api-keys"
    route = "/v1/accounts/{account_id}/api-keys"

    def accounts(method: str, *, key_id: str = "", body: Any = None, claims: Any = OWNER) -> tuple[int, Any]:
        event = http_event(
            method,
            f"{path}/{key_id}" if key_id else path,
            body=body,
            claims=claims,
            route=f"{method} {route}" + ("/{key_id}" if key_id else ""),
            path_parameters={"account_id": ACCOUNT, **({"key_id": key_id} if key_id else {})},
        )
        return _invoke(stack, recorder, "AccountsFunction", event)

    def authorize(secret: str) -> dict[str, Any]:
        header = f"Bearer {secret}"
        event = {
            "version": "2.0",
            "type": "REQUEST",
            "identitySource": [header],
            "headers": {"authorization": header},
        }
        answer: dict[str, Any] = _invoke(stack, recorder, "AuthorizerFunction", event)[1]
        return answer

    status, created = accounts("POST", body={"name": "server", "scopes": ["stats:read"]})
    assert status == 201
    assert accounts("GET")[0] == 200
    allowed = authorize(created["secret"])
    assert allowed["context"]["kind"] == "api_key"
    stats = http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT})
    stats["requestContext"]["authorizer"] = {"lambda": allowed["context"]}
    assert _invoke(stack, recorder, "TrackingFunction", stats)[0] == 200
    assert accounts("DELETE", key_id=created["id"])[0] == 200
    assert accounts("GET", claims=admin_claims())[1]["code"] == "mfa_setup_required"


def _drive_sign_in(stack: Stack, recorder: Recorder) -> None:
    """Every auth route: Cognito's user-facing calls (no IAM) and the SES notice (IAM)."""

    def auth(path: str, body: dict[str, Any], claims: dict[str, Any] | None = None) -> tuple[int, Any]:
        return _invoke(stack, recorder, "AuthFunction", http_event("POST", path, body=body, claims=claims))

    def code() -> str:
        found = re.search(r"\b(\d{6})\b", MAILBOX.messages("new@example.com")[0].text)
        assert found
        return found.group(1)

    new = {"email": "new@example.com", "password": PASSWORD, "name": "New"}
    assert auth("/v1/auth/register", new)[0] == 202
    assert auth("/v1/auth/resend-code", {"email": new["email"]})[0] == 202
    assert auth("/v1/auth/confirm", {"email": new["email"], "code": code()})[0] == 200
    assert auth("/v1/auth/register", {**new, "email": EMAIL})[0] == 202  # confirmed: SES notice
    assert MAILBOX.messages(EMAIL)[0].source == "ses"
    assert auth("/v1/auth/password-reset", {"email": new["email"]})[0] == 202
    reset = {"email": new["email"], "code": code(), "new_password": PASSWORD + "x"}
    assert auth("/v1/auth/password-reset/confirm", reset)[0] == 200
    status, tokens = auth("/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert status == 200
    assert auth("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})[0] == 200
    claims = {"sub": unverified_claims(tokens["id_token"])["sub"], "email": EMAIL}
    status, setup = auth("/v1/me/mfa/setup", {"access_token": tokens["access_token"]}, claims)
    assert status == 200
    verify = {"access_token": tokens["access_token"], "code": current_code(setup["secret"])}
    assert auth("/v1/me/mfa/verify", verify, claims)[0] == 200
    status, challenge = auth("/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert challenge["mfa_required"] is True
    answer = {"email": EMAIL, "session": challenge["session"], "code": current_code(setup["secret"])}
    assert auth("/v1/auth/login/mfa", answer)[0] == 200


def test_calls_and_grants_match(stack: Stack, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    _drive_every_flow(stack, recorder, monkeypatch)
    template = load_template(ROOT / "template.yaml")
    granted: dict[str, set[Grant]] = {
        function.logical_id: grants(template, function)
        for function in template.of_type("AWS::Serverless::Function")
    }

    denied = [
        call
        for call in recorder.calls
        if not allows(granted[call.function], call.action, call.resource, call.partition_key)
    ]
    assert denied == []

    unused = []
    for function, held in granted.items():
        for action, resource, prefixes in held:
            if (
                not action.startswith(("dynamodb:", "secretsmanager:", "ses:", "cognito-idp:"))
                or action in LAMBDA_ACTIONS
            ):
                continue  # logs, the DLQ and stream reads are Lambda's doing, not the code's
            for pattern in sorted(prefixes) if prefixes else [None]:
                if (function, action, pattern) in NOT_EXERCISED:
                    continue
                single: set[Grant] = {(action, resource, frozenset({pattern}) if pattern else None)}
                if not any(
                    call.function == function
                    and allows(single, call.action, call.resource, call.partition_key)
                    for call in recorder.calls
                ):
                    unused.append((function, action, resource, pattern))
    assert unused == []
    assert not any(call.function == "DocsFunction" for call in recorder.calls)
    # Cognito's user-facing calls are unsigned: the auth function's only IAM-checked call is SES's.
    assert {(call.action, call.resource) for call in recorder.calls if call.function == "AuthFunction"} == {
        ("ses:SendEmail", "SenderEmailIdentity")
    }
    # The recording is real: the transaction's items and the salt read were seen.
    assert Call("TrackingFunction", "dynamodb:PutItem", "EventsTable", None) not in recorder.calls
    assert {call.action for call in recorder.calls if call.function == "TrackingFunction"} == {
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "secretsmanager:GetSecretValue",
        "cognito-idp:AdminGetUser",
    }
    # The authorizer's UpdateItem touches only what its dynamodb:Attributes condition allows.
    authorizer_updates = [params for function, params in recorder.updates if function == "AuthorizerFunction"]
    assert authorizer_updates
    for params in authorizer_updates:
        expressions = re.sub(r":\w+", "", f"{params['UpdateExpression']} {params['ConditionExpression']}")
        named = set(re.findall(r"\b[A-Za-z_]+\b", expressions)) - {
            "SET",
            "AND",
            "OR",
            "attribute_exists",
            "attribute_not_exists",
        }
        assert named <= {"PK", "SK", "last_used_at"}, named
        assert params.get("ReturnValues", "NONE") == "NONE"
