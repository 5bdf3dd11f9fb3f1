"""The accounts function in-process against moto: accounts, status, members, invitations, join
requests, the signed-in user, sign-out and the audit trail (sign-in is test_auth_api's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.mailbox import MAILBOX
from tally import clock
from tally.clock import FixedClock
from tally.storage import clients
from tests.support.inprocess import InProcessApi
from tests.support.stack import Stack
from tests.support.tenancy import User, reset_function_caches, staff
from tests.support.world import Tenant, build_tenant, expect, new_siren

ACCOUNT = {
    "name": "Boulangerie Dupont",
    "email": "contact@dupont.fr",
    "country": "FR",
    "currency": "EUR",
    "siren": "732829320",
    "siret": "73282932000074",
}


@pytest.fixture
def api(stack: Stack) -> Iterator[InProcessApi]:
    reset_function_caches()
    yield InProcessApi(stack)
    reset_function_caches()
    clock.set_clock(None)


@pytest.fixture
def admin(api: InProcessApi) -> User:
    return staff(api.stack)


@pytest.fixture
def tenant(api: InProcessApi) -> Tenant[User]:
    return build_tenant(api, "t")


def stored(stack: Stack, kind: str) -> list[dict[str, Any]]:
    items = clients.dynamodb().scan(TableName=stack.ref("BillingTable"))["Items"]
    return [item for item in items if item.get("kind", {}).get("S") == kind]


def audit_actions(api: InProcessApi, who: User, account_id: str) -> list[str]:
    page = expect(api.call(who, "GET", "/v1/audit", query={"account_id": account_id, "limit": "100"}), 200)
    return [record["action"] for record in reversed(page["records"])]


# -- accounts -------------------------------------------------------------------------------


def test_a_user_creates_their_own_account_pending_and_owns_it(api: InProcessApi) -> None:
    owner = api.new_user("owner")

    created = expect(api.call(owner, "POST", "/v1/accounts", ACCOUNT), 201)
    account_id = created["id"]
    members = expect(api.call(owner, "GET", f"/v1/accounts/{account_id}/members"), 200)["members"]
    me = expect(api.call(owner, "GET", "/v1/me"), 200)

    assert created["status"] == "pending"
    assert {key: created[key] for key in ACCOUNT} == ACCOUNT
    assert [(m["user_id"], m["role"], m["email"]) for m in members] == [(owner.sub, "owner", owner.email)]
    assert me["memberships"] == [
        {"account_id": account_id, "name": ACCOUNT["name"], "role": "owner", "status": "pending"}
    ]
    [account] = stored(api.stack, "account")
    assert account["owner_count"] == {"N": "1"}
    assert audit_actions(api, owner, account_id) == ["account.created", "member.added"]


def test_platform_admins_create_accounts_for_others_with_no_member(api: InProcessApi, admin: User) -> None:
    created = expect(api.call(admin, "POST", "/v1/accounts", {**ACCOUNT, "email_domain": "dupont.fr"}), 201)

    assert created["email_domain"] == "dupont.fr"
    assert expect(api.call(admin, "GET", f"/v1/accounts/{created['id']}/members"), 200) == {"members": []}
    assert stored(api.stack, "member") == []


def test_staff_without_mfa_cannot_create_for_others(api: InProcessApi) -> None:
    unprotected = staff(api.stack, mfa=False)

    status, answer = api.call(unprotected, "POST", "/v1/accounts", ACCOUNT)

    assert (status, answer["code"]) == (403, "mfa_setup_required")
    assert "POST /v1/me/mfa/setup" in answer["message"]
    assert stored(api.stack, "account") == []


def test_only_platform_admins_set_a_verified_domain(api: InProcessApi) -> None:
    status, answer = api.call(
        api.new_user("u"), "POST", "/v1/accounts", {**ACCOUNT, "email_domain": "dupont.fr"}
    )

    assert status == 403
    assert answer["errors"][0]["field"] == "email_domain"


def test_a_taken_siren_names_its_holder_to_admins_only(api: InProcessApi, admin: User) -> None:
    first = expect(api.call(admin, "POST", "/v1/accounts", ACCOUNT), 201)
    before = stored(api.stack, "account")

    tenant_status, tenant_answer = api.call(
        api.new_user("u"), "POST", "/v1/accounts", {**ACCOUNT, "siret": None}
    )
    admin_status, admin_answer = api.call(admin, "POST", "/v1/accounts", {**ACCOUNT, "siret": None})

    assert (tenant_status, admin_status) == (409, 409)
    assert first["id"] not in tenant_answer["message"]
    assert "POST /v1/accounts/join" in tenant_answer["message"]
    assert admin_answer["message"] == f"SIREN 732829320 already belongs to account '{first['id']}'"
    assert tenant_answer["errors"] == [{"field": "siren", "in": "body", "message": tenant_answer["message"]}]
    assert stored(api.stack, "account") == before
    assert stored(api.stack, "member") == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"siren": "732829321"}, "siren", "Luhn"),
        ({"siret": "123"}, "siret", "14 digits"),
        ({"country": "France"}, "country", "at most 2"),
        ({"currency": "EURO"}, "currency", "at most 3"),
        ({"name": ""}, "name", "at least 1"),
        ({"email_domain": "Dupont.FR"}, "email_domain", "lower case"),
    ],
)
def test_bad_accounts_are_422_naming_the_field(
    api: InProcessApi, changes: dict[str, str], field: str, words: str
) -> None:
    status, body = api.call(api.new_user("u"), "POST", "/v1/accounts", {**ACCOUNT, **changes})

    assert status == 422
    assert any(e["field"] == field and words in e["message"] for e in body["errors"]), body


def test_a_retried_create_with_the_same_idempotency_key_creates_one_account(api: InProcessApi) -> None:
    owner = api.new_user("owner")
    key = {"Idempotency-Key": "create-dupont-1"}

    first = api.call(owner, "POST", "/v1/accounts", ACCOUNT, key)
    second = api.call(owner, "POST", "/v1/accounts", ACCOUNT, key)
    reused = api.call(owner, "POST", "/v1/accounts", {**ACCOUNT, "name": "Another"}, key)

    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert reused[0] == 422
    assert reused[1]["code"] == "idempotency_key_reused"
    assert len(stored(api.stack, "account")) == 1
    assert len(stored(api.stack, "member")) == 1


def test_reading_and_changing_an_account(api: InProcessApi, tenant: Tenant[User], admin: User) -> None:
    path = f"/v1/accounts/{tenant.account_id}"

    renamed = expect(
        api.call(tenant.admin, "PATCH", path, {"name": "Dupont SAS"}, {"X-Audit-Reason": "Rebrand"}), 200
    )
    refused = api.call(tenant.member, "PATCH", path, {"name": "Mine"})
    domain_by_owner = api.call(tenant.owner, "PATCH", path, {"email_domain": "t.example.com"})
    domain = expect(api.call(admin, "PATCH", path, {"email_domain": "t.example.com"}), 200)
    empty = api.call(tenant.owner, "PATCH", path, {})
    null_name = api.call(tenant.owner, "PATCH", path, {"name": None})

    assert renamed["name"] == "Dupont SAS"
    assert refused[0] == 403
    assert "account:write" in refused[1]["message"]
    assert domain_by_owner[0] == 403
    assert domain["email_domain"] == "t.example.com"
    assert empty[0] == null_name[0] == 422
    assert expect(api.call(tenant.viewer, "GET", path), 200)["name"] == "Dupont SAS"
    page = expect(
        api.call(tenant.owner, "GET", "/v1/audit", query={"entity": f"account:{tenant.account_id}"}), 200
    )
    update = next(r for r in page["records"] if r["action"] == "account.updated" and r["reason"] == "Rebrand")
    assert update["changes"] == {"name": {"before": "Tenant t", "after": "Dupont SAS"}}
    assert update["actor"] == f"user:{tenant.admin.sub}"
    assert update["ip_prefix"] == "203.0.113.0"


# -- status ---------------------------------------------------------------------------------


def test_the_status_machine_with_reasons(api: InProcessApi, tenant: Tenant[User], admin: User) -> None:
    path = f"/v1/accounts/{tenant.account_id}/status"

    active = expect(api.call(admin, "POST", path, {"status": "active", "reason": "KYC done"}), 200)
    by_owner = api.call(tenant.owner, "POST", path, {"status": "suspended", "reason": "x"})
    suspended = expect(
        api.call(admin, "POST", path, {"status": "suspended", "reason": "Unpaid invoice"}), 200
    )
    impossible = api.call(admin, "POST", path, {"status": "pending", "reason": "Back"})
    no_reason = api.call(admin, "POST", path, {"status": "active"})

    assert (active["status"], suspended["status"], suspended["status_reason"]) == (
        "active",
        "suspended",
        "Unpaid invoice",
    )
    assert by_owner[0] == 403
    assert impossible[0] == 409
    assert (
        impossible[1]["message"]
        == "An account that is suspended can become active or cancelled or expired, not pending"
    )
    assert no_reason[0] == 422
    assert [r["field"] for r in no_reason[1]["errors"]] == ["reason"]
    records = expect(api.call(admin, "GET", "/v1/audit", query={"account_id": tenant.account_id}), 200)[
        "records"
    ]
    changes = [
        (r["changes"]["status"]["after"], r["reason"])
        for r in records
        if r["action"] == "account.status_changed"
    ]
    assert changes == [("suspended", "Unpaid invoice"), ("active", "KYC done")]


def test_a_suspended_accounts_users_get_its_reason_except_on_their_own_routes(
    api: InProcessApi, tenant: Tenant[User], admin: User
) -> None:
    path = f"/v1/accounts/{tenant.account_id}/status"
    expect(api.call(admin, "POST", path, {"status": "active", "reason": "KYC done"}), 200)
    expect(api.call(admin, "POST", path, {"status": "suspended", "reason": "Unpaid invoice INV-1"}), 200)

    members = api.call(tenant.owner, "GET", f"/v1/accounts/{tenant.account_id}/members")
    me = api.call(tenant.owner, "GET", "/v1/me")
    staff_read = api.call(admin, "GET", f"/v1/accounts/{tenant.account_id}/members")
    signed_out = api.call(tenant.member, "POST", "/v1/auth/logout")

    assert members[0] == 403
    assert members[1]["code"] == "account_suspended"
    assert members[1]["message"] == "This account is suspended: Unpaid invoice INV-1"
    assert me[0] == 200
    assert me[1]["memberships"][0]["status"] == "suspended"
    assert staff_read[0] == 200
    assert signed_out[0] == 200


def test_a_platform_manager_reads_but_does_not_write(api: InProcessApi, tenant: Tenant[User]) -> None:
    manager = staff(api.stack, "platform-manager")
    account = f"/v1/accounts/{tenant.account_id}"

    assert api.call(manager, "GET", account)[0] == 200
    assert api.call(manager, "GET", f"{account}/members")[0] == 200
    for method, path, body in [
        ("PATCH", account, {"name": "x"}),
        ("POST", f"{account}/status", {"status": "active", "reason": "x"}),
        ("POST", f"{account}/invitations", {"email": "x@example.com", "role": "viewer"}),
        ("PATCH", f"{account}/members/{tenant.member_ids['viewer']}", {"role": "member"}),
        ("GET", f"{account}/join-requests", None),
    ]:
        assert api.call(manager, method, path, body)[0] == 403, (method, path)
    assert api.call(manager, "GET", "/v1/audit", query={"account_id": tenant.account_id})[0] == 403


# -- members --------------------------------------------------------------------------------


def test_roles_owners_and_the_last_owner(api: InProcessApi, tenant: Tenant[User]) -> None:
    members = f"/v1/accounts/{tenant.account_id}/members"
    ids = tenant.member_ids

    promoted = expect(api.call(tenant.admin, "PATCH", f"{members}/{ids['viewer']}", {"role": "member"}), 200)
    admin_makes_owner = api.call(tenant.admin, "PATCH", f"{members}/{ids['member']}", {"role": "owner"})
    admin_demotes_owner = api.call(tenant.admin, "PATCH", f"{members}/{ids['owner']}", {"role": "admin"})
    last_demoted = api.call(tenant.owner, "PATCH", f"{members}/{ids['owner']}", {"role": "admin"})
    last_leaves = api.call(tenant.owner, "DELETE", f"{members}/{ids['owner']}")
    member_removes = api.call(tenant.member, "DELETE", f"{members}/{ids['viewer']}")

    assert promoted["role"] == "member"
    assert admin_makes_owner[0] == admin_demotes_owner[0] == 403
    assert "owners:write" in admin_makes_owner[1]["message"]
    assert last_demoted[0] == last_leaves[0] == 409
    assert last_demoted[1]["code"] == "last_owner"
    assert "last owner" in last_leaves[1]["message"]
    assert member_removes[0] == 403

    expect(api.call(tenant.owner, "PATCH", f"{members}/{ids['admin']}", {"role": "owner"}), 200)
    assert api.call(tenant.owner, "DELETE", f"{members}/{ids['owner']}") == (204, None)  # leaves
    assert api.call(tenant.owner, "GET", members)[0] == 403  # gone, at once on this instance
    left = expect(api.call(tenant.admin, "GET", members), 200)["members"]
    assert {m["role"] for m in left if m["user_id"] == ids["admin"]} == {"owner"}
    assert ids["owner"] not in {m["user_id"] for m in left}
    assert api.call(tenant.admin, "DELETE", f"{members}/nobody")[0] == 404
    actions = audit_actions(api, tenant.admin, tenant.account_id)
    assert actions[-3:] == ["member.role_changed", "member.role_changed", "member.left"]


# -- invitations ----------------------------------------------------------------------------


def test_inviting_accepting_replacing_and_revoking(api: InProcessApi, tenant: Tenant[User]) -> None:
    invitations = f"/v1/accounts/{tenant.account_id}/invitations"
    colleague = api.new_user("colleague")
    body = {"email": colleague.email.upper(), "role": "admin"}

    first = expect(api.call(tenant.owner, "POST", invitations, body), 201)
    first_token = api.invitation_token(colleague.email)
    second = expect(api.call(tenant.admin, "POST", invitations, {**body, "role": "member"}), 201)
    second_token = api.invitation_token(colleague.email)
    listed = expect(api.call(tenant.admin, "GET", invitations), 200)["invitations"]
    stranger = api.call(api.new_user("stranger"), "POST", "/v1/invitations/accept", {"token": second_token})
    stale = api.call(colleague, "POST", "/v1/invitations/accept", {"token": first_token})
    accepted = expect(api.call(colleague, "POST", "/v1/invitations/accept", {"token": second_token}), 200)
    again = api.call(colleague, "POST", "/v1/invitations/accept", {"token": second_token})

    assert first["email"] == colleague.email
    assert (
        first["expires_at"] == (datetime.fromisoformat(first["created_at"]) + timedelta(days=7)).isoformat()
    )
    assert [(i["id"], i["role"], i["status"]) for i in listed if i["email"] == colleague.email] == [
        (second["id"], "member", "pending")
    ]
    [email] = list(MAILBOX.messages(colleague.email))[:1]
    assert email.subject == f"{tenant.admin.email} vous invite à rejoindre Tenant t sur Tally"
    assert f"https://app.example.com/invitations/accept?token={second_token}" in email.text
    assert stranger[0] == 403
    assert "another email address" in stranger[1]["message"]
    assert stale[0] == again[0] == 404
    assert accepted == {
        "account_id": tenant.account_id,
        "name": "Tenant t",
        "role": "member",
        "status": "pending",
    }
    assert api.call(colleague, "GET", f"/v1/accounts/{tenant.account_id}")[0] == 200
    assert api.call(tenant.owner, "POST", invitations, body)[0] == 409  # a member now

    other = expect(
        api.call(tenant.owner, "POST", invitations, {"email": "later@example.com", "role": "viewer"}), 201
    )
    assert api.call(tenant.owner, "DELETE", f"{invitations}/{other['id']}") == (204, None)
    assert api.call(tenant.owner, "DELETE", f"{invitations}/{other['id']}")[0] == 404
    token = api.invitation_token("later@example.com")
    assert (
        api.call(User("later", "later@example.com"), "POST", "/v1/invitations/accept", {"token": token})[0]
        == 404
    )
    assert [i for i in stored(api.stack, "invitation") if i["email"]["S"] == colleague.email] == []
    actions = audit_actions(api, tenant.owner, tenant.account_id)
    for action in ("invitation.created", "invitation.replaced", "invitation.accepted", "invitation.revoked"):
        assert action in actions


def test_only_owners_invite_owners_and_links_expire(api: InProcessApi, tenant: Tenant[User]) -> None:
    invitations = f"/v1/accounts/{tenant.account_id}/invitations"
    newcomer = api.new_user("newcomer")

    by_admin = api.call(tenant.admin, "POST", invitations, {"email": newcomer.email, "role": "owner"})
    expect(api.call(tenant.owner, "POST", invitations, {"email": newcomer.email, "role": "owner"}), 201)
    clock.set_clock(FixedClock(datetime.now(UTC) + timedelta(days=7, minutes=1)))
    expired = api.call(
        newcomer, "POST", "/v1/invitations/accept", {"token": api.invitation_token(newcomer.email)}
    )
    listed = expect(api.call(tenant.owner, "GET", invitations), 200)["invitations"]

    assert by_admin[0] == 403
    assert (expired[0], expired[1]["code"]) == (404, "invitation_expired")
    assert "7 days" in expired[1]["message"]
    assert {i["status"] for i in listed if i["email"] == newcomer.email} == {"expired"}


# -- join requests --------------------------------------------------------------------------


def test_joining_by_siren(api: InProcessApi, admin: User) -> None:
    siren = new_siren()
    account = expect(
        api.call(
            admin,
            "POST",
            "/v1/accounts",
            {
                **ACCOUNT,
                "siren": siren,
                "siret": None,
                "email": "contact@dupont.fr",
                "email_domain": "dupont.fr",
            },
        ),
        201,
    )
    contact = User("sub-contact", "Contact@Dupont.fr")
    colleague = User("sub-colleague", "paul@dupont.fr")
    outsider = User("sub-outsider", "someone@gmail.example")

    unknown = api.call(outsider, "POST", "/v1/accounts/join", {"siren": new_siren()})
    by_contact = expect(api.call(contact, "POST", "/v1/accounts/join", {"siren": siren}), 201)
    by_domain = expect(
        api.call(colleague, "POST", "/v1/accounts/join", {"siren": f" {siren[:3]} {siren[3:]} "}), 201
    )
    pending = expect(api.call(outsider, "POST", "/v1/accounts/join", {"siren": siren}), 201)
    twice = api.call(outsider, "POST", "/v1/accounts/join", {"siren": siren})
    member_again = api.call(contact, "POST", "/v1/accounts/join", {"siren": siren})
    both = api.call(outsider, "POST", "/v1/accounts/join", {"siren": siren, "siret": f"{siren}00012"})
    neither = api.call(outsider, "POST", "/v1/accounts/join", {})
    bad_luhn = api.call(outsider, "POST", "/v1/accounts/join", {"siren": "732829321"})

    assert unknown[0] == 404
    assert unknown[1]["message"] == "No company is registered with this SIREN/SIRET"
    assert (by_contact["status"], by_contact["decided_by"]) == ("approved", "auto")
    assert by_domain["status"] == "approved"
    assert pending["status"] == "pending"
    assert twice[0] == member_again[0] == 409
    assert both[0] == neither[0] == bad_luhn[0] == 422
    assert "Luhn" in bad_luhn[1]["errors"][0]["message"]
    roles = {
        m["email"]: m["role"]
        for m in expect(api.call(admin, "GET", f"/v1/accounts/{account['id']}/members"), 200)["members"]
    }
    assert roles == {"contact@dupont.fr": "member", "paul@dupont.fr": "member"}
    records = expect(api.call(admin, "GET", "/v1/audit", query={"account_id": account["id"]}), 200)["records"]
    reasons = {
        r["reason"]
        for r in records
        if r["action"] == "join_request.created" and r["changes"]["status"]["after"] == "approved"
    }
    assert reasons == {
        "Approved at once: the requester's confirmed email is the account's contact email",
        "Approved at once: the requester's confirmed email is at the account's verified domain",
    }


def test_owners_decide_join_requests_and_the_requester_is_told(
    api: InProcessApi, tenant: Tenant[User]
) -> None:
    requests = f"/v1/accounts/{tenant.account_id}/join-requests"
    joiner_email = tenant.joiner.email
    owner_mail = [m.subject for m in MAILBOX.messages(tenant.owner.email)]
    other = api.new_user("other")
    rejected_id = expect(api.call(other, "POST", "/v1/accounts/join", {"siren": tenant.siren}), 201)["id"]

    by_member = api.call(tenant.member, "POST", f"{requests}/{tenant.pending_join_request_id}/approve")
    approved = expect(
        api.call(tenant.admin, "POST", f"{requests}/{tenant.pending_join_request_id}/approve"), 200
    )
    rejected = expect(api.call(tenant.owner, "POST", f"{requests}/{rejected_id}/reject"), 200)
    decided_again = api.call(tenant.owner, "POST", f"{requests}/{rejected_id}/approve")
    listed = expect(api.call(tenant.owner, "GET", requests), 200)["join_requests"]

    assert f"{joiner_email} demande à rejoindre Tenant t" in owner_mail
    assert by_member[0] == 403
    assert (approved["status"], approved["decided_by"]) == ("approved", tenant.admin.sub)
    assert rejected["status"] == "rejected"
    assert decided_again[0] == 409
    assert {r["id"]: r["status"] for r in listed} == {
        tenant.pending_join_request_id: "approved",
        rejected_id: "rejected",
    }
    assert MAILBOX.messages(joiner_email)[0].subject == "Vous avez rejoint Tenant t sur Tally"
    assert MAILBOX.messages(other.email)[0].subject == "Votre demande pour rejoindre Tenant t a été refusée"
    assert api.call(tenant.joiner, "GET", f"/v1/accounts/{tenant.account_id}")[0] == 200
    assert api.call(other, "GET", f"/v1/accounts/{tenant.account_id}")[0] == 403
    assert api.call(other, "POST", "/v1/accounts/join", {"siren": tenant.siren})[1]["status"] == "pending"


# -- the signed-in user ---------------------------------------------------------------------


def test_the_profile_is_made_from_the_token_then_changed(api: InProcessApi) -> None:
    claims = User("sub-jo", "jo@example.com").claims(name="Jo", locale="fr-FR", phone_number="+33612345678")

    first = expect(api.call(claims, "GET", "/v1/me"), 200)
    changed = expect(
        api.call(claims, "PATCH", "/v1/me", {"name": "Jo Dupont", "phone": None, "locale": "en"}), 200
    )
    bad_phone = api.call(claims, "PATCH", "/v1/me", {"phone": "0612345678"})
    bad_locale = api.call(claims, "PATCH", "/v1/me", {"locale": "de"})

    assert first == {
        "id": "sub-jo",
        "email": "jo@example.com",
        "name": "Jo",
        "phone": "+33612345678",
        "locale": "fr",
        "memberships": [],
    }
    assert (changed["name"], changed["phone"], changed["locale"]) == ("Jo Dupont", None, "en")
    assert bad_phone[0] == bad_locale[0] == 422
    assert bad_phone[1]["errors"][0]["field"] == "phone"
    [profile] = stored(api.stack, "user")
    assert "phone" not in profile


def test_signing_out_everywhere_refuses_older_tokens(api: InProcessApi, tenant: Tenant[User]) -> None:
    cognito_user = staff(api.stack, "platform-manager")  # a real Cognito user: their refresh tokens go
    earlier = str(int(time.time()) - 5)
    old = tenant.owner.claims(iat=earlier)

    signed_out = expect(
        api.call(old, "POST", "/v1/auth/logout", headers={"X-Audit-Reason": "Lost laptop"}), 200
    )
    refused = api.call(old, "GET", f"/v1/accounts/{tenant.account_id}")
    fresh = api.call(
        tenant.owner.claims(iat=str(int(time.time()) + 1)), "GET", f"/v1/accounts/{tenant.account_id}"
    )
    staff_out = api.call(cognito_user.claims(iat=earlier), "POST", "/v1/auth/logout")

    assert "signed_out_at" in signed_out
    assert refused[0] == 401
    assert "sign in again" in refused[1]["message"]
    assert fresh[0] == 200
    assert staff_out[0] == 200
    page = expect(
        api.call(staff(api.stack), "GET", "/v1/audit", query={"entity": f"user:{tenant.owner.sub}"}), 200
    )
    assert next((r["action"], r["reason"]) for r in page["records"]) == ("user.signed_out", "Lost laptop")


# -- the audit trail ------------------------------------------------------------------------


def test_the_audit_by_pages_for_each_reader(api: InProcessApi, tenant: Tenant[User], admin: User) -> None:
    other = build_tenant(api, "o")
    every: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "4", **({"cursor": cursor} if cursor else {})}
        page = expect(api.call(tenant.owner, "GET", "/v1/audit", query=query), 200)
        every += page["records"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    platform = expect(api.call(admin, "GET", "/v1/audit", query={"limit": "100"}), 200)["records"]
    by_header = api.call(tenant.owner, "GET", "/v1/audit", headers={"X-Account-Id": other.account_id})
    by_member = api.call(tenant.member, "GET", "/v1/audit")
    forged = api.call(
        tenant.owner, "GET", "/v1/audit", query={"cursor": "eyJQSyI6IkFVRElUI3giLCJTSyI6IngifQ"}
    )
    window = api.call(
        tenant.owner, "GET", "/v1/audit", query={"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"}
    )

    assert {r["account_id"] for r in every} == {tenant.account_id}
    assert [r["at"] for r in every] == sorted((r["at"] for r in every), reverse=True)
    assert len({r["id"] for r in every}) == len(every) > 4
    assert {r["account_id"] for r in platform} >= {tenant.account_id, other.account_id}
    assert by_header[0] == 403
    assert by_member[0] == 403
    assert forged[0] == window[0] == 422


def test_every_account_route_refuses_another_tenants_users(api: InProcessApi, tenant: Tenant[User]) -> None:
    other = build_tenant(api, "o")
    account = f"/v1/accounts/{tenant.account_id}"
    routes = [
        ("GET", account, None),
        ("PATCH", account, {"name": "Mine"}),
        ("POST", f"{account}/status", {"status": "active", "reason": "x"}),
        ("GET", f"{account}/members", None),
        ("PATCH", f"{account}/members/{tenant.member_ids['viewer']}", {"role": "admin"}),
        ("DELETE", f"{account}/members/{tenant.member_ids['viewer']}", None),
        ("POST", f"{account}/invitations", {"email": "x@example.com", "role": "viewer"}),
        ("GET", f"{account}/invitations", None),
        ("DELETE", f"{account}/invitations/{tenant.pending_invitation_id}", None),
        ("GET", f"{account}/join-requests", None),
        ("POST", f"{account}/join-requests/{tenant.pending_join_request_id}/approve", None),
        ("POST", f"{account}/join-requests/{tenant.pending_join_request_id}/reject", None),
    ]
    before = clients.dynamodb().scan(TableName=api.stack.ref("BillingTable"))["Items"]

    for who in (other.owner, other.admin, other.viewer):
        for method, path, body in routes:
            status, answer = api.call(who, method, path, body)
            assert status == 403, (method, path, answer)
            assert tenant.account_id not in str(answer.get("message")), answer
    audit = api.call(other.owner, "GET", "/v1/audit", query={"account_id": tenant.account_id})
    entity = api.call(other.owner, "GET", "/v1/audit", query={"entity": f"account:{tenant.account_id}"})

    assert audit[0] == 403
    assert entity[1]["records"] == []  # their own account's records only
    assert clients.dynamodb().scan(TableName=api.stack.ref("BillingTable"))["Items"] == before


def test_every_error_has_message_code_and_errors(api: InProcessApi, tenant: Tenant[User]) -> None:
    answers = [
        api.call(None, "GET", "/v1/me"),
        api.call(tenant.viewer, "PATCH", f"/v1/accounts/{tenant.account_id}", {"name": "x"}),
        api.call(tenant.owner, "DELETE", f"/v1/accounts/{tenant.account_id}/members/{tenant.owner.sub}"),
        api.call(tenant.owner, "GET", "/v1/accounts/acc bad"),
    ]

    assert [status for status, _ in answers] == [401, 403, 409, 422]
    for _, body in answers:
        assert set(body) == {"message", "code", "errors"}
