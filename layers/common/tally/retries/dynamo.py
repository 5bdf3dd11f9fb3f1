"""The payment retries' storage in the billing table (keys: tally.storage.keys, "payment retries").

    PAYRETRY#{invoice id}  PAYRETRY   account_id, invoice_id, `attempts` (a list of maps: n, at,
                                      outcome, decline_code, payment_intent, amount, message),
                                      `due_at`; while an attempt is to come, DUEPK=
                                      PAYMENT_RETRIES_DUE, DUESK=`{due instant}#{invoice id}`

Attempt n is one UpdateItem conditional on `size(attempts) = n`: of two workers making the same
attempt, one records it. The due entry moves in the same write.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from tally.accounts.dynamo.table import BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.billing.invoices import Invoice
from tally.jobs.due import DynamoDueIndex
from tally.retries.ports import AttemptTaken, DueRetry
from tally.retries.schedule import Attempt, RetryRecord
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, serialize, to_item

KIND = "payment_retry"


def _attempt_values(attempt: Attempt) -> dict[str, Any]:
    return {
        "n": attempt.n,
        "at": attempt.at.isoformat(),
        "outcome": attempt.outcome,
        "decline_code": attempt.decline_code,
        "payment_intent": attempt.payment_intent,
        "amount": attempt.amount,
        "message": attempt.message,
    }


def _attempt(values: dict[str, Any]) -> Attempt:
    return Attempt(
        n=int(values["n"]),
        at=datetime.fromisoformat(str(values["at"])),
        outcome=values["outcome"],
        decline_code=values.get("decline_code"),
        payment_intent=values.get("payment_intent"),
        amount=int(values.get("amount", 0)),
        message=values.get("message"),
    )


def _refused(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoRetryStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table
        self._due = DynamoDueIndex(table.client, table.name)

    # -- reading --------------------------------------------------------------------------------

    def due(self, end: datetime) -> Iterator[DueRetry]:
        for entry in self._due.due(keys.PAYMENT_RETRIES_DUE, None, end):
            yield DueRetry(entry.subscription_id, entry.account_id, entry.at)

    def record(self, invoice_id: str) -> RetryRecord | None:
        item = self._table.get(keys.payment_retry(invoice_id))
        if item is None:
            return None
        values = from_item(item)
        due_at = values.get("due_at")
        return RetryRecord(
            invoice_id=invoice_id,
            account_id=str(values["account_id"]),
            attempts=tuple(_attempt(value) for value in values.get("attempts", [])),
            due_at=datetime.fromisoformat(str(due_at)) if due_at else None,
        )

    # -- writing --------------------------------------------------------------------------------

    def schedule(self, invoice: Invoice, at: datetime) -> bool:
        """Attempt 0 of a finalised invoice, due at `at`, when the account has a Stripe customer
        (checkout made it; the saved card is looked for when charging). Once per invoice."""
        if self._table.get(keys.stripe_customer(invoice.account_id)) is None:
            return False
        item = (
            keys.payment_retry(invoice.id)
            | keys.payment_retry_due(at, invoice.id)
            | to_item(
                {
                    "kind": KIND,
                    "account_id": invoice.account_id,
                    "invoice_id": invoice.id,
                    "attempts": [],
                    "due_at": at.isoformat(),
                    "created_at": self._table.now().isoformat(),
                }
            )
        )
        try:
            with transient_as_unavailable():
                self._table.client.put_item(
                    TableName=self._table.name, Item=item, ConditionExpression="attribute_not_exists(PK)"
                )
        except ClientError as exc:
            if _refused(exc):
                return False
            raise
        return True

    def add_attempt(self, record: RetryRecord, attempt: Attempt, next_at: datetime | None) -> None:
        values: dict[str, Any] = {
            ":n": serialize(len(record.attempts)),
            ":attempt": serialize([_attempt_values(attempt)]),
            ":at": serialize(self._table.now().isoformat()),
        }
        update = "SET attempts = list_append(attempts, :attempt), updated_at = :at"
        if next_at is None:
            update += " REMOVE DUEPK, DUESK, due_at"
        else:
            due = keys.payment_retry_due(next_at, record.invoice_id)
            update += ", DUEPK = :duepk, DUESK = :duesk, due_at = :due_at"
            values |= {
                ":duepk": due["DUEPK"],
                ":duesk": due["DUESK"],
                ":due_at": serialize(next_at.isoformat()),
            }
        try:
            with transient_as_unavailable():
                self._table.client.update_item(
                    TableName=self._table.name,
                    Key=keys.payment_retry(record.invoice_id),
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(PK) AND size(attempts) = :n",
                    ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if _refused(exc):
                raise AttemptTaken(f"attempt {attempt.n} of invoice {record.invoice_id}") from exc
            raise

    def close(self, record: RetryRecord) -> None:
        try:
            with transient_as_unavailable():
                self._table.client.update_item(
                    TableName=self._table.name,
                    Key=keys.payment_retry(record.invoice_id),
                    UpdateExpression="REMOVE DUEPK, DUESK, due_at SET updated_at = :at",
                    ConditionExpression="attribute_exists(PK) AND size(attempts) = :n",
                    ExpressionAttributeValues={
                        ":n": serialize(len(record.attempts)),
                        ":at": serialize(self._table.now().isoformat()),
                    },
                )
        except ClientError as exc:
            if _refused(exc):
                raise ChangedMeanwhile(
                    f"The payment retries of {record.invoice_id} changed meanwhile"
                ) from exc
            raise
