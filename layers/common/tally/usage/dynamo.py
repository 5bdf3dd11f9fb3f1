"""The usage items of the billing table (keys in tally.storage.keys, docs/billing.md "Usage storage").

Every operation here costs a fixed number of DynamoDB calls, whatever the number of events the
account has stored: an event is one TransactWriteItems (its idempotency item and its aggregate's
update; a unique_count claim with them), a quota check one GetItem of the aggregate. Aggregates
are moved by atomic updates and never summed from events.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from tally.billing.catalogue import PlanVersion
from tally.billing.metrics import BillableMetric, Contribution
from tally.billing.quotas import Overrides
from tally.errors import ServiceUnavailable
from tally.storage import cursors, keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, serialize, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# An event's transaction retried this many times when it meets another on the same aggregate.
CONFLICT_ATTEMPTS = 4
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


@dataclass(frozen=True)
class CurrentSubscription:
    """The account's current subscription pointer, as the subscriptions half writes it."""

    subscription_id: str
    plan_code: str
    plan_version: int
    status: str
    cycle: str
    currency: str
    current_period_start: datetime
    current_period_end: datetime
    billing_anchor: datetime
    time_zone: str


@dataclass(frozen=True)
class AccountTerms:
    subscription: CurrentSubscription | None
    version: PlanVersion | None
    overrides: Overrides | None


@dataclass(frozen=True)
class Managers:
    """Who gets an account's soft-quota emails, and the account's name to tell them which."""

    account_name: str | None
    recipients: list[tuple[str, str | None]]  # (email, locale)


@dataclass(frozen=True)
class Recorded:
    """What one event's write did: `accepted` (first time), `repeat` (its first result is
    `result`), `refused` (a hard quota: `value` is the aggregate now, nothing written)."""

    outcome: Literal["accepted", "repeat", "refused"]
    result: dict[str, Any] | None = None
    value: Decimal = Decimal(0)


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _subscription(item: Mapping[str, Any]) -> CurrentSubscription:
    return CurrentSubscription(
        subscription_id=str(item["subscription_id"]),
        plan_code=str(item["plan_code"]),
        plan_version=int(item["plan_version"]),
        status=str(item["status"]),
        cycle=str(item["cycle"]),
        currency=str(item["currency"]),
        current_period_start=_instant(item["current_period_start"]),
        current_period_end=_instant(item["current_period_end"]),
        billing_anchor=_instant(item["billing_anchor"]),
        time_zone=str(item["time_zone"]),
    )


class DynamoUsageStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    # -- terms: subscription pointer, plan version, overrides ----------------------------------

    def terms(self, account_id: str) -> AccountTerms:
        """Two calls: the pointer and the overrides (BatchGetItem), then the plan version."""
        wanted = [keys.current_subscription(account_id), keys.overrides(account_id)]
        with transient_as_unavailable():
            answer = self._client.batch_get_item(
                RequestItems={self._table: {"Keys": wanted, "ConsistentRead": True}}
            )
        found = {
            item["SK"]["S"]: from_item(item) for item in answer.get("Responses", {}).get(self._table, [])
        }
        pointer = found.get(keys.CURRENT_SUBSCRIPTION_SK)
        stored = found.get(keys.OVERRIDES_SK)
        overrides = Overrides.model_validate_json(stored["overrides"]) if stored else None
        if pointer is None:
            return AccountTerms(None, None, overrides)
        subscription = _subscription(pointer)
        with transient_as_unavailable():
            version = self._client.get_item(
                TableName=self._table,
                Key=keys.plan_version(subscription.plan_code, subscription.plan_version),
            ).get("Item")
        terms = PlanVersion.model_validate_json(version["terms"]["S"]) if version else None
        return AccountTerms(subscription, terms, overrides)

    def put_overrides(self, account_id: str, overrides: Overrides, transaction: Any) -> None:
        transaction.put(
            keys.overrides(account_id)
            | to_item({"kind": "overrides", "overrides": overrides.model_dump_json()})
        )

    def overrides(self, account_id: str) -> Overrides | None:
        with transient_as_unavailable():
            item = self._client.get_item(TableName=self._table, Key=keys.overrides(account_id)).get("Item")
        return Overrides.model_validate_json(item["overrides"]["S"]) if item else None

    # -- metrics -------------------------------------------------------------------------------

    def create_metric(self, metric: BillableMetric, transaction: Any) -> None:
        transaction.put(
            keys.metric(metric.code)
            | to_item(
                {
                    "kind": "metric",
                    "GSI1PK": keys.METRICS_FEED,
                    "GSI1SK": metric.code,
                    "metric": metric.model_dump_json(),
                }
            ),
            condition="attribute_not_exists(PK)",
            label="metric",
        )

    def seed_metric(self, metric: BillableMetric) -> bool:
        """Without audit: `make dev`'s seeding of the shipped catalogues' metrics (idempotent)."""
        item = keys.metric(metric.code) | to_item(
            {
                "kind": "metric",
                "GSI1PK": keys.METRICS_FEED,
                "GSI1SK": metric.code,
                "metric": metric.model_dump_json(),
            }
        )
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def metrics(self, codes: set[str]) -> dict[str, BillableMetric]:
        """One BatchGetItem (codes are at most the batch's 100 events' metrics)."""
        if not codes:
            return {}
        request: dict[str, Any] = {self._table: {"Keys": [keys.metric(code) for code in sorted(codes)]}}
        found: dict[str, BillableMetric] = {}
        while request:
            with transient_as_unavailable():
                answer = self._client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self._table, []):
                metric = BillableMetric.model_validate_json(item["metric"]["S"])
                found[metric.code] = metric
            request = dict(answer.get("UnprocessedKeys") or {})
        return found

    def list_metrics(self) -> list[BillableMetric]:
        metrics: list[BillableMetric] = []
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            with transient_as_unavailable():
                page = self._client.query(
                    TableName=self._table,
                    IndexName="GSI1",
                    KeyConditionExpression="GSI1PK = :feed",
                    ExpressionAttributeValues={":feed": {"S": keys.METRICS_FEED}},
                    **extra,  # type: ignore[arg-type]
                )
            metrics += [BillableMetric.model_validate_json(item["metric"]["S"]) for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return metrics

    # -- events and aggregates -----------------------------------------------------------------

    def record(
        self,
        account_id: str,
        event_id: str,
        period: str,
        step: Contribution,
        metric: str,
        threshold: Decimal | None,
        result: Mapping[str, Any],
        at: datetime,
    ) -> Recorded:
        """One event: its idempotency item and its aggregate's move in one transaction. A hard
        quota's `threshold` conditions an `add` on `value <= threshold`. A `max`/`latest` that
        does not move the aggregate, or a unique value already claimed, writes the event alone."""
        event_item = keys.usage_event(account_id, event_id) | to_item(
            {
                "kind": "usage_event",
                "result": json.dumps(result, sort_keys=True),
                "recorded_at": at.isoformat(),
            }
        )
        first = self._attempt(account_id, period, metric, step, threshold, event_item, move=True)
        if first is not None:
            return first
        # The aggregate's own condition said "no change" (max not greater, latest older, unique
        # value seen): the event is recorded, the aggregate stays.
        second = self._attempt(account_id, period, metric, step, None, event_item, move=False)
        return second or Recorded("accepted")

    def _attempt(
        self,
        account_id: str,
        period: str,
        metric: str,
        step: Contribution,
        threshold: Decimal | None,
        event_item: dict[str, Any],
        *,
        move: bool,
    ) -> Recorded | None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": event_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        ]
        if move:
            items.append({"Update": self._aggregate_update(account_id, period, metric, step, threshold)})
            if step.unique is not None:
                claim = keys.unique_claim(account_id, period, metric, step.unique)
                items.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": claim | to_item({"kind": "unique_claim"}),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                )
        for item in items:
            body = next(iter(item.values()))
            if "ConditionExpression" in body:
                body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with transient_as_unavailable():
                    self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                codes = [str(reason.get("Code")) for reason in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    old = from_item(reasons[0].get("Item") or {})
                    stored = old.get("result")
                    return Recorded("repeat", json.loads(stored) if stored else None)
                if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    old = from_item(reasons[1].get("Item") or {})
                    if threshold is not None:
                        return Recorded("refused", value=Decimal(old.get("value", 0)))
                    return None
                if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                    return None
                if not any(code in _RETRYABLE for code in codes):
                    raise
                # Another event of the account moved the same aggregate at this instant (DynamoDB
                # refuses concurrent transactions on one item): a bounded, jittered retry.
                if attempt + 1 == CONFLICT_ATTEMPTS:
                    raise ServiceUnavailable() from exc
                time.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311 - jitter, not a secret
                continue
            return Recorded("accepted")
        raise ServiceUnavailable()  # pragma: no cover - the loop returns or raises

    def _aggregate_update(
        self, account_id: str, period: str, metric: str, step: Contribution, threshold: Decimal | None
    ) -> dict[str, Any]:
        names = {"#v": "value", "#at": "last_event_at", "#m": "metric", "#p": "period", "#k": "kind"}
        values: dict[str, Any] = {
            ":v": step.value,
            ":at": step.at.isoformat(),
            ":m": metric,
            ":p": period,
            ":k": "aggregate",
        }
        common = "#m = :m, #p = :p, #k = :k"
        condition: str | None = None
        if step.op == "add":
            expression = f"ADD #v :v SET #at = :at, {common}"
            if threshold is not None:
                # Absent counts as 0: allowed from nothing only when the increment alone fits.
                condition = (
                    "attribute_not_exists(#v) OR #v <= :threshold" if threshold >= 0 else "#v <= :threshold"
                )
                values[":threshold"] = threshold
        elif step.op == "max":
            expression = f"SET #v = :v, #at = :at, {common}"
            condition = "attribute_not_exists(#v) OR #v < :v"
        else:
            expression = f"SET #v = :v, #at = :at, {common}"
            condition = "attribute_not_exists(#at) OR #at <= :at"
        body: dict[str, Any] = {
            "TableName": self._table,
            "Key": keys.aggregate(account_id, period, metric),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {name: serialize(value) for name, value in values.items()},
        }
        if condition:
            body["ConditionExpression"] = condition
        return body

    def first_result(self, account_id: str, event_id: str) -> dict[str, Any] | None:
        """An event id's first result, if it was recorded: one GetItem."""
        with transient_as_unavailable():
            item = self._client.get_item(
                TableName=self._table, Key=keys.usage_event(account_id, event_id), ConsistentRead=True
            ).get("Item")
        return None if item is None else dict(json.loads(item["result"]["S"]))

    def aggregate(self, account_id: str, period: str, metric: str) -> tuple[Decimal, frozenset[int]]:
        """The aggregate's value and the soft-quota notices already sent for it: one GetItem."""
        with transient_as_unavailable():
            item = self._client.get_item(
                TableName=self._table, Key=keys.aggregate(account_id, period, metric), ConsistentRead=True
            ).get("Item")
        if not item:
            return Decimal(0), frozenset()
        plain = from_item(item)
        return Decimal(plain.get("value", 0)), frozenset(int(n) for n in plain.get("notices", set()))

    def aggregates(self, account_id: str, period: str) -> dict[str, Decimal]:
        """Every metric's aggregate of one period: one Query (one item per metric)."""
        found: dict[str, Decimal] = {}
        start: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            with transient_as_unavailable():
                page = self._client.query(
                    TableName=self._table,
                    KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                    ExpressionAttributeValues={
                        ":pk": {"S": keys.usage_pk(account_id)},
                        ":prefix": {"S": keys.aggregate_prefix(period)},
                    },
                    ConsistentRead=True,
                    **extra,  # type: ignore[arg-type]
                )
            for item in page["Items"]:
                plain = from_item(item)
                found[str(plain["metric"])] = Decimal(plain.get("value", 0))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    # -- soft-quota notices and violations -----------------------------------------------------

    def claim_notice(self, account_id: str, period: str, metric: str, threshold: int, at: datetime) -> bool:
        """The one right to send this notice: a conditional Put of its marker, then the threshold
        noted on the aggregate (so later events skip the Put)."""
        marker = keys.notice(account_id, period, metric, threshold) | to_item(
            {"kind": "quota_notice", "sent_at": at.isoformat()}
        )
        try:
            with transient_as_unavailable():
                self._client.put_item(
                    TableName=self._table, Item=marker, ConditionExpression="attribute_not_exists(PK)"
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        with transient_as_unavailable():
            self._client.update_item(
                TableName=self._table,
                Key=keys.aggregate(account_id, period, metric),
                UpdateExpression="ADD notices :t",
                ExpressionAttributeValues={":t": {"NS": [str(threshold)]}},
            )
        return True

    def put_violation(
        self, account_id: str, violation: Mapping[str, Any], at: datetime, violation_id: str
    ) -> None:
        key = keys.violation(account_id, at, violation_id)
        item = key | to_item(
            {
                **violation,
                "kind": "quota_violation",
                "GSI1PK": keys.VIOLATIONS_FEED,
                "GSI1SK": key["SK"]["S"].removeprefix(keys.VIOLATION_PREFIX),
            }
        )
        with transient_as_unavailable():
            self._client.put_item(TableName=self._table, Item=item)

    def violations(
        self, account_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the account's violations, newest first, and the cursor of the next page."""
        params: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.usage_pk(account_id)},
                ":prefix": {"S": keys.VIOLATION_PREFIX},
            },
        }
        if cursor:
            params["ExclusiveStartKey"] = cursors.decode(
                cursor,
                partition_name="PK",
                partition=keys.usage_pk(account_id),
                sort_name="SK",
                pk_prefix=keys.USAGE_PREFIX,
            )
        return self._page(params, limit)

    def violations_between(
        self, start: datetime, end: datetime, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of every account's violations between two instants, newest first."""
        params: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :feed AND GSI1SK BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":feed": {"S": keys.VIOLATIONS_FEED},
                ":start": {"S": start.isoformat(timespec="microseconds")},
                ":end": {"S": end.isoformat(timespec="microseconds") + "~"},
            },
        }
        if cursor:
            params["ExclusiveStartKey"] = cursors.decode(
                cursor,
                partition_name="GSI1PK",
                partition=keys.VIOLATIONS_FEED,
                sort_name="GSI1SK",
                pk_prefix=keys.USAGE_PREFIX,
            )
        return self._page(params, limit)

    def _page(self, params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], str | None]:
        with transient_as_unavailable():
            page = self._client.query(TableName=self._table, ScanIndexForward=False, Limit=limit, **params)
        last = page.get("LastEvaluatedKey")
        return [from_item(item) for item in page["Items"]], cursors.encode(dict(last)) if last else None

    # -- who gets soft-quota emails ------------------------------------------------------------

    def managers(self, account_id: str) -> Managers:
        """The account's name and its owners' and admins' (email, locale): one Query of the
        members, one BatchGetItem of the account and their profiles (an account has few managers)."""
        with transient_as_unavailable():
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": keys.account_pk(account_id)},
                    ":prefix": {"S": keys.MEMBER_PREFIX},
                },
            )
        members = [from_item(item) for item in page["Items"]]
        managers = [m for m in members if m.get("role") in ("owner", "admin")]
        if not managers:
            return Managers(None, [])
        subjects = sorted({str(m["SK"]).removeprefix(keys.MEMBER_PREFIX) for m in managers})[:99]
        wanted = [keys.account(account_id), *(keys.user_profile(s) for s in subjects)]
        with transient_as_unavailable():
            answer = self._client.batch_get_item(RequestItems={self._table: {"Keys": wanted}})
        found = [from_item(i) for i in answer.get("Responses", {}).get(self._table, [])]
        profile = next((i for i in found if i["PK"] == keys.account_pk(account_id)), {})
        name = str(profile["name"]) if profile.get("name") else None
        locales = {
            str(p["PK"]).removeprefix(keys.USER_PREFIX): p.get("locale")
            for p in found
            if str(p["PK"]).startswith(keys.USER_PREFIX)
        }
        return Managers(
            name,
            [
                (str(m["email"]), locales.get(str(m["SK"]).removeprefix(keys.MEMBER_PREFIX)))
                for m in managers
                if m.get("email")
            ],
        )
