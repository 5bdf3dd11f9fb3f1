"""The tracking adapters against DynamoDB (moto), with the table template.yaml declares."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tally import clock
from tally.storage import clients, keys
from tally.tracking.counters import CounterTarget, increments_for
from tally.tracking.domain import CountedEvent, DedupClaim, TrackedEvent
from tally.tracking.dynamo import DynamoAccountDirectory, DynamoCounterStore, DynamoEventLedger
from tests.support.stack import Stack

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    clock.set_clock(clock.FixedClock(AT))
    yield
    clock.set_clock(None)


def event(number: int, account: str = "acc_1") -> TrackedEvent:
    return TrackedEvent(
        id=f"evt_{number}",
        account_id=account,
        type="click",
        source="seo",
        occurred_at=AT,
        expires_at=int((AT + timedelta(days=90)).timestamp()),
        counted=True,
        page_url="/p",
    )


def claim(now: datetime = AT) -> DedupClaim:
    epoch = int(now.timestamp())
    return DedupClaim(fingerprint="f" * 40, now_epoch=epoch, window_ends_epoch=epoch + 60)


def test_ledger_counts_the_claim_winner_and_stores_the_repeat_as_duplicate(stack: Stack) -> None:
    table = stack.ref("EventsTable")
    ledger = DynamoEventLedger(clients.dynamodb(), table)

    first = ledger.record(event(1), claim())
    second = ledger.record(event(2), claim(AT + timedelta(seconds=30)))
    third = ledger.record(event(3), claim(AT + timedelta(seconds=61)))

    assert (first.counted, second.counted, second.reason, third.counted) == (True, False, "duplicate", True)
    stored = clients.dynamodb().get_item(TableName=table, Key=keys.event("acc_1", AT, "evt_2"))["Item"]
    assert stored["counted"] == {"BOOL": False}
    assert stored["reason"] == {"S": "duplicate"}
    assert "expires_at" in stored


def test_account_directory_finds_existing_accounts_in_batches(stack: Stack) -> None:
    billing = stack.ref("BillingTable")
    for number in range(150):
        clients.dynamodb().put_item(TableName=billing, Item=keys.account(f"acc_{number}"))
    directory = DynamoAccountDirectory(clients.dynamodb(), billing)

    wanted = {f"acc_{n}" for n in range(0, 300, 2)}

    assert directory.known(wanted) == {f"acc_{n}" for n in range(0, 150, 2)}


def test_counter_store_applies_once_and_reads_one_partition(stack: Stack) -> None:
    table = stack.ref("EventsTable")
    ledger = DynamoEventLedger(clients.dynamodb(), table)
    store = DynamoCounterStore(clients.dynamodb(), table)
    counted = []
    for number in range(3):
        stored = ledger.record(event(number), None)
        counted.append(
            CountedEvent(
                sequence_number=str(number),
                key=keys.event("acc_1", AT, stored.id),
                account_id="acc_1",
                day=AT.date(),
                type="click",
                source="seo",
                sponsorship_id="sp_1" if number == 0 else None,
            )
        )

    assert store.apply(counted, increments_for(counted)) == []
    assert store.apply(counted, increments_for(counted)) == [0, 1, 2]

    snapshot = store.read("acc_1", AT.date() - timedelta(days=6), AT.date())
    assert snapshot.total == {"clicks": 3, "click_seo": 3}
    assert snapshot.days == {AT.date(): {"clicks": 3, "click_seo": 3}}
    assert snapshot.sponsorships == {"sp_1": {"clicks": 1}}
    assert CounterTarget("acc_1", "total") in increments_for(counted)


def test_a_record_of_an_event_the_table_holds_as_uncounted_is_not_applied(stack: Stack) -> None:
    table = stack.ref("EventsTable")
    DynamoEventLedger(clients.dynamodb(), table).record(
        replace(event(7), counted=False, reason="duplicate"), None
    )
    store = DynamoCounterStore(clients.dynamodb(), table)
    phantom = CountedEvent(
        sequence_number="7",
        key=keys.event("acc_1", AT, "evt_7"),
        account_id="acc_1",
        day=AT.date(),
        type="click",
        source="seo",
        sponsorship_id=None,
    )

    assert store.apply([phantom], increments_for([phantom])) == [0]
    assert store.read("acc_1", AT.date(), AT.date()).total == {}
