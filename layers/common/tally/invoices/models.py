"""What the invoice routes take and answer on the wire (the domain's own models where they fit:
an `Invoice`, a `CreditNote`, the `SellerSettings`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from tally.billing.amounts import Currency
from tally.billing.coupons import CouponCode
from tally.billing.credit_notes import CreditNote
from tally.billing.invoice_lines import LineIn
from tally.billing.invoices import Invoice, ManualPaymentMethod
from tally.billing.subscription_state import Instant
from tally.http.fields import Identifier

_CONFIG = ConfigDict(extra="forbid", frozen=True)
Lines = Annotated[list[LineIn], Field(min_length=1, max_length=200)]
DueDays = Annotated[int, Field(strict=True, ge=0, le=365)]
Memo = Annotated[str, Field(max_length=2000)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]

_LINE: dict[str, JsonValue] = {
    "description": "Onboarding workshop",
    "quantity": "2",
    "unit_amount": 45000,
    "tax_rate": "fr_vat_20",
}


class InvoiceIn(BaseModel):
    """POST /v1/invoices: a draft for an account, numbered only when finalised."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"account_id": "acc_0123456789abcdef", "currency": "EUR", "lines": [_LINE], "due_days": 30}
            ]
        },
    )

    account_id: Identifier
    currency: Currency
    lines: Lines
    coupon: CouponCode | None = Field(
        default=None,
        description="A coupon redeemed for this invoice: its percentage or amount comes off the lines "
        "(redeemed with the draft, in one transaction)",
    )
    due_days: DueDays | None = Field(
        default=None, description="Days to pay after finalisation (seller's terms when absent)"
    )
    memo: Memo | None = None


class InvoicePatch(BaseModel):
    """PATCH /v1/invoices/{id}: what is sent replaces what the draft has; `null` clears memo and
    due_days. A coupon redeemed with the draft applies again to new lines."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [{"lines": [_LINE], "memo": "PO 4471"}]}
    )

    lines: Lines | None = None
    due_days: DueDays | None = None
    memo: Memo | None = None


class PaymentIn(BaseModel):
    """Money received outside a provider: a bank transfer, cash, or another way."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "amount": 50000,
                    "method": "bank_transfer",
                    "reference": "VIR INV20261100001",
                    "received_at": "2026-11-20T09:30:00Z",
                }
            ]
        },
    )

    amount: Annotated[
        int, Field(strict=True, ge=1, le=10**15, description="Minor units of the invoice's currency")
    ]
    method: ManualPaymentMethod
    reference: Annotated[
        str, Field(min_length=1, max_length=200, description="The bank's or the payer's reference")
    ]
    received_at: Instant


class ReasonIn(BaseModel):
    """Void or mark uncollectible, with why (kept on the invoice and in the audit log)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"reason": "Issued to the wrong account"}]},
    )

    reason: Reason | None = None


class InvoicesOut(BaseModel):
    model_config = _CONFIG

    invoices: list[Invoice]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null on the last")


class CreditNoteOut(BaseModel):
    model_config = _CONFIG

    credit_note: CreditNote
    invoice: Invoice = Field(description="The invoice after the credit note")


class CreditNotesOut(BaseModel):
    model_config = _CONFIG

    credit_notes: list[CreditNote]


class PdfOut(BaseModel):
    model_config = _CONFIG

    url: str = Field(
        description="A presigned GET of the PDF, valid 5 minutes; for an invoice mirrored from Stripe, "
        "Stripe's own `invoice_pdf` link"
    )
    expires_in: int | None = Field(description="Seconds the URL stays valid; null for Stripe's link")
    key: str | None = Field(
        description="The PDF's key in the documents bucket (deterministic); null for Stripe's PDF"
    )


class SubscriptionInvoiceOut(BaseModel):
    model_config = _CONFIG

    invoice: Invoice
    created: bool = Field(description="false: the period's invoice existed already (this is it)")
