"""A change and its audit record: one TransactWriteItems, or nothing (tally.storage.transaction)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tally.audit.items import record_of
from tally.audit.records import Actor, AuditContext, Change
from tally.clock import FixedClock
from tally.errors import ServiceUnavailable
from tally.storage import keys
from tally.storage.items import to_item
from tally.storage.transaction import MAX_ITEMS, AuditMissing, Transaction, TransactionRefused

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CONTEXT = AuditContext(Actor("user", "sub-1", "jo@example.com"), "req-1", "203.0.113.0", "Customer asked")


class FakeClient:
    def __init__(self, error: ClientError | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def transact_write_items(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        if self.error is not None:
            raise self.error
        return {}


def cancelled(*reasons: dict[str, Any]) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": list(reasons),  # type: ignore[arg-type]
        },
        "TransactWriteItems",
    )


def renamed(account: str = "acc_1") -> Transaction:
    transaction = Transaction("billing", CONTEXT, FixedClock(NOW))
    transaction.update(
        keys.account(account),
        "SET #name = :name",
        condition="attribute_exists(PK)",
        names={"#name": "name"},
        values={":name": "Dupont SAS"},
        label="account",
    )
    transaction.audit(
        "account.updated", "account", account, account_id=account, changes={"name": ("Dupont", "Dupont SAS")}
    )
    return transaction


def test_the_change_and_its_record_go_in_one_call() -> None:
    client = FakeClient()

    renamed().commit(client)  # type: ignore[arg-type]

    [call] = client.calls
    update, put = (item for item in call["TransactItems"])
    assert update["Update"]["TableName"] == "billing"
    assert update["Update"]["ExpressionAttributeValues"] == {":name": {"S": "Dupont SAS"}}
    assert update["Update"]["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    record = record_of(put["Put"]["Item"])
    assert put["Put"]["ConditionExpression"] == "attribute_not_exists(PK)"
    assert put["Put"]["Item"]["PK"] == {"S": "AUDIT#acc_1"}
    assert put["Put"]["Item"]["GSI1PK"] == {"S": "AUDIT"}
    assert put["Put"]["Item"]["GSI2PK"] == {"S": "AUDIT#account#acc_1"}
    assert (record.action, record.actor, record.at, record.reason) == (
        "account.updated",
        CONTEXT.actor,
        NOW,
        "Customer asked",
    )
    assert (record.request_id, record.ip_prefix) == ("req-1", "203.0.113.0")
    assert record.changes == {"name": Change("Dupont", "Dupont SAS")}
    assert 1 <= len(call["ClientRequestToken"]) <= 36


def test_a_retried_commit_carries_the_same_token_and_another_change_another() -> None:
    first, second = renamed(), renamed()
    # Each record has its own id and time: the same items are what botocore resends on a retry.
    assert first.request_token() == first.request_token()
    assert first.request_token() != second.request_token()


def test_nothing_is_written_without_its_record_nor_a_record_without_its_change() -> None:
    client = FakeClient()
    bare = Transaction("billing", CONTEXT)
    bare.put(keys.account("acc_1") | to_item({"name": "x"}))
    only_record = Transaction("billing", CONTEXT)
    only_record.audit("account.updated", "account", "acc_1", account_id="acc_1")

    for transaction in (bare, only_record, Transaction("billing", CONTEXT)):
        with pytest.raises(AuditMissing):
            transaction.commit(client)  # type: ignore[arg-type]
    assert client.calls == []


def test_a_failed_condition_names_the_item_and_returns_what_it_held() -> None:
    old = keys.account("acc_1") | to_item({"name": "Dupont", "owner_count": 1})
    client = FakeClient(cancelled({"Code": "ConditionalCheckFailed", "Item": old}, {"Code": "None"}))

    with pytest.raises(TransactionRefused) as refused:
        renamed().commit(client)  # type: ignore[arg-type]

    refusal = refused.value.refused("account")
    assert refusal is not None
    assert (refusal.index, refusal.code) == (0, "ConditionalCheckFailed")
    assert refusal.old is not None
    assert refusal.old["owner_count"] == 1
    assert refused.value.refused("member") is None


def test_a_conflict_with_a_concurrent_transaction_is_worth_a_retry() -> None:
    client = FakeClient(cancelled({"Code": "TransactionConflict"}, {"Code": "None"}))

    with pytest.raises(ServiceUnavailable):
        renamed().commit(client)  # type: ignore[arg-type]


def test_a_transaction_holds_at_most_100_items() -> None:
    transaction = Transaction("billing", CONTEXT)
    for index in range(MAX_ITEMS):
        transaction.put(keys.account(f"acc_{index}"))

    with pytest.raises(ValueError, match="at most 100"):
        transaction.audit("account.created", "account", "acc_x", account_id="acc_x")
