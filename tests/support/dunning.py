"""In-memory fakes of the dunning job's ports (tally.dunning.ports), faithful to the DynamoDB
adapter's conditions: a step is recorded once (done or skipped), the invoice changes only from
the fingerprint read, the subscription and the account only from what was read; a refused step
writes nothing. The invoices, subscriptions and accounts are the invoice tests' stores, so the
invoice service can pay, void or credit the same invoices the job walks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from tally.accounts.domain import Account
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.invoices import Invoice
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.billing.subscription_state import Subscription
from tally.dunning.dynamo import CHANGED
from tally.dunning.ladder import DunningRecord
from tally.dunning.ports import DueEntry, StepTaken, StepWrite
from tally.invoices.dynamo import fingerprint
from tally.invoices.notices import NoticeFailed
from tally.subscriptions.ports import AccountFollows
from tests.support.billing import InMemorySubscriptionStore
from tests.support.invoices import InMemoryInvoiceStore


class InMemoryDunningStore:
    def __init__(self, invoices: InMemoryInvoiceStore, subscriptions: InMemorySubscriptionStore) -> None:
        self.invoices = invoices
        self.subscriptions = subscriptions
        self.records: dict[str, DunningRecord] = {}
        self.actions: list[str] = []  # the invoice's audit actions, in order
        self.interfere: Callable[[], None] | None = None  # runs before the next step's write

    # -- reading --------------------------------------------------------------------------------

    def due(self, on: date) -> Iterator[DueEntry]:
        """The sparse DueIndex: open invoices with a dunning date on `on` or earlier, by date."""
        entries = [
            DueEntry(invoice.id, invoice.dunning_on)
            for invoice in self.invoices.invoices.values()
            if invoice.status == "open" and invoice.dunning_on is not None and invoice.dunning_on <= on
        ]
        yield from sorted(entries, key=lambda entry: (entry.on, entry.invoice_id))

    def invoice(self, invoice_id: str) -> Invoice | None:
        return self.invoices.get(invoice_id)

    def record(self, invoice_id: str) -> DunningRecord | None:
        return self.records.get(invoice_id)

    def subscription(self, account_id: str) -> Subscription | None:
        return self.subscriptions.current(account_id)

    def account(self, account_id: str) -> Account | None:
        return self.subscriptions.accounts.get(account_id)

    # -- writing: every condition checked before anything is written ------------------------

    def run_step(self, write: StepWrite, context: AuditContext) -> None:
        if self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere()
        record = self.records.get(write.before.id)
        if record is not None and (write.step in record.done or write.step in record.skipped):
            raise StepTaken(write.step)  # the adapter names the record's refusal first
        self._check_invoice(write.before)
        if write.subscription is not None:
            before, after, action = write.subscription
            if self.subscriptions.subscriptions.get(before.id) != before:
                raise ChangedMeanwhile(CHANGED)
            self._check_account(write.account)
            self.subscriptions.save(before, after, action, write.account, context)
        elif write.account is not None:
            self._check_account(write.account)
            self.subscriptions.follow(write.account)
        record = record or DunningRecord(write.before.id, write.before.account_id)
        done, skipped = ((), (write.step,)) if write.step_skipped else ((write.step,), ())
        self.records[write.before.id] = replace(
            record,
            account_id=write.before.account_id,
            done=(*record.done, *done),
            skipped=(*record.skipped, *write.skipped, *skipped),
        )
        self.invoices.invoices[write.after.id] = write.after
        self.actions.append(write.action)

    def reschedule(self, before: Invoice, after: Invoice, context: AuditContext) -> None:
        self._check_invoice(before)
        self.invoices.invoices[after.id] = after
        self.actions.append("invoice.dunning_rescheduled" if after.dunning_on else "invoice.dunning_ended")

    def _check_invoice(self, before: Invoice) -> None:
        stored = self.invoices.get(before.id)
        if stored is None or fingerprint(stored) != fingerprint(before):
            raise ChangedMeanwhile(CHANGED)

    def _check_account(self, follows: AccountFollows | None) -> None:
        if follows is None:
            return
        stored = self.subscriptions.accounts.get(follows.account.id)
        if stored is None or stored.status != follows.account.status:
            raise ChangedMeanwhile(CHANGED)


class FixedSettings:
    """The seller settings reader: `settings` as they are now (change them between runs)."""

    def __init__(self, settings: SellerSettings | None = None) -> None:
        self.settings = settings or default_seller_settings()

    def current(self) -> SellerSettings:
        return self.settings


@dataclass(frozen=True)
class SentDunning:
    template: str
    invoice_id: str
    step: str
    context: Mapping[str, Any]


class RecordingDunningMail:
    """The emails through a ledger: once per (template, invoice, step). `fail` makes the next
    calls raise NoticeFailed (nothing sent, nothing claimed) until it is reset."""

    def __init__(self) -> None:
        self.sent: list[SentDunning] = []
        self.fail = False

    def dunning_email(self, invoice: Invoice, template: str, step: str, context: Mapping[str, Any]) -> bool:
        if self.fail:
            raise NoticeFailed(f"Dunning {step} of invoice {invoice.id}", {"email": OSError("down")}, None)
        if any(
            (sent.template, sent.invoice_id, sent.step) == (template, invoice.id, step) for sent in self.sent
        ):
            return False
        self.sent.append(SentDunning(template, invoice.id, step, dict(context)))
        return True

    def invoice_url(self, invoice: Invoice) -> str:
        return f"https://app.example/invoices/{invoice.id}"

    def billing_url(self) -> str:
        return "https://app.example/billing"
