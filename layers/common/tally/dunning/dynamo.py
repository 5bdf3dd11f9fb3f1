"""The dunning job's storage in the billing table (keys: tally.storage.keys, "invoices" block).

    INVOICE#{id}   INVOICE   while open and in the ladder: DUEPK=INVOICES_DUE,
                             DUESK=`{next step's date}#{id}` (the sparse DueIndex)
    DUNNING#{id}   DUNNING   `done` and `skipped`: the steps' names ("J+7"), account_id, invoice_id

A step is one TransactWriteItems: the record's update, conditional on the step being in neither
list (so two runs, or a redelivered message, cannot both run it); the invoice's Put, conditional
on its fingerprint (a payment meanwhile wins); the subscription and the account when they
follow, conditional on what was read; the audit records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from tally.accounts.domain import Account
from tally.accounts.dynamo.accounts import DynamoAccountStore, add_status_change
from tally.accounts.dynamo.table import BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.invoices import Invoice
from tally.billing.subscription_state import Subscription
from tally.dunning.ladder import DunningRecord
from tally.dunning.ports import DueEntry, StepTaken, StepWrite
from tally.invoices.dynamo import DynamoInvoiceStore, fingerprint, invoice_item
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item
from tally.storage.transaction import Transaction, TransactionRefused
from tally.subscriptions.dynamo import DynamoSubscriptionStore, add_subscription_change

DUE_INDEX = "DueIndex"
RECORD = "dunning"
NOT_YET = "attribute_not_exists(PK) OR (NOT contains(done, :step) AND NOT contains(skipped, :step))"
CHANGED = "The invoice changed while its dunning step ran: read it again"


def _dunning_changes(before: Invoice, after: Invoice) -> dict[str, tuple[Any, Any]]:
    fields = ("dunning_on", "overdue_since")
    old = before.model_dump(mode="json", include=set(fields))
    new = after.model_dump(mode="json", include=set(fields))
    return {name: (old[name], new[name]) for name in fields if old[name] != new[name]}


class DynamoDunningStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table
        self._invoices = DynamoInvoiceStore(table)
        self._subscriptions = DynamoSubscriptionStore(table)
        self._accounts = DynamoAccountStore(table)

    # -- reading --------------------------------------------------------------------------------

    def due(self, on: date) -> Iterator[DueEntry]:
        """One Query of the DueIndex (every page): the entries dated `on` or earlier. Only the
        keys are asked for; the worker reads the invoice itself, consistently."""
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "DUEPK = :pk AND DUESK < :after",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.INVOICES_DUE},
                ":after": {"S": (on + timedelta(days=1)).isoformat()},
            },
            "ProjectionExpression": "DUESK",
        }
        while True:
            with transient_as_unavailable():
                page = self._table.client.query(**params)
            for item in page.get("Items", []):
                day, _, invoice_id = str(item["DUESK"]["S"]).partition("#")
                yield DueEntry(invoice_id, date.fromisoformat(day))
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def invoice(self, invoice_id: str) -> Invoice | None:
        return self._invoices.get(invoice_id)

    def record(self, invoice_id: str) -> DunningRecord | None:
        item = self._table.get(keys.dunning(invoice_id))
        if item is None:
            return None
        values = from_item(item)
        return DunningRecord(
            invoice_id=invoice_id,
            account_id=str(values.get("account_id", "")),
            done=tuple(values.get("done", ())),
            skipped=tuple(values.get("skipped", ())),
        )

    def subscription(self, account_id: str) -> Subscription | None:
        return self._subscriptions.current(account_id)

    def account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    # -- writing --------------------------------------------------------------------------------

    def run_step(self, write: StepWrite, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        at = self._table.now().isoformat()
        done, skipped = ([], [write.step]) if write.step_skipped else ([write.step], [])
        transaction.update(
            keys.dunning(write.before.id),
            "SET done = list_append(if_not_exists(done, :empty), :done), "
            "skipped = list_append(if_not_exists(skipped, :empty), :skipped), "
            "kind = :kind, account_id = :account, invoice_id = :invoice, updated_at = :at",
            condition=NOT_YET,
            values={
                ":empty": [],
                ":done": done,
                ":skipped": [*write.skipped, *skipped],
                ":kind": "dunning",
                ":account": write.before.account_id,
                ":invoice": write.before.id,
                ":at": at,
                ":step": write.step,
            },
            label=RECORD,
        )
        self._put_invoice(transaction, write.before, write.after)
        transaction.audit(
            write.action,
            "invoice",
            write.after.id,
            account_id=write.after.account_id,
            changes=_dunning_changes(write.before, write.after)
            | {"dunning_step": (None, write.step)}
            | ({"dunning_skipped": (None, list(write.skipped))} if write.skipped else {}),
        )
        if write.subscription is not None:
            before, after, action = write.subscription
            add_subscription_change(transaction, before, after, action, write.account, at)
        elif write.account is not None:
            follows = write.account
            add_status_change(transaction, follows.account, follows.status, follows.reason, at)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            if refused.refused(RECORD) is not None:
                raise StepTaken(write.step) from refused
            raise ChangedMeanwhile(CHANGED) from refused

    def reschedule(self, before: Invoice, after: Invoice, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        self._put_invoice(transaction, before, after)
        transaction.audit(
            "invoice.dunning_rescheduled" if after.dunning_on else "invoice.dunning_ended",
            "invoice",
            after.id,
            account_id=after.account_id,
            changes=_dunning_changes(before, after),
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED) from refused

    def _put_invoice(self, transaction: Transaction, before: Invoice, after: Invoice) -> None:
        transaction.put(
            invoice_item(after),
            condition="fingerprint = :before",
            values={":before": fingerprint(before)},
            label="invoice",
        )
