"""API keys as the code speaks of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ApiKey:
    """A key as its account sees it (never its secret, never its hash)."""

    id: str
    account_id: str
    name: str
    prefix: str  # the secret's first characters, to tell keys apart
    scopes: frozenset[str]
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret, which exists only in this answer."""

    key: ApiKey
    secret: str


@dataclass(frozen=True)
class KeyRecord:
    """What the authorizer reads by the key's hash: whose key it is, and what it may do."""

    key_id: str
    account_id: str
    scopes: frozenset[str]
    revoked: bool
