"""Who is calling: the one place that reads identity from a request.

API Gateway verifies the caller before the function runs and hands over what it verified: the
JWT authorizer's claims (`requestContext.authorizer.jwt.claims`) or the Lambda authorizer's
context (`requestContext.authorizer.lambda`, docs/identity.md "Contracts"). Handlers never look
at the body or a header to decide who the caller is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tally.errors import NotAuthenticated
from tally.identity.roles import PLATFORM_ADMIN, PLATFORM_MANAGER, STAFF_GROUPS

GROUPS_CLAIM = "cognito:groups"
SIGN_IN = "Sign in and send your id token as Authorization: Bearer <id_token>"
INVALID_KEY = "This API key is unknown or was revoked: create a new one"


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "api_key"]
    subject: str  # Cognito sub, or the API key's id
    email: str | None  # users only
    groups: frozenset[str]  # platform groups from the token (platform-admin, platform-manager)
    account_id: str | None  # API keys only: the key's account
    scopes: frozenset[str]  # API keys only
    issued_at: int | None  # the token's iat (users), for sign-out everywhere

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def staff_groups(self) -> frozenset[str]:
        """The platform staff groups the token names (their powers also need MFA: the policy)."""
        return self.groups & STAFF_GROUPS if self.is_user else frozenset()

    @property
    def is_platform_admin(self) -> bool:
        return PLATFORM_ADMIN in self.staff_groups

    @property
    def is_platform_manager(self) -> bool:
        return PLATFORM_MANAGER in self.staff_groups


@dataclass(frozen=True)
class TokenProfile:
    """What the id token says of the user, to start their profile on first use."""

    name: str | None
    locale: str | None
    phone: str | None
    # The `email_verified` claim; None when the token does not say (signing in already needs a
    # confirmed address for users who signed up themselves).
    email_verified: bool | None = None


def parse_groups(raw: Any) -> frozenset[str]:
    """Groups arrive as a list (raw JWT), flattened by API Gateway as "[a b]", or space-separated
    from the Lambda authorizer."""
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple):
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


def _epoch(raw: Any) -> int | None:
    try:
        return int(str(raw)) if raw not in (None, "") else None
    except ValueError:
        return None


def _text(raw: Any) -> str | None:
    return str(raw) if raw not in (None, "") else None


def _authorizer(event: Mapping[str, Any]) -> Mapping[str, Any]:
    return (event.get("requestContext") or {}).get("authorizer") or {}


def _user(values: Mapping[str, Any], subject_key: str, groups_key: str) -> Principal:
    subject = _text(values.get(subject_key))
    if subject is None:
        raise NotAuthenticated(SIGN_IN)
    email = _text(values.get("email"))
    return Principal(
        kind="user",
        subject=subject,
        email=email.lower() if email else None,
        groups=parse_groups(values.get(groups_key)),
        account_id=None,
        scopes=frozenset(),
        issued_at=_epoch(values.get("iat")),
    )


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    """The caller of an HTTP API v2 event, from what API Gateway verified; NotAuthenticated (401)
    when it names nobody, or says the API key is unknown or revoked."""
    authorizer = _authorizer(event)
    claims = (authorizer.get("jwt") or {}).get("claims")
    if claims:
        # API Gateway takes access tokens too; only the id token says who the user is (email).
        if claims.get("token_use") == "access":
            raise NotAuthenticated(f"An access token was sent: {SIGN_IN}")
        return _user(claims, "sub", GROUPS_CLAIM)
    context = authorizer.get("lambda")
    if context:
        kind = context.get("kind")
        if kind == "user":
            return _user(context, "sub", "groups")
        if kind == "api_key" and _text(context.get("key_id")) and _text(context.get("account_id")):
            return Principal(
                kind="api_key",
                subject=str(context["key_id"]),
                email=None,
                groups=frozenset(),
                account_id=str(context["account_id"]),
                scopes=frozenset(str(context.get("scopes") or "").split()),
                issued_at=None,
            )
        if kind == "invalid_key":
            raise NotAuthenticated(_text(context.get("reason")) or INVALID_KEY)
    raise NotAuthenticated(SIGN_IN)


def token_profile(event: Mapping[str, Any]) -> TokenProfile:
    """The name, locale and phone the id token carries (empty when a Lambda authorizer answered)."""
    claims = (_authorizer(event).get("jwt") or {}).get("claims") or {}
    verified = claims.get("email_verified")
    return TokenProfile(
        name=_text(claims.get("name")),
        locale=_text(claims.get("locale")),
        phone=_text(claims.get("phone_number")),
        email_verified=None if verified in (None, "") else str(verified).lower() == "true",
    )
