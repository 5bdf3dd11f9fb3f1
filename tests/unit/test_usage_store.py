"""DynamoUsageStore.record's reading of a cancelled transaction, with a scripted client."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tally.billing.metrics import Contribution
from tally.errors import ServiceUnavailable
from tally.usage import dynamo
from tally.usage.dynamo import DynamoUsageStore

AT = datetime(2026, 3, 10, tzinfo=UTC)
STEP = Contribution("add", Decimal(1), AT)


def cancelled(*reasons: dict[str, Any]) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": list(reasons),
    }
    return ClientError(response, "TransactWriteItems")


class Scripted:
    def __init__(self, *answers: ClientError | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return {}


def record(client: Scripted, threshold: Decimal | None = Decimal(9)) -> dynamo.Recorded:
    store = DynamoUsageStore(client, "billing")  # type: ignore[arg-type]
    return store.record("acc", "e1", "2026-03", STEP, "api_calls", threshold, {"status": 202}, AT)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tally.usage.dynamo.time.sleep", lambda seconds: None)


NONE = {"Code": "None"}
CONFLICT = {"Code": "TransactionConflict"}


def test_a_conflict_on_the_aggregate_is_retried_a_bounded_number_of_times() -> None:
    client = Scripted(cancelled(NONE, CONFLICT), cancelled(NONE, CONFLICT), None)
    assert record(client).outcome == "accepted"
    assert client.calls == 3
    busy = Scripted(*[cancelled(NONE, CONFLICT)] * dynamo.CONFLICT_ATTEMPTS)
    with pytest.raises(ServiceUnavailable):
        record(busy)
    assert busy.calls == dynamo.CONFLICT_ATTEMPTS


def test_an_existing_event_is_a_repeat_with_its_first_result() -> None:
    old = {"PK": {"S": "USAGE#acc"}, "result": {"S": '{"status": 202, "id": "e1"}'}}
    client = Scripted(
        cancelled({"Code": "ConditionalCheckFailed", "Item": old}, {"Code": "ConditionalCheckFailed"})
    )
    answer = record(client)
    assert (answer.outcome, answer.result) == ("repeat", {"status": 202, "id": "e1"})


def test_a_failed_hard_condition_is_a_refusal_with_the_value_now() -> None:
    aggregate = {"value": {"N": "10"}}
    client = Scripted(cancelled(NONE, {"Code": "ConditionalCheckFailed", "Item": aggregate}))
    answer = record(client)
    assert (answer.outcome, answer.value) == ("refused", Decimal(10))
