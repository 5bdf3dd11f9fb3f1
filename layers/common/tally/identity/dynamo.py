"""The policy's reads from the billing table: a user's partition, an account's status."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tally.identity.ports import AccountState, UserRecord
from tally.identity.roles import Role
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Accounts stored before statuses existed were usable: they read as active.
LEGACY_STATUS = "active"


class DynamoUserRecords:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def user_record(self, subject: str) -> UserRecord:
        """One consistent Query of USER#<sub>: the profile (signed_out_at) and the membership
        mirrors, written in the same transactions as the member items they mirror."""
        memberships: dict[str, Role] = {}
        signed_out_at: datetime | None = None
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.user_pk(subject)}},
            "ConsistentRead": True,
        }
        while True:
            with transient_as_unavailable():
                page = self._client.query(**params)
            for raw in page.get("Items", []):
                sort = raw["SK"]["S"]
                if sort.startswith(keys.MEMBERSHIP_PREFIX):
                    item = from_item(raw)
                    memberships[str(item["account_id"])] = Role(str(item["role"]))
                elif sort == keys.PROFILE_SK and "signed_out_at" in raw:
                    signed_out_at = datetime.fromisoformat(raw["signed_out_at"]["S"])
            if "LastEvaluatedKey" not in page:
                return UserRecord(memberships=memberships, signed_out_at=signed_out_at)
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class DynamoAccountStates:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def state(self, account_id: str) -> AccountState | None:
        with transient_as_unavailable():
            answer = self._client.get_item(
                TableName=self._table,
                Key=keys.account(account_id),
                ConsistentRead=True,
                ProjectionExpression="#status, status_reason, PK",
                ExpressionAttributeNames={"#status": "status"},
            )
        item = answer.get("Item")
        if not item:
            return None
        values = from_item(item)
        return AccountState(str(values.get("status") or LEGACY_STATUS), values.get("status_reason"))
