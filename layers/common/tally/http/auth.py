"""Who is calling: the one place that reads identity from a request.

API Gateway's JWT authorizer verifies the Cognito token and puts its claims in the event;
handlers never look at the body or a header to decide who the caller is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tally.errors import Forbidden, NotAuthenticated

PLATFORM_ADMIN_GROUP = "platform-admin"
ACCOUNT_CLAIM = "custom:account_id"
GROUPS_CLAIM = "cognito:groups"


def _parse_groups(raw: Any) -> frozenset[str]:
    """Groups arrive as a list (tests, raw JWT) or flattened by API Gateway as "[a b]"."""
    if raw is None:
        return frozenset()
    if isinstance(raw, list):
        return frozenset(str(group) for group in raw)
    text = str(raw).strip()
    if text.startswith("[") and '"' in text:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return frozenset(str(group) for group in parsed)
    text = text.strip("[]")
    return frozenset(part for part in text.replace(",", " ").split() if part)


@dataclass(frozen=True)
class Principal:
    subject: str
    email: str | None
    groups: frozenset[str]
    account_id: str | None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not subject:
            raise NotAuthenticated("A valid bearer token is required")
        account = claims.get(ACCOUNT_CLAIM) or None
        return cls(
            subject=str(subject),
            email=str(claims["email"]) if claims.get("email") else None,
            groups=_parse_groups(claims.get(GROUPS_CLAIM)),
            account_id=str(account) if account else None,
        )

    @property
    def is_platform_admin(self) -> bool:
        return PLATFORM_ADMIN_GROUP in self.groups

    def require_platform_admin(self) -> None:
        if not self.is_platform_admin:
            raise Forbidden("Only platform administrators may do this")

    def require_account(self, account_id: str) -> None:
        """Platform staff see every account; a tenant user sees only the account in its token."""
        if self.is_platform_admin or (self.account_id is not None and self.account_id == account_id):
            return
        raise Forbidden("You do not have access to this account", field="account_id")


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    """The caller of an HTTP API v2 event, from the claims API Gateway verified."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    return Principal.from_claims(claims)
