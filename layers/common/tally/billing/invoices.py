"""Invoices and the one state machine that changes their status.

    draft --finalize--> open --record_payment (fully paid)--> paid
    open --void--> void                 open --mark_uncollectible--> uncollectible
    uncollectible --record_payment (fully paid)--> paid     uncollectible --void--> void

Each transition is a pure function from an `Invoice` to the next one; one the status does not
allow raises `InvoiceRefused` (409) saying why in words, like tally.billing.subscription_state.
The caller stores the result with its audit record in one transaction, conditional on the
invoice it read (its fingerprint).

A draft has no number; `finalize` is given the number (drawn from the gapless sequence by the
store in the same transaction), freezes the seller's and the customer's details and sets the due
date from the payment terms in the seller's time zone. Like Stripe, an invoice whose amount due
is 0 at finalisation (a 100 % coupon) is paid at once. `void` keeps the number: the sequence
stays gapless and the void invoice stays on record.

Money that does not add up is 422 in words (`InvalidInput`): a payment above the amount due, a
line in another currency, a negative total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from tally.billing import subscription_state
from tally.billing.amounts import Currency, canonical_decimal
from tally.billing.invoice_lines import InvoiceLine, LineIn, TaxAmount, line_in, price_lines, taxes_of
from tally.billing.numbering import local
from tally.billing.seller import SellerSettings
from tally.billing.subscription_state import Instant, Subscription
from tally.errors import Conflict, InvalidInput

InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]
InvoiceSource = Literal["tally", "stripe"]
# What a person records (POST /v1/invoices/{id}/payments); `card`: a saved card charged by the
# payment retries job (issue 10, tally.retries), its reference the PaymentIntent's id.
ManualPaymentMethod = Literal["bank_transfer", "cash", "other"]
PaymentMethod = Literal["bank_transfer", "cash", "other", "card"]
InvoiceTransition = Literal["update", "finalize", "record_payment", "void", "mark_uncollectible", "credit"]

ALLOWED_FROM: Mapping[InvoiceTransition, frozenset[InvoiceStatus]] = {
    "update": frozenset({"draft"}),
    "finalize": frozenset({"draft"}),
    "record_payment": frozenset({"open", "uncollectible"}),
    "void": frozenset({"open", "uncollectible"}),
    "mark_uncollectible": frozenset({"open"}),
    "credit": frozenset({"open", "paid"}),
}

_WORDS: Mapping[InvoiceTransition, str] = {
    "update": "be changed",
    "finalize": "be finalised",
    "record_payment": "take a payment",
    "void": "be voided",
    "mark_uncollectible": "be marked uncollectible",
    "credit": "take a credit note",
}

_STATUS_WORDS: Mapping[InvoiceStatus, str] = {
    "draft": "A draft invoice",
    "open": "An open invoice",
    "paid": "A paid invoice",
    "void": "A void invoice",
    "uncollectible": "An uncollectible invoice",
}

_BECAUSE: Mapping[tuple[InvoiceStatus, InvoiceTransition], str] = {
    ("draft", "record_payment"): "finalise it first",
    ("draft", "void"): "it has no number yet; change it or leave it as a draft",
    ("draft", "mark_uncollectible"): "finalise it first",
    ("draft", "credit"): "change the draft instead",
    ("paid", "record_payment"): "it is paid in full already",
    ("paid", "void"): "it is paid; issue a credit note instead",
    ("void", "credit"): "it is void: nothing is owed on it",
    ("uncollectible", "credit"): "it is uncollectible; void it instead",
}

MAX_PAYMENTS = 100


class InvoiceRefused(Conflict):
    code = "invalid_transition"


def _refuse(status: InvoiceStatus, name: InvoiceTransition, reason: str | None = None) -> InvoiceRefused:
    because = reason or _BECAUSE.get((status, name))
    if because is None:
        if name in ("update", "finalize"):
            because = "it is finalised already; only drafts can"
        else:
            allowed = " or ".join(sorted(ALLOWED_FROM[name]))
            because = f"only {allowed} invoices can"
    return InvoiceRefused(f"{_STATUS_WORDS[status]} cannot {_WORDS[name]}: {because}")


_CONFIG = ConfigDict(extra="forbid", frozen=True, defer_build=True)
Id = Annotated[str, Field(min_length=1, max_length=64)]


class Customer(BaseModel):
    """The customer's details as the invoice shows them, frozen at finalisation."""

    model_config = _CONFIG

    account_id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: str | None = None
    country: str | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    siren: str | None = None
    siret: str | None = None
    vat_number: str | None = None
    locale: Literal["fr", "en"] = "fr"

    @property
    def business(self) -> bool:
        """A business customer (French late-payment indemnity applies): it has a legal id."""
        return any((self.siren, self.siret, self.vat_number))


ExactPercent = Annotated[Decimal, PlainSerializer(canonical_decimal, return_type=str, when_used="json")]


class CouponRef(BaseModel):
    """The coupon whose discounts the lines carry (the coupon engine computes them), with the
    terms it was redeemed with, so that new lines of a draft get the same discount."""

    model_config = _CONFIG

    code: Annotated[str, Field(min_length=1, max_length=64)]
    redemption_id: Id | None = None
    percent_off: ExactPercent | None = None
    amount_off: int | None = None


class Payment(BaseModel):
    model_config = _CONFIG

    amount: Annotated[int, Field(strict=True, ge=1)]
    method: PaymentMethod
    reference: Annotated[str, Field(min_length=1, max_length=200)]
    received_at: Instant
    recorded_at: Instant | None = None


class CreditNoteRef(BaseModel):
    model_config = _CONFIG

    id: Id
    number: str
    total: int


class Invoice(BaseModel):
    """Not strict: storage reads it back from JSON. Totals are derived from the lines by
    `_priced` and stored, so the wire and the PDF read them as they were."""

    model_config = _CONFIG

    id: Id
    account_id: Id
    currency: Currency
    status: InvoiceStatus
    number: str | None = None
    lines: tuple[InvoiceLine, ...] = ()
    prices_include_tax: bool = False
    subtotal: int = 0
    discount_total: int = 0
    taxes: tuple[TaxAmount, ...] = ()
    tax_total: int = 0
    total_excluding_tax: int = 0
    total: int = 0
    amount_paid: int = 0
    credited_total: int = 0  # every credit note
    credited_before_payment: int = 0  # the credit notes' part that lowered the amount due
    refund_due: int = 0  # credited after payment, to refund (refund: true)
    customer_credit: int = 0  # credited after payment, kept as the customer's credit
    amount_due: int = 0  # total - credited_before_payment - amount_paid
    memo: Annotated[str, Field(max_length=2000)] | None = None
    coupon: CouponRef | None = None
    subscription_id: Id | None = None
    period_start: Instant | None = None
    period_end: Instant | None = None
    due_days: Annotated[int, Field(ge=0, le=365)] | None = None
    created_at: Instant
    finalized_at: Instant | None = None
    due_date: date | None = None
    paid_at: Instant | None = None
    voided_at: Instant | None = None
    uncollectible_at: Instant | None = None
    status_reason: str | None = None
    payments: tuple[Payment, ...] = ()
    credit_notes: tuple[CreditNoteRef, ...] = ()
    seller: SellerSettings | None = None
    customer: Customer | None = None
    # issue 10, dunning (tally.dunning): the next date the ladder acts on this open invoice (its
    # DueIndex entry; None: not in the ladder), and the day it was marked overdue (it stays open).
    dunning_on: date | None = None
    overdue_since: date | None = None
    # issue 9: an invoice Stripe issued and Tally mirrors (tally.payments.stripe_events). Its
    # number is Stripe's (never drawn from Tally's sequence); its document is Stripe's
    # (`invoice_pdf`, `hosted_invoice_url`); open, it walks the dunning ladder (decision 13).
    source: InvoiceSource = "tally"
    stripe_invoice_id: Annotated[str, Field(max_length=255)] | None = None
    hosted_invoice_url: Annotated[str, Field(max_length=2000)] | None = None
    invoice_pdf: Annotated[str, Field(max_length=2000)] | None = None

    def allows(self, name: InvoiceTransition) -> bool:
        return self.status in ALLOWED_FROM[name]


# The fields issue 9 added, with the value an invoice stored before them reads back with.
STRIPE_FIELDS: Mapping[str, object] = {
    "source": "tally",
    "stripe_invoice_id": None,
    "hosted_invoice_url": None,
    "invoice_pdf": None,
}


def _require(invoice: Invoice, name: InvoiceTransition) -> None:
    if invoice.status not in ALLOWED_FROM[name]:
        raise _refuse(invoice.status, name)


def _move(invoice: Invoice, **changes: object) -> Invoice:
    return invoice.model_validate({**invoice.model_dump(), **changes})


def _priced(lines: tuple[InvoiceLine, ...], include_tax: bool) -> dict[str, object]:
    total = sum(line.total for line in lines)
    if total < 0:
        raise InvalidInput(
            f"An invoice's total cannot be negative (it would be {total}): issue a credit note instead",
            field="lines",
        )
    return {
        "lines": lines,
        "prices_include_tax": include_tax,
        "subtotal": sum(line.amount for line in lines),
        "discount_total": sum(line.discount for line in lines),
        "taxes": taxes_of(lines),
        "tax_total": sum(line.tax for line in lines),
        "total_excluding_tax": sum(line.net for line in lines),
        "total": total,
        "amount_due": total,
    }


# --- drafts -----------------------------------------------------------------------------------


def new_draft(
    *,
    id: str,
    account_id: str,
    currency: str,
    lines: Sequence[LineIn],
    settings: SellerSettings,
    at: datetime,
    memo: str | None = None,
    coupon: CouponRef | None = None,
    due_days: int | None = None,
    subscription_id: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
) -> Invoice:
    priced = price_lines(lines, currency, settings)
    return Invoice.model_validate(
        {
            "id": id,
            "account_id": account_id,
            "currency": currency,
            "status": "draft",
            **_priced(priced, settings.prices_include_tax),
            "memo": memo,
            "coupon": coupon,
            "due_days": due_days,
            "subscription_id": subscription_id,
            "period_start": period_start,
            "period_end": period_end,
            "created_at": at,
        }
    )


_UNSET: object = object()


def update_draft(
    invoice: Invoice,
    settings: SellerSettings,
    *,
    lines: Sequence[LineIn] | None = None,
    memo: str | object | None = _UNSET,
    coupon: CouponRef | object | None = _UNSET,
    due_days: int | object | None = _UNSET,
) -> Invoice:
    """The draft with what changed; lines given replace every line (re-priced with `settings`)."""
    _require(invoice, "update")
    changes: dict[str, object] = {}
    if lines is not None:
        changes |= _priced(price_lines(lines, invoice.currency, settings), settings.prices_include_tax)
    for name, value in (("memo", memo), ("coupon", coupon), ("due_days", due_days)):
        if value is not _UNSET:
            changes[name] = value
    return _move(invoice, **changes)


# --- finalising -------------------------------------------------------------------------------


def due_date(at: datetime, days: int, time_zone: str) -> date:
    """`days` calendar days after the finalisation's date in the seller's zone."""
    return local(at, time_zone).date() + timedelta(days=days)


def finalize(
    invoice: Invoice, *, number: str, at: datetime, seller: SellerSettings, customer: Customer
) -> Invoice:
    _require(invoice, "finalize")
    if customer.account_id != invoice.account_id:
        raise ValueError("the customer must be the invoice's account")
    days = invoice.due_days if invoice.due_days is not None else seller.payment_terms_days
    # Priced again with the rates frozen with the seller, so the invoice's taxes are the ones it
    # shows (a rate or the tax mode may have changed since the draft).
    lines = price_lines([line_in(line) for line in invoice.lines], invoice.currency, seller)
    changes: dict[str, object] = {
        **_priced(lines, seller.prices_include_tax),
        "status": "open",
        "number": number,
        "finalized_at": at,
        "due_date": due_date(at, days, seller.time_zone),
        "seller": seller,
        "customer": customer,
    }
    if changes["amount_due"] == 0:
        changes |= {"status": "paid", "paid_at": at}
    elif seller.dunning.steps:
        # The ladder's first step is when the dunning job first looks at it (due date + days).
        first = seller.dunning.steps[0].days
        changes["dunning_on"] = changes["due_date"] + timedelta(days=first)  # type: ignore[operator]
    return _move(invoice, **changes)


# --- after finalisation -----------------------------------------------------------------------


def record_payment(invoice: Invoice, payment: Payment, *, at: datetime) -> Invoice:
    """Money received. Partial payments add up; the one that covers the amount due pays the
    invoice. More than is due is refused in words, and so is the same reference twice."""
    _require(invoice, "record_payment")
    if payment.amount > invoice.amount_due:
        raise InvalidInput(
            f"A payment of {payment.amount} is more than the {invoice.amount_due} due on invoice "
            f"{invoice.number} ({invoice.currency} minor units): record at most the amount due",
            field="amount",
        )
    for earlier in invoice.payments:
        if (earlier.method, earlier.reference) == (payment.method, payment.reference):
            raise Conflict(
                f"A {payment.method} payment with reference '{payment.reference}' is recorded on "
                "this invoice already",
                field="reference",
            )
    if len(invoice.payments) >= MAX_PAYMENTS:
        raise Conflict(f"An invoice takes at most {MAX_PAYMENTS} payments", field="amount")
    due = invoice.amount_due - payment.amount
    recorded = payment.model_copy(update={"recorded_at": at})
    changes: dict[str, object] = {
        "payments": (*invoice.payments, recorded),
        "amount_paid": invoice.amount_paid + payment.amount,
        "amount_due": due,
    }
    if due == 0:
        changes |= {"status": "paid", "paid_at": at}
    return _move(invoice, **changes)


def void(invoice: Invoice, *, at: datetime, reason: str | None = None) -> Invoice:
    """Cancelled; keeps its number (the sequence stays gapless). Not once money was received."""
    _require(invoice, "void")
    if invoice.amount_paid:
        raise _refuse(invoice.status, "void", "payments are recorded on it; issue a credit note instead")
    return _move(invoice, status="void", voided_at=at, amount_due=0, status_reason=reason)


def mark_uncollectible(invoice: Invoice, *, at: datetime, reason: str | None = None) -> Invoice:
    """Written off; it can still be paid (or voided) later, as in Stripe."""
    _require(invoice, "mark_uncollectible")
    return _move(invoice, status="uncollectible", uncollectible_at=at, status_reason=reason)


# --- what a paid invoice does to its subscription ----------------------------------------------


def subscription_after_settling(
    subscription: Subscription, invoice: Invoice
) -> tuple[Subscription, str] | None:
    """Paying a subscription's invoice activates it while `incomplete` (its first invoice) and
    restores it while `past_due` or `unpaid`, through the subscription machine. Voiding it restores
    it too (the debt is cancelled, as if settled) but never activates it: nothing was paid for its
    first period. Anything else (or another subscription's invoice) changes nothing: None. A
    write-off (uncollectible) is not a settlement and moves nothing. Answers (after, audit action)."""
    if invoice.subscription_id != subscription.id or invoice.status not in ("paid", "void"):
        return None
    if subscription.status == "incomplete" and invoice.status == "paid":
        return subscription_state.activate(subscription), "subscription.activated"
    if subscription.status in ("past_due", "unpaid"):
        return subscription_state.payment_recovered(subscription), "subscription.payment_recovered"
    return None
    if subscription.status == "incomplete":
        return subscription_state.activate(subscription), "subscription.activated"
    if subscription.status in ("past_due", "unpaid"):
        return subscription_state.payment_recovered(subscription), "subscription.payment_recovered"
    return None
