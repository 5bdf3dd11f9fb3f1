"""One DynamoDB transaction of writes and the audit records of what they do: all of it, or nothing.

DESIGN.md decision 3: an audit record is written in the same transaction as the change it
records. So every audited write goes through `Transaction`, which refuses to commit without a
record (a change without its record) or with nothing but records (a record without its change),
and commits everything with one TransactWriteItems. Its ClientRequestToken is derived from the
request id and the items, so a commit botocore retries after a timeout is a no-op for DynamoDB
(within its 10 minutes) instead of a second write. A failed condition raises TransactionRefused
with each item's reason (the refused item's old value included), for the caller to answer 409 in
words.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tally import clock as clocks
from tally.audit.items import audit_item
from tally.audit.records import AuditContext, AuditRecord, changes_of, new_audit_id
from tally.clock import Clock
from tally.errors import ServiceUnavailable
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, serialize

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_ITEMS = 100  # DynamoDB's limit on the items of one transaction
NEW_RECORD = "attribute_not_exists(PK)"
# Cancellation codes that mean "retry shortly", not "your condition failed".
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class AuditMissing(RuntimeError):
    """A programming error: a change without its audit record, or records without a change."""


@dataclass(frozen=True)
class Refusal:
    """Why one item of a cancelled transaction failed."""

    index: int
    label: str | None
    code: str  # ConditionalCheckFailed, TransactionConflict, ...
    old: dict[str, Any] | None  # the item as it was (plain values), when DynamoDB returned it


class TransactionRefused(Exception):
    """A condition failed: nothing was written. `refusals` holds the items that failed."""

    def __init__(self, refusals: list[Refusal]) -> None:
        labels = ", ".join(str(refusal.label or refusal.index) for refusal in refusals)
        super().__init__(f"transaction refused by its conditions: {labels}")
        self.refusals = refusals

    def refused(self, label: str) -> Refusal | None:
        """The refusal of the item written with this label, if that item's condition failed."""
        return next((refusal for refusal in self.refusals if refusal.label == label), None)


class Transaction:
    """Write items plus the audit record(s) of what they do: one TransactWriteItems, or nothing."""

    def __init__(self, table: str, context: AuditContext, clock: Clock | None = None) -> None:
        self._table = table
        self._context = context
        self._clock = clock
        self._items: list[TransactWriteItemTypeDef] = []
        self._labels: list[str | None] = []
        self._records: list[AuditRecord] = []

    @property
    def records(self) -> tuple[AuditRecord, ...]:
        return tuple(self._records)

    @property
    def context(self) -> AuditContext:
        return self._context

    def _add(self, kind: str, body: dict[str, Any], label: str | None) -> int:
        if len(self._items) >= MAX_ITEMS:
            raise ValueError(f"A transaction holds at most {MAX_ITEMS} items")
        body["TableName"] = self._table
        if "ConditionExpression" in body:
            body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        self._items.append({kind: body})  # type: ignore[misc]
        self._labels.append(label)
        return len(self._items) - 1

    @staticmethod
    def _expression(
        body: dict[str, Any],
        condition: str | None,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if condition is not None:
            body["ConditionExpression"] = condition
        if names:
            body["ExpressionAttributeNames"] = dict(names)
        if values:
            body["ExpressionAttributeValues"] = {name: serialize(value) for name, value in values.items()}
        return body

    def put(
        self,
        item: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> int:
        """`item` in DynamoDB's form (keys from tally.storage.keys, values from items.to_item);
        `values` of the expressions as plain Python values. Answers the item's index."""
        return self._add("Put", self._expression({"Item": dict(item)}, condition, names, values), label)

    def update(
        self,
        key: Mapping[str, Any],
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> int:
        body = {"Key": dict(key), "UpdateExpression": expression}
        return self._add("Update", self._expression(body, condition, names, values), label)

    def delete(
        self,
        key: Mapping[str, Any],
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> int:
        return self._add("Delete", self._expression({"Key": dict(key)}, condition, names, values), label)

    def check(
        self,
        key: Mapping[str, Any],
        condition: str,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        label: str | None = None,
    ) -> int:
        body = self._expression({"Key": dict(key)}, condition, names, values)
        return self._add("ConditionCheck", body, label)

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: str,
        *,
        account_id: str | None,
        changes: Mapping[str, tuple[Any, Any]] | None = None,
    ) -> AuditRecord:
        """Record what this transaction does to one entity; `changes` is {field: (before, after)}
        (unchanged fields are left out)."""
        record = AuditRecord(
            id=new_audit_id(),
            at=(self._clock or clocks.get_clock()).now(),
            actor=self._context.actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            account_id=account_id,
            request_id=self._context.request_id,
            ip_prefix=self._context.ip_prefix,
            reason=self._context.reason,
            changes=changes_of(changes),
        )
        self._records.append(record)
        self._add(
            "Put", {"Item": audit_item(record), "ConditionExpression": NEW_RECORD}, f"audit:{record.id}"
        )
        return record

    def request_token(self) -> str:
        """The ClientRequestToken: the same for the same request and items, at most 36 characters."""
        text = json.dumps([self._context.request_id, self._items], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:36]

    def commit(self, client: DynamoDBClient) -> None:
        if not self._records:
            raise AuditMissing("A transaction needs the audit record of the change it writes")
        if len(self._items) == len(self._records):
            raise AuditMissing("An audit record needs the change it records in its transaction")
        try:
            with transient_as_unavailable():
                client.transact_write_items(
                    TransactItems=self._items, ClientRequestToken=self.request_token()
                )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            raise self._cancelled(exc) from exc

    def _cancelled(self, exc: ClientError) -> Exception:
        reasons = exc.response.get("CancellationReasons") or []
        refusals = [
            Refusal(
                index=index,
                label=self._labels[index] if index < len(self._labels) else None,
                code=str(reason.get("Code")),
                old=from_item(reason["Item"]) if reason.get("Item") else None,
            )
            for index, reason in enumerate(reasons)
            if reason.get("Code") not in (None, "None")
        ]
        if any(refusal.code == "ConditionalCheckFailed" for refusal in refusals):
            return TransactionRefused([r for r in refusals if r.code == "ConditionalCheckFailed"])
        if refusals and all(refusal.code in _RETRYABLE for refusal in refusals):
            # Another request wrote one of these items at the same moment: a retry settles it.
            return ServiceUnavailable()
        return exc
