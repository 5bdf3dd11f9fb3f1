"""Builders for invoice tests: the shipped seller settings, a customer, drafts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tally.billing.invoice_lines import LineIn
from tally.billing.invoices import Customer, Invoice, new_draft
from tally.billing.seller import SellerSettings, default_seller_settings

AT = datetime(2026, 4, 11, 10, tzinfo=UTC)
SELLER = default_seller_settings()
INCLUSIVE = SELLER.model_copy(update={"prices_include_tax": True})
CUSTOMER = Customer(account_id="acc1", name="Acme SARL", country="SN", siren="987654321")


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
