"""API Gateway's JWT authorizer, against moto's Cognito.

Like the real one: read the token from the identity source (`Authorization: Bearer …`), verify
its RS256 signature with the issuer's JWKS, check `iss`, `exp`/`nbf`, and that `aud` (id token)
or `client_id` (access token) is one of the configured audiences; then hand the handler the
claims with every value turned into a string, arrays flattened to "[a b]".
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from local.routes import JwtAuthorizerSpec

log = logging.getLogger("local.authorizer")


class UnauthorizedError(Exception):
    """The request is answered 401 {"message": "Unauthorized"} without calling the handler."""


class ForbiddenError(Exception):
    """The token is valid but lacks a scope the route requires: 403 {"message": "Forbidden"}."""


@dataclass(frozen=True)
class Authorization:
    claims: dict[str, str]
    scopes: list[str] | None


def flatten_claim(value: Any) -> str:
    """How API Gateway's HTTP API hands a JWT claim to the integration: always a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(flatten_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return ""
    return str(value)


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): flatten_claim(value) for key, value in claims.items()}


def bearer_token(header_value: str | None) -> str | None:
    if not header_value:
        return None
    value = header_value.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


class JwksCache:
    """JWKS per issuer, fetched from moto (`<endpoint>/<pool id>/.well-known/jwks.json`)."""

    def __init__(self, moto_endpoint: str) -> None:
        self.moto_endpoint = moto_endpoint.rstrip("/")
        self._keys: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def url_for(self, issuer: str) -> str:
        pool_id = issuer.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.moto_endpoint}/{pool_id}/.well-known/jwks.json"

    def key(self, issuer: str, kid: str | None) -> Any:
        with self._lock:
            keys = self._keys.get(issuer)
            if keys is None or (kid not in keys):
                keys = self._fetch(issuer)
                self._keys[issuer] = keys
        if not keys:
            raise UnauthorizedError("no signing keys for issuer")
        if kid in keys:
            return keys[kid]
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        raise UnauthorizedError("unknown key id")

    def _fetch(self, issuer: str) -> dict[str, Any]:
        response = requests.get(self.url_for(issuer), timeout=5)
        response.raise_for_status()
        keys: dict[str, Any] = {}
        for jwk in response.json().get("keys", []):
            keys[str(jwk.get("kid"))] = jwt.PyJWK.from_dict(jwk).key
        return keys


class JwtAuthorizer:
    def __init__(self, jwks: JwksCache, leeway_seconds: float = 0) -> None:
        self.jwks = jwks
        self.leeway = leeway_seconds

    def authorize(
        self, spec: JwtAuthorizerSpec, headers: Mapping[str, str], required_scopes: tuple[str, ...] = ()
    ) -> Authorization:
        if not spec.supported:
            raise UnauthorizedError(f"authorizer {spec.name} is not supported locally")
        token = bearer_token(headers.get(spec.identity_header))
        if token is None:
            raise UnauthorizedError("no token")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise UnauthorizedError("only RS256 tokens are accepted")
            key = self.jwks.key(spec.issuer, header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=spec.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise UnauthorizedError(str(exc)) from exc
        except requests.RequestException as exc:
            log.error("cannot fetch the JWKS for %s: %s", spec.issuer, exc)
            raise UnauthorizedError("JWKS unavailable") from exc
        audiences = claims.get("aud")
        if audiences is None:
            audiences = claims.get("client_id")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not audiences or not set(map(str, audiences)) & set(spec.audience):
            raise UnauthorizedError("audience not allowed")
        token_scopes = str(claims.get("scope", "")).split()
        if required_scopes and not set(required_scopes) & set(token_scopes):
            raise ForbiddenError("missing scope")
        return Authorization(
            claims=flatten_claims(claims),
            scopes=token_scopes if required_scopes else None,
        )
