"""What the API-key service needs from storage (DynamoDB in AWS, in-memory fakes in unit tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tally.apikeys.domain import ApiKey
from tally.audit.records import AuditContext


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey, key_hash: str, context: AuditContext) -> None:
        """The key, its lookup by hash and the audit record, all or nothing."""

    def list(self, account_id: str) -> list[ApiKey]: ...

    def get(self, account_id: str, key_id: str) -> ApiKey | None: ...

    def revoke(self, account_id: str, key_id: str, at: datetime, context: AuditContext) -> ApiKey | None:
        """The key revoked at `at` (with its lookup and the audit record, all or nothing), or as
        it already was when it was revoked before (nothing written); None when there is no such key."""
