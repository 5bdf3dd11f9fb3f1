"""In-memory fakes of the policy's ports, a clock for its caches, and principals to call with."""

from __future__ import annotations

from dataclasses import dataclass, field

from tally.identity.directory import MembershipDirectory, StaffMfa
from tally.identity.policy import AccessPolicy
from tally.identity.ports import AccountState, UserRecord
from tally.identity.principal import Principal
from tally.identity.roles import PLATFORM_ADMIN, PLATFORM_MANAGER, Role

ISSUED_AT = 1_790_000_000  # a token's iat in these tests


def user(
    subject: str = "user-1", *groups: str, email: str | None = None, issued_at: int = ISSUED_AT
) -> Principal:
    return Principal(
        kind="user",
        subject=subject,
        email=email or f"{subject}@example.com",
        groups=frozenset(groups),
        account_id=None,
        scopes=frozenset(),
        issued_at=issued_at,
    )


def admin(subject: str = "admin-1") -> Principal:
    return user(subject, PLATFORM_ADMIN)


def manager(subject: str = "manager-1") -> Principal:
    return user(subject, PLATFORM_MANAGER)


def api_key(account_id: str, *scopes: str, key_id: str = "key_1") -> Principal:
    return Principal(
        kind="api_key",
        subject=key_id,
        email=None,
        groups=frozenset(),
        account_id=account_id,
        scopes=frozenset(scopes),
        issued_at=None,
    )


class InMemoryUserRecords:
    def __init__(self) -> None:
        self.records: dict[str, UserRecord] = {}
        self.reads = 0

    def user_record(self, subject: str) -> UserRecord:
        self.reads += 1
        return self.records.get(subject, UserRecord())

    def set_role(self, subject: str, account_id: str, role: Role | None) -> None:
        record = self.records.get(subject, UserRecord())
        memberships = dict(record.memberships)
        if role is None:
            memberships.pop(account_id, None)
        else:
            memberships[account_id] = role
        self.records[subject] = UserRecord(memberships, record.signed_out_at)


class InMemoryAccountStates:
    def __init__(self, states: dict[str, AccountState] | None = None) -> None:
        self.states = dict(states or {})

    def state(self, account_id: str) -> AccountState | None:
        return self.states.get(account_id)


class InMemoryMfaSettings:
    def __init__(self, enabled: set[str] | None = None) -> None:
        self.enabled = set(enabled or ())
        self.reads = 0

    def totp_enabled(self, subject: str) -> bool:
        self.reads += 1
        return subject in self.enabled


@dataclass
class FakeMonotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class PolicyWorld:
    """A policy over in-memory ports, with the 60 s caches on a clock the test moves."""

    records: InMemoryUserRecords = field(default_factory=InMemoryUserRecords)
    accounts: InMemoryAccountStates = field(default_factory=InMemoryAccountStates)
    mfa: InMemoryMfaSettings = field(default_factory=InMemoryMfaSettings)
    monotonic: FakeMonotonic = field(default_factory=FakeMonotonic)
    ttl_seconds: float = 60

    def __post_init__(self) -> None:
        self.directory = MembershipDirectory(self.records, self.ttl_seconds, self.monotonic)
        self.policy = AccessPolicy(
            self.directory, self.accounts, StaffMfa(self.mfa, self.ttl_seconds, self.monotonic)
        )

    def account(self, account_id: str, status: str = "active", reason: str | None = None) -> str:
        self.accounts.states[account_id] = AccountState(status, reason)
        return account_id
