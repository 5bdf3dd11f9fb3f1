"""What the invoice and seller-settings services need from storage (DynamoDB; in memory in
unit tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tally.audit.records import AuditContext
from tally.billing.credit_notes import CreditNote
from tally.billing.invoices import Customer, Invoice, InvoiceStatus
from tally.billing.seller import SellerSettings
from tally.billing.subscription_state import Subscription
from tally.coupons.ports import PendingRedemption
from tally.subscriptions.ports import AccountFollows


class SequenceMoved(Exception):
    """Another document drew the number this one was about to take; `current` is the counter's
    value now (the next try draws current + 1). Nothing was written."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the sequence is at {current} now")
        self.current = current


@dataclass(frozen=True)
class SubscriptionFollows:
    """The subscription's change an invoice brings (a payment activates or restores it; the
    period's invoice rolls it over and takes its pending lines), written in the same transaction
    as the invoice, with the account's status when it follows."""

    before: Subscription
    after: Subscription
    action: str
    account: AccountFollows | None


@dataclass(frozen=True)
class PaymentFollows:
    """What paying an overdue invoice brings (issue 10, dunning): the subscription restored and
    the account reactivated only when no other overdue invoice of the account remains. The other
    overdue invoices read for that decision are written as unchanged conditions of the same
    transaction, so two invoices paid at once cannot both decide that the other is still owed."""

    subscription: SubscriptionFollows | None = None
    account: AccountFollows | None = None  # the account's move when the subscription has none
    unchanged: tuple[Invoice, ...] = ()


Follows = SubscriptionFollows | PaymentFollows


@dataclass(frozen=True)
class Page:
    invoices: list[Invoice]
    cursor: str | None  # opaque; pass it back for the next page


@dataclass(frozen=True)
class Listing:
    """What to list: an account's invoices (owners, admins) or the platform's (admins)."""

    account_id: str | None = None
    status: InvoiceStatus | None = None
    start: datetime | None = None  # created at or after
    end: datetime | None = None  # created before
    cursor: str | None = None
    limit: int = 50


class SellerStore(Protocol):
    def get(self) -> SellerSettings | None:
        """The stored settings; None until a platform admin saves some."""
        ...

    def put(self, before: SellerSettings | None, after: SellerSettings, context: AuditContext) -> None:
        """`after`, conditional on the stored settings still being `before` (ChangedMeanwhile)."""
        ...


class Customers(Protocol):
    def customer(self, account_id: str) -> Customer | None:
        """The account's details as an invoice shows them; None for an unknown account."""
        ...


class InvoiceStore(Protocol):
    def get(self, invoice_id: str) -> Invoice | None: ...

    def create(
        self,
        invoice: Invoice,
        context: AuditContext,
        follows: Follows | None = None,
        redemption: PendingRedemption | None = None,
    ) -> Invoice:
        """A new draft. One of a subscription's period (`subscription_id` and `period_start`
        set) claims the period in the same transaction: if the period has its invoice already,
        nothing is written and that first invoice is answered. `follows`: the subscription's
        change that goes with it (rolled over, its pending lines taken), in the same
        transaction, conditional on the stored subscription still being `follows.before`
        (ChangedMeanwhile otherwise, nothing written). `redemption`: the coupon redeemed with
        the draft (CouponRefused when a limit was reached meanwhile: nothing written)."""
        ...

    def save(
        self,
        before: Invoice,
        after: Invoice,
        action: str,
        context: AuditContext,
        follows: Follows | None = None,
    ) -> None:
        """`after` in place of `before`, conditional on the stored one still being `before`
        (ChangedMeanwhile otherwise), with the subscription's change when it follows."""
        ...

    def sequence_value(self, sequence_key: str) -> int:
        """The last number drawn from this sequence (0 when none was)."""
        ...

    def finalize(
        self, before: Invoice, after: Invoice, sequence_key: str, drawn: int, context: AuditContext
    ) -> None:
        """One transaction: the counter from drawn - 1 to drawn (SequenceMoved if it moved), the
        invoice numbered in place of the draft `before` (ChangedMeanwhile if it changed), the
        audit record."""
        ...

    def add_credit_note(
        self,
        before: Invoice,
        after: Invoice,
        note: CreditNote,
        sequence_key: str,
        drawn: int,
        context: AuditContext,
        follows: Follows | None = None,
    ) -> None:
        """One transaction: the credit-note counter, the credit note, the invoice it changes
        (and the subscription, when a credit note pays its invoice)."""
        ...

    def credit_notes(self, invoice_id: str) -> list[CreditNote]: ...

    def overdue(self, account_id: str) -> list[Invoice]:
        """The account's open invoices the dunning ladder marked overdue (all of them)."""
        ...

    def page(self, listing: Listing) -> Page:
        """Newest first; a bounded number of Queries per page."""
        ...
