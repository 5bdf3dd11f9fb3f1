"""Sample `InvoiceDocument`s: a French XOF invoice, an English EUR one, a long one, a credit note;
and in-memory stand-ins of the document store and the email ledger.

Shared by the PDF tests and benchmarks/pdf_render.py. Totals add up, as the domain would give them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from tally.documents.model import (
    Discount,
    DocumentLine,
    InvoiceDocument,
    MobileMoney,
    Party,
    PaymentInstructions,
    TaxLine,
    bank_reference,
    late_payment_mentions,
)
from tally.documents.store import LINK_SECONDS, DocumentKind, StoredDocument, document_key
from tally.notifications.email import Email
from tally.notifications.ledger import LedgerKey, SendOutcome, SendResult

SELLER_FR = Party(
    name="Tally SAS",
    address_lines=("12 rue de la Paix", "75002 Paris", "France"),
    email="facturation@tally.example",
    siren="123456789",
    siret="12345678900012",
    vat_number="FR32123456789",
)
CUSTOMER_SN = Party(
    name="Boulangerie Ndiaye SARL",
    address_lines=("Avenue Cheikh Anta Diop", "BP 5012 Dakar-Fann", "Sénégal"),
    email="compta@ndiaye.example",
    other_ids=(("NINEA", "004567890 2G3"),),
)
CUSTOMER_UK = Party(
    name="Acme Widgets Ltd",
    address_lines=("1 King's Road", "London SW3 4ND", "United Kingdom"),
    vat_number="GB123456789",
)


def xof_invoice_fr() -> InvoiceDocument:
    """15 000 FCFA a month, 18 % VAT, a partial payment: 15 000 + 2 700 = 17 700, 5 000 paid."""
    number = "INV-202611-00042"
    return InvoiceDocument(
        kind="invoice",
        locale="fr",
        currency="XOF",
        number=number,
        issue_date=date(2026, 11, 22),
        due_date=date(2026, 12, 7),
        seller=SELLER_FR,
        customer=CUSTOMER_SN,
        lines=(
            DocumentLine(
                description="Abonnement Pro, mensuel",
                quantity=Decimal(1),
                unit_amount=20000,
                amount=20000,
                tax_rate=Decimal(18),
                period_start=date(2026, 11, 22),
                period_end=date(2026, 12, 21),
            ),
            DocumentLine(
                description="SMS envoyés au-delà du forfait (dépassement de la période précédente)",
                quantity=Decimal(1000),
                unit_amount=3,
                unit_price=Decimal("2.5"),
                amount=2500,
                tax_rate=Decimal(18),
            ),
        ),
        discounts=(Discount("Coupon BIENVENUE (-7 500 FCFA)", 7500),),
        subtotal=22500,
        taxes=(TaxLine(rate=Decimal(18), base=15000, amount=2700),),
        total=17700,
        amount_paid=5000,
        amount_due=12700,
        payment=PaymentInstructions(
            reference=bank_reference(number),
            bank_name="Banque Atlantique Sénégal",
            account_holder="Tally SAS",
            local_account="SN012 01001 012345678901 23",
            mobile_money=(
                MobileMoney("Orange Money", "+221 77 000 00 00"),
                MobileMoney("Wave", "+221 78 000 00 00"),
            ),
        ),
        legal_mentions=late_payment_mentions("fr", Decimal("12.15")),
        memo="Merci de votre confiance.",
    )


def eur_invoice_en() -> InvoiceDocument:
    """2 x €490.00 + €254.56 at 20 % VAT: 1,234.56 + 246.91 = 1,481.47."""
    number = "INV-202611-00043"
    return InvoiceDocument(
        kind="invoice",
        locale="en",
        currency="EUR",
        number=number,
        issue_date=date(2026, 11, 22),
        due_date=date(2026, 12, 7),
        seller=SELLER_FR,
        customer=CUSTOMER_UK,
        lines=(
            DocumentLine(
                description="Business plan, monthly",
                quantity=Decimal(2),
                unit_amount=49000,
                amount=98000,
                tax_rate=Decimal(20),
                period_start=date(2026, 11, 1),
                period_end=date(2026, 11, 30),
            ),
            DocumentLine(
                description="API calls above the included quota",
                quantity=Decimal(509120),
                unit_amount=0,
                unit_price=Decimal("0.0005"),
                amount=25456,
                tax_rate=Decimal(20),
            ),
        ),
        subtotal=123456,
        taxes=(TaxLine(rate=Decimal(20), base=123456, amount=24691),),
        total=148147,
        amount_due=148147,
        payment=PaymentInstructions(
            reference=bank_reference(number),
            iban="FR76 3000 6000 0112 3456 7890 189",
            bic="AGRIFRPP",
            account_holder="Tally SAS",
        ),
        legal_mentions=late_payment_mentions("en", Decimal("12.15")),
    )


def long_invoice(lines: int = 100) -> InvoiceDocument:
    """`lines` lines of 1 234,56 € each, some with long descriptions that wrap."""
    base = replace(xof_invoice_fr(), currency="EUR")
    items = tuple(
        DocumentLine(
            description=f"Ligne {index:03d} "
            + ("prestation de conseil et d'accompagnement au déploiement, " * (1 + index % 3)).rstrip(", "),
            quantity=Decimal(1),
            unit_amount=123456,
            amount=123456,
            tax_rate=Decimal(20),
        )
        for index in range(1, lines + 1)
    )
    subtotal = 123456 * lines
    tax = subtotal // 5
    return replace(
        base,
        lines=items,
        discounts=(),
        subtotal=subtotal,
        taxes=(TaxLine(rate=Decimal(20), base=subtotal, amount=tax),),
        total=subtotal + tax,
        amount_paid=0,
        amount_due=subtotal + tax,
    )


def credit_note_en() -> InvoiceDocument:
    return replace(
        eur_invoice_en(),
        kind="credit_note",
        number="CN-202611-00003",
        due_date=None,
        related_number="INV-202611-00043",
        reason="Duplicate seat billed in November",
        lines=(
            DocumentLine(
                description="Business plan, monthly (one seat)",
                quantity=Decimal(1),
                unit_amount=49000,
                amount=49000,
                tax_rate=Decimal(20),
            ),
        ),
        subtotal=49000,
        taxes=(TaxLine(rate=Decimal(20), base=49000, amount=9800),),
        total=58800,
        amount_due=58800,
        payment=None,
        legal_mentions=(),
    )


# --- in-memory stand-ins for InvoiceNotices ------------------------------------------------------


class InMemoryDocumentStore:
    """tally.documents.store.DocumentStore over a dict: every put a new version of its key."""

    def __init__(self) -> None:
        self.versions: dict[str, list[bytes]] = {}
        self.fail_puts: list[Exception] = []  # raised by the next puts, in order

    def put(self, kind: DocumentKind, account_id: str, number: str, pdf: bytes) -> StoredDocument:
        if self.fail_puts:
            raise self.fail_puts.pop(0)
        key = document_key(kind, account_id, number)
        self.versions.setdefault(key, []).append(pdf)
        return StoredDocument(key, f"v{len(self.versions[key])}")

    def exists(self, key: str) -> bool:
        return key in self.versions

    def link(self, key: str, seconds: int = LINK_SECONDS) -> str:
        return f"https://documents.example/{key}?expires={seconds}"

    def latest(self, kind: DocumentKind, account_id: str, number: str) -> bytes:
        return self.versions[document_key(kind, account_id, number)][-1]


class InMemoryEmailLedger:
    """tally.notifications.ledger.EmailLedger's contract: one send per key; a failed send (from
    `fail_sends`) leaves the key free for a retry."""

    def __init__(self) -> None:
        self.sent: dict[LedgerKey, Email] = {}
        self.outbox: list[Email] = []
        self.fail_sends: list[Exception] = []

    def send_once(self, email: Email, key: LedgerKey) -> SendResult:
        if key in self.sent:
            return SendResult(SendOutcome.ALREADY_SENT, f"m-{key}")
        if self.fail_sends:
            raise self.fail_sends.pop(0)
        self.sent[key] = email
        self.outbox.append(email)
        return SendResult(SendOutcome.SENT, f"m-{len(self.outbox)}")
