"""Two tenants with every kind of resource, for isolation tests: one builder, over any client.

`build_two_tenants(api)` makes two accounts, each with an owner, an admin, a member and a viewer
(each invited and accepted), a pending invitation and a pending join request, and answers their
ids. `api` is a `TenancyApi`: in-process against moto (tests.support.inprocess.InProcessApi) or
over HTTP against the local stack (tests.e2e.tenancy.HttpApi); a route-table-generated test can
then call every route as one tenant's users with the other's ids and expect 403/404.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from tally.accounts.identifiers import luhn_valid


class TenancyApi[Who](Protocol):
    def new_user(self, label: str) -> Who:
        """A confirmed user who can sign in (and use the API at once)."""
        ...

    def email_of(self, who: Who) -> str: ...

    def call(
        self, who: Who | None, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]: ...

    def invitation_token(self, email: str) -> str:
        """The token of the newest invitation link emailed to this address."""
        ...


def new_siren() -> str:
    """A SIREN no test used before (random, with its Luhn check digit)."""
    stem = f"{secrets.randbelow(10**8):08d}"
    return next(stem + digit for digit in "0123456789" if luhn_valid(stem + digit))


@dataclass(frozen=True)
class Tenant[Who]:
    account_id: str
    siren: str
    owner: Who
    admin: Who
    member: Who
    viewer: Who
    member_ids: dict[str, str]  # role -> user id
    pending_invitation_id: str
    joiner: Who  # has a pending join request
    pending_join_request_id: str


@dataclass(frozen=True)
class TwoTenants[Who]:
    a: Tenant[Who]
    b: Tenant[Who]


def expect(answer: tuple[int, Any], status: int) -> Any:
    assert answer[0] == status, answer
    return answer[1]


def build_tenant[Who](api: TenancyApi[Who], label: str) -> Tenant[Who]:
    owner = api.new_user(f"{label}-owner")
    siren = new_siren()
    body = {
        "name": f"Tenant {label}",
        "email": api.email_of(owner),
        "country": "FR",
        "currency": "EUR",
        "siren": siren,
    }
    account = expect(api.call(owner, "POST", "/v1/accounts", body), 201)
    account_id = str(account["id"])
    users: dict[str, Who] = {}
    for role in ("admin", "member", "viewer"):
        user = users[role] = api.new_user(f"{label}-{role}")
        email = api.email_of(user)
        expect(
            api.call(owner, "POST", f"/v1/accounts/{account_id}/invitations", {"email": email, "role": role}),
            201,
        )
        expect(api.call(user, "POST", "/v1/invitations/accept", {"token": api.invitation_token(email)}), 200)
    members = expect(api.call(owner, "GET", f"/v1/accounts/{account_id}/members"), 200)["members"]
    ids = {member["role"]: member["user_id"] for member in members}
    pending = expect(
        api.call(
            owner,
            "POST",
            f"/v1/accounts/{account_id}/invitations",
            {"email": f"{label}-{secrets.token_hex(4)}@invited.example.com", "role": "viewer"},
        ),
        201,
    )
    joiner = api.new_user(f"{label}-joiner")
    request = expect(api.call(joiner, "POST", "/v1/accounts/join", {"siren": siren}), 201)
    assert request["status"] == "pending", request
    return Tenant(
        account_id=account_id,
        siren=siren,
        owner=owner,
        admin=users["admin"],
        member=users["member"],
        viewer=users["viewer"],
        member_ids=ids,
        pending_invitation_id=str(pending["id"]),
        joiner=joiner,
        pending_join_request_id=str(request["id"]),
    )


def build_two_tenants[Who](api: TenancyApi[Who]) -> TwoTenants[Who]:
    return TwoTenants(build_tenant(api, "a"), build_tenant(api, "b"))
