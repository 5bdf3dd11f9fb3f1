"""What a key may do: each scope is the permission of the same name (tally.identity.policy)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Scope = Literal["usage:write", "usage:read", "stats:read", "billing:read"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


def scopes_text(scopes: Iterable[str]) -> str:
    """The scopes as the authorizer's context carries them: space separated, in a fixed order."""
    return " ".join(scope for scope in SCOPES if scope in set(scopes))


def parse_scopes(text: str) -> frozenset[str]:
    return frozenset(part for part in text.split() if part in SCOPES)
