"""Reading the audit trail: one partition (or index partition) per query, newest first, a page at a
time. A page is one Query with `Limit` = the page size and `ExclusiveStartKey` from the cursor, so
it costs the same however long the history (docs/identity.md "Audit")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tally.audit.items import record_of
from tally.audit.records import AuditRecord
from tally.storage import cursors, keys
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_PAGE = 100


@dataclass(frozen=True)
class AuditQuery:
    account_id: str | None  # None: every account (platform admins)
    entity: tuple[str, str] | None  # (entity type, entity id)
    start: datetime | None = None
    end: datetime | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True)
class _Plan:
    index: str | None
    partition_name: str
    partition: str
    sort_name: str
    account_filter: str | None


def _plan(query: AuditQuery) -> _Plan:
    if query.entity is not None:
        pk = keys.audit_entity_pk(*query.entity)
        return _Plan(keys.GSI2, "GSI2PK", pk, "GSI2SK", query.account_id)
    if query.account_id is not None:
        return _Plan(None, "PK", keys.audit_pk(query.account_id), "SK", None)
    return _Plan(keys.GSI1, "GSI1PK", keys.AUDIT_ALL, "GSI1SK", None)


def encode_cursor(last_key: dict[str, Any]) -> str:
    return cursors.encode(last_key)


def decode_cursor(cursor: str, plan: _Plan) -> dict[str, Any]:
    """The start key a cursor stands for; a cursor of another query (another partition) or one
    that was edited is refused, so a cursor can never widen what the query reads."""
    return cursors.decode(
        cursor,
        partition_name=plan.partition_name,
        partition=plan.partition,
        sort_name=plan.sort_name,
        pk_prefix=keys.AUDIT_PREFIX,
    )


def _bound(at: datetime, *, upper: bool) -> str:
    text = keys.audit_sk(at, "")  # "<time>#": every record of that instant sorts after it
    return text + "~" if upper else text


class AuditReader:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def page(self, query: AuditQuery) -> AuditPage:
        plan = _plan(query)
        condition = "#pk = :pk"
        names = {"#pk": plan.partition_name}
        values: dict[str, Any] = {":pk": {"S": plan.partition}}
        if query.start is not None:
            values[":from"] = {"S": _bound(query.start, upper=False)}
        if query.end is not None:
            values[":to"] = {"S": _bound(query.end, upper=True)}
        if query.start is not None and query.end is not None:
            condition += " AND #sk BETWEEN :from AND :to"
        elif query.start is not None:
            condition += " AND #sk >= :from"
        elif query.end is not None:
            condition += " AND #sk <= :to"
        if query.start is not None or query.end is not None:
            names["#sk"] = plan.sort_name
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": max(1, min(query.limit, MAX_PAGE)),
        }
        if plan.index is not None:
            params["IndexName"] = plan.index
        else:
            params["ConsistentRead"] = True
        if plan.account_filter is not None:
            # An entity's records across accounts, narrowed to the caller's: a page may then hold
            # fewer than `limit` records; `next_cursor` says whether more follow.
            params["FilterExpression"] = "account_id = :account"
            values[":account"] = {"S": plan.account_filter}
        if query.cursor:
            params["ExclusiveStartKey"] = decode_cursor(query.cursor, plan)
        with transient_as_unavailable():
            answer = self._client.query(**params)
        last = answer.get("LastEvaluatedKey")
        return AuditPage(
            records=[record_of(item) for item in answer.get("Items", [])],
            next_cursor=encode_cursor(dict(last)) if last else None,
        )
