"""The authorizer's side of the key store: one read by hash, and the rate-limited last use.

The lookup item (`APIKEYHASH#<hmac>`) holds what a request needs (account, key id, scopes,
revoked), so checking a key is one GetItem. It is read consistently: a key answers at once after
it is created, and a revocation is seen by the next read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tally.apikeys.domain import KeyRecord
from tally.storage import keys
from tally.storage.errors import error_code
from tally.storage.items import from_item, string

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# last_used_at is written at most this often per key (the bound).
TOUCH_EVERY = timedelta(minutes=1)


def stamp(moment: datetime) -> str:
    """Times of the key items, to the second: ISO strings of one length compare as the instants do."""
    return moment.isoformat(timespec="seconds")


class DynamoKeyLookup:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def find(self, key_hash: str) -> KeyRecord | None:
        answer = self._client.get_item(
            TableName=self._table, Key=keys.api_key_lookup(key_hash), ConsistentRead=True
        )
        raw = answer.get("Item")
        if not raw:
            return None
        item = from_item(raw)
        return KeyRecord(
            key_id=str(item["key_id"]),
            account_id=str(item["account_id"]),
            scopes=frozenset(str(scope) for scope in item.get("scopes") or ()),
            revoked=bool(item.get("revoked", False)),
        )

    def touch(self, account_id: str, key_id: str, at: datetime) -> bool:
        """Set the key's last_used_at to `at` unless it was set less than a minute before; False
        when it was (by another instance). Never creates an item: a key deleted meanwhile stays so."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=keys.api_key(account_id, key_id),
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression=(
                    "attribute_exists(PK) AND (attribute_not_exists(last_used_at) OR last_used_at < :since)"
                ),
                ExpressionAttributeValues={
                    ":at": string(stamp(at)),
                    ":since": string(stamp(at - TOUCH_EVERY)),
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
