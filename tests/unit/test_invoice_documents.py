"""A finalised invoice or credit note as its PDF's `InvoiceDocument`, field by field, and the PDF
read back: the figures are the invoice's own, in the customer's language and currency."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pypdf
import pytest

from tally.billing.credit_notes import CreditLineIn, CreditNoteIn, apply_credit_note, credit_note
from tally.billing.formatting import NBSP
from tally.billing.invoice_lines import LineIn, percent_off
from tally.billing.invoices import (
    CouponRef,
    Customer,
    Invoice,
    Payment,
    finalize,
    new_draft,
    record_payment,
    void,
)
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.documents.model import (
    Discount,
    DocumentLine,
    MobileMoney,
    Party,
    PaymentInstructions,
    TaxLine,
)
from tally.documents.pdf import render_pdf
from tally.invoices.documents import credit_note_document, invoice_document

SELLER = default_seller_settings()
CREATED = datetime(2026, 11, 20, 8, tzinfo=UTC)
FINALISED = datetime(2026, 11, 22, 9, tzinfo=UTC)  # 10:00 in Paris
PAID = datetime(2026, 11, 25, 14, tzinfo=UTC)

DUPONT = Customer(
    account_id="acc_fr",
    name="Dupont Conseil SARL",
    email="compta@dupont.example",
    country="FR",
    address="3 place Bellecour\n69002 Lyon",
    siren="552100554",
    siret="55210055400013",
    vat_number="FR12552100554",
    locale="fr",
)
NDIAYE = Customer(
    account_id="acc_sn",
    name="Boulangerie Ndiaye",
    email="compta@ndiaye.example",
    country="SN",
    address="Avenue Cheikh Anta Diop\nDakar",
    locale="fr",
)
ACME = Customer(
    account_id="acc_us",
    name="Acme Widgets Inc.",
    email="ap@acme.example",
    country="US",
    address="1 Main Street\nSpringfield, IL 62701",
    locale="en",
)


def text_of(pdf: bytes) -> str:
    """The PDF's text on one line: a label and its value read as "Total TTC 1 333,32 €"."""
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text().replace(NBSP, " ").split()) for page in pages)


def issued(
    customer: Customer,
    currency: str,
    lines: list[LineIn],
    *,
    number: str = "INV-202611-00042",
    seller: SellerSettings = SELLER,
    **extra: object,
) -> Invoice:
    draft = new_draft(
        id=f"inv_{customer.account_id}",
        account_id=customer.account_id,
        currency=currency,
        lines=lines,
        settings=seller,
        at=CREATED,
        **extra,  # type: ignore[arg-type]
    )
    return finalize(draft, number=number, at=FINALISED, seller=seller, customer=customer)


def eur_invoice() -> Invoice:
    """2 x 490.00 € for November (Paris) and 254.56 €, 10 % off with coupon WELCOME, 20 % VAT."""
    lines = percent_off(
        [
            LineIn(
                description="Abonnement Pro, mensuel",
                quantity=Decimal(2),
                unit_amount=49000,
                period_start=datetime(2026, 10, 31, 23, tzinfo=UTC),  # 1 November, Paris
                period_end=datetime(2026, 11, 30, 23, tzinfo=UTC),  # 1 December, Paris
            ),
            LineIn(description="Support premium", unit_amount=25456),
        ],
        Decimal(10),
    )
    return issued(DUPONT, "EUR", lines, coupon=CouponRef(code="WELCOME"), memo="Merci !")


def xof_invoice() -> Invoice:
    lines = [LineIn(description="Abonnement Pro, mensuel", unit_amount=15000, tax_rate="sn_vat_18")]
    return issued(NDIAYE, "XOF", lines, number="INV-202611-00043")


def usd_invoice() -> Invoice:
    lines = [LineIn(description="Enterprise plan, monthly", unit_amount=123456, tax_rate="exempt")]
    return issued(ACME, "USD", lines, number="INV-202611-00044")


def test_a_french_business_invoice_in_euros_maps_field_by_field() -> None:
    invoice = eur_invoice()
    document = invoice_document(invoice)

    assert (document.kind, document.locale, document.currency) == ("invoice", "fr", "EUR")
    assert document.number == "INV-202611-00042"
    assert document.issue_date == date(2026, 11, 22)
    assert document.due_date == invoice.due_date == date(2026, 12, 7)  # 15 days' terms
    assert document.seller == Party(
        name="Tally SAS",
        address_lines=("10 rue de la Paix", "75002 Paris", "France"),
        email="billing@example.com",
        siren="123456789",
        siret="12345678900012",
        vat_number="FR32123456789",
    )
    assert document.customer == Party(
        name="Dupont Conseil SARL",
        address_lines=("3 place Bellecour", "69002 Lyon", "France"),
        email="compta@dupont.example",
        siren="552100554",
        siret="55210055400013",
        vat_number="FR12552100554",
    )
    assert document.lines == (
        DocumentLine(
            description="Abonnement Pro, mensuel",
            quantity=Decimal(2),
            unit_amount=49000,
            amount=98000,
            tax_rate=Decimal(20),
            period_start=date(2026, 11, 1),
            period_end=date(2026, 11, 30),  # [1 Nov, 1 Dec): the last day is the 30th
        ),
        DocumentLine(
            description="Support premium",
            quantity=Decimal(1),
            unit_amount=25456,
            amount=25456,
            tax_rate=Decimal(20),
        ),
    )
    # 10 % off each line, half-up: 9 800 + 2 546 (2 545.6).
    assert document.discounts == (Discount("Coupon WELCOME", 12346),)
    assert document.taxes == (TaxLine(rate=Decimal(20), base=111110, amount=22222),)
    assert (document.subtotal, document.total_excluding_tax, document.total) == (123456, 111110, 133332)
    assert (document.subtotal, document.total, document.amount_due) == (
        invoice.subtotal,
        invoice.total,
        invoice.amount_due,
    )
    assert (document.amount_paid, document.amount_credited) == (0, 0)
    assert document.payment == PaymentInstructions(
        reference="INV20261100042",
        iban="FR76 3000 6000 0112 3456 7890 189",
        bic="AGRIFRPPXXX",
        bank_name="Banque Exemple",
        account_holder="Tally SAS",
        mobile_money=(
            MobileMoney("Wave", "+221 77 000 00 00"),
            MobileMoney("Orange Money", "+221 78 000 00 00"),
        ),
    )
    assert SELLER.late_payment is not None
    assert document.legal_mentions == (SELLER.late_payment.mention_fr,)  # a business customer
    assert document.memo == "Merci !"
    assert not document.prices_include_tax
    assert (document.related_number, document.reason) == (None, None)


def test_the_french_pdf_says_what_the_invoice_says() -> None:
    text = text_of(render_pdf(invoice_document(eur_invoice())))

    for expected in (
        "FACTURE",
        "INV-202611-00042",
        "22/11/2026",
        "07/12/2026",
        "Dupont Conseil SARL",
        "Période du 01/11/2026 au 30/11/2026",
        "490,00 €",
        "980,00 €",
        "Sous-total HT 1 234,56 €",
        "Coupon WELCOME -123,46 €",
        "Total HT 1 111,10 €",
        "TVA 20 % 222,22 €",
        "Total TTC 1 333,32 €",
        "Montant dû 1 333,32 €",
        "INV20261100042",
        "FR76 3000 6000 0112 3456 7890 189",
        "L441-10",
        "Merci !",
    ):
        assert expected in text, expected


def test_an_xof_invoice_has_no_decimals_and_names_the_foreign_rate() -> None:
    invoice = xof_invoice()
    document = invoice_document(invoice)

    assert document.currency == "XOF"
    assert document.customer.address_lines == ("Avenue Cheikh Anta Diop", "Dakar", "Sénégal")
    assert document.taxes == (TaxLine(rate=Decimal(18), base=15000, amount=2700, label="TVA (SN)"),)
    assert document.legal_mentions == ()  # not a business customer: no late-payment mention
    text = text_of(render_pdf(document))
    for expected in ("15 000 FCFA", "TVA (SN) 18 % 2 700 FCFA", "Total TTC 17 700 FCFA", "INV20261100043"):
        assert expected in text, expected
    assert ",00 FCFA" not in text
    assert "L441-10" not in text


def test_an_english_usd_invoice_with_an_exempt_rate_carries_its_mention() -> None:
    document = invoice_document(usd_invoice())

    assert document.locale == "en"
    assert document.customer.address_lines == ("1 Main Street", "Springfield, IL 62701", "United States")
    assert document.seller.address_lines[-1] == "France"
    assert document.taxes == (TaxLine(rate=Decimal(0), base=123456, amount=0),)
    exempt = SELLER.tax_rate("exempt").legal_mention
    assert document.legal_mentions == (exempt,)
    text = text_of(render_pdf(document))
    for expected in ("INVOICE", "Issue date", "22 Nov 2026", "$1,234.56", "VAT 0% $0.00", "How to pay"):
        assert expected in text, expected
    assert "reverse charge" in text


def test_the_seller_footer_and_a_late_payment_mention_for_every_customer() -> None:
    assert SELLER.late_payment is not None
    everyone = SELLER.late_payment.model_copy(update={"business_customers_only": False})
    seller = SELLER.model_copy(update={"late_payment": everyone, "footer": "Capital 10 000 €, RCS Paris"})
    invoice = issued(ACME, "USD", [LineIn(description="Plan", unit_amount=1000)], seller=seller)

    assert invoice_document(invoice).legal_mentions == (everyone.mention_en, "Capital 10 000 €, RCS Paris")


def test_payment_instructions_while_something_is_due_and_none_once_paid_or_void() -> None:
    invoice = xof_invoice()
    partly = record_payment(
        invoice, Payment(amount=7700, method="bank_transfer", reference="VIR-1", received_at=PAID), at=PAID
    )
    paid = record_payment(
        partly, Payment(amount=10000, method="cash", reference="R-2", received_at=PAID), at=PAID
    )

    assert invoice_document(partly).payment is not None
    assert (invoice_document(partly).amount_paid, invoice_document(partly).amount_due) == (7700, 10000)
    document = invoice_document(paid)
    assert document.payment is None
    assert (document.amount_paid, document.amount_due) == (17700, 0)
    text = text_of(render_pdf(document))
    assert "Déjà payé -17 700 FCFA" in text
    assert "Règlement" not in text
    assert "INV20261100043" not in text  # the bank reference is a payment instruction
    assert invoice_document(void(invoice, at=PAID)).payment is None


def test_an_invoice_paid_at_finalisation_shows_no_instructions() -> None:
    lines = percent_off([LineIn(description="Plan", unit_amount=5000)], Decimal(100))
    invoice = issued(DUPONT, "EUR", lines, coupon=CouponRef(code="FREE"))

    assert invoice.status == "paid"
    document = invoice_document(invoice)
    assert (document.total, document.amount_due, document.payment) == (0, 0, None)
    assert document.discounts == (Discount("Coupon FREE", 5000),)


def test_prices_including_tax_are_labelled_so_and_still_add_up() -> None:
    inclusive = SELLER.model_copy(update={"prices_include_tax": True})
    invoice = issued(
        DUPONT, "XOF", [LineIn(description="Plan", unit_amount=15000, tax_rate="sn_vat_18")], seller=inclusive
    )
    document = invoice_document(invoice)

    # 15 000 tax included at 18 %: 2 288 of tax, 12 712 before tax.
    assert (document.subtotal, document.total_excluding_tax, document.total) == (15000, 12712, 15000)
    assert document.prices_include_tax
    text = text_of(render_pdf(document))
    for expected in (
        "PRIX UNITAIRE TTC",
        "MONTANT TTC",
        "Sous-total TTC 15 000 FCFA",
        "Total HT 12 712 FCFA",
    ):
        assert expected in text, expected


def test_a_period_ending_within_a_day_prints_that_day() -> None:
    line = LineIn(
        description="Plan",
        unit_amount=1000,
        period_start=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        period_end=datetime(2026, 12, 22, 9, 30, tzinfo=UTC),
    )
    [mapped] = invoice_document(issued(DUPONT, "EUR", [line])).lines

    assert (mapped.period_start, mapped.period_end) == (date(2026, 11, 22), date(2026, 12, 22))


def test_a_draft_has_no_document() -> None:
    draft = new_draft(
        id="inv_d",
        account_id="acc_fr",
        currency="EUR",
        lines=[LineIn(description="x", unit_amount=1)],
        settings=SELLER,
        at=CREATED,
    )
    with pytest.raises(ValueError, match="not finalised"):
        invoice_document(draft)


def test_a_credit_note_maps_its_own_figures_and_names_its_invoice() -> None:
    invoice = eur_invoice()
    request = CreditNoteIn(lines=[CreditLineIn(line=0, quantity=Decimal(1))], reason="Un siège en trop")
    note = credit_note(invoice, request, id="cn_1", number="CN-202611-00003", at=PAID)
    after = apply_credit_note(invoice, note)
    document = credit_note_document(note, after)

    assert (document.kind, document.number, document.related_number) == (
        "credit_note",
        "CN-202611-00003",
        "INV-202611-00042",
    )
    assert document.reason == "Un siège en trop"
    assert document.issue_date == date(2026, 11, 25)
    assert (document.due_date, document.payment) == (None, None)
    # One of two seats, 10 % off: 441.00 € before tax, 88.20 € of tax.
    assert document.lines == (
        DocumentLine(
            description="Abonnement Pro, mensuel",
            quantity=Decimal(1),
            unit_amount=44100,
            amount=44100,
            tax_rate=Decimal(20),
            period_start=date(2026, 11, 1),
            period_end=date(2026, 11, 30),
        ),
    )
    assert document.taxes == (TaxLine(rate=Decimal(20), base=44100, amount=8820),)
    assert (document.subtotal, document.total, document.amount_due) == (44100, 52920, 52920)
    assert (document.subtotal, document.total) == (note.total_excluding_tax, note.total)
    # The invoice, once credited: the credit lowered what is due.
    credited = invoice_document(after)
    assert (credited.amount_credited, credited.amount_due) == (52920, 133332 - 52920)

    text = text_of(render_pdf(document))
    for expected in ("AVOIR", "CN-202611-00003", "Facture d'origine", "INV-202611-00042", "Un siège en trop"):
        assert expected in text, expected
    assert "Montant de l'avoir 529,20 €" in text


def test_a_credited_quantity_that_does_not_multiply_out_prints_no_unit_price() -> None:
    invoice = issued(DUPONT, "EUR", [LineIn(description="Seats", quantity=Decimal(3), unit_amount=1000)])
    # 2 of 3 seats: 2 x 12.00 € TTC = 24.00 €, of which 4.00 € tax: 20.00 € = 2 x 10.00 €, exact.
    two = credit_note(
        invoice,
        CreditNoteIn(lines=[CreditLineIn(line=0, quantity=Decimal(2))], reason="r"),
        id="cn_2",
        number="CN-202611-00004",
        at=PAID,
    )
    assert credit_note_document(two, invoice).lines[0].unit_amount == 1000
    # 1 of 3 seats after a 5 % discount: 9.50 € is not 1 x 10.00 €; the credited amount is.
    discounted = issued(
        DUPONT,
        "EUR",
        percent_off([LineIn(description="Seats", quantity=Decimal(3), unit_amount=1000)], Decimal(5)),
    )
    one = credit_note(
        discounted,
        CreditNoteIn(lines=[CreditLineIn(line=0, quantity=Decimal(1))], reason="r"),
        id="cn_3",
        number="CN-202611-00005",
        at=PAID,
    )
    assert credit_note_document(one, discounted).lines[0].unit_amount == 950
    # 2 of 3 seats after it: 19.00 € is not 2 x 10.00 €, and no unit price is printed.
    both = credit_note(
        discounted,
        CreditNoteIn(lines=[CreditLineIn(line=0, quantity=Decimal(2))], reason="r"),
        id="cn_4",
        number="CN-202611-00006",
        at=PAID,
    )
    [line] = credit_note_document(both, discounted).lines
    assert (line.quantity, line.unit_amount, line.amount) == (Decimal(2), None, 1900)
    # 7.00 € TTC of the line: an amount, printed as 1 x its amount before tax.
    part = credit_note(
        invoice,
        CreditNoteIn(lines=[CreditLineIn(line=0, amount=700)], reason="r"),
        id="cn_5",
        number="CN-202611-00007",
        at=PAID,
    )
    [line] = credit_note_document(part, invoice).lines
    assert (line.quantity, line.unit_amount, line.amount) == (Decimal(1), 583, 583)
