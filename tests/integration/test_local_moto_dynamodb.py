"""local.moto_dynamodb: moto's DynamoDB keeps DynamoDB's transaction semantics, without copying
tables, under concurrent requests. Driven over HTTP through the session's moto server (which has
the fixes installed), with a look at moto's objects in this process where identity matters.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import dynamodbstreams_backends

from local import moto_dynamodb
from tests.support.stack import moto_endpoint

REGION = "eu-west-1"
TABLE = "items"

Key = dict[str, dict[str, str]]


def _client(service: str) -> Any:
    """No retries: a 5xx or a throttle must fail the test, not be retried away."""
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        region_name=REGION,
        endpoint_url=moto_endpoint(),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=50),
    )


@pytest.fixture
def ddb() -> Any:
    requests.post(f"{moto_endpoint()}/moto-api/reset", timeout=10).raise_for_status()
    client = _client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "G", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return client


def _table() -> Table:
    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[TABLE]


def key(pk: str, sk: str = "1") -> Key:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def put(ddb: Any, pk: str, **attributes: dict[str, Any]) -> None:
    ddb.put_item(TableName=TABLE, Item={**key(pk), **attributes})


def get(ddb: Any, pk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=TABLE, Key=key(pk), ConsistentRead=True).get("Item")
    return item


def stream_length() -> int:
    shard = _table().stream_shard
    assert shard is not None
    return len(shard.items)


def item_object(pk: str) -> Any:
    """The Item object moto holds for this key (identity shows nothing was copied or swapped)."""
    partition: Any = _table().items.get(DynamoType({"S": pk}))
    return partition[DynamoType({"S": "1"})]


def cancellation(call: Callable[[], Any]) -> list[dict[str, Any]]:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons: Any = raised.value.response["CancellationReasons"]
    return list(reasons)


def validation_error(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    return str(raised.value.response["Error"]["Message"])


@pytest.fixture
def no_table_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any deep copy of a whole table fails the request (and so the test)."""

    def refuse(self: Table, memo: dict[int, Any]) -> Table:
        raise AssertionError(f"table {self.name} deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)


# -- semantics ------------------------------------------------------------------------------------


def test_install_is_idempotent() -> None:
    moto_dynamodb.install()
    before = DynamoHandler.call_action
    moto_dynamodb.install()
    assert moto_dynamodb.installed()
    assert DynamoHandler.call_action is before


@pytest.mark.usefixtures("no_table_copies")
def test_a_cancelled_transaction_writes_nothing_and_gives_reasons_in_item_order(ddb: Any) -> None:
    put(ddb, "a", n={"N": "1"})
    put(ddb, "b", n={"N": "1"})
    table, a, b, records = _table(), item_object("a"), item_object("b"), stream_length()

    reasons = cancellation(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key("new"), "v": {"S": "x"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("a"),
                        "UpdateExpression": "SET n = :two",
                        "ConditionExpression": "n = :five",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":five": {"N": "5"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("missing"),
                        "ConditionExpression": "attribute_exists(PK)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("b")}},
            ]
        )
    )

    assert [reason["Code"] for reason in reasons] == [
        "None",
        "ConditionalCheckFailed",
        "ConditionalCheckFailed",
        "None",
    ]
    assert reasons[1]["Item"] == {**key("a"), "n": {"N": "1"}}  # ALL_OLD: the item as it is
    assert "Item" not in reasons[2]  # nothing to return for an item that does not exist
    assert get(ddb, "new") is None
    assert get(ddb, "b") == {**key("b"), "n": {"N": "1"}}
    assert stream_length() == records  # no record of the writes that never happened
    assert _table() is table  # no table was swapped for a copy...
    assert item_object("a") is a  # ...nor any item
    assert item_object("b") is b
    assert len(table.items) == 2  # and the missing keys left no empty partition behind


def test_a_transaction_applies_every_write_and_streams_each_once(ddb: Any) -> None:
    put(ddb, "a", n={"N": "1"})
    put(ddb, "gone")
    records = stream_length()

    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**key("b"), "v": {"S": "x"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key("a"),
                    "UpdateExpression": "ADD n :one",
                    "ConditionExpression": "n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {
                "Delete": {
                    "TableName": TABLE,
                    "Key": key("gone"),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": key("c"),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
    )

    assert get(ddb, "a") == {**key("a"), "n": {"N": "2"}}
    assert get(ddb, "b") == {**key("b"), "v": {"S": "x"}}
    assert get(ddb, "gone") is None
    shard = _table().stream_shard
    assert shard is not None
    added = [record.record for record in shard.items[records:]]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in added] == [
        ("INSERT", "b"),
        ("MODIFY", "a"),
        ("REMOVE", "gone"),
    ]


def test_duplicate_items_and_more_than_100_items_are_rejected_whole(ddb: Any) -> None:
    message = validation_error(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": key("x")}},
                {"Delete": {"TableName": TABLE, "Key": key("x")}},
            ]
        )
    )
    assert "multiple operations on one item" in message
    message = validation_error(
        lambda: ddb.transact_write_items(
            TransactItems=[{"Put": {"TableName": TABLE, "Item": key(f"p{i}")}} for i in range(101)]
        )
    )
    assert "less than or equal to 100" in message
    assert ddb.scan(TableName=TABLE)["Count"] == 0
    assert stream_length() == 0


@pytest.mark.usefixtures("no_table_copies")
def test_a_validation_error_while_writing_undoes_the_earlier_writes(ddb: Any) -> None:
    put(ddb, "a", n={"N": "1"})
    put(ddb, "b", v={"S": "old"})
    put(ddb, "d", s={"S": "text"})
    put(ddb, "e")
    objects = {pk: item_object(pk) for pk in "abde"}
    table, partitions, records = _table(), len(_table().items), stream_length()

    message = validation_error(
        lambda: ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**key("c"), "v": {"S": "new"}}}},
                {"Put": {"TableName": TABLE, "Item": {**key("b"), "v": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("a"),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key("e")}},
                {  # conditions pass; ADD to a string fails only when the update runs
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("d"),
                        "UpdateExpression": "ADD s :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    )

    assert "incorrect data type" in message
    assert get(ddb, "c") is None
    assert get(ddb, "b") == {**key("b"), "v": {"S": "old"}}
    assert get(ddb, "a") == {**key("a"), "n": {"N": "1"}}
    assert get(ddb, "e") == key("e")
    assert get(ddb, "d") == {**key("d"), "s": {"S": "text"}}
    assert stream_length() == records  # the records of the undone writes are gone too
    assert _table() is table
    assert len(table.items) == partitions
    assert all(item_object(pk) is objects[pk] for pk in "abde")


# -- costs that grow with the table ---------------------------------------------------------------


def test_a_base_table_query_reads_only_its_partition(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(30):
        put(ddb, f"other{index}", G={"S": "g"})
    for sk in ("a", "b", "c", "d", "e"):
        ddb.put_item(TableName=TABLE, Item={**key("p", sk), "G": {"S": "g"}})

    def walk_the_table(self: Table) -> list[Any]:
        raise AssertionError("a base-table query walked the whole table")

    with monkeypatch.context() as patch:
        patch.setattr(Table, "all_items", walk_the_table)
        pages: list[list[str]] = []
        query: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": "PK = :p AND SK BETWEEN :from AND :to",
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":from": {"S": "b"}, ":to": {"S": "e"}},
            "ScanIndexForward": False,
            "Limit": 2,
        }
        while True:
            page = ddb.query(**query)
            pages.append([item["SK"]["S"] for item in page["Items"]])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        missing = ddb.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": {"S": "nobody"}},
        )

    assert [sk for page in pages for sk in page] == ["e", "d", "c", "b"]
    assert all(len(page) <= 2 for page in pages)
    assert missing["Items"] == []
    assert len(_table().items) == 31  # the query for "nobody" stored no partition
    by_index = ddb.query(
        TableName=TABLE,
        IndexName="ByG",
        KeyConditionExpression="G = :g",
        ExpressionAttributeValues={":g": {"S": "g"}},
    )
    assert by_index["Count"] == 35  # index queries still see the whole table


def test_old_shard_iterators_expire_and_the_store_stays_bounded(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto_dynamodb, "MAX_SHARD_ITERATORS", 5)
    put(ddb, "a")
    streams = _client("dynamodbstreams")
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def iterator() -> str:
        answer = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return str(answer["ShardIterator"])

    oldest = iterator()
    for _ in range(6):
        newest = iterator()
    with pytest.raises(ClientError) as expired:
        streams.get_records(ShardIterator=oldest)
    assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"
    page = streams.get_records(ShardIterator=newest)
    assert [record["eventName"] for record in page["Records"]] == ["INSERT"]
    assert streams.get_records(ShardIterator=page["NextShardIterator"])["Records"] == []
    assert len(dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][REGION].shard_iterators) <= 5


# -- concurrency ----------------------------------------------------------------------------------

ACCOUNTS = ("alice", "bob", "carol")
UNITS = 12  # few units for many transfers: plenty of cancelled transactions
THREADS = 10
TRANSFERS = 15


def test_concurrent_conditional_transactions_keep_the_invariant_exactly(ddb: Any) -> None:
    for name in ACCOUNTS:
        put(ddb, name, balance={"N": str(UNITS // len(ACCOUNTS))})
    put(ddb, "ledger", transfers={"N": "0"})
    records = stream_length()
    outcomes: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def transfer(seed: int) -> None:
        client = _client("dynamodb")
        rng = random.Random(seed)
        for _ in range(TRANSFERS):
            source, target = rng.sample(ACCOUNTS, 2)
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": key(source),
                                "UpdateExpression": "SET balance = balance - :one",
                                "ConditionExpression": "balance >= :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": key(target),
                                "UpdateExpression": "SET balance = balance + :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": key("ledger"),
                                "UpdateExpression": "ADD transfers :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                    ]
                )
                outcome = "done"
            except ClientError as error:
                code = error.response["Error"]["Code"]
                reasons = [reason["Code"] for reason in error.response.get("CancellationReasons", [])]
                if code == "TransactionCanceledException" and reasons == [
                    "ConditionalCheckFailed",
                    "None",
                    "None",
                ]:
                    outcome = "refused"
                else:
                    outcome = f"{code} {error.response['ResponseMetadata']['HTTPStatusCode']} {reasons}"
            with lock:
                (outcomes if outcome in {"done", "refused"} else failures).append(outcome)

    def read(seed: int) -> None:  # readers racing the writers must never see an error either
        client = _client("dynamodb")
        for _ in range(TRANSFERS):
            try:
                client.query(
                    TableName=TABLE,
                    KeyConditionExpression="PK = :p",
                    ExpressionAttributeValues={":p": {"S": "alice"}},
                )
                client.get_item(TableName=TABLE, Key=key("bob"))
            except ClientError as error:
                with lock:
                    failures.append(str(error))

    with ThreadPoolExecutor(THREADS + 2) as pool:
        jobs = [pool.submit(transfer, seed) for seed in range(THREADS)]
        jobs += [pool.submit(read, seed) for seed in range(2)]
        for job in jobs:
            job.result()

    assert failures == []
    done = outcomes.count("done")
    balances = [int(get(ddb, name)["balance"]["N"]) for name in ACCOUNTS]  # type: ignore[index]
    assert sum(balances) == UNITS
    assert min(balances) >= 0
    assert int(get(ddb, "ledger")["transfers"]["N"]) == done  # type: ignore[index]
    assert 0 < done < THREADS * TRANSFERS  # both outcomes happened
    assert stream_length() - records == 3 * done  # a record per write of each applied transfer, no more


def test_stream_records_carry_the_items_as_written(ddb: Any) -> None:
    """GetRecords is dumped as JSON directly (moto's serializer took ~2 ms a record)."""
    item = {
        **key("all-types"),
        "b": {"B": b"\x00\xff"},
        "m": {"M": {"nested": {"B": b"\x01"}, "n": {"N": "1.5"}}},
        "l": {"L": [{"S": "x"}, {"BOOL": True}, {"NULL": True}]},
        "ss": {"SS": ["a"]},
        "n": {"N": "-12"},
    }
    ddb.put_item(TableName=TABLE, Item=item)
    streams = _client("dynamodbstreams")
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")

    (record,) = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]

    assert record["eventName"] == "INSERT"
    change = record["dynamodb"]
    assert change["Keys"] == key("all-types")
    assert change["NewImage"] == item
    assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(change["ApproximateCreationDateTime"], datetime)
    assert abs(change["ApproximateCreationDateTime"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert int(change["SequenceNumber"]) > 0
