"""Tenants never see each other, proven over every route of the template.

The routes come from template.yaml (what API Gateway routes), their parameters and bodies from the
OpenAPI document the stack serves; nothing here lists routes, so a route added later is covered
without editing this file. Two accounts, A and B, each with an owner, an admin, a member and a
viewer (invited and accepted), a pending invitation, a pending join request and an API key
(tests.support.world). Then, for every route that takes a bearer:

- every user of A, and A's API key, calls it with B's ids wherever a parameter names a resource
  (path, `account_id` query, `X-Account-Id` header): a route that names an account answers 403 or
  404 (an API key on a route behind the JWT authorizer: the gateway's 401); any route's answer
  holds not one of B's values;
- A's viewer gets 403 on every write to A; a platform-manager reads A's account, members and stats
  and gets 403 on every write and on every billing route (tagged `Billing` in the document);
- afterwards B is as it was (its members, invitations, join requests and keys, read by B's owner).

Request bodies are each schema's documented example (tests/unit/test_openapi_examples.py proves
every request body has one that validates), with B's invitation token where a body takes a token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from local.template import load_template
from tests.e2e.tenancy import HttpApi, HttpUser
from tests.support.world import Tenant, TwoTenants, build_two_tenants, expect

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("owner", "admin", "member", "viewer")
PUBLIC = "NONE"
KEY_SCOPES = ["usage:write", "usage:read", "stats:read", "billing:read"]
# Where a path parameter of a route points, by its name: B's resource of that kind. A route with a
# path parameter of another name fails here until its resource is added (the test cannot guess).
PATH_RESOURCES: dict[str, Callable[[Side], str]] = {
    "account_id": lambda t: t.tenant.account_id,
    "user_id": lambda t: t.tenant.member_ids["member"],
    "invitation_id": lambda t: t.tenant.pending_invitation_id,
    "request_id": lambda t: t.tenant.pending_join_request_id,
    "key_id": lambda t: t.key_id,
    # issue 7, catalogue half: plans belong to no tenant (a seeded one)
    "code": lambda t: "essential",
    # issue 8: B's invoice, drafted by a platform admin
    "invoice_id": lambda t: t.invoice_id,
    "credit_note_id": lambda t: t.credit_note_id,
    # issue 9: placements belong to no tenant (any signed-in user reads one)
    "location_id": lambda t: "dakar",
    "category_id": lambda t: "plumbers",
    # issue 10: dead letters belong to no tenant (platform admins only): any id is refused first
    "message_id": lambda t: "00000000-0000-4000-8000-000000000000",
}
# Body fields that name another tenant's resource, filled with B's.
BODY_RESOURCES: dict[str, Callable[[Side], str]] = {"token": lambda t: t.invitation_token}
# What a platform-manager reads of any account (the issue: "every account, member list and stats");
# other reads are the permission table's to give (tally.identity.policy), 200 or 403.
MANAGER_READS = {
    ("GET", "/v1/accounts/{account_id}"),
    ("GET", "/v1/accounts/{account_id}/members"),
    ("GET", "/v1/track/stats"),
}
# Routes that end the caller's sessions: called last, by a user of their own.
SESSION_ENDING = {("POST", "/v1/auth/logout")}


@dataclass(frozen=True)
class Side:
    """One tenant as the test uses it: its people, its API key and its pending invitation's token."""

    tenant: Tenant[HttpUser]
    key_id: str
    key_secret: str
    invitation_token: str
    invoice_id: str
    credit_note_id: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    authorizer: str  # the template's authorizer name
    spec: dict[str, Any]  # the OpenAPI operation

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def write(self) -> bool:
        return self.method != "GET"

    @property
    def takes_api_keys(self) -> bool:
        return any("apiKeyAuth" in requirement for requirement in self.spec.get("security") or [])

    @property
    def billing(self) -> bool:
        return "Billing" in self.spec.get("tags", [])

    def parameters(self, where: str) -> dict[str, dict[str, Any]]:
        return {p["name"].lower(): p for p in self.spec.get("parameters", []) if p["in"] == where}

    @property
    def names_an_account(self) -> bool:
        return (
            "account_id" in self.parameters("path")
            or "account_id" in self.parameters("query")
            or "x-account-id" in self.parameters("header")
        )


def _routes() -> list[tuple[str, str, str]]:
    """(METHOD, path, authorizer) of every HttpApi event of every function in template.yaml."""
    template = load_template(ROOT / "template.yaml")
    default = next(
        resource.properties["Auth"]["DefaultAuthorizer"]
        for resource in template.of_type("AWS::Serverless::HttpApi")
    )
    routes = []
    for function in template.of_type("AWS::Serverless::Function"):
        for event in (function.properties.get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            authorizer = (props.get("Auth") or {}).get("Authorizer", default)
            routes.append((str(props["Method"]).upper(), str(props["Path"]), str(authorizer)))
    return sorted(routes)


@pytest.fixture(scope="module")
def operations(stack_url: str) -> list[Operation]:
    document = requests.get(f"{stack_url}/v1/openapi.json", timeout=10).json()
    found = []
    for method, path, authorizer in _routes():
        if authorizer == PUBLIC:  # sign-in, tracking ingestion, the docs: no caller to isolate
            continue
        spec = document["paths"].get(path, {}).get(method.lower())
        assert spec is not None, f"{method} {path} is routed but not in the OpenAPI document"
        found.append(Operation(method, path, authorizer, {**spec, "_schemas": document["components"]}))
    return found


def _side(api: HttpApi, tenant: Tenant[HttpUser]) -> Side:
    key = expect(
        api.call(
            tenant.owner,
            "POST",
            f"/v1/accounts/{tenant.account_id}/api-keys",
            {"name": "isolation", "scopes": KEY_SCOPES},
        ),
        201,
    )
    invited = expect(api.call(tenant.owner, "GET", f"/v1/accounts/{tenant.account_id}/invitations"), 200)
    pending = next(i for i in invited["invitations"] if i["id"] == tenant.pending_invitation_id)
    line = {"description": "Set-up", "unit_amount": 10000}
    draft = {"account_id": tenant.account_id, "currency": "EUR", "lines": [line]}
    admin = api.staff("platform-admin")
    invoice = expect(api.call(admin, "POST", "/v1/invoices", draft), 201)
    expect(api.call(admin, "POST", f"/v1/invoices/{invoice['id']}/finalize"), 200)
    credit = {"amount": 100, "reason": "Isolation"}
    note = expect(api.call(admin, "POST", f"/v1/invoices/{invoice['id']}/credit-notes", credit), 201)
    return Side(
        tenant,
        str(key["id"]),
        str(key["secret"]),
        api.invitation_token(pending["email"]),
        str(invoice["id"]),
        str(note["credit_note"]["id"]),
    )


@pytest.fixture(scope="module")
def world(stack_url: str) -> tuple[HttpApi, Side, Side]:
    api = HttpApi(stack_url)
    tenants: TwoTenants[HttpUser] = build_two_tenants(api)
    return api, _side(api, tenants.a), _side(api, tenants.b)


def _snapshot(api: HttpApi, side: Side) -> dict[str, Any]:
    """What B's owner sees of B's people, invitations, requests and keys."""
    account = side.tenant.account_id
    return {
        part: expect(api.call(side.tenant.owner, "GET", f"/v1/accounts/{account}/{part}"), 200)
        for part in ("members", "invitations", "join-requests", "api-keys")
    } | {"account": expect(api.call(side.tenant.owner, "GET", f"/v1/accounts/{account}"), 200)}


def _markers(api: HttpApi, side: Side) -> set[str]:
    """Values only B's data holds: its name, its people's emails and ids, its invitations'
    addresses, its keys' names and prefixes, its join requests' ids."""
    snapshot = _snapshot(api, side)
    values = {
        snapshot["account"]["name"],
        side.tenant.account_id,
        side.key_id,
        side.invitation_token,
        side.invoice_id,
        side.credit_note_id,
    }
    for member in snapshot["members"]["members"]:
        values |= {member["user_id"], member["email"]}
    for invitation in snapshot["invitations"]["invitations"]:
        values |= {invitation["id"], invitation["email"]}
    for request in snapshot["join-requests"]["join_requests"]:
        values |= {request["id"]}
    for key in snapshot["api-keys"]["api_keys"]:
        values |= {key["id"], key["prefix"]}
    return {value for value in values if isinstance(value, str) and value}


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _body(operation: Operation, target: Side) -> Any:
    body = operation.spec.get("requestBody")
    if body is None:
        return None
    schema = _resolve(body["content"]["application/json"]["schema"], operation.spec["_schemas"])
    example = json.loads(json.dumps(schema["examples"][0]))
    if isinstance(example, dict):
        for field, resource in BODY_RESOURCES.items():
            if field in example:
                example[field] = resource(target)
    return example


def _request(operation: Operation, target: Side) -> tuple[str, dict[str, str], dict[str, str], Any]:
    """The path, query, headers and body of a call that points at `target`'s resources."""
    path = operation.path
    for name in operation.parameters("path"):
        assert name in PATH_RESOURCES, f"{operation.key}: add {name} to PATH_RESOURCES"
        path = path.replace("{" + name + "}", PATH_RESOURCES[name](target))
    query = {"account_id": target.tenant.account_id} if "account_id" in operation.parameters("query") else {}
    headers = {}
    if "x-account-id" in operation.parameters("header"):
        headers["X-Account-Id"] = target.tenant.account_id
    if "idempotency-key" in operation.parameters("header"):
        headers["Idempotency-Key"] = f"isolation-{operation.method}-{operation.path}"
    return path, query, headers, _body(operation, target)


def _call(
    api: HttpApi, operation: Operation, target: Side, who: HttpUser | None, bearer: str | None = None
) -> tuple[int, Any]:
    path, query, headers, body = _request(operation, target)
    return api.call(who, operation.method, path, body, headers, query=query, bearer=bearer)


def _leaks(answer: Any, markers: set[str], sent: str) -> list[str]:
    text = json.dumps(answer, ensure_ascii=False)
    return sorted(marker for marker in markers if marker in text and marker not in sent)


def test_the_route_table_is_read_from_the_template(operations: list[Operation]) -> None:
    keys = {operation.key for operation in operations}
    assert ("GET", "/v1/accounts/{account_id}") in keys
    assert ("GET", "/v1/track/stats") in keys
    assert len(keys) == len(operations)


def test_a_tenants_users_and_key_get_nothing_of_another_tenant(
    world: tuple[HttpApi, Side, Side], operations: list[Operation]
) -> None:
    api, a, b = world
    before = _snapshot(api, b)
    markers = _markers(api, b)
    callers: list[tuple[str, HttpUser | None, str | None]] = [
        (role, getattr(a.tenant, role), None) for role in ROLES
    ] + [("api key", None, a.key_secret)]
    failures = []
    ordered = sorted(operations, key=lambda operation: operation.key in SESSION_ENDING)
    for operation in ordered:
        for label, who, bearer in callers:
            if operation.key in SESSION_ENDING and who is not None:
                who = api.new_user("session-ender")  # signs out only themselves
            path, query, headers, body = _request(operation, b)
            status, answer = api.call(who, operation.method, path, body, headers, query=query, bearer=bearer)
            sent = json.dumps([path, query, headers, body])
            allowed = {403, 404}
            if bearer is not None and not operation.takes_api_keys:
                allowed = {401}  # the JWT authorizer refuses what is not a Cognito token
            if operation.names_an_account and status not in allowed:
                failures.append(f"{label}: {operation.method} {path} -> {status} {answer}")
            leaked = _leaks(answer, markers, sent)
            if leaked:
                failures.append(f"{label}: {operation.method} {path} leaked {leaked}: {answer}")
    assert not failures, "\n".join(failures)
    assert _snapshot(api, b) == before


def test_a_viewer_gets_403_on_every_write_to_their_own_account(
    world: tuple[HttpApi, Side, Side], operations: list[Operation]
) -> None:
    api, a, _ = world
    before = _snapshot(api, a)
    failures = []
    for operation in operations:
        if not operation.write or not operation.names_an_account:
            continue
        status, answer = _call(api, operation, a, a.tenant.viewer)
        if status != 403:
            failures.append(f"{operation.method} {operation.path} -> {status} {answer}")
    assert not failures, "\n".join(failures)
    assert _snapshot(api, a) == before


def test_a_platform_manager_reads_but_gets_403_on_every_write_and_on_billing(
    world: tuple[HttpApi, Side, Side], operations: list[Operation]
) -> None:
    api, a, _ = world
    manager = api.staff("platform-manager")
    before = _snapshot(api, a)
    failures = []
    for operation in operations:
        if not operation.names_an_account:
            continue
        status, answer = _call(api, operation, a, manager)
        if operation.write or operation.billing:
            if status != 403:
                failures.append(f"{operation.method} {operation.path} -> {status} {answer}")
        elif (operation.key in MANAGER_READS and status != 200) or status not in {200, 403}:
            failures.append(f"read {operation.method} {operation.path} -> {status} {answer}")
    assert not failures, "\n".join(failures)
    assert _snapshot(api, a) == before
