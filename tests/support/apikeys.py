"""An in-memory key store with the DynamoDB adapters' semantics, and a pool's signing keys."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tally.apikeys.domain import ApiKey, KeyRecord
from tally.apikeys.lookup import TOUCH_EVERY
from tally.apikeys.secret import key_hash
from tally.audit.records import AuditContext

PEPPER = "pepper-for-tests"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool"
CLIENT_ID = "client-1"


@dataclass
class InMemoryKeyLookup:
    """The authorizer's port: lookups by hash, and last use under the adapter's condition."""

    records: dict[str, KeyRecord] = field(default_factory=dict)
    last_used: dict[str, datetime] = field(default_factory=dict)
    finds: int = 0
    touches: list[tuple[str, str, datetime]] = field(default_factory=list)
    touch_error: Exception | None = None

    def add(self, secret: str, record: KeyRecord, pepper: str = PEPPER) -> None:
        self.records[key_hash(secret, pepper)] = record

    def revoke(self, key_id: str) -> None:
        for hashed, record in self.records.items():
            if record.key_id == key_id:
                self.records[hashed] = KeyRecord(record.key_id, record.account_id, record.scopes, True)

    def find(self, key_hash: str) -> KeyRecord | None:
        self.finds += 1
        return self.records.get(key_hash)

    def touch(self, account_id: str, key_id: str, at: datetime) -> bool:
        self.touches.append((account_id, key_id, at))
        if self.touch_error is not None:
            raise self.touch_error
        last = self.last_used.get(key_id)
        if last is not None and last >= at - TOUCH_EVERY:
            return False
        self.last_used[key_id] = at
        return True


class MovingClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Pool:
    """A user pool's signing key, its JWKS, and id tokens it would issue."""

    def __init__(self, kid: str = "k1") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def token(self, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "user-1",
            "aud": CLIENT_ID,
            "email": "owner@example.com",
            "token_use": "id",
            "cognito:groups": ["platform-admin"],
            "iat": now,
            "exp": now + 3600,
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@dataclass
class InMemoryApiKeyRepository:
    """The account side, as tally.apikeys.dynamo does it: each change with its audit context."""

    keys: dict[tuple[str, str], ApiKey] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)  # key id -> keyed hash
    audited: list[tuple[str, str, AuditContext]] = field(default_factory=list)  # (action, key id, context)

    def add(self, key: ApiKey, key_hash: str, context: AuditContext) -> None:
        assert (key.account_id, key.id) not in self.keys
        self.keys[(key.account_id, key.id)] = key
        self.hashes[key.id] = key_hash
        self.audited.append(("api_key.created", key.id, context))

    def list(self, account_id: str) -> list[ApiKey]:
        return [key for (account, _), key in self.keys.items() if account == account_id]

    def get(self, account_id: str, key_id: str) -> ApiKey | None:
        return self.keys.get((account_id, key_id))

    def revoke(self, account_id: str, key_id: str, at: datetime, context: AuditContext) -> ApiKey | None:
        key = self.keys.get((account_id, key_id))
        if key is None or key.revoked:
            return key
        revoked = replace(key, revoked_at=at)
        self.keys[(account_id, key_id)] = revoked
        self.audited.append(("api_key.revoked", key_id, context))
        return revoked
