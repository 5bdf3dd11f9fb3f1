"""Authorisation in one place: the permission table, and the decision for a caller and an account.

Every route calls the policy first and hands every repository call the account id it answered,
never one from the body (docs/identity.md "Authorisation lives in one place").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tally.errors import Forbidden, InvalidInput, NotFound
from tally.identity.directory import MembershipDirectory, StaffMfa
from tally.identity.ports import AccountState, AccountStates, UserRecord
from tally.identity.principal import Principal
from tally.identity.roles import PLATFORM_ADMIN, PLATFORM_MANAGER, Role

ACCOUNT_HEADER = "x-account-id"
# The account may not be used while in one of these statuses, except to pay (billing:*).
BLOCKED_STATUSES = frozenset({"suspended", "expired", "cancelled"})
MFA_FOR_STAFF = (
    "Platform staff powers need multi-factor authentication: set up an authenticator with "
    "POST /v1/me/mfa/setup, then confirm it with POST /v1/me/mfa/verify"
)


class Permission(StrEnum):
    ACCOUNT_READ = "account:read"
    ACCOUNT_WRITE = "account:write"
    ACCOUNT_STATUS = "account:status"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    OWNERS_WRITE = "owners:write"
    INVITATIONS_WRITE = "invitations:write"
    JOIN_REQUESTS_DECIDE = "join_requests:decide"
    API_KEYS_WRITE = "api_keys:write"
    STATS_READ = "stats:read"
    USAGE_WRITE = "usage:write"
    USAGE_READ = "usage:read"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    AUDIT_READ = "audit:read"
    PLATFORM_ADMIN = "platform:admin"
    # --- issue 7, usage metering and quotas ---------------------------------------------------
    METRICS_WRITE = "metrics:write"
    ENTITLEMENTS_OVERRIDE = "entitlements:override"
    # --- issue 7, catalogue half: plans and subscriptions -------------------------------------
    CATALOGUE_WRITE = "catalogue:write"
    # --- issue 8, coupons ------------------------------------------------------------------------
    COUPONS_ADMIN = "coupons:admin"
    # --- issue 8, invoices and the seller's billing settings ---------------------------------
    INVOICES_ADMIN = "invoices:admin"


@dataclass(frozen=True)
class Grant:
    roles: frozenset[Role]
    manager: bool = False  # platform-manager holds it (platform-admin holds every permission)
    key_scope: bool = False  # an API key holds it when it has the scope of the same name


_ALL = frozenset(Role)
_OWNER = frozenset({Role.OWNER})
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
_WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})
_NONE: frozenset[Role] = frozenset()

# docs/identity.md's table, row for row.
GRANTS: dict[Permission, Grant] = {
    Permission.ACCOUNT_READ: Grant(_ALL, manager=True),
    Permission.ACCOUNT_WRITE: Grant(_MANAGERS),
    Permission.ACCOUNT_STATUS: Grant(_NONE),
    Permission.MEMBERS_READ: Grant(_ALL, manager=True),
    Permission.MEMBERS_WRITE: Grant(_MANAGERS),
    Permission.OWNERS_WRITE: Grant(_OWNER),
    Permission.INVITATIONS_WRITE: Grant(_MANAGERS),
    Permission.JOIN_REQUESTS_DECIDE: Grant(_MANAGERS),
    Permission.API_KEYS_WRITE: Grant(_MANAGERS),
    Permission.STATS_READ: Grant(_ALL, manager=True, key_scope=True),
    Permission.USAGE_WRITE: Grant(_WRITERS, key_scope=True),
    Permission.USAGE_READ: Grant(_ALL, manager=True, key_scope=True),
    Permission.BILLING_READ: Grant(_MANAGERS, key_scope=True),
    Permission.BILLING_WRITE: Grant(_MANAGERS),
    Permission.AUDIT_READ: Grant(_MANAGERS),
    Permission.PLATFORM_ADMIN: Grant(_NONE),
    # --- issue 7, usage metering and quotas: billable metrics and per-account overrides are
    # platform admins' (quota reads and usage writes use usage:read / usage:write above) -------
    Permission.METRICS_WRITE: Grant(_NONE),
    Permission.ENTITLEMENTS_OVERRIDE: Grant(_NONE),
    # --- issue 7, catalogue half: plans and subscriptions -------------------------------------
    # Publishing, archiving and importing plans: platform admins only. (Subscriptions use
    # billing:read / billing:write.)
    Permission.CATALOGUE_WRITE: Grant(_NONE),
    # --- issue 8, coupons: creating, reading, changing and deleting them is platform admins';
    # validating one for an account uses billing:read. ----------------------------------------
    Permission.COUPONS_ADMIN: Grant(_NONE),
    # --- issue 8, invoices: drafting, finalising, payments, voids, credit notes, PDFs for any
    # account and the seller's billing settings are platform admins'; an account's owners and
    # admins (and API keys with billing:read) read their own with billing:read. -------------
    Permission.INVOICES_ADMIN: Grant(_NONE),
}


class AccountSuspended(Forbidden):
    code = "account_suspended"


class StaffMfaRequired(Forbidden):
    code = "mfa_setup_required"


@dataclass(frozen=True)
class Access:
    principal: Principal
    account_id: str
    role: Role | None  # the member's role; None for staff and API keys
    account_status: str


def staff_holds(principal: Principal, permission: Permission) -> bool:
    """Whether the caller's staff group holds the permission (MFA aside)."""
    if principal.is_platform_admin:
        return True
    return principal.is_platform_manager and GRANTS[permission].manager


def _is_billing(permission: Permission) -> bool:
    return permission in (Permission.BILLING_READ, Permission.BILLING_WRITE)


class AccessPolicy:
    def __init__(self, directory: MembershipDirectory, accounts: AccountStates, mfa: StaffMfa) -> None:
        self._directory = directory
        self._accounts = accounts
        self._mfa = mfa

    @property
    def directory(self) -> MembershipDirectory:
        return self._directory

    # -- the three questions routes ask ------------------------------------------------------

    def authorize(self, principal: Principal, permission: Permission, account_id: str) -> Access:
        """What the caller holds in the account, or the error to answer: 401 (signed out), 403
        `forbidden` naming the permission, 403 `account_suspended` with the account's reason (not
        for billing:*), 404 for staff when the account does not exist. A tenant user asking for
        an account they do not belong to gets 403 whether it exists or not."""
        if principal.kind == "api_key":
            return self._authorize_key(principal, permission, account_id)
        record = self._directory.record_in(principal, account_id)
        role = record.memberships.get(account_id)
        staff = staff_holds(principal, permission)
        if role is not None and role in GRANTS[permission].roles:
            state = self._state(account_id)
            if self._usable(state, permission) or (staff and self._mfa_on(principal)):
                return Access(principal, account_id, role, state.status)
            raise _suspended(state)
        if staff:
            self._require_mfa(principal)
            return Access(principal, account_id, role, self._state(account_id).status)
        if role is not None:
            raise Forbidden(f"Your role in this account ({role}) does not allow {permission}")
        raise Forbidden("You do not have access to this account", field="account_id")

    def authorize_platform(self, principal: Principal, permission: Permission) -> None:
        """Platform-wide actions (no one account): staff only, with MFA on."""
        if principal.kind != "user":
            raise Forbidden(f"An API key may not do this ({permission})")
        self._directory.record(principal)
        if not staff_holds(principal, permission):
            raise Forbidden(f"Only platform staff may do this ({permission})")
        self._require_mfa(principal)

    def account_for(self, principal: Principal, header: str | None) -> str:
        """The account a route without one in its path acts on: the X-Account-Id header, an API
        key's own account, or the user's only account."""
        if principal.kind == "api_key":
            if header and header != principal.account_id:
                raise Forbidden("This API key belongs to another account", field=ACCOUNT_HEADER)
            return str(principal.account_id)
        if header:
            return header
        accounts = sorted(self._directory.record_in(principal, None).memberships)
        if len(accounts) == 1:
            return accounts[0]
        if accounts or principal.staff_groups:
            raise InvalidInput(
                "Name the account with the X-Account-Id header: you have access to several",
                field=ACCOUNT_HEADER,
                location="header",
            )
        raise Forbidden(
            "You belong to no account yet: create one (POST /v1/accounts) or join one "
            "(POST /v1/accounts/join, or an invitation)"
        )

    def signed_in(self, principal: Principal) -> UserRecord:
        """Self-service routes (/v1/me, sign-out): a signed-in user, in no particular account."""
        if principal.kind != "user":
            raise Forbidden("This route is for signed-in users, not API keys")
        return self._directory.record(principal)

    def staff_mfa_on(self, principal: Principal) -> bool:
        """Whether the caller is staff with MFA on (for answers that differ for staff, such as
        naming another tenant's account in a conflict)."""
        return bool(principal.staff_groups) and self._mfa_on(principal)

    # -- the parts ---------------------------------------------------------------------------

    def _authorize_key(self, principal: Principal, permission: Permission, account_id: str) -> Access:
        if not GRANTS[permission].key_scope or permission.value not in principal.scopes:
            raise Forbidden(f"This API key does not have the {permission} scope")
        if principal.account_id != account_id:
            raise Forbidden("This API key belongs to another account", field="account_id")
        state = self._state(account_id)
        if not self._usable(state, permission):
            raise _suspended(state)
        return Access(principal, account_id, None, state.status)

    def _state(self, account_id: str) -> AccountState:
        state = self._accounts.state(account_id)
        if state is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        return state

    @staticmethod
    def _usable(state: AccountState, permission: Permission) -> bool:
        return state.status not in BLOCKED_STATUSES or _is_billing(permission)

    def _mfa_on(self, principal: Principal) -> bool:
        return self._mfa.enabled(principal.subject)

    def _require_mfa(self, principal: Principal) -> None:
        if not self._mfa_on(principal):
            raise StaffMfaRequired(MFA_FOR_STAFF)


def _suspended(state: AccountState) -> AccountSuspended:
    because = f": {state.reason}" if state.reason else ""
    return AccountSuspended(f"This account is {state.status}{because}")


__all__ = [
    "ACCOUNT_HEADER",
    "GRANTS",
    "PLATFORM_ADMIN",
    "PLATFORM_MANAGER",
    "Access",
    "AccessPolicy",
    "AccountSuspended",
    "Permission",
    "Role",
    "StaffMfaRequired",
]
