"""DynamoDB adapters for tracking: the event ledger, the account directory, the counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tally import clock
from tally.errors import ServiceUnavailable
from tally.storage import keys
from tally.storage.errors import cancellation_codes, error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, number, string, to_item
from tally.tracking.counters import CounterTarget
from tally.tracking.domain import EVENT_KIND, CountedEvent, CounterSnapshot, DedupClaim, TrackedEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

APPLY_CONDITION = "attribute_exists(PK) AND attribute_not_exists(applied_at) AND counted = :yes"


def event_item(event: TrackedEvent) -> dict[str, Any]:
    return keys.event(event.account_id, event.occurred_at, event.id) | to_item(
        {
            "kind": EVENT_KIND,
            "id": event.id,
            "account_id": event.account_id,
            "type": event.type,
            "source": event.source,
            "occurred_at": event.occurred_at.isoformat(),
            "day": event.occurred_at.date().isoformat(),
            "counted": event.counted,
            "reason": event.reason,
            "page_type": event.page_type,
            "page_url": event.page_url,
            "position": event.position,
            "referrer": event.referrer,
            "sponsorship_id": event.sponsorship_id,
            "location_id": event.location_id,
            "user_agent": event.user_agent,
            "ip_prefix": event.ip_prefix,
            "expires_at": event.expires_at,
        }
    )


class DynamoEventLedger:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(self, event: TrackedEvent, claim: DedupClaim | None) -> TrackedEvent:
        if claim is None:
            self._put(event)
            return event
        try:
            with transient_as_unavailable():
                self._client.transact_write_items(TransactItems=self._claim_and_put(event, claim))
        except ClientError as exc:
            codes = cancellation_codes(exc) if error_code(exc) == "TransactionCanceledException" else []
            # Lost the claim (or raced another event for it): same visitor, same page, same window.
            if codes and codes[0] in {"ConditionalCheckFailed", "TransactionConflict"}:
                duplicate = replace(event, counted=False, reason="duplicate")
                self._put(duplicate)
                return duplicate
            raise
        return event

    def _claim_and_put(self, event: TrackedEvent, claim: DedupClaim) -> list[TransactWriteItemTypeDef]:
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": keys.dedup(claim.fingerprint)
                    | {
                        "window_ends": number(claim.window_ends_epoch),
                        "expires_at": number(claim.window_ends_epoch),
                    },
                    "ConditionExpression": "attribute_not_exists(PK) OR window_ends <= :now",
                    "ExpressionAttributeValues": {":now": number(claim.now_epoch)},
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": event_item(event),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]

    def _put(self, event: TrackedEvent) -> None:
        with transient_as_unavailable():
            self._client.put_item(
                TableName=self._table, Item=event_item(event), ConditionExpression="attribute_not_exists(PK)"
            )


class DynamoAccountDirectory:
    """Which accounts exist, read from the billing table and cached briefly per process.

    Only positive answers are cached: an account created a second ago is found at once, and a
    deleted account is forgotten after `ttl_seconds`.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._max = max_entries
        self._seen: dict[str, float] = {}

    def known(self, account_ids: Iterable[str]) -> set[str]:
        now = self._monotonic()
        wanted = set(account_ids)
        found = {account for account in wanted if self._seen.get(account, 0.0) > now}
        missing = sorted(wanted - found)
        for start in range(0, len(missing), 100):
            found |= self._fetch(missing[start : start + 100])
        if len(self._seen) > self._max:
            self._seen.clear()
        for account in found:
            self._seen.setdefault(account, now + self._ttl)
        return found

    def _fetch(self, account_ids: list[str]) -> set[str]:
        request: dict[str, Any] = {
            self._table: {"Keys": [keys.account(a) for a in account_ids], "ProjectionExpression": "PK"}
        }
        found: set[str] = set()
        for attempt in range(5):
            with transient_as_unavailable():
                answer = self._client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                found.add(str(item["PK"]["S"]).removeprefix("ACCOUNT#"))
            request = dict(answer.get("UnprocessedKeys") or {})
            if not request:
                return found
            time.sleep(0.05 * 2**attempt)
        raise ServiceUnavailable()


class DynamoCounterStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self, account_id: str, first_day: date, last_day: date) -> CounterSnapshot:
        """One query over the account's counter partition: days in the window, sponsorships, total.

        Sort keys order as DAY# < SPONSORSHIP# < TOTAL, so one range covers all three and its
        cost follows the window and the number of sponsorships, never the number of events.
        """
        days: dict[date, dict[str, int]] = {}
        sponsorships: dict[str, dict[str, int]] = {}
        total: dict[str, int] = {}
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": string(keys.stats_pk(account_id)),
                ":first": string(keys.stats_day_sk(first_day)),
                ":last": string(keys.STATS_TOTAL_SK),
            },
        }
        while True:
            with transient_as_unavailable():
                page = self._client.query(**query)
            for raw in page.get("Items", []):
                item = from_item(raw)
                sort_key = str(item.pop("SK"))
                item.pop("PK", None)
                counters = {name: int(value) for name, value in item.items() if isinstance(value, int)}
                if sort_key == keys.STATS_TOTAL_SK:
                    total = counters
                elif sort_key.startswith(keys.STATS_SPONSORSHIP_PREFIX):
                    sponsorships[sort_key.removeprefix(keys.STATS_SPONSORSHIP_PREFIX)] = counters
                elif sort_key.startswith(keys.STATS_DAY_PREFIX):
                    day = date.fromisoformat(sort_key.removeprefix(keys.STATS_DAY_PREFIX))
                    if first_day <= day <= last_day:
                        days[day] = counters
            if "LastEvaluatedKey" not in page:
                return CounterSnapshot(total=total, days=days, sponsorships=sponsorships)
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def apply(
        self, events: Sequence[CountedEvent], increments: dict[CounterTarget, dict[str, int]]
    ) -> list[int]:
        applied_at = clock.now().isoformat()
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {name: dict(value) for name, value in event.key.items()},
                    "UpdateExpression": "SET applied_at = :at",
                    # Only a stored, counted, not yet applied event raises counters: a redelivered
                    # record fails here, and so would any record the table never kept.
                    "ConditionExpression": APPLY_CONDITION,
                    "ExpressionAttributeValues": {":at": string(applied_at), ":yes": {"BOOL": True}},
                }
            }
            for event in events
        ]
        for target, values in increments.items():
            names = {f"#a{i}": name for i, name in enumerate(sorted(values))}
            amounts = {f":v{i}": number(values[name]) for i, name in enumerate(sorted(values))}
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _counter_key(target),
                        "UpdateExpression": "ADD " + ", ".join(f"#a{i} :v{i}" for i in range(len(values))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": amounts,
                    }
                }
            )
        try:
            with transient_as_unavailable():
                self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            codes = cancellation_codes(exc)
            if "TransactionConflict" in codes or "ThrottlingError" in codes:
                raise ServiceUnavailable() from exc
            already = [i for i, code in enumerate(codes[: len(events)]) if code == "ConditionalCheckFailed"]
            if not already:
                raise
            return already
        return []


def _counter_key(target: CounterTarget) -> dict[str, dict[str, str]]:
    if target.scope == "total":
        return keys.stats_total(target.account_id)
    if target.scope == "day" and target.day is not None:
        return keys.stats_day(target.account_id, target.day)
    if target.scope == "sponsorship" and target.sponsorship_id is not None:
        return keys.stats_sponsorship(target.account_id, target.sponsorship_id)
    raise ValueError(f"incomplete counter target {target}")
