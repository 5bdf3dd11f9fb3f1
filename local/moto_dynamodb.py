"""moto's DynamoDB made safe under concurrent load; `install()` before moto serves a request.

moto 5.2.5 deep-copies every table a TransactWriteItems touches (its rollback copy), so a write
costs time and memory in proportion to the table, and concurrent requests race on that copy
("dictionary changed size during iteration", lost updates when a rollback swaps an old copy
back in). `install()` patches, once per process:

- one re-entrant lock around every DynamoDB and DynamoDB Streams request (their response
  dispatch), so requests never interleave inside moto's unsynchronised models;
- TransactWriteItems: every condition is evaluated against the current items first, and only
  if all pass are the writes applied. Only the items written are snapshotted (and the stream
  shards' lengths), so a validation error part-way through the writes restores exactly those
  items and drops the stream records they added. Nothing is copied per table;
- base-table Query reads only the queried partition instead of walking and sorting the table;
- GetItem no longer creates an empty partition for every missing key (moto's defaultdict);
- DynamoDB Streams keeps the newest MAX_SHARD_ITERATORS iterators (moto keeps every one, two
  per poll), and an older one answers ExpiredIteratorException, as an expired one does in AWS;
- GetRecords is answered with json.dumps: the records are already in DynamoDB's JSON form, and
  moto's shape-driven serializer spends about 2 ms per record on them (seconds per page, with
  the lock held).

Used by the local stack, the integration tests and the benchmarks' moto server alike
(`python -m local.moto_server`). docs/decisions/0005 says why this shape.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

# Held around every DynamoDB/Streams request; re-entrant so the patched models can take it too.
LOCK = threading.RLock()
MAX_SHARD_ITERATORS = 1_000  # a poller at 10 polls/s keeps each iterator for minutes
MAX_TRANSACT_ITEMS = 100
_WRITE_KINDS = ("Put", "Update", "Delete")
_KINDS = ("ConditionCheck", *_WRITE_KINDS)

_installed = False

# A cancellation reason as moto's TransactionCanceledException takes it: (code, message, item).
Reason = tuple[str | None, str | None, dict[str, Any] | None]
_PASSED: Reason = (None, None, None)


class ExpiredIteratorError(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "ExpiredIteratorException", "Iterator expired. The iterator was created too long ago."
        )


# -- TransactWriteItems ---------------------------------------------------------------------


@dataclass
class _Write:
    """One Put/Update/Delete of a transaction whose condition passed."""

    index: int  # its place in TransactItems
    kind: str
    op: dict[str, Any]
    table: Table
    key: dict[str, Any]
    hash_key: DynamoType
    range_key: DynamoType | None


@dataclass
class _Snapshot:
    """An item as it was before the transaction wrote it (None: it did not exist)."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None
    attributes: Any  # the item's attribute dict, deep-copied

    @classmethod
    def of(cls, write: _Write) -> _Snapshot:
        item = write.table.get_item(write.hash_key, write.range_key)
        attributes = copy.deepcopy(item).attrs if item is not None else None
        return cls(write.table, write.hash_key, write.range_key, item, attributes)

    def restore(self) -> None:
        """Put the original item object back, with its original attributes (or remove the key)."""
        items: Any = self.table.items  # hash -> Item, or hash -> {range -> Item}
        if self.item is None:
            if self.range_key is None:
                items.pop(self.hash_key, None)
                return
            partition = items.get(self.hash_key)
            if partition is not None:
                partition.pop(self.range_key, None)
                if not partition:
                    del items[self.hash_key]
            return
        self.item.attrs = self.attributes
        if self.range_key is None:
            items[self.hash_key] = self.item
        else:
            items[self.hash_key][self.range_key] = self.item


def _item_key(table: Table, attributes: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _check(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> tuple[list[_Write], list[Reason]]:
    """Evaluate every item's condition against the current items; write nothing.

    Validation errors (duplicate item, malformed key) are raised at once, as moto does; any other
    failure of an item becomes its cancellation reason, in item order, "None" for items that pass.
    """
    writes: list[_Write] = []
    reasons: list[Reason] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(transact_items):
        if len(entry) > 1:
            raise TransactWriteSingleOpException()
        ((kind, op),) = entry.items()
        old_item: dict[str, Any] | None = None
        try:
            if kind not in _KINDS:
                raise ValueError("Unsupported transaction operation")
            table = backend.get_table(op["TableName"])
            key = _item_key(table, op["Item"]) if kind == "Put" else op["Key"]
            identity = (table.name, str(dict(sorted(key.items()))))
            if identity in seen:
                raise MultipleTransactionsException()
            seen.add(identity)
            hash_key, range_key = backend.get_keys_value(table, key)
            current = table.get_item(hash_key, range_key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                expression = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not expression.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                        old_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=old_item)
        except MockValidationException:
            raise
        except ConditionalCheckFailed as failed:
            reasons.append(("ConditionalCheckFailed", str(failed.message), old_item))
            continue
        except Exception as error:  # moto reports any other per-item failure as that item's reason
            reasons.append((type(error).__name__, str(error), None))
            continue
        reasons.append(_PASSED)
        if kind in _WRITE_KINDS:
            writes.append(_Write(index, kind, op, table, key, hash_key, range_key))
    return writes, reasons


def _write(backend: DynamoDBBackend, write: _Write) -> None:
    """Apply one write; its condition already passed, so none is evaluated again."""
    op = write.op
    if write.kind == "Put":
        write.table.put_item(op["Item"])
    elif write.kind == "Delete":
        write.table.delete_item(write.hash_key, write.range_key)
    else:
        backend.update_item(
            write.table.name,
            write.key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames"),  # type: ignore[arg-type]
            expression_attribute_values=op.get("ExpressionAttributeValues"),  # type: ignore[arg-type]
        )


def _apply(backend: DynamoDBBackend, writes: list[_Write], reasons: list[Reason]) -> None:
    """All the writes, or none: on any error the written items and their stream records are undone."""
    shards: dict[int, tuple[StreamShard, int]] = {}
    for write in writes:
        shard = write.table.stream_shard
        if shard is not None:
            shards.setdefault(id(shard), (shard, len(shard.items)))
    snapshots = [_Snapshot.of(write) for write in writes]
    failed = list(reasons)
    try:
        for write in writes:
            try:
                _write(backend, write)
            except MockValidationException:
                raise
            except Exception as error:  # as in _check: the item's reason, the others still tried
                failed[write.index] = (type(error).__name__, str(error), None)
        if failed != reasons:
            raise TransactionCanceledException(failed)
    except BaseException:
        for snapshot in reversed(snapshots):
            snapshot.restore()
        for shard, length in shards.values():
            del shard.items[length:]
        raise


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > MAX_TRANSACT_ITEMS:
        raise TooManyTransactionsException()
    with LOCK:
        writes, reasons = _check(self, transact_items)
        if any(code is not None for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        _apply(self, writes, reasons)


# -- reads ----------------------------------------------------------------------------------


def get_item(
    self: Table,
    hash_key: DynamoType,
    range_key: DynamoType | None = None,
    projection_expression: list[list[str]] | None = None,
) -> Item | None:
    """moto's Table.get_item without `self.items[hash_key]`, which stores an empty partition."""
    if self.has_range_key and not range_key:
        raise MockValidationException("Table has a range key, but no range key was passed into get_item")
    partition: Any = self.items.get(hash_key)  # an Item, or {range key: Item}
    result: Item | None = partition.get(range_key) if partition is not None and range_key else partition
    if projection_expression and result:
        return result.project(projection_expression)
    return result


def _partition(table: Table, hash_key: DynamoType) -> list[Item]:
    partition: Any = table.items.get(hash_key)
    if partition is None:
        return []
    return list(partition.values()) if table.range_key_attr is not None else [partition]


def _query_from_partition(query: Callable[..., Any]) -> Callable[..., Any]:
    """A base-table Query sees only its partition: moto's filters, sorting and paging run as they are."""
    signature = inspect.signature(query)

    @wraps(query)
    def partition_query(self: Table, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        hash_key = arguments.get("hash_key")
        if arguments.get("index_name") or hash_key is None:
            return query(self, *args, **kwargs)
        items = _partition(self, hash_key)
        with LOCK:  # the shadowing below is seen by this call only
            self.__dict__["all_items"] = lambda: items
            try:
                return query(self, *args, **kwargs)
            finally:
                del self.__dict__["all_items"]

    return partition_query


# -- streams ------------------------------------------------------------------------------------


def _forget_old_iterators(iterators: dict[str, Any]) -> None:
    while len(iterators) > MAX_SHARD_ITERATORS:
        del iterators[next(iter(iterators))]  # dicts keep insertion order: the oldest first


def _bounded_get_shard_iterator(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def get_shard_iterator(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> Any:
        iterator = original(self, *args, **kwargs)
        _forget_old_iterators(self.shard_iterators)
        return iterator

    return get_shard_iterator


def _bounded_get_records(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> Any:
        if iterator_arn not in self.shard_iterators:
            raise ExpiredIteratorError()
        answer = original(self, iterator_arn, limit)
        _forget_old_iterators(self.shard_iterators)
        return answer

    return get_records


def get_records_as_json(self: DynamoDBStreamsHandler) -> str:
    """DynamoDBStreamsHandler.get_records, its records dumped as they are (a str body is sent as is)."""
    limit = self._get_param("Limit")
    answer = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    return dynamo_json_dump(answer)


# -- installing -------------------------------------------------------------------------------


def _locked(call_action: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(call_action)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return call_action(self, *args, **kwargs)

    return locked


def install() -> None:
    """Patch moto's DynamoDB and DynamoDB Streams in this process; calling it again does nothing."""
    global _installed
    with LOCK:
        if _installed:
            return
        DynamoHandler.call_action = _locked(DynamoHandler.call_action)  # type: ignore[method-assign]
        DynamoDBStreamsHandler.call_action = _locked(DynamoDBStreamsHandler.call_action)  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        Table.get_item = get_item  # type: ignore[method-assign]
        Table.query = _query_from_partition(Table.query)  # type: ignore[method-assign]
        DynamoDBStreamsBackend.get_shard_iterator = _bounded_get_shard_iterator(  # type: ignore[method-assign]
            DynamoDBStreamsBackend.get_shard_iterator
        )
        DynamoDBStreamsBackend.get_records = _bounded_get_records(  # type: ignore[method-assign]
            DynamoDBStreamsBackend.get_records
        )
        DynamoDBStreamsHandler.get_records = get_records_as_json  # type: ignore[method-assign,assignment]
        _installed = True


def installed() -> bool:
    return _installed
