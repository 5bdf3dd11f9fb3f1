"""What the dunning job needs: its storage (DynamoDB; in memory in unit tests), the seller's
settings, and the emails."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from tally.accounts.domain import Account
from tally.audit.records import AuditContext
from tally.billing.invoices import Invoice
from tally.billing.seller import SellerSettings
from tally.billing.subscription_state import Subscription
from tally.dunning.ladder import DunningRecord
from tally.subscriptions.ports import AccountFollows


class StepTaken(Exception):
    """The step is in the invoice's dunning record already (another run did it): nothing written."""


@dataclass(frozen=True)
class DueEntry:
    invoice_id: str
    on: date  # the date of the step that falls due (the entry's DUESK)


@dataclass(frozen=True)
class StepWrite:
    """One step, one transaction: the record gains `step` (conditional on it not being there,
    done or skipped) and the `skipped` ones; the invoice moves from `before` to `after`
    (conditional on its fingerprint: its next dunning date, its overdue mark); with the
    subscription's change and the account's when they follow."""

    before: Invoice
    after: Invoice
    step: str
    skipped: tuple[str, ...]
    step_skipped: bool  # the step itself is recorded as skipped (a Stripe-collected suspension)
    action: str  # the audit action of the invoice's record
    subscription: tuple[Subscription, Subscription, str] | None  # before, after, audit action
    account: AccountFollows | None


class DunningStore(Protocol):
    def due(self, on: date) -> Iterator[DueEntry]:
        """The open invoices whose next dunning date is `on` or earlier (DueIndex only)."""
        ...

    def invoice(self, invoice_id: str) -> Invoice | None: ...

    def record(self, invoice_id: str) -> DunningRecord | None: ...

    def subscription(self, account_id: str) -> Subscription | None:
        """The account's current subscription."""
        ...

    def account(self, account_id: str) -> Account | None: ...

    def run_step(self, write: StepWrite, context: AuditContext) -> None:
        """StepTaken when the record has the step already; ChangedMeanwhile when the invoice,
        the subscription or the account changed since read. Nothing written then."""
        ...

    def reschedule(self, before: Invoice, after: Invoice, context: AuditContext) -> None:
        """The invoice's next dunning date changed (None: it leaves the ladder and the index);
        ChangedMeanwhile when it changed since read."""
        ...


class SettingsReader(Protocol):
    """tally.invoices.service.SellerSettingsService: the stored settings, else the defaults."""

    def current(self) -> SellerSettings: ...


class DunningMail(Protocol):
    """tally.invoices.notices.InvoiceNotices: the customer's email, once per (template, invoice,
    step) through the ledger."""

    def dunning_email(self, invoice: Invoice, template: str, step: str, context: Mapping[str, Any]) -> bool:
        """True when this call sent it; False when it was sent (or is being sent) already, or the
        customer has no address. Raises NoticeFailed when it could not be sent."""
        ...

    def invoice_url(self, invoice: Invoice) -> str: ...

    def billing_url(self) -> str: ...
