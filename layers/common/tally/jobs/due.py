"""Reading the sparse DueIndex: the subscriptions whose next event falls in a window.

One Query per window, of one partition (RENEWALS_DUE, TRIALS_DUE...), by DUESK range: its reads
grow with the entries in the window, never with the table (tally.subscriptions.due).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tally.storage import keys
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUE_INDEX = "DueIndex"


@dataclass(frozen=True)
class DueEntry:
    account_id: str
    subscription_id: str
    at: datetime  # when its event falls due (the DUESK's instant)


class DueIndex(Protocol):
    def due(self, partition: str, start: datetime | None, end: datetime) -> Iterator[DueEntry]:
        """The entries of `partition` due in [start, end) (from the first when start is None)."""
        ...


def parse_due_sort_key(sort_key: str) -> tuple[datetime, str]:
    instant, _, subscription_id = sort_key.partition("#")
    return datetime.fromisoformat(instant.replace("Z", "+00:00")), subscription_id


class DynamoDueIndex:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def due(self, partition: str, start: datetime | None, end: datetime) -> Iterator[DueEntry]:
        values: dict[str, Any] = {":pk": {"S": partition}, ":end": {"S": keys.due_instant(end)}}
        if start is None:
            condition = "DUEPK = :pk AND DUESK < :end"
        else:
            # BETWEEN is inclusive: the end bound sorts before any `{end}#{id}`.
            condition = "DUEPK = :pk AND DUESK BETWEEN :start AND :end"
            values[":start"] = {"S": keys.due_instant(start)}
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "account_id, DUESK",
        }
        while True:
            with transient_as_unavailable():
                page = self._client.query(**params)
            for item in page["Items"]:
                at, subscription_id = parse_due_sort_key(item["DUESK"]["S"])
                yield DueEntry(item["account_id"]["S"], subscription_id, at)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last
