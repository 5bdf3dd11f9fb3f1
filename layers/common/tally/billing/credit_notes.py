"""Credit notes: money taken back from an open or paid invoice, numbered in their own sequence.

A credit note names invoice lines (all of a line, a quantity of it, or an amount of it) or just an
amount, which is spread over the invoice's tax rates in proportion to their totals. Its tax is
the credited share of the lines' tax, half-up. It can never take back more than the invoice's
total minus its earlier credit notes (422 in words).

What it does to the invoice follows Stripe's credit notes: it first lowers the amount still due
(`pre_payment_amount`, never below 0); the rest (`post_payment_amount`) was paid already and is
owed back: a refund to make (`refund: true`, made by the payment provider's issue) or the
customer's credit (`refund: false`). An open invoice whose amount due the credit brings to 0 is
`paid`, as Stripe marks it (nothing is left to collect, and it keeps its number).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from tally.billing.amounts import Currency, ratio_half_up, round_minor
from tally.billing.invoice_lines import Quantity, TaxAmount, TaxedLine, allocate, taxes_of
from tally.billing.invoices import CreditNoteRef, Invoice, _move, _require
from tally.billing.subscription_state import Instant
from tally.errors import InvalidInput

_CONFIG = ConfigDict(extra="forbid", frozen=True, defer_build=True)
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class CreditLineIn(BaseModel):
    """A line of the invoice to credit (`line`: its index): all of it by default, or `quantity`
    of it, or `amount` of it (minor units, tax included)."""

    model_config = _CONFIG

    line: Annotated[int, Field(strict=True, ge=0)]
    quantity: Quantity | None = None
    amount: Annotated[int, Field(strict=True, ge=1)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> CreditLineIn:
        if self.quantity is not None and self.amount is not None:
            raise ValueError("Credit a line by quantity or by amount, not both")
        return self


class CreditNoteIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        defer_build=True,
        json_schema_extra={
            "examples": [
                {"amount": 10000, "reason": "Service interrupted for three days", "refund": False},
                {"lines": [{"line": 0, "quantity": "1"}], "reason": "One seat returned", "refund": True},
            ]
        },
    )

    lines: Annotated[list[CreditLineIn], Field(min_length=1, max_length=200)] | None = None
    amount: Annotated[int, Field(strict=True, ge=1)] | None = None
    reason: Reason
    refund: StrictBool = False
    memo: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _lines_or_amount(self) -> CreditNoteIn:
        if (self.lines is None) == (self.amount is None):
            raise ValueError("Give the lines to credit or an amount, one of the two")
        return self


class CreditNoteLine(TaxedLine):
    description: str
    invoice_line: int | None = None
    quantity: Quantity | None = None
    total: int


class CreditNote(BaseModel):
    model_config = _CONFIG

    id: Annotated[str, Field(min_length=1, max_length=64)]
    number: str
    invoice_id: str
    invoice_number: str
    account_id: str
    currency: Currency
    reason: Reason
    refund: bool
    memo: str | None = None
    lines: tuple[CreditNoteLine, ...]
    taxes: tuple[TaxAmount, ...]
    tax_total: int
    total_excluding_tax: int
    total: int
    pre_payment_amount: int
    post_payment_amount: int
    created_at: Instant


def _credited_line(invoice: Invoice, wanted: CreditLineIn, index: int) -> CreditNoteLine:
    if wanted.line >= len(invoice.lines):
        raise InvalidInput(
            f"The invoice has {len(invoice.lines)} lines (0 to {len(invoice.lines) - 1}): "
            f"there is no line {wanted.line}",
            field=f"lines.{index}.line",
        )
    line = invoice.lines[wanted.line]
    if line.total <= 0:
        raise InvalidInput("A line of zero or a credit cannot be credited", field=f"lines.{index}.line")
    if wanted.quantity is not None:
        if wanted.quantity > line.quantity:
            raise InvalidInput(
                f"Line {wanted.line} bills a quantity of {line.quantity}: "
                f"{wanted.quantity} cannot be credited",
                field=f"lines.{index}.quantity",
            )
        total = round_minor(Decimal(line.total) * wanted.quantity / line.quantity)
    elif wanted.amount is not None:
        if wanted.amount > line.total:
            raise InvalidInput(
                f"Line {wanted.line} totals {line.total}: {wanted.amount} cannot be credited on it",
                field=f"lines.{index}.amount",
            )
        total = wanted.amount
    else:
        total = line.total
    tax = ratio_half_up(line.tax * total, line.total)
    return CreditNoteLine(
        description=line.description,
        invoice_line=wanted.line,
        quantity=wanted.quantity,
        tax_rate=line.tax_rate,
        tax_rate_value=line.tax_rate_value,
        net=total - tax,
        tax=tax,
        total=total,
    )


def _amount_lines(invoice: Invoice, amount: int, reason: str) -> list[CreditNoteLine]:
    """An amount spread over the invoice's rates in proportion to each rate's total."""
    groups = [tax for tax in invoice.taxes if tax.taxable + tax.tax > 0]
    if not groups:
        raise InvalidInput("This invoice has nothing to credit", field="amount")
    shares = allocate(amount, [group.taxable + group.tax for group in groups])
    lines = []
    for group, share in zip(groups, shares, strict=True):
        if share == 0:
            continue
        tax = ratio_half_up(group.tax * share, group.taxable + group.tax)
        lines.append(
            CreditNoteLine(
                description=reason,
                tax_rate=group.tax_rate,
                tax_rate_value=group.rate,
                net=share - tax,
                tax=tax,
                total=share,
            )
        )
    return lines


def credit_note(invoice: Invoice, request: CreditNoteIn, *, id: str, number: str, at: datetime) -> CreditNote:
    """The credit note `request` asks for on `invoice` (refused in words when it does not add up)."""
    _require(invoice, "credit")
    creditable = invoice.total - invoice.credited_total
    lines: Sequence[CreditNoteLine] = ()
    asked = request.amount or 0
    if request.lines is not None:
        lines = [_credited_line(invoice, wanted, index) for index, wanted in enumerate(request.lines)]
        asked = sum(line.total for line in lines)
    if asked > creditable:
        earlier = f" minus {invoice.credited_total} credited earlier" if invoice.credited_total else ""
        raise InvalidInput(
            f"A credit note of {asked} is more than what is left to credit on invoice {invoice.number}: "
            f"{creditable} ({invoice.total} total{earlier}, {invoice.currency} minor units)",
            field="amount" if request.amount is not None else "lines",
        )
    if request.amount is not None:
        lines = _amount_lines(invoice, request.amount, request.reason)
    pre = min(asked, invoice.amount_due) if invoice.status == "open" else 0
    return CreditNote(
        id=id,
        number=number,
        invoice_id=invoice.id,
        invoice_number=invoice.number or "",
        account_id=invoice.account_id,
        currency=invoice.currency,
        reason=request.reason,
        refund=request.refund,
        memo=request.memo,
        lines=tuple(lines),
        taxes=taxes_of(lines),
        tax_total=sum(line.tax for line in lines),
        total_excluding_tax=sum(line.net for line in lines),
        total=asked,
        pre_payment_amount=pre,
        post_payment_amount=asked - pre,
        created_at=at,
    )


def apply_credit_note(invoice: Invoice, note: CreditNote) -> Invoice:
    """The invoice once `note` is issued against it."""
    _require(invoice, "credit")
    if note.invoice_id != invoice.id or note.total > invoice.total - invoice.credited_total:
        raise ValueError("this credit note was not made for this invoice as it stands")
    due = invoice.amount_due - note.pre_payment_amount
    changes: dict[str, object] = {
        "credit_notes": (
            *invoice.credit_notes,
            CreditNoteRef(id=note.id, number=note.number, total=note.total),
        ),
        "credited_total": invoice.credited_total + note.total,
        "credited_before_payment": invoice.credited_before_payment + note.pre_payment_amount,
        "amount_due": due,
        "refund_due": invoice.refund_due + (note.post_payment_amount if note.refund else 0),
        "customer_credit": invoice.customer_credit + (0 if note.refund else note.post_payment_amount),
    }
    if invoice.status == "open" and due == 0:
        changes |= {"status": "paid", "paid_at": note.created_at}
    return _move(invoice, **changes)
