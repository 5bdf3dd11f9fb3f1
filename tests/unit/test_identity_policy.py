"""The permission table and the policy's decisions, over in-memory ports (tests/support/identity)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from tally.identity.policy import GRANTS, AccountSuspended, Permission, StaffMfaRequired
from tally.identity.ports import UserRecord
from tally.identity.roles import Role
from tests.support.identity import ISSUED_AT, PolicyWorld, admin, api_key, manager, user

# docs/identity.md's table, written out again: the code's table must say the same.
TABLE: dict[str, tuple[set[str], bool, bool, bool]] = {
    # permission: (account roles, platform-admin, platform-manager, API key scope)
    "account:read": ({"owner", "admin", "member", "viewer"}, True, True, False),
    "account:write": ({"owner", "admin"}, True, False, False),
    "account:status": (set(), True, False, False),
    "members:read": ({"owner", "admin", "member", "viewer"}, True, True, False),
    "members:write": ({"owner", "admin"}, True, False, False),
    "owners:write": ({"owner"}, True, False, False),
    "invitations:write": ({"owner", "admin"}, True, False, False),
    "join_requests:decide": ({"owner", "admin"}, True, False, False),
    "api_keys:write": ({"owner", "admin"}, True, False, False),
    "stats:read": ({"owner", "admin", "member", "viewer"}, True, True, True),
    "usage:write": ({"owner", "admin", "member"}, True, False, True),
    "usage:read": ({"owner", "admin", "member", "viewer"}, True, True, True),
    "billing:read": ({"owner", "admin"}, True, False, True),
    "billing:write": ({"owner", "admin"}, True, False, False),
    "audit:read": ({"owner", "admin"}, True, False, False),
    "platform:admin": (set(), True, False, False),
    # --- issue 7, usage metering and quotas
    "metrics:write": (set(), True, False, False),
    "entitlements:override": (set(), True, False, False),
    # --- issue 7, catalogue half ---
    "catalogue:write": (set(), True, False, False),
    # --- issue 8, coupons ---
    "coupons:admin": (set(), True, False, False),
    "invoices:admin": (set(), True, False, False),
}


def test_the_table_is_the_documented_one() -> None:
    assert {permission.value for permission in Permission} == set(TABLE)
    for permission, grant in GRANTS.items():
        roles, _, is_manager, scope = TABLE[permission.value]
        assert {role.value for role in grant.roles} == roles, permission
        assert (grant.manager, grant.key_scope) == (is_manager, scope), permission


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("role", list(Role))
def test_each_role_holds_exactly_its_permissions(permission: Permission, role: Role) -> None:
    world = PolicyWorld()
    account = world.account("acc_1")
    world.records.set_role("user-1", account, role)

    if role.value in TABLE[permission.value][0]:
        access = world.policy.authorize(user(), permission, account)
        assert (access.account_id, access.role, access.account_status) == (account, role, "active")
    else:
        with pytest.raises(Forbidden) as refused:
            world.policy.authorize(user(), permission, account)
        assert permission.value in refused.value.message
        assert refused.value.code == "forbidden"


@pytest.mark.parametrize("permission", list(Permission))
def test_staff_hold_their_column_once_mfa_is_on(permission: Permission) -> None:
    world = PolicyWorld()
    account = world.account("acc_1")
    world.mfa.enabled |= {"admin-1", "manager-1"}

    assert world.policy.authorize(admin(), permission, account).role is None
    if TABLE[permission.value][2]:
        assert world.policy.authorize(manager(), permission, account).role is None
    else:
        with pytest.raises(Forbidden):
            world.policy.authorize(manager(), permission, account)


def test_staff_without_mfa_are_pointed_at_the_setup() -> None:
    world = PolicyWorld()
    account = world.account("acc_1")

    for call in (
        lambda: world.policy.authorize(admin(), Permission.ACCOUNT_READ, account),
        lambda: world.policy.authorize(manager(), Permission.STATS_READ, account),
        lambda: world.policy.authorize_platform(admin(), Permission.PLATFORM_ADMIN),
    ):
        with pytest.raises(StaffMfaRequired) as refused:
            call()
        assert refused.value.status_code == 403
        assert "POST /v1/me/mfa/setup" in refused.value.message


def test_a_staff_member_without_mfa_keeps_what_their_own_membership_grants() -> None:
    world = PolicyWorld()
    account = world.account("acc_1")
    world.records.set_role("admin-1", account, Role.VIEWER)

    assert world.policy.authorize(admin(), Permission.ACCOUNT_READ, account).role is Role.VIEWER
    with pytest.raises(StaffMfaRequired):
        world.policy.authorize(admin(), Permission.ACCOUNT_WRITE, account)


def test_an_account_one_does_not_belong_to_is_403_whether_or_not_it_exists() -> None:
    world = PolicyWorld()
    world.account("acc_theirs")

    answers = []
    for account in ("acc_theirs", "acc_nobody"):
        with pytest.raises(Forbidden) as refused:
            world.policy.authorize(user(), Permission.ACCOUNT_READ, account)
        answers.append((type(refused.value), refused.value.message, refused.value.field))
    assert answers[0] == answers[1]


def test_staff_asking_for_an_unknown_account_get_404() -> None:
    world = PolicyWorld()
    world.mfa.enabled.add("admin-1")

    with pytest.raises(NotFound):
        world.policy.authorize(admin(), Permission.ACCOUNT_READ, "acc_nobody")


@pytest.mark.parametrize("status", ["suspended", "expired", "cancelled"])
def test_a_blocked_account_is_403_with_its_reason_except_for_billing(status: str) -> None:
    world = PolicyWorld()
    account = world.account("acc_1", status, "Unpaid invoice INV-202611-00001")
    world.records.set_role("user-1", account, Role.OWNER)

    with pytest.raises(AccountSuspended) as refused:
        world.policy.authorize(user(), Permission.MEMBERS_READ, account)
    assert refused.value.code == "account_suspended"
    assert refused.value.message == f"This account is {status}: Unpaid invoice INV-202611-00001"
    for billing in (Permission.BILLING_READ, Permission.BILLING_WRITE):
        assert world.policy.authorize(user(), billing, account).account_status == status


def test_pending_accounts_are_usable_and_staff_see_blocked_ones() -> None:
    world = PolicyWorld()
    pending = world.account("acc_new", "pending")
    blocked = world.account("acc_off", "suspended", "Fraud review")
    world.records.set_role("user-1", pending, Role.OWNER)
    world.mfa.enabled.add("admin-1")

    assert world.policy.authorize(user(), Permission.MEMBERS_WRITE, pending).account_status == "pending"
    assert world.policy.authorize(admin(), Permission.MEMBERS_READ, blocked).account_status == "suspended"


def test_api_keys_hold_their_scopes_on_their_account_only() -> None:
    world = PolicyWorld()
    account = world.account("acc_1")
    other = world.account("acc_2")
    key = api_key(account, "stats:read", "billing:write")

    assert world.policy.authorize(key, Permission.STATS_READ, account).role is None
    with pytest.raises(Forbidden, match="another account"):
        world.policy.authorize(key, Permission.STATS_READ, other)
    with pytest.raises(Forbidden, match=r"usage:read scope"):
        world.policy.authorize(key, Permission.USAGE_READ, account)
    with pytest.raises(Forbidden, match=r"billing:write scope"):  # no key may hold it, scope or not
        world.policy.authorize(key, Permission.BILLING_WRITE, account)
    with pytest.raises(Forbidden):
        world.policy.authorize_platform(key, Permission.PLATFORM_ADMIN)
    world.account(account, "suspended", "Unpaid")
    with pytest.raises(AccountSuspended):
        world.policy.authorize(key, Permission.STATS_READ, account)


def test_the_account_of_a_route_without_one() -> None:
    world = PolicyWorld()
    world.records.set_role("solo", "acc_1", Role.MEMBER)
    world.records.set_role("many", "acc_1", Role.MEMBER)
    world.records.set_role("many", "acc_2", Role.OWNER)

    assert world.policy.account_for(user("solo"), None) == "acc_1"
    assert world.policy.account_for(user("many"), "acc_2") == "acc_2"
    assert world.policy.account_for(api_key("acc_9"), None) == "acc_9"
    with pytest.raises(InvalidInput) as several:
        world.policy.account_for(user("many"), None)
    assert (several.value.field, several.value.location) == ("x-account-id", "header")
    with pytest.raises(Forbidden, match="no account yet"):
        world.policy.account_for(user("nobody"), None)
    with pytest.raises(InvalidInput):
        world.policy.account_for(admin(), None)
    with pytest.raises(Forbidden):
        world.policy.account_for(api_key("acc_9"), "acc_1")


def test_a_token_issued_before_signing_out_everywhere_is_refused() -> None:
    world = PolicyWorld()
    account = world.account("acc_1")
    world.records.set_role("user-1", account, Role.OWNER)
    signed_out = datetime.fromtimestamp(ISSUED_AT + 10, UTC)
    world.records.records["user-1"] = UserRecord({account: Role.OWNER}, signed_out)

    with pytest.raises(NotAuthenticated, match="sign in again"):
        world.policy.authorize(user(issued_at=ISSUED_AT), Permission.ACCOUNT_READ, account)
    with pytest.raises(NotAuthenticated):
        world.policy.signed_in(user(issued_at=ISSUED_AT))
    assert world.policy.authorize(user(issued_at=ISSUED_AT + 10), Permission.ACCOUNT_READ, account)
    assert world.policy.signed_in(user(issued_at=ISSUED_AT + 11)).memberships == {account: Role.OWNER}


def test_memberships_are_cached_60_seconds_unless_this_instance_forgets_them() -> None:
    world = PolicyWorld()
    account = world.account("acc_1")
    world.records.set_role("user-1", account, Role.OWNER)
    assert world.policy.authorize(user(), Permission.ACCOUNT_READ, account)

    world.records.set_role("user-1", account, None)  # removed by another instance
    world.monotonic.advance(59)
    assert world.policy.authorize(user(), Permission.ACCOUNT_READ, account)
    world.monotonic.advance(1)
    with pytest.raises(Forbidden):
        world.policy.authorize(user(), Permission.ACCOUNT_READ, account)

    world.records.set_role("user-1", account, Role.ADMIN)
    world.policy.directory.forget("user-1")  # added by this instance: seen at once
    assert world.policy.authorize(user(), Permission.ACCOUNT_WRITE, account).role is Role.ADMIN
    assert world.records.reads == 3


def test_a_membership_granted_by_another_instance_counts_at_once_and_misses_read_at_most_once_a_second() -> (
    None
):
    world = PolicyWorld()
    mine = world.account("acc_1")
    new = world.account("acc_2")
    world.records.set_role("user-1", mine, Role.OWNER)
    assert world.policy.authorize(user(), Permission.ACCOUNT_READ, mine)
    # The accounts function (another instance) makes them owner of a new account.
    world.records.set_role("user-1", new, Role.OWNER)
    assert world.policy.authorize(user(), Permission.BILLING_WRITE, new).role is Role.OWNER
    assert world.records.reads == 2
    # Probing an account that is not theirs: one re-read, then none for a second.
    world.monotonic.advance(1)
    for _ in range(5):
        with pytest.raises(Forbidden):
            world.policy.authorize(user(), Permission.ACCOUNT_READ, "acc_other")
    assert world.records.reads == 3
    world.monotonic.advance(1)
    with pytest.raises(Forbidden):
        world.policy.authorize(user(), Permission.ACCOUNT_READ, "acc_other")
    assert world.records.reads == 4


def test_two_accounts_made_within_a_second_by_another_instance_each_count_at_once() -> None:
    # Seen over HTTP: a user made two accounts in a row and the second's checkout answered 403
    # "You do not have access to this account" for a second (the re-read was per user).
    world = PolicyWorld()
    mine = world.account("acc_0")
    first = world.account("acc_1")
    second = world.account("acc_2")
    world.records.set_role("user-1", mine, Role.OWNER)
    assert world.policy.authorize(user(), Permission.ACCOUNT_READ, mine)
    world.records.set_role("user-1", first, Role.OWNER)
    assert world.policy.authorize(user(), Permission.BILLING_WRITE, first).role is Role.OWNER
    world.records.set_role("user-1", second, Role.OWNER)
    assert world.policy.authorize(user(), Permission.BILLING_WRITE, second).role is Role.OWNER
    assert world.records.reads == 3


def test_staff_mfa_is_cached_once_on_and_asked_again_while_off() -> None:
    world = PolicyWorld()
    account = world.account("acc_1")

    with pytest.raises(StaffMfaRequired):
        world.policy.authorize(admin(), Permission.ACCOUNT_READ, account)
    world.mfa.enabled.add("admin-1")  # turned on: the next action sees it
    world.policy.authorize(admin(), Permission.ACCOUNT_READ, account)
    world.policy.authorize(admin(), Permission.ACCOUNT_READ, account)
    assert world.mfa.reads == 2
    world.mfa.enabled.clear()
    world.monotonic.advance(60)
    with pytest.raises(StaffMfaRequired):
        world.policy.authorize(admin(), Permission.ACCOUNT_READ, account)


def test_only_staff_act_on_the_platform() -> None:
    world = PolicyWorld()
    world.mfa.enabled |= {"admin-1", "manager-1"}

    world.policy.authorize_platform(admin(), Permission.PLATFORM_ADMIN)
    world.policy.authorize_platform(manager(), Permission.ACCOUNT_READ)
    for principal, permission in ((manager(), Permission.PLATFORM_ADMIN), (user(), Permission.ACCOUNT_READ)):
        with pytest.raises(Forbidden, match="Only platform staff"):
            world.policy.authorize_platform(principal, permission)
    with pytest.raises(Forbidden, match="not API keys"):
        world.policy.signed_in(api_key("acc_1"))
