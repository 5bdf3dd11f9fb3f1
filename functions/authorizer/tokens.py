"""Cognito id tokens, checked as API Gateway's JWT authorizer checks them, and more strictly.

RS256 signature by one of the pool's keys (its JWKS, kept for the instance's life and fetched
again when a token names a key not seen yet), the pool as issuer, the app client as audience,
`token_use: id`, and `exp`/`iat` present and current. PyJWT (and cryptography under it) is
imported on the first token, so an instance that only ever sees API keys never loads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

JWKS_TIMEOUT_S = 3
# A token naming an unknown key fetches the JWKS again, at most this often: made-up `kid`s must
# not turn every forged token into a request to Cognito.
REFETCH_EVERY_S = 60.0


class InvalidToken(Exception):
    """Why a token is refused (for logs: never the token itself)."""


class ExpiredToken(InvalidToken):
    """Signed by the pool for this client, but past its `exp`: the caller should refresh it."""


def fetch_json(url: str) -> Mapping[str, Any]:
    # Imported here: urllib.request loads http.client, ssl and email (~20 ms), needed once.
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise InvalidToken(f"not an http(s) JWKS address: {url}")
    with urllib.request.urlopen(url, timeout=JWKS_TIMEOUT_S) as answer:  # noqa: S310 - checked above
        document: Mapping[str, Any] = json.load(answer)
    return document


class SigningKeys:
    """The pool's public keys by `kid`."""

    def __init__(
        self,
        url: str,
        fetch: Callable[[str], Mapping[str, Any]] = fetch_json,
        *,
        refetch_every: float = REFETCH_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._refetch_every = refetch_every
        self._monotonic = monotonic
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self.fetches = 0

    def key(self, kid: str) -> Any:
        if kid not in self._keys and self._may_fetch():
            self._load()
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken("signed with a key the pool does not have") from None

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._monotonic() - self._fetched_at >= self._refetch_every

    def _load(self) -> None:
        import jwt

        self._fetched_at = self._monotonic()
        self.fetches += 1
        keys: dict[str, Any] = {}
        for jwk in self._fetch(self._url).get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid"):
                keys[str(jwk["kid"])] = jwt.PyJWK.from_dict(dict(jwk)).key
        self._keys = keys


class IdTokens:
    def __init__(
        self, issuer: str, client_id: str, keys: SigningKeys, *, now: Callable[[], float] = time.time
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._keys = keys
        self._now = now

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken (ExpiredToken when only its time is up)."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
                raise InvalidToken("not an RS256 token naming its key")
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._keys.key(header["kid"]),
                algorithms=["RS256"],
                audience=self._client_id,
                issuer=self._issuer,
                # Expiry last (PyJWT checks it before the issuer and audience): "expired" is
                # said only of a token that is otherwise this pool's and this client's.
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        if claims.get("token_use") != "id":
            raise InvalidToken("not an id token")
        expires = claims["exp"]
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise InvalidToken("exp is not a number")
        if expires <= self._now():
            raise ExpiredToken("expired")
        return claims
