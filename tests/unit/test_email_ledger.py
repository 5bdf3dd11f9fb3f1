"""The email ledger: one email per (template, entity, step), a failed send gives the key back,
a live claim is left alone, an expired one is taken over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from tally.clock import FixedClock
from tally.errors import ServiceUnavailable
from tally.notifications.email import Email
from tally.notifications.ledger import EmailLedger, LedgerKey, SendOutcome
from tally.notifications.mailer import EmailNotSent
from tally.storage import keys
from tally.storage.items import from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
EMAIL = Email(
    to="jo@example.com", subject="s", text="t", html="h", template="dunning-reminder", entity_id="inv_1"
)
KEY = LedgerKey.of(EMAIL, "J+7")


def _failed(code: str, item: dict[str, Any] | None = None) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "Op")


class FakeTable:
    """The three conditional writes the ledger makes, with DynamoDB's outcomes."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.fail_updates = 0

    @staticmethod
    def _id(key: dict[str, Any]) -> tuple[str, str]:
        return key["PK"]["S"], key["SK"]["S"]

    def put_item(self, **request: Any) -> dict[str, Any]:
        held = self.items.get(self._id(request["Item"]))
        now = int(request["ExpressionAttributeValues"][":now"]["N"])
        if held is not None and not (
            held["status"]["S"] == "sending" and int(held["claim_expires_at"]["N"]) < now
        ):
            raise _failed("ConditionalCheckFailedException", held)
        self.items[self._id(request["Item"])] = dict(request["Item"])
        return {}

    def _holds(self, request: dict[str, Any]) -> dict[str, Any]:
        held = self.items.get(self._id(request["Key"]))
        token = request["ExpressionAttributeValues"][":token"]["S"]
        if held is None or held["claim_token"]["S"] != token:
            raise _failed("ConditionalCheckFailedException")
        return held

    def delete_item(self, **request: Any) -> dict[str, Any]:
        self._holds(request)
        del self.items[self._id(request["Key"])]
        return {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        if self.fail_updates:
            self.fail_updates -= 1
            raise _failed("ProvisionedThroughputExceededException")
        held = self._holds(request)
        values = request["ExpressionAttributeValues"]
        held.update(status=values[":sent"], message_id=values[":id"], sent_at=values[":at"])
        held.pop("claim_expires_at")
        return {}

    def item(self) -> dict[str, Any]:
        return from_item(self.items[self._id(keys.email_sent("dunning-reminder", "inv_1", "J+7"))])


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.errors: list[Exception] = []

    def send(self, email: Email) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(email)
        return f"m-{len(self.sent)}"


def make(clock: FixedClock | None = None) -> tuple[EmailLedger, FakeTable, FakeMailer]:
    table, mailer = FakeTable(), FakeMailer()
    ledger = EmailLedger(cast("DynamoDBClient", table), "billing", mailer, clock=clock or FixedClock(NOW))
    return ledger, table, mailer


def test_an_email_is_sent_once_and_a_rerun_sends_nothing() -> None:
    ledger, table, mailer = make()

    first = ledger.send_once(EMAIL, KEY)
    again = ledger.send_once(EMAIL, KEY)

    assert (first.outcome, first.message_id) == (SendOutcome.SENT, "m-1")
    assert (again.outcome, again.message_id) == (SendOutcome.ALREADY_SENT, "m-1")
    assert len(mailer.sent) == 1
    item = table.item()
    assert item["status"] == "sent"
    assert "claim_expires_at" not in item
    assert (item["template"], item["entity_id"], item["step"]) == ("dunning-reminder", "inv_1", "J+7")


def test_another_step_or_entity_is_another_email() -> None:
    ledger, _, mailer = make()

    ledger.send_once(EMAIL, KEY)
    ledger.send_once(EMAIL, LedgerKey("dunning-reminder", "inv_1", "J+15"))
    ledger.send_once(EMAIL, LedgerKey("dunning-reminder", "inv_2", "J+7"))

    assert len(mailer.sent) == 3


@pytest.mark.parametrize("error", [ServiceUnavailable(), EmailNotSent("MessageRejected")])
def test_a_failed_send_gives_the_key_back_so_a_retry_sends(error: Exception) -> None:
    ledger, table, mailer = make()
    mailer.errors.append(error)

    with pytest.raises(type(error)):
        ledger.send_once(EMAIL, KEY)
    assert table.items == {}

    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.SENT
    assert len(mailer.sent) == 1


def test_a_live_claim_is_left_to_its_holder_and_an_expired_one_is_taken_over() -> None:
    clock = FixedClock(NOW)
    ledger, table, mailer = make(clock)
    # A worker claimed it and died before sending or marking.
    ledger._claim(keys.email_sent("dunning-reminder", "inv_1", "J+7"), KEY, "dead-worker")

    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.IN_PROGRESS
    clock.at += timedelta(seconds=900)
    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.IN_PROGRESS  # a Lambda may still run
    assert mailer.sent == []

    clock.at += timedelta(seconds=61)
    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.SENT
    assert table.item()["status"] == "sent"


def test_a_mark_that_fails_transiently_is_retried() -> None:
    ledger, table, _mailer = make()
    table.fail_updates = 2

    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.SENT
    assert table.item()["status"] == "sent"


def test_a_mark_that_keeps_failing_still_reports_the_send_and_the_claim_stays() -> None:
    ledger, table, mailer = make()
    table.fail_updates = 5

    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.SENT
    assert table.item()["status"] == "sending"  # expires in 960 s
    assert ledger.send_once(EMAIL, KEY).outcome is SendOutcome.IN_PROGRESS
    assert len(mailer.sent) == 1


def test_the_key_needs_an_entity() -> None:
    with pytest.raises(ValueError, match="names no entity"):
        LedgerKey.of(Email(to="a", subject="s", text="t", html="h", template="welcome"))
    assert keys.email_sent("welcome", "acc_1") == {"PK": {"S": "EMAIL#acc_1"}, "SK": {"S": "SENT#welcome#-"}}
