"""What the policy reads from the outside world (DynamoDB and Cognito; in-memory in unit tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tally.identity.roles import Role


@dataclass(frozen=True)
class UserRecord:
    """A user's memberships (account id -> role) and when they last signed out everywhere."""

    memberships: Mapping[str, Role] = field(default_factory=dict)
    signed_out_at: datetime | None = None


@dataclass(frozen=True)
class AccountState:
    status: str  # pending, active, suspended, expired, cancelled
    reason: str | None = None


class UserRecords(Protocol):
    def user_record(self, subject: str) -> UserRecord:
        """One consistent read of the user's memberships and sign-out time (empty for a new user)."""
        ...


class AccountStates(Protocol):
    def state(self, account_id: str) -> AccountState | None:
        """The account's status and its reason; None when there is no such account."""
        ...


class MfaSettings(Protocol):
    def totp_enabled(self, subject: str) -> bool:
        """Whether the user has TOTP MFA on (False for an unknown user)."""
        ...
