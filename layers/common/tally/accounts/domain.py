"""Accounts' domain types: accounts (tenants), members, invitations, join requests, user profiles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tally.identity.roles import Role

AccountStatus = Literal["pending", "active", "suspended", "expired", "cancelled"]
ACCOUNT_STATUSES: tuple[AccountStatus, ...] = ("pending", "active", "suspended", "expired", "cancelled")
Locale = Literal["en", "fr"]
JoinStatus = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    email: str  # the contact email: a join from this address is approved at once
    country: str
    currency: str
    created_at: datetime
    siren: str | None = None
    siret: str | None = None
    status: AccountStatus = "pending"
    status_reason: str | None = None
    # Verified by a platform admin: a join from an address at this domain is approved at once.
    email_domain: str | None = None
    owner_count: int = 0
    created_by: str | None = None  # the user who created it for themselves; None when staff did


@dataclass(frozen=True)
class Member:
    account_id: str
    user_id: str
    email: str
    role: Role
    joined_at: datetime


@dataclass(frozen=True)
class Invitation:
    id: str
    account_id: str
    email: str
    role: Role
    invited_by: str  # the inviter's user id
    created_at: datetime
    expires_at: datetime
    token_hash: str

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class JoinRequest:
    id: str
    account_id: str
    user_id: str
    email: str
    status: JoinStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None  # the deciding user's id, or "auto" when the email proved it


@dataclass(frozen=True)
class UserProfile:
    """The source of truth for a user's name, phone and locale, and their last sign-out."""

    user_id: str
    email: str
    name: str | None = None
    phone: str | None = None  # E.164
    locale: Locale | None = None
    signed_out_at: datetime | None = None
