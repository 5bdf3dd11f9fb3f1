"""Invoices below the HTTP layer: drafts, finalisation with a gapless number, payments, void,
uncollectible, credit notes, listings; and the seller's billing settings.

The routes (later) call these methods with an AuditContext; every change is one transaction with
its audit record (tally.invoices.dynamo). Numbers are drawn at finalisation: the store's
transaction moves the sequence's counter from the value read to the next, conditionally, so of
concurrent finalisations one wins each number and the others draw again (bounded, with jitter).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tally import clock as clocks
from tally.accounts.domain import Account
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing import invoices as machine
from tally.billing.amounts import Currency
from tally.billing.credit_notes import CreditNote, CreditNoteIn, apply_credit_note, credit_note
from tally.billing.invoice_lines import LineIn, coupon_discounts
from tally.billing.invoices import CouponRef, Customer, Invoice, Payment
from tally.billing.numbering import render, sequence_key
from tally.billing.seller import SellerSettings, default_seller_settings, parse_seller_settings
from tally.billing.subscription_state import Instant, Subscription
from tally.clock import Clock
from tally.countries import country_locale
from tally.coupons.ports import PendingRedemption
from tally.coupons.service import CouponService
from tally.dunning.ladder import UNPAID_INVOICE
from tally.errors import InvalidInput, NotFound, ServiceUnavailable
from tally.invoices.models import InvoiceIn
from tally.invoices.ports import (
    Customers,
    Follows,
    InvoiceStore,
    Listing,
    Page,
    PaymentFollows,
    SellerStore,
    SequenceMoved,
    SubscriptionFollows,
)
from tally.storage.backoff import jittered_pause
from tally.subscriptions.ports import AccountFollows, Accounts, SubscriptionStore
from tally.subscriptions.service import account_follows

MAX_ATTEMPTS = 200  # draws of a number before answering 503 (50 concurrent finalisations need < 50)
# Other overdue invoices a payment's decision is conditional on (a transaction holds 100 items).
MAX_GUARDED = 20
# What settles an invoice's debt, so restores what dunning suspended: paid (by payments or a
# credit note) or voided (cancelled). Not uncollectible: a write-off leaves the debt unsettled.
SETTLED: frozenset[str] = frozenset({"paid", "void"})
_CONFIG = ConfigDict(extra="forbid", frozen=True)


def new_invoice_id() -> str:
    return f"inv_{secrets.token_hex(10)}"


def new_credit_note_id() -> str:
    return f"cn_{secrets.token_hex(10)}"


class DraftIn(BaseModel):
    """POST /v1/invoices (platform admins), or the subscription invoicing of a period."""

    model_config = _CONFIG

    account_id: Annotated[str, Field(min_length=1, max_length=64)]
    currency: Currency
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)]
    coupon: CouponRef | None = None
    due_days: Annotated[int, Field(ge=0, le=365)] | None = None
    memo: Annotated[str, Field(max_length=2000)] | None = None
    subscription_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    period_start: Instant | None = None
    period_end: Instant | None = None

    @model_validator(mode="after")
    def _period(self) -> DraftIn:
        if self.subscription_id is not None and (self.period_start is None or self.period_end is None):
            raise ValueError("period_start: a subscription's invoice names its period (start and end)")
        if self.period_start and self.period_end and self.period_end <= self.period_start:
            raise ValueError("period_end: a period ends after it starts")
        return self


class DraftChanges(BaseModel):
    """PATCH /v1/invoices/{id}: only the fields sent change (`model_fields_set`)."""

    model_config = _CONFIG

    lines: Annotated[list[LineIn], Field(min_length=1, max_length=200)] | None = None
    coupon: CouponRef | None = None
    due_days: Annotated[int, Field(ge=0, le=365)] | None = None
    memo: Annotated[str, Field(max_length=2000)] | None = None


def customer_of(account: Account) -> Customer:
    return Customer(
        account_id=account.id,
        name=account.name,
        email=account.email,
        country=account.country,
        siren=account.siren,
        siret=account.siret,
        # Until accounts carry a locale: the one their country's customers are written to in.
        locale=country_locale(account.country),
    )


class AccountCustomers:
    """Customers read from the accounts (tally.subscriptions.ports.Accounts)."""

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    def customer(self, account_id: str) -> Customer | None:
        account = self._accounts.get(account_id)
        return customer_of(account) if account is not None else None


class SellerSettingsService:
    """GET/PUT /v1/settings/billing: the stored settings, else the shipped defaults."""

    def __init__(self, store: SellerStore) -> None:
        self._store = store

    def current(self) -> SellerSettings:
        return self._store.get() or default_seller_settings()

    def replace(self, data: Mapping[str, Any], context: AuditContext) -> SellerSettings:
        """Validated (InvalidInput naming the field), then stored conditionally on what was read."""
        after = parse_seller_settings(data)
        self._store.put(self._store.get(), after, context)
        return after


class InvoiceService:
    def __init__(
        self,
        store: InvoiceStore,
        settings: SellerSettingsService,
        customers: Customers,
        *,
        subscriptions: SubscriptionStore | None = None,
        accounts: Accounts | None = None,
        coupons: CouponService | None = None,
        clock: Clock | None = None,
        pause: Callable[[int], None] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """`subscriptions` and `accounts`: paying a subscription's invoice activates or restores
        the subscription (and the account follows) in the same transaction, voiding it restores
        it; without them a payment or a void changes the invoice only."""
        self._store = store
        self._subscriptions = subscriptions
        self._accounts = accounts
        self._coupons = coupons
        self._settings = settings
        self._customers = customers
        self._clock = clock
        self._pause = pause or partial(jittered_pause, step=0.002, most_steps=10)
        self._attempts = max_attempts

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    # -- reading ---------------------------------------------------------------------------

    def get(self, invoice_id: str) -> Invoice:
        invoice = self._store.get(invoice_id)
        if invoice is None:
            raise NotFound(f"No invoice '{invoice_id}'", field="invoice_id")
        return invoice

    def page(self, listing: Listing) -> Page:
        """GET /v1/accounts/{id}/invoices (listing.account_id set) and GET /v1/invoices."""
        if listing.start and listing.end and listing.end <= listing.start:
            raise InvalidInput("'to' must be after 'from'", field="to")
        return self._store.page(listing)

    def credit_notes(self, invoice: Invoice) -> list[CreditNote]:
        """The credit notes of an invoice read already (by `get`, or a route checking access)."""
        return self._store.credit_notes(invoice.id)

    # -- drafts ----------------------------------------------------------------------------

    def create_draft(self, request: DraftIn, context: AuditContext) -> Invoice:
        """A draft; for a subscription's period, the period's first invoice if it has one."""
        customer = self._customer(request.account_id)
        settings = self._settings.current()
        draft = machine.new_draft(
            id=new_invoice_id(),
            account_id=request.account_id,
            currency=request.currency,
            lines=_taxed(request.lines, customer, settings),
            settings=settings,
            at=self._now(),
            memo=request.memo,
            coupon=request.coupon,
            due_days=request.due_days,
            subscription_id=request.subscription_id,
            period_start=request.period_start,
            period_end=request.period_end,
        )
        return self._store.create(draft, context)

    def create_invoice(self, request: InvoiceIn, context: AuditContext) -> Invoice:
        """POST /v1/invoices: a one-off draft; its coupon, if any, is checked for the account
        (and its current subscription's plan, when it has one), comes off the lines, and is
        redeemed in the draft's own transaction."""
        customer = self._customer(request.account_id)
        settings = self._settings.current()
        invoice_id, at = new_invoice_id(), self._now()
        lines = _taxed(request.lines, customer, settings)

        def draft(lines: Sequence[LineIn], coupon: CouponRef | None = None) -> Invoice:
            return machine.new_draft(
                id=invoice_id,
                account_id=request.account_id,
                currency=request.currency,
                lines=lines,
                settings=settings,
                at=at,
                memo=request.memo,
                coupon=coupon,
                due_days=request.due_days,
            )

        if request.coupon is None:
            return self._store.create(draft(lines), context)
        # The amount a coupon's minimum is checked on: the lines before it.
        pending = self._redeeming(request, invoice_id, draft(lines).total, at)
        terms = pending.applied
        coupon = CouponRef(
            code=terms.code,
            redemption_id=terms.redemption_id,
            percent_off=terms.percent_off,
            amount_off=terms.amount_off,
        )
        discounted = coupon_discounts(lines, percent=coupon.percent_off, amount=coupon.amount_off)
        return self._store.create(draft(discounted, coupon), context, redemption=pending)

    def _customer(self, account_id: str) -> Customer:
        customer = self._customers.customer(account_id)
        if customer is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        return customer

    def _redeeming(self, request: InvoiceIn, invoice_id: str, amount: int, at: datetime) -> PendingRedemption:
        assert request.coupon is not None
        if self._coupons is None:
            raise InvalidInput("Coupons are not available here", field="coupon")
        subscription = self._subscriptions.current(request.account_id) if self._subscriptions else None
        pending = self._coupons.prepare(
            request.coupon,
            request.account_id,
            subscription.plan_code if subscription else "",
            subscription.cycle if subscription else "monthly",
            request.currency,
            amount,
            ("invoice", invoice_id),
            at,
            field="coupon",
        )
        if pending.applied.free_months is not None:
            raise InvalidInput(
                f"Coupon '{pending.applied.code}' gives free months of a subscription: it does not "
                "apply to a one-off invoice",
                field="coupon",
            )
        return pending

    def update_draft(self, invoice_id: str, changes: DraftChanges, context: AuditContext) -> Invoice:
        before = self.get(invoice_id)
        settings = self._settings.current()
        sent = {name: getattr(changes, name) for name in changes.model_fields_set}
        if sent.get("lines") is not None:
            customer = self._customers.customer(before.account_id)
            if customer is not None:
                sent["lines"] = _taxed(sent["lines"], customer, settings)
            if before.coupon is not None:
                # The coupon redeemed with the draft takes the same off its new lines.
                sent["lines"] = coupon_discounts(
                    sent["lines"], percent=before.coupon.percent_off, amount=before.coupon.amount_off
                )
        after = machine.update_draft(before, settings, **sent)
        self._store.save(before, after, "invoice.updated", context)
        return after

    # -- finalising ------------------------------------------------------------------------

    def finalize(self, invoice_id: str, context: AuditContext) -> Invoice:
        """Numbered, details frozen, due date set. Idempotent: an invoice numbered already (by
        an earlier or a concurrent call) is answered as it is, with its number."""
        invoice = self.get(invoice_id)
        if invoice.number is not None:
            return invoice
        seller = self._settings.current()
        customer = self._customer(invoice.account_id)
        at = self._now()
        rule = seller.invoice_numbering
        key = sequence_key("invoice", rule.reset, at, seller.time_zone)
        current = self._store.sequence_value(key)
        for attempt in range(self._attempts):
            drawn = current + 1
            number = render(rule.format, at, seller.time_zone, drawn)
            after = machine.finalize(invoice, number=number, at=at, seller=seller, customer=customer)
            try:
                self._store.finalize(invoice, after, key, drawn, context)
                return after
            except SequenceMoved as moved:
                current = moved.current
            except ServiceUnavailable:
                current = self._store.sequence_value(key)
            except ChangedMeanwhile:
                invoice = self.get(invoice_id)
                if invoice.number is not None:
                    return invoice  # a concurrent call finalised it
            self._pause(attempt)
        raise ServiceUnavailable("Invoice numbering is busy: retry shortly")

    # -- after finalisation ----------------------------------------------------------------

    def _change(
        self, invoice_id: str, action: str, move: Callable[[Invoice], Invoice], context: AuditContext
    ) -> Invoice:
        """Apply `move` to the invoice as stored; re-read and re-apply (the machine re-checks)
        when another change landed in between, a few times."""
        for attempt in range(3):
            before = self.get(invoice_id)
            after = move(before)
            try:
                self._store.save(before, after, action, context, self._follows(before, after))
                return after
            except ChangedMeanwhile:
                if attempt == 2:
                    raise
                self._pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _follows(self, before: Invoice, after: Invoice) -> Follows | None:
        """When this change settles a subscription's invoice (paid, by payments or a credit note,
        or voided): the subscription's move (through its machine) and the account's, for the same
        transaction. Costs two GetItems, only then. Settling an overdue invoice (issue 10,
        dunning), or restoring a past-due subscription, reads the account's other overdue
        invoices: while one remains, the subscription stays past due or unpaid and the account
        suspended; when none does, both are restored, and an account the ladder suspended for a
        one-off invoice is reactivated. Marking an invoice uncollectible settles nothing (the debt
        is written off, not paid nor cancelled): it restores nothing, the account stays suspended."""
        if before.status in SETTLED or after.status not in SETTLED:
            return None
        subscription = None
        if self._subscriptions is not None and after.subscription_id is not None:
            subscription = self._subscriptions.current(after.account_id)
        moved = machine.subscription_after_settling(subscription, after) if subscription else None
        restoring = moved is not None and moved[1] == "subscription.payment_recovered"
        if not restoring and before.overdue_since is None:
            return self._subscription_follows(subscription, moved, after)
        others = tuple(other for other in self._store.overdue(after.account_id) if other.id != after.id)
        guarded = others[:MAX_GUARDED]
        if others:
            # Still owed elsewhere: nothing is restored (an activation still is).
            kept = None if restoring else self._subscription_follows(subscription, moved, after)
            return PaymentFollows(subscription=kept, unchanged=guarded)
        follows = self._subscription_follows(subscription, moved, after)
        account = None
        if follows is None and self._accounts is not None:
            holder = self._accounts.get(after.account_id)
            if holder is not None and holder.status == "suspended" and holder.status_reason == UNPAID_INVOICE:
                settled = "paid" if after.status == "paid" else "settled"
                account = AccountFollows(holder, "active", f"The overdue invoices are {settled}")
        return PaymentFollows(subscription=follows, account=account)

    def _subscription_follows(
        self,
        subscription: Subscription | None,
        moved: tuple[Subscription, str] | None,
        after: Invoice,
    ) -> SubscriptionFollows | None:
        if subscription is None or moved is None:
            return None
        changed, action = moved
        account = account_follows(self._accounts, after.account_id, changed) if self._accounts else None
        return SubscriptionFollows(subscription, changed, action, account)

    def record_payment(self, invoice_id: str, payment: Payment, context: AuditContext) -> Invoice:
        """Money received (bank transfer, cash...): partial payments add up; the last pays it."""
        at = self._now()

        def pay(invoice: Invoice) -> Invoice:
            return machine.record_payment(invoice, payment, at=at)

        return self._change(invoice_id, "invoice.payment_recorded", pay, context)

    def void(self, invoice_id: str, reason: str | None, context: AuditContext) -> Invoice:
        """Cancelled: it leaves the dunning ladder, and when it was the account's last overdue
        invoice the subscription and the account dunning suspended are restored (`_follows`)."""
        at = self._now()
        return self._change(
            invoice_id, "invoice.voided", lambda invoice: machine.void(invoice, at=at, reason=reason), context
        )

    def mark_uncollectible(self, invoice_id: str, reason: str | None, context: AuditContext) -> Invoice:
        # Written off, not settled: the debt stands, so an account dunning suspended stays
        # suspended and its subscription unpaid (`_follows` answers None); paying or voiding the
        # invoice later restores them.
        at = self._now()
        return self._change(
            invoice_id,
            "invoice.marked_uncollectible",
            lambda invoice: machine.mark_uncollectible(invoice, at=at, reason=reason),
            context,
        )

    def issue_credit_note(
        self, invoice_id: str, request: CreditNoteIn, context: AuditContext, *, note_id: str | None = None
    ) -> tuple[CreditNote, Invoice]:
        """Numbered from its own gapless sequence, in one transaction with the invoice it changes.

        `note_id`: the credit note's id, derived by the caller from what it records (a provider's
        refund id), which makes issuing it idempotent: when the invoice holds that credit note
        already, it is answered as it is, and nothing is drawn or written."""
        seller = self._settings.current()
        at = self._now()
        rule = seller.credit_note_numbering
        key = sequence_key("credit_note", rule.reset, at, seller.time_zone)
        note_id = note_id or new_credit_note_id()
        current = self._store.sequence_value(key)
        for attempt in range(self._attempts):
            before = self.get(invoice_id)
            if any(ref.id == note_id for ref in before.credit_notes):
                issued = next(note for note in self._store.credit_notes(invoice_id) if note.id == note_id)
                return issued, before
            drawn = current + 1
            number = render(rule.format, at, seller.time_zone, drawn)
            note = credit_note(before, request, id=note_id, number=number, at=at)
            after = apply_credit_note(before, note)
            try:
                follows = self._follows(before, after)
                self._store.add_credit_note(before, after, note, key, drawn, context, follows)
                return note, after
            except SequenceMoved as moved:
                current = moved.current
            except ServiceUnavailable:
                current = self._store.sequence_value(key)
            except ChangedMeanwhile:
                pass  # the invoice changed: read it again (the limits are checked again)
            self._pause(attempt)
        raise ServiceUnavailable("Credit-note numbering is busy: retry shortly")


def _taxed(lines: Sequence[LineIn], customer: Customer, settings: SellerSettings) -> list[LineIn]:
    """Lines that name no tax rate get the one of the customer's country (or the default)."""
    code = settings.rate_for_country(customer.country)
    return [line if line.tax_rate else line.model_copy(update={"tax_rate": code}) for line in lines]
