"""Builders for invoice tests: the shipped seller settings, a customer, drafts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.credit_notes import CreditNote
from tally.billing.invoice_lines import LineIn
from tally.billing.invoices import Customer, Invoice, new_draft
from tally.billing.metrics import BillableMetric
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.coupons.ports import PendingRedemption
from tally.invoices.ports import Follows, Listing, Page, PaymentFollows, SequenceMoved
from tests.support.billing import InMemorySubscriptionStore
from tests.support.coupons import InMemoryCouponStore

AT = datetime(2026, 4, 11, 10, tzinfo=UTC)
SELLER = default_seller_settings()
INCLUSIVE = SELLER.model_copy(update={"prices_include_tax": True})
CUSTOMER = Customer(account_id="acc1", name="Acme SARL", country="FR", siren="987654321")


def line(unit_amount: int, quantity: str | int = 1, **extra: Any) -> LineIn:
    return LineIn.model_validate(
        {"description": "Service", "unit_amount": unit_amount, "quantity": Decimal(quantity), **extra}
    )


def draft(*lines: LineIn, currency: str = "EUR", settings: SellerSettings = SELLER, **extra: Any) -> Invoice:
    return new_draft(
        id="inv_1",
        account_id="acc1",
        currency=currency,
        lines=list(lines) or [line(10000)],
        settings=settings,
        at=AT,
        **extra,
    )


# --- in-memory stores, faithful to the DynamoDB adapters' conditions --------------------------


class InMemorySellerStore:
    def __init__(self) -> None:
        self.settings: SellerSettings | None = None
        self.writes = 0

    def get(self) -> SellerSettings | None:
        return self.settings

    def put(self, before: SellerSettings | None, after: SellerSettings, context: AuditContext) -> None:
        if self.settings != before:
            raise ChangedMeanwhile("The billing settings changed while this request was made")
        self.settings = after
        self.writes += 1


class InMemoryCustomers:
    def __init__(self, *customers: Customer) -> None:
        self.customers = {customer.account_id: customer for customer in customers or (CUSTOMER,)}

    def customer(self, account_id: str) -> Customer | None:
        return self.customers.get(account_id)


class InMemoryInvoiceStore:
    def __init__(self) -> None:
        self.invoices: dict[str, Invoice] = {}
        self.notes: dict[str, list[CreditNote]] = {}
        self.claims: dict[tuple[str, datetime], str] = {}
        self.sequences: dict[str, int] = {}
        self.actions: list[str] = []
        self.interfere: Callable[[], None] | None = None  # runs before the next numbered write
        self.interfere_create: Callable[[], None] | None = None  # runs before the next create
        self.subscriptions: InMemorySubscriptionStore | None = None  # where a payment's follow-up goes
        self.coupons: InMemoryCouponStore | None = None  # where a draft's redemption goes

    def get(self, invoice_id: str) -> Invoice | None:
        return self.invoices.get(invoice_id)

    def create(
        self,
        invoice: Invoice,
        context: AuditContext,
        follows: Follows | None = None,
        redemption: PendingRedemption | None = None,
    ) -> Invoice:
        if self.interfere_create is not None:
            interfere, self.interfere_create = self.interfere_create, None
            interfere()
        if redemption is not None:
            assert self.coupons is not None, "a redemption without a coupon store"
            self.coupons.redeem(redemption, context)
        claim = None
        if invoice.subscription_id is not None and invoice.period_start is not None:
            claim = (invoice.subscription_id, invoice.period_start)
            if claim in self.claims:
                return self.invoices[self.claims[claim]]  # nothing written, the follow-up neither
        # One transaction: the subscription's change is checked before anything is written.
        self._follow(follows, context)
        if claim is not None:
            self.claims[claim] = invoice.id
        self.invoices[invoice.id] = invoice
        self.actions.append("invoice.created")
        return invoice

    def _replace(self, before: Invoice, after: Invoice) -> None:
        if self.invoices.get(before.id) != before:
            raise ChangedMeanwhile("The invoice changed while this request was made")
        self.invoices[after.id] = after

    def save(
        self,
        before: Invoice,
        after: Invoice,
        action: str,
        context: AuditContext,
        follows: Follows | None = None,
    ) -> None:
        self._replace(before, after)
        self._follow(follows, context)
        self.actions.append(action)

    def _follow(self, follows: Follows | None, context: AuditContext) -> None:
        if isinstance(follows, PaymentFollows):
            for other in follows.unchanged:
                if self.invoices.get(other.id) != other:
                    raise ChangedMeanwhile("Another overdue invoice changed meanwhile")
            if follows.account is not None and follows.subscription is None:
                assert self.subscriptions is not None, "an account moved without the accounts"
                self.subscriptions.follow(follows.account)
            follows = follows.subscription
        if follows is not None:
            assert self.subscriptions is not None, "a subscription moved without a subscription store"
            self.subscriptions.save(follows.before, follows.after, follows.action, follows.account, context)

    def sequence_value(self, sequence_key: str) -> int:
        return self.sequences.get(sequence_key, 0)

    def _draw(self, sequence_key: str, drawn: int) -> None:
        if self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere()
        current = self.sequences.get(sequence_key, 0)
        if current != drawn - 1:
            raise SequenceMoved(current)

    def finalize(
        self, before: Invoice, after: Invoice, sequence_key: str, drawn: int, context: AuditContext
    ) -> None:
        self._draw(sequence_key, drawn)
        self._replace(before, after)
        self.sequences[sequence_key] = drawn
        self.actions.append("invoice.finalized")

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
        self._draw(sequence_key, drawn)
        self._replace(before, after)
        self._follow(follows, context)
        self.sequences[sequence_key] = drawn
        self.notes.setdefault(note.invoice_id, []).append(note)
        self.actions.append("credit_note.issued")

    def credit_notes(self, invoice_id: str) -> list[CreditNote]:
        return list(self.notes.get(invoice_id, []))

    def overdue(self, account_id: str) -> list[Invoice]:
        return [
            invoice
            for invoice in self.invoices.values()
            if invoice.account_id == account_id and invoice.status == "open" and invoice.overdue_since
        ]

    def page(self, listing: Listing) -> Page:
        found = [
            invoice
            for invoice in self.invoices.values()
            if (listing.account_id is None or invoice.account_id == listing.account_id)
            and (listing.status is None or invoice.status == listing.status)
        ]
        found.sort(key=lambda invoice: (invoice.created_at, invoice.id), reverse=True)
        start = int(listing.cursor or 0)
        end = start + listing.limit
        return Page(found[start:end], str(end) if end < len(found) else None)


class InMemoryUsageTotals:
    """The usage aggregates the subscription invoicing reads: {(account, period key): {metric:
    value}} (keys.FOREVER for the metrics that never reset), and the metrics' definitions."""

    def __init__(self, metrics: Iterable[BillableMetric] = ()) -> None:
        self.values: dict[tuple[str, str], dict[str, Decimal]] = {}
        self.known = {metric.code: metric for metric in metrics}
        self.reads: list[str] = []

    def put(self, account_id: str, period: str, **values: int | str) -> None:
        self.values[(account_id, period)] = {name: Decimal(value) for name, value in values.items()}

    def aggregates(self, account_id: str, period: str) -> dict[str, Decimal]:
        self.reads.append(period)
        return dict(self.values.get((account_id, period), {}))

    def metrics(self, codes: set[str]) -> dict[str, BillableMetric]:
        return {code: self.known[code] for code in codes if code in self.known}
