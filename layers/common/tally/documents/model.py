"""`InvoiceDocument`: what an invoice or credit note PDF shows, and nothing else.

A plain view model, independent of the invoice domain: the integrator maps a finalised invoice
(or credit note) to it. Amounts are integer minor units of `currency`; quantities and rates are
Decimal; the renderer formats them for `locale` (tally.billing.formatting). The renderer adds no
arithmetic: every total is given, as the invoice domain computed it, so the PDF cannot disagree
with the invoice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

DocumentKind = Literal["invoice", "credit_note"]


@dataclass(frozen=True)
class Party:
    """The seller or the customer, as frozen on the invoice at finalisation."""

    name: str
    address_lines: tuple[str, ...] = ()  # street, postcode and city, country: one entry a line
    email: str | None = None
    phone: str | None = None
    siren: str | None = None  # French company id (9 digits)
    siret: str | None = None  # French establishment id (14 digits)
    vat_number: str | None = None  # intra-community VAT number, or the local tax id (NINEA...)
    other_ids: tuple[tuple[str, str], ...] = ()  # more legal ids as (label, value): ("RCCM", "SN-DKR-...")


@dataclass(frozen=True)
class DocumentLine:
    description: str  # wrapped over as many lines as it needs
    quantity: Decimal
    # Minor units, before tax (tax included with `InvoiceDocument.prices_include_tax`); None prints
    # no unit price (a credited amount that is not quantity x a unit price).
    unit_amount: int | None
    amount: int  # the line's amount before tax (or tax included, as above), as the domain rounded it
    tax_rate: Decimal | None = None  # percent: Decimal("20") is 20 %; None prints nothing
    period_start: date | None = None  # the service period, printed under the description
    period_end: date | None = None
    # A unit price finer than the minor unit (0.0005 EUR a call), in major units: printed instead
    # of unit_amount when given.
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class Discount:
    description: str  # e.g. "Coupon WELCOME (-20 %)"
    amount: int  # minor units, positive: printed as a deduction


@dataclass(frozen=True)
class TaxLine:
    rate: Decimal  # percent
    base: int  # minor units taxed at this rate
    amount: int  # minor units of tax
    label: str | None = None  # defaults to "TVA" / "VAT"; e.g. "TVA (SN)"


@dataclass(frozen=True)
class MobileMoney:
    provider: str  # "Orange Money", "Wave", "MTN MoMo"
    number: str  # as the customer dials it: "+221 77 000 00 00"


@dataclass(frozen=True)
class PaymentInstructions:
    reference: str  # what the payer writes on the transfer: bank_reference(number)
    iban: str | None = None
    bic: str | None = None
    bank_name: str | None = None
    account_holder: str | None = None
    local_account: str | None = None  # a non-IBAN account (RIB of a UEMOA bank...)
    mobile_money: tuple[MobileMoney, ...] = ()
    note: str | None = None  # a free line, e.g. "Cheques are not accepted"


@dataclass(frozen=True)
class InvoiceDocument:
    kind: DocumentKind
    locale: str  # "fr" or "en" (anything else is written in English)
    currency: str  # ISO 4217; every amount below is in its minor units
    number: str  # "INV-202611-00042" / "CN-202611-00003"
    issue_date: date
    seller: Party
    customer: Party
    lines: tuple[DocumentLine, ...]
    subtotal: int  # sum of the lines before discounts (and before tax, unless prices_include_tax)
    total: int  # after discounts, tax included
    amount_due: int  # what is left to pay (a credit note: what is credited or refunded)
    due_date: date | None = None  # invoices; a credit note has none
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxLine, ...] = ()  # one per rate
    amount_paid: int = 0  # payments received so far
    amount_credited: int = 0  # credit notes issued against this invoice so far
    payment: PaymentInstructions | None = None  # None on a credit note or a paid invoice
    legal_mentions: tuple[str, ...] = ()  # paragraphs: late_payment_mentions(), VAT exemption...
    memo: str | None = None
    related_number: str | None = None  # a credit note: the invoice it credits
    reason: str | None = None  # a credit note: why
    # The seller writes prices tax included: unit prices, line amounts, the subtotal and the
    # discounts are tax included, labelled so ("TTC"), and `total_excluding_tax` is printed.
    prices_include_tax: bool = False
    # After discounts, before tax ("Total HT"): printed when it differs from the subtotal.
    total_excluding_tax: int | None = None


def bank_reference(number: str) -> str:
    """The reference a payer copies into a transfer: the number's letters and digits only
    ("INV-202611-00042" -> "INV20261100042"). Many banks and mobile-money operators drop
    punctuation from the reference, so matching a received transfer needs this form."""
    return re.sub(r"[^A-Z0-9]", "", number.upper())


# The French recovery indemnity (Code de commerce, art. L441-10 and D441-5): 40 €, fixed.
RECOVERY_INDEMNITY_EUR_CENTS = 4000


def late_payment_mentions(locale: str, penalty_rate: Decimal) -> tuple[str, ...]:
    """The late-payment mentions French law requires on a business invoice: the penalty rate,
    the fixed 40 € recovery indemnity, and no discount for early payment."""
    from tally.billing.formatting import format_amount, format_percent

    rate = format_percent(penalty_rate, locale)
    indemnity = format_amount(RECOVERY_INDEMNITY_EUR_CENTS, "EUR", locale)
    if locale.startswith("fr"):
        return (
            f"En cas de retard de paiement, des pénalités au taux annuel de {rate} sont exigibles "
            f"dès le lendemain de la date d'échéance, ainsi qu'une indemnité forfaitaire pour frais "
            f"de recouvrement de {indemnity} (articles L441-10 et D441-5 du Code de commerce). "
            "Pas d'escompte pour paiement anticipé.",
        )
    return (
        f"Late payments bear penalties at an annual rate of {rate} from the day after the due date, "
        f"plus a fixed recovery indemnity of {indemnity} (French Commercial Code, articles L441-10 "
        "and D441-5). No discount for early payment.",
    )
