"""What the authorizer answers API Gateway (HTTP API, payload 2.0, simple responses).

docs/identity.md ("The Lambda authorizer's context") is the contract with the functions:

- `Bearer tally_sk_…`, a key that exists and is not revoked: allowed, `{"kind": "api_key",
  "key_id", "account_id", "scopes"}`.
- A well-formed key that is unknown or revoked, or a Cognito id token that is genuine but
  expired: allowed with `{"kind": "invalid_key", "reason"}`, so the function answers 401 in
  Tally's shape with the reason in words (a denial would be API Gateway's bare 403, and
  decision 0008: the authorizer cannot shape API Gateway's own answers).
- A valid Cognito id token: allowed, `{"kind": "user", "sub", "email", "groups", "iat"}`.
- Anything else (no bearer, a malformed key, a forged or foreign token): denied, 403.

Context values are strings: API Gateway passes them on as given, and they stay flat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from authorizer.tokens import ExpiredToken, IdTokens, InvalidToken

if TYPE_CHECKING:
    from tally.apikeys.verifier import KeyVerifier

logger = Logger(child=True)

DENY: dict[str, Any] = {"isAuthorized": False}
EXPIRED = "The id token has expired: refresh it (POST /v1/auth/refresh) or sign in again"


def allow(context: Mapping[str, str]) -> dict[str, Any]:
    return {"isAuthorized": True, "context": dict(context)}


def invalid(reason: str) -> dict[str, Any]:
    return allow({"kind": "invalid_key", "reason": reason})


def bearer(header: str | None) -> str | None:
    """The credential of `Authorization: Bearer <credential>` (scheme in any case), else None."""
    if not header:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        return None
    return credential


def user_context(claims: Mapping[str, Any]) -> dict[str, str]:
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):
        groups = groups.split()
    return {
        "kind": "user",
        "sub": str(claims["sub"]),
        "email": str(claims.get("email") or ""),
        "groups": " ".join(sorted(str(group) for group in groups)),
        "iat": str(int(claims["iat"])),
    }


class Authorizer:
    """Each way of proving oneself is built on its first use: an instance that only sees tokens
    never loads botocore or reads the pepper, one that only sees keys never loads PyJWT."""

    def __init__(self, keys: Callable[[], KeyVerifier], tokens: Callable[[], IdTokens]) -> None:
        self._keys = keys
        self._tokens = tokens

    def decide(self, header: str | None) -> dict[str, Any]:
        credential = bearer(header)
        if credential is None:
            logger.info("Denied: no bearer credential")
            return DENY
        # Imported here, not at the top: the layer's apikeys package is light, but the check of
        # a token should not pay even for that.
        from tally.apikeys.secret import is_well_formed, looks_like_key

        if looks_like_key(credential):
            if not is_well_formed(credential):
                logger.info("Denied: a malformed API key")
                return DENY
            return self._key(credential)
        return self._token(credential)

    def _key(self, secret: str) -> dict[str, Any]:
        from tally.apikeys.scopes import scopes_text
        from tally.apikeys.verifier import Accepted

        verdict = self._keys().verify(secret)
        if not isinstance(verdict, Accepted):
            logger.info("An unknown or revoked API key", extra={"reason": verdict.reason})
            return invalid(verdict.reason)
        record = verdict.record
        return allow(
            {
                "kind": "api_key",
                "key_id": record.key_id,
                "account_id": record.account_id,
                "scopes": scopes_text(record.scopes),
            }
        )

    def _token(self, token: str) -> dict[str, Any]:
        try:
            claims = self._tokens().verify(token)
        except ExpiredToken:
            logger.info("An expired id token")
            return invalid(EXPIRED)
        except InvalidToken as exc:
            logger.info("Denied: not a valid id token", extra={"reason": str(exc)})
            return DENY
        return allow(user_context(claims))
