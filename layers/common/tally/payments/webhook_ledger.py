"""The webhook ledger in the billing table: one item per provider event (tally.storage.keys.webhook_event).

The route records with a conditional Put (`attribute_not_exists`) that hands back the existing
item when the event is a duplicate (ReturnValuesOnConditionCheckFailure), so a duplicate costs
one write request and no read. Entries expire on `ttl` after `retention`: longer than any
provider retries (Stripe: 3 days), so a retry always finds its entry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from tally.payments.events import Applied, Provider, ProviderEvent
from tally.payments.webhooks import LedgerEntry, LedgerStatus
from tally.storage import keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RETENTION = timedelta(days=90)


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class DynamoWebhookLedger:
    def __init__(self, client: DynamoDBClient, table: str, retention: timedelta = RETENTION) -> None:
        self._client = client
        self._table = table
        self._retention = retention

    def record(self, event: ProviderEvent, *, at: datetime) -> LedgerEntry | None:
        item = keys.webhook_event(event.provider, event.id) | {
            "kind": {"S": "webhook_event"},
            "provider": {"S": event.provider},
            "event_id": {"S": event.id},
            "type": {"S": event.type},
            "event_created_at": {"S": _instant(event.created)},
            "status": {"S": "received"},
            "received_at": {"S": _instant(at)},
            "ttl": {"N": str(int((at + self._retention).timestamp()))},
        }
        try:
            with transient_as_unavailable():
                self._client.put_item(
                    TableName=self._table,
                    Item=cast("Any", item),
                    ConditionExpression="attribute_not_exists(PK)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            existing = cast("dict[str, Any]", exc.response).get("Item")
            if not existing:  # pragma: no cover - DynamoDB returns the item it compared against
                raise
            return _entry(existing)
        return None

    def mark_queued(self, provider: Provider, event_id: str, *, at: datetime) -> None:
        # Only a `received` entry moves: a fast worker may already have marked it applied.
        try:
            with transient_as_unavailable():
                self._client.update_item(
                    TableName=self._table,
                    Key=cast("Any", keys.webhook_event(provider, event_id)),
                    UpdateExpression="SET #status = :queued, queued_at = :at",
                    ConditionExpression="#status = :received",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":queued": {"S": "queued"},
                        ":received": {"S": "received"},
                        ":at": {"S": _instant(at)},
                    },
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def entry(self, provider: Provider, event_id: str) -> LedgerEntry | None:
        with transient_as_unavailable():
            found = self._client.get_item(
                TableName=self._table,
                Key=cast("Any", keys.webhook_event(provider, event_id)),
                ConsistentRead=True,
            )
        item = found.get("Item")
        return _entry(cast("dict[str, Any]", item)) if item else None

    def mark_applied(self, provider: Provider, event_id: str, applied: Applied, *, at: datetime) -> None:
        # Unconditional: the worker may apply an entry whose item has expired (a message kept
        # longer than the retention); it comes back with a fresh ttl.
        expires = int((at + self._retention).timestamp())
        with transient_as_unavailable():
            self._client.update_item(
                TableName=self._table,
                Key=cast("Any", keys.webhook_event(provider, event_id)),
                UpdateExpression=(
                    "SET #status = :applied, #outcome = :outcome, #detail = :detail, #applied_at = :at, "
                    "#provider = :provider, #event_id = :event_id, "
                    "#received_at = if_not_exists(#received_at, :at), #ttl = if_not_exists(#ttl, :ttl)"
                ),
                ExpressionAttributeNames={
                    name: name[1:]
                    for name in (
                        "#status",
                        "#outcome",
                        "#detail",
                        "#applied_at",
                        "#provider",
                        "#event_id",
                        "#received_at",
                        "#ttl",
                    )
                },
                ExpressionAttributeValues={
                    ":applied": {"S": "applied"},
                    ":outcome": {"S": applied.outcome},
                    ":detail": {"S": applied.detail},
                    ":at": {"S": _instant(at)},
                    ":provider": {"S": provider},
                    ":event_id": {"S": event_id},
                    ":ttl": {"N": str(expires)},
                },
            )


def _entry(item: dict[str, Any]) -> LedgerEntry:
    outcome = item.get("outcome", {}).get("S")
    return LedgerEntry(
        provider=cast("Provider", item["provider"]["S"]),
        event_id=str(item["event_id"]["S"]),
        status=cast("LedgerStatus", item["status"]["S"]),
        received_at=datetime.fromisoformat(item["received_at"]["S"]),
        outcome=str(outcome) if outcome else None,
    )
