"""Creating, listing and revoking an account's API keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tally import clock
from tally.apikeys.domain import ApiKey, CreatedKey
from tally.apikeys.ports import ApiKeyRepository
from tally.apikeys.secret import key_hash, new_key_id, new_secret, visible_prefix
from tally.audit.records import AuditContext
from tally.errors import NotFound


class ApiKeyService:
    def __init__(self, repository: ApiKeyRepository, pepper: Callable[[], str]) -> None:
        self._repository = repository
        self._pepper = pepper

    def create(self, account_id: str, name: str, scopes: Iterable[str], context: AuditContext) -> CreatedKey:
        secret = new_secret()
        key = ApiKey(
            id=new_key_id(),
            account_id=account_id,
            name=name,
            prefix=visible_prefix(secret),
            scopes=frozenset(scopes),
            created_at=clock.now().replace(microsecond=0),
        )
        self._repository.add(key, key_hash(secret, self._pepper()), context)
        return CreatedKey(key, secret)

    def list(self, account_id: str) -> list[ApiKey]:
        return sorted(
            self._repository.list(account_id), key=lambda key: (key.created_at, key.id), reverse=True
        )

    def revoke(self, account_id: str, key_id: str, context: AuditContext) -> ApiKey:
        """Idempotent: revoking a revoked key answers it as it is, and writes nothing."""
        key = self._repository.revoke(account_id, key_id, clock.now().replace(microsecond=0), context)
        if key is None:
            raise NotFound(f"This account has no API key '{key_id}'", field="key_id")
        return key
