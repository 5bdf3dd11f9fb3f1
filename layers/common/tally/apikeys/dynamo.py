"""The account's side of the key store (billing table): the key items, their lookups, the audit.

`ACCOUNT#<id>` / `APIKEY#<key id>` is the key as its account lists it, with its keyed hash so a
revocation can reach the lookup; `APIKEYHASH#<hmac>` / `APIKEY` is what the authorizer reads.
Creating and revoking write both items and the audit record in one transaction
(tally.storage.transaction); `last_used_at` is the authorizer's (tally.apikeys.lookup).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tally.apikeys.domain import ApiKey
from tally.apikeys.lookup import stamp
from tally.audit.records import AuditContext
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, string, to_item
from tally.storage.transaction import Transaction, TransactionRefused

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

API_KEY_KIND = "api_key"
LOOKUP_KIND = "api_key_lookup"
NEW = "attribute_not_exists(PK)"
ENTITY = "api_key"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _key(item: Mapping[str, Any]) -> ApiKey:
    created = _time(item["created_at"])
    assert created is not None
    return ApiKey(
        id=str(item["id"]),
        account_id=str(item["account_id"]),
        name=str(item["name"]),
        prefix=str(item["prefix"]),
        scopes=frozenset(str(scope) for scope in item.get("scopes") or ()),
        created_at=created,
        last_used_at=_time(item.get("last_used_at")),
        revoked_at=_time(item.get("revoked_at")),
    )


class DynamoApiKeyRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, key: ApiKey, key_hash: str, context: AuditContext) -> None:
        transaction = Transaction(self._table, context)
        scopes = set(key.scopes)
        transaction.put(
            keys.api_key(key.account_id, key.id)
            | to_item(
                {
                    "kind": API_KEY_KIND,
                    "id": key.id,
                    "account_id": key.account_id,
                    "name": key.name,
                    "prefix": key.prefix,
                    "scopes": scopes,
                    "key_hash": key_hash,
                    "created_at": stamp(key.created_at),
                }
            ),
            condition=NEW,
            label="key",
        )
        transaction.put(
            keys.api_key_lookup(key_hash)
            | to_item(
                {
                    "kind": LOOKUP_KIND,
                    "key_id": key.id,
                    "account_id": key.account_id,
                    "scopes": scopes,
                    "revoked": False,
                }
            ),
            condition=NEW,
            label="lookup",
        )
        transaction.audit(
            "api_key.created",
            ENTITY,
            key.id,
            account_id=key.account_id,
            changes={
                "name": (None, key.name),
                "scopes": (None, sorted(scopes)),
                "prefix": (None, key.prefix),
            },
        )
        transaction.commit(self._client)

    def list(self, account_id: str) -> list[ApiKey]:
        found: list[ApiKey] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
                "ExpressionAttributeValues": {
                    ":pk": keys.api_key(account_id, "")["PK"],
                    ":prefix": string(keys.API_KEY_SK_PREFIX),
                },
                "ConsistentRead": True,
            }
            if start:
                request["ExclusiveStartKey"] = start
            with transient_as_unavailable():
                page = self._client.query(**request)
            found.extend(_key(from_item(item)) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def _item(self, account_id: str, key_id: str) -> dict[str, Any] | None:
        with transient_as_unavailable():
            answer = self._client.get_item(
                TableName=self._table, Key=keys.api_key(account_id, key_id), ConsistentRead=True
            )
        raw = answer.get("Item")
        return from_item(raw) if raw else None

    def get(self, account_id: str, key_id: str) -> ApiKey | None:
        item = self._item(account_id, key_id)
        return _key(item) if item else None

    def revoke(self, account_id: str, key_id: str, at: datetime, context: AuditContext) -> ApiKey | None:
        item = self._item(account_id, key_id)
        if item is None:
            return None
        key = _key(item)
        if key.revoked:
            return key
        revoked_at = stamp(at)
        transaction = Transaction(self._table, context)
        transaction.update(
            keys.api_key(account_id, key_id),
            "SET revoked_at = :at",
            condition="attribute_exists(PK) AND attribute_not_exists(revoked_at)",
            values={":at": revoked_at},
            label="key",
        )
        transaction.update(
            keys.api_key_lookup(str(item["key_hash"])),
            "SET revoked = :yes, revoked_at = :at",
            condition="attribute_exists(PK)",
            values={":yes": True, ":at": revoked_at},
            label="lookup",
        )
        transaction.audit(
            "api_key.revoked",
            ENTITY,
            key_id,
            account_id=account_id,
            changes={"revoked_at": (None, revoked_at)},
        )
        try:
            transaction.commit(self._client)
        except TransactionRefused:
            # Revoked by another request meanwhile: answer the key as that revocation left it.
            return self.get(account_id, key_id)
        return ApiKey(
            key.id, key.account_id, key.name, key.prefix, key.scopes, key.created_at, key.last_used_at, at
        )
