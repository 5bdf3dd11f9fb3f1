"""A finalised invoice or a credit note as the `InvoiceDocument` its PDF draws.

Every figure is the domain's own (tally.billing.invoices, credit_notes): nothing is recomputed,
so the PDF cannot disagree with the invoice. What the mapping decides:

- Parties are the invoice's frozen `seller` (SellerSettings) and `customer`; the language is the
  customer's locale; dates are the seller's time zone's.
- A line's period is [start, end): it prints up to the day before an end at midnight (a month
  from 1 November prints "1 to 30 November"), else up to the end's own day.
- Discounts: the lines' discounts summed in one row, named "Coupon CODE" when the invoice has a
  coupon (the coupon engine spread it over the lines), else "Discount".
- Credited: only the credit notes' part that lowered the amount due (`credited_before_payment`),
  so that total - paid - credited = amount due on the page; what was credited after payment is
  refunded or kept as credit, and shows on the credit notes themselves.
- Payment instructions only while something is due on an open or uncollectible invoice.
- Legal mentions: the seller's late-payment mention (business customers only when the settings
  say so), each used rate's exemption or legal mention, then the seller's footer.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from tally.billing.credit_notes import CreditNote, CreditNoteLine
from tally.billing.invoice_lines import InvoiceLine, TaxAmount
from tally.billing.invoices import Customer, Invoice
from tally.billing.periods import time_zone
from tally.billing.seller import SellerSettings, TaxRate
from tally.countries import country_name
from tally.documents.labels import labels
from tally.documents.model import (
    Discount,
    DocumentLine,
    InvoiceDocument,
    MobileMoney,
    Party,
    PaymentInstructions,
    TaxLine,
    bank_reference,
)
from tally.errors import InvalidInput

HUNDRED = Decimal(100)
_PROVIDERS = {
    "wave": "Wave",
    "orange_money": "Orange Money",
    "mtn_momo": "MTN MoMo",
    "free_money": "Free Money",
    "moov_money": "Moov Money",
    "other": "Mobile money",
}


class _Finalised:
    """What a finalised invoice carries (a draft has none of it)."""

    def __init__(self, invoice: Invoice) -> None:
        if (
            invoice.status == "draft"
            or invoice.number is None
            or invoice.seller is None
            or invoice.customer is None
            or invoice.finalized_at is None
        ):
            raise ValueError(f"Invoice {invoice.id} is not finalised: a draft has no document")
        self.number: str = invoice.number
        self.seller: SellerSettings = invoice.seller
        self.customer: Customer = invoice.customer
        self.finalized_at: datetime = invoice.finalized_at
        self.locale: str = invoice.customer.locale


def invoice_document(invoice: Invoice) -> InvoiceDocument:
    """The PDF's view of a finalised invoice; ValueError for a draft."""
    known = _Finalised(invoice)
    seller, locale = known.seller, known.locale
    return InvoiceDocument(
        kind="invoice",
        locale=locale,
        currency=invoice.currency,
        number=known.number,
        issue_date=_local_day(known.finalized_at, seller.time_zone),
        due_date=invoice.due_date,
        seller=seller_party(seller, locale),
        customer=customer_party(known.customer, locale),
        lines=tuple(_invoice_line(line, seller.time_zone) for line in invoice.lines),
        discounts=_discounts(invoice, locale),
        taxes=_taxes(invoice.taxes, seller, locale),
        subtotal=invoice.subtotal,
        total_excluding_tax=invoice.total_excluding_tax,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        amount_credited=invoice.credited_before_payment,
        amount_due=invoice.amount_due,
        payment=payment_instructions(invoice, seller),
        legal_mentions=_invoice_mentions(invoice, known),
        memo=invoice.memo,
        prices_include_tax=invoice.prices_include_tax,
    )


def credit_note_document(note: CreditNote, invoice: Invoice) -> InvoiceDocument:
    """The PDF's view of a credit note on `invoice` (whose frozen parties it shows). Its lines
    are the credited amounts before tax, whatever the invoice's tax mode: the note's net, tax and
    total are what the domain computed, and they add up."""
    known = _Finalised(invoice)
    if note.invoice_id != invoice.id:
        raise ValueError(f"Credit note {note.id} is not on invoice {invoice.id}")
    seller, locale = known.seller, known.locale
    return InvoiceDocument(
        kind="credit_note",
        locale=locale,
        currency=note.currency,
        number=note.number,
        issue_date=_local_day(note.created_at, seller.time_zone),
        seller=seller_party(seller, locale),
        customer=customer_party(known.customer, locale),
        lines=tuple(_credit_line(line, invoice, seller.time_zone) for line in note.lines),
        taxes=_taxes(note.taxes, seller, locale),
        subtotal=note.total_excluding_tax,
        total=note.total,
        amount_due=note.total,
        legal_mentions=_rate_mentions(note.taxes, seller) + _footer(seller),
        memo=note.memo,
        related_number=known.number,
        reason=note.reason,
    )


# --- parties ------------------------------------------------------------------------------------


def seller_party(seller: SellerSettings, locale: str) -> Party:
    address = seller.address
    city = " ".join(part for part in (address.postal_code, address.city) if part)
    lines = [address.line1, *([address.line2] if address.line2 else []), city]
    return Party(
        name=seller.legal_name,
        address_lines=(*lines, country_name(address.country, locale)),
        email=seller.email,
        phone=seller.phone,
        siren=seller.siren,
        siret=seller.siret,
        vat_number=seller.vat_number,
    )


def customer_party(customer: Customer, locale: str) -> Party:
    lines = [line.strip() for line in (customer.address or "").splitlines() if line.strip()]
    if customer.country:
        lines.append(country_name(customer.country, locale))
    return Party(
        name=customer.name,
        address_lines=tuple(lines),
        email=customer.email,
        siren=customer.siren,
        siret=customer.siret,
        vat_number=customer.vat_number,
    )


# --- lines, discounts, taxes ----------------------------------------------------------------------


def _local_day(at: datetime, zone: str) -> date:
    return at.astimezone(time_zone(zone)).date()


def _last_day(start: datetime, end: datetime, zone: str) -> date:
    """The last day [start, end) covers: the day before an end at local midnight."""
    local_end = end.astimezone(time_zone(zone))
    day = local_end.date()
    if local_end.time() == time(0) and end > start:
        day -= timedelta(days=1)
    return max(day, _local_day(start, zone))


def _percent(rate: Decimal) -> Decimal:
    return rate * HUNDRED


def _invoice_line(line: InvoiceLine, zone: str) -> DocumentLine:
    start = end = None
    if line.period_start is not None and line.period_end is not None:
        start = _local_day(line.period_start, zone)
        end = _last_day(line.period_start, line.period_end, zone)
    return DocumentLine(
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        amount=line.amount,
        tax_rate=_percent(line.tax_rate_value),
        period_start=start,
        period_end=end,
    )


def _credit_line(line: CreditNoteLine, invoice: Invoice, zone: str) -> DocumentLine:
    """A credited line before tax. Its unit price is the invoice line's when quantity x that price
    is exactly the credited amount (a whole undiscounted line, or a quantity of it), else the
    amount itself for a quantity of 1 (an amount credited), else none: never a unit price that
    does not multiply out."""
    source = invoice.lines[line.invoice_line] if line.invoice_line is not None else None
    # The quantity credited; the whole line's when all of it is; 1 for an amount.
    quantity = line.quantity or Decimal(1)
    if line.quantity is None and source is not None and line.total == source.total:
        quantity = source.quantity
    unit: int | None = None
    if (
        source is not None
        and not invoice.prices_include_tax
        and quantity * source.unit_amount == Decimal(line.net)
    ):
        unit = source.unit_amount
    elif quantity == 1:
        unit = line.net
    start = end = None
    if source is not None and source.period_start is not None and source.period_end is not None:
        start = _local_day(source.period_start, zone)
        end = _last_day(source.period_start, source.period_end, zone)
    return DocumentLine(
        description=line.description,
        quantity=quantity,
        unit_amount=unit,
        amount=line.net,
        tax_rate=_percent(line.tax_rate_value),
        period_start=start,
        period_end=end,
    )


def _discounts(invoice: Invoice, locale: str) -> tuple[Discount, ...]:
    if not invoice.discount_total:
        return ()
    name = f"Coupon {invoice.coupon.code}" if invoice.coupon is not None else labels(locale)["discount"]
    return (Discount(name, invoice.discount_total),)


def _taxes(taxes: tuple[TaxAmount, ...], seller: SellerSettings, locale: str) -> tuple[TaxLine, ...]:
    """One row per rate. A rate of another country than the seller's says which ("TVA (SN)")."""
    word = labels(locale)["tax"]
    rows = []
    for tax in taxes:
        rate = _rate(seller, tax.tax_rate)
        label = None
        if rate is not None and rate.country is not None and rate.country != seller.address.country:
            label = f"{word} ({rate.country})"
        rows.append(TaxLine(rate=_percent(tax.rate), base=tax.taxable, amount=tax.tax, label=label))
    return tuple(rows)


def _rate(seller: SellerSettings, code: str) -> TaxRate | None:
    try:
        return seller.tax_rate(code)
    except InvalidInput:  # not in the frozen settings: the row prints without a label
        return None


# --- payment and mentions ---------------------------------------------------------------------------


def _iban(iban: str) -> str:
    """Grouped by four, as it is printed and read aloud: FR76 3000 6000 ..."""
    return " ".join(iban[index : index + 4] for index in range(0, len(iban), 4))


def payment_instructions(invoice: Invoice, seller: SellerSettings) -> PaymentInstructions | None:
    """How to pay what is due: None once nothing is (paid, void) or on a draft."""
    if invoice.status not in ("open", "uncollectible") or invoice.amount_due <= 0 or invoice.number is None:
        return None
    bank = seller.bank
    mobile = tuple(
        # "other" is named by its settings' name ("Djamo"); the others by the provider's.
        MobileMoney(
            provider=money.name if money.provider == "other" and money.name else _PROVIDERS[money.provider],
            number=money.number,
        )
        for money in seller.mobile_money
    )
    return PaymentInstructions(
        reference=bank_reference(invoice.number),
        iban=_iban(bank.iban) if bank is not None and bank.iban else None,
        bic=bank.bic if bank is not None else None,
        bank_name=bank.bank_name if bank is not None else None,
        account_holder=bank.account_holder if bank is not None else None,
        local_account=bank.account_number if bank is not None else None,
        mobile_money=mobile,
    )


def _invoice_mentions(invoice: Invoice, known: _Finalised) -> tuple[str, ...]:
    seller, customer = known.seller, known.customer
    mentions: list[str] = []
    late = seller.late_payment
    if late is not None and (customer.business or not late.business_customers_only):
        mentions.append(late.mention_fr if known.locale.startswith("fr") else late.mention_en)
    return (*mentions, *_rate_mentions(invoice.taxes, seller), *_footer(seller))


def _rate_mentions(taxes: tuple[TaxAmount, ...], seller: SellerSettings) -> tuple[str, ...]:
    """Each used rate's legal mention once: an exempt rate says why it is exempt."""
    mentions: list[str] = []
    for tax in taxes:
        rate = _rate(seller, tax.tax_rate)
        if rate is not None and rate.legal_mention and rate.legal_mention not in mentions:
            mentions.append(rate.legal_mention)
    return tuple(mentions)


def _footer(seller: SellerSettings) -> tuple[str, ...]:
    return (seller.footer,) if seller.footer else ()
