"""Audit records and what they are made of: the actor, the request's context, the change."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tally.identity.principal import Principal

ActorKind = Literal["user", "api_key", "system", "provider"]


@dataclass(frozen=True)
class Actor:
    """Who made a change: `user:<sub>` (+ email), `api_key:<id>`, `system:<job>`, `provider:<name>`."""

    kind: ActorKind
    id: str
    email: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        if principal.kind == "api_key":
            return cls("api_key", principal.subject)
        return cls("user", principal.subject, principal.email)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls("system", job)

    @classmethod
    def provider(cls, name: str) -> Actor:
        return cls("provider", name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class AuditContext:
    """What every record of one request shares; built once per request by the route layer."""

    actor: Actor
    request_id: str
    ip_prefix: str | None  # truncated as tracking truncates (IPv4 /24, IPv6 /48)
    reason: str | None  # the route's reason field, else X-Audit-Reason


@dataclass(frozen=True)
class Change:
    before: Any
    after: Any


@dataclass(frozen=True)
class AuditRecord:
    id: str
    at: datetime
    actor: Actor
    action: str  # `account.created`, `member.role_changed`, ...
    entity_type: str
    entity_id: str
    account_id: str | None  # None for platform-wide changes (a user's profile, plans)
    request_id: str
    ip_prefix: str | None
    reason: str | None
    changes: Mapping[str, Change] = field(default_factory=dict)


def new_audit_id() -> str:
    return f"aud_{uuid.uuid4().hex}"


def changes_of(values: Mapping[str, tuple[Any, Any]] | None) -> dict[str, Change]:
    """`{field: (before, after)}` as Changes, leaving out the fields that did not change."""
    return {
        name: Change(before, after) for name, (before, after) in (values or {}).items() if before != after
    }
