"""What every accounts store does with the billing table: read items, query a partition's range,
and write a transaction with its audit record."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tally import clock as clocks
from tally.audit.records import AuditContext
from tally.clock import Clock
from tally.storage.guard import transient_as_unavailable
from tally.storage.transaction import Transaction

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NEW = "attribute_not_exists(PK)"
EXISTS = "attribute_exists(PK)"
BATCH_GET = 100  # DynamoDB's limit on the keys of one BatchGetItem


class BillingTable:
    def __init__(self, client: DynamoDBClient, table_name: str, clock: Clock | None = None) -> None:
        self.client = client
        self.name = table_name
        self.clock = clock

    def now(self) -> datetime:
        return (self.clock or clocks.get_clock()).now()

    def transaction(self, context: AuditContext) -> Transaction:
        return Transaction(self.name, context, self.clock)

    def commit(self, transaction: Transaction) -> None:
        transaction.commit(self.client)

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        with transient_as_unavailable():
            answer = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True)
        return answer.get("Item")

    def batch_get(self, wanted: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every item of these keys that exists (any order)."""
        pending = list({(key["PK"]["S"], key["SK"]["S"]): key for key in wanted}.values())
        while pending:
            chunk, pending = pending[:BATCH_GET], pending[BATCH_GET:]
            request: Any = {self.name: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                with transient_as_unavailable():
                    answer = self.client.batch_get_item(RequestItems=request)
                yield from answer.get("Responses", {}).get(self.name, [])
                request = answer.get("UnprocessedKeys") or None

    def query(self, partition: str, prefix: str) -> Iterator[dict[str, Any]]:
        """The partition's items whose sort key starts with `prefix`, consistently, every page."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            with transient_as_unavailable():
                page = self.client.query(**params)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def guarded_update(
    changes: Mapping[str, tuple[Any, Any]],
) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """An UpdateItem setting each field to its `after` value (removing it for None) under the
    condition that each still holds its `before` value: (expression, condition, names, values)."""
    sets, removes, conditions = [], [], [EXISTS]
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for index, (field, (before, after)) in enumerate(changes.items()):
        name = f"#f{index}"
        names[name] = field
        if after is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :a{index}")
            values[f":a{index}"] = after
        if before is None:
            conditions.append(f"attribute_not_exists({name})")
        else:
            conditions.append(f"{name} = :b{index}")
            values[f":b{index}"] = before
    parts = [f"SET {', '.join(sets)}" if sets else "", f"REMOVE {', '.join(removes)}" if removes else ""]
    return " ".join(part for part in parts if part), " AND ".join(conditions), names, values
