"""What follows a committed invoice change, with in-memory stand-ins: the PDF at its key (a new
version each time), the email once per ledger key in the customer's language, and a failure that
loses nothing (raised as NoticeFailed; the rerun completes it without a second email)."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import pypdf
import pytest
from botocore.exceptions import ClientError

from tally.billing.credit_notes import CreditLineIn, CreditNoteIn, apply_credit_note, credit_note
from tally.billing.formatting import NBSP
from tally.billing.invoice_lines import LineIn, percent_off
from tally.billing.invoices import CouponRef, Customer, Invoice, Payment, finalize, new_draft, record_payment
from tally.billing.seller import default_seller_settings
from tally.documents.model import InvoiceDocument
from tally.documents.store import DocumentStore
from tally.errors import ServiceUnavailable
from tally.invoices.notices import InvoiceNotices, NoticeFailed, SendsOnce
from tally.notifications.email import Email
from tally.notifications.ledger import LedgerKey
from tally.notifications.mailer import EmailNotSent
from tally.notifications.render import build_environment, render_with
from tests.support.documents import InMemoryDocumentStore, InMemoryEmailLedger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SELLER = default_seller_settings()
AT = datetime(2026, 11, 22, 9, tzinfo=UTC)
APP = "https://app.example/"
CUSTOMER = Customer(
    account_id="acc1",
    name="Dupont Conseil SARL",
    email="compta@dupont.example",
    country="FR",
    siren="552100554",
    locale="fr",
)
ENV = build_environment()


def render(template: str, locale: str, *, to: str, entity_id: str | None = None, **context: Any) -> Email:
    return render_with(ENV, template, locale, to=to, entity_id=entity_id, **context)


def invoice(customer: Customer = CUSTOMER, *, free: bool = False, currency: str = "EUR") -> Invoice:
    lines = [LineIn(description="Abonnement Pro", unit_amount=15000, tax_rate="fr_vat_20")]
    draft = new_draft(
        id="inv_1",
        account_id=customer.account_id,
        currency=currency,
        lines=percent_off(lines, Decimal(100)) if free else lines,
        coupon=CouponRef(code="FREE") if free else None,
        settings=SELLER,
        at=AT,
    )
    return finalize(draft, number="INV-202611-00042", at=AT, seller=SELLER, customer=customer)


def pay(before: Invoice, amount: int, reference: str) -> Invoice:
    at = datetime(2026, 11, 25, 10, tzinfo=UTC)
    payment = Payment(amount=amount, method="bank_transfer", reference=reference, received_at=at)
    return record_payment(before, payment, at=at)


def text_of(pdf: bytes) -> str:
    pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text().replace(NBSP, " ").split()) for page in pages)


def make() -> tuple[InvoiceNotices, InMemoryDocumentStore, InMemoryEmailLedger]:
    store, ledger = InMemoryDocumentStore(), InMemoryEmailLedger()
    return InvoiceNotices(store, ledger, APP, render_email=render), store, ledger


def test_issued_stores_the_pdf_and_emails_the_customer_in_their_language() -> None:
    notices, store, ledger = make()
    finalised = invoice()

    stored = notices.issued(finalised)

    assert stored.key == "invoices/acc1/INV-202611-00042.pdf"
    assert "INV-202611-00042" in text_of(store.latest("invoice", "acc1", "INV-202611-00042"))
    [email] = ledger.outbox
    assert list(ledger.sent) == [LedgerKey("invoice-issued", "inv_1")]
    assert (email.to, email.locale, email.template, email.entity_id) == (
        "compta@dupont.example",
        "fr",
        "invoice-issued",
        "inv_1",
    )
    assert email.subject == f"Facture INV-202611-00042 : 180,00{NBSP}€ à régler avant le 7 décembre 2026"
    # A link to the app, which signs a fresh URL when it is opened: never a 5-minute presigned one.
    assert "https://app.example/invoices/inv_1" in email.text
    assert "X-Amz" not in email.text
    assert "documents.example" not in email.html
    assert "Référence de paiement : INV20261100042" in email.text


def test_issued_twice_sends_one_email_and_writes_two_versions() -> None:
    notices, store, ledger = make()
    finalised = invoice()

    first = notices.issued(finalised)
    again = notices.issued(finalised)

    assert first.key == again.key
    assert (first.version_id, again.version_id) == ("v1", "v2")
    assert store.versions[first.key][0] == store.versions[first.key][1]  # deterministic
    assert len(ledger.outbox) == 1


def test_an_invoice_paid_at_finalisation_still_gets_its_pdf_and_email() -> None:
    notices, store, ledger = make()
    free = invoice(free=True)
    assert free.status == "paid"

    notices.issued(free)

    [email] = ledger.outbox
    assert f"0,00{NBSP}€" in email.subject
    assert "Référence de paiement" not in email.text  # nothing to pay
    assert "Règlement" not in text_of(store.latest("invoice", "acc1", "INV-202611-00042"))


def test_a_customer_without_an_address_gets_the_pdf_only(caplog: pytest.LogCaptureFixture) -> None:
    notices, store, ledger = make()
    caplog.set_level(logging.INFO, logger="tally.invoices.notices")

    notices.issued(invoice(CUSTOMER.model_copy(update={"email": None})))

    assert ledger.outbox == []
    assert list(store.versions) == ["invoices/acc1/INV-202611-00042.pdf"]
    assert "no email address" in caplog.text


def test_payments_get_one_receipt_each_and_the_paying_one_a_paid_pdf() -> None:
    notices, store, ledger = make()
    finalised = invoice()  # 180.00 € due
    notices.issued(finalised)
    partly = pay(finalised, 8000, "VIR-1")

    assert notices.payment_received(partly, 0) is None  # not paid: the PDF stays as issued
    paid = pay(partly, 10000, "VIR-2")
    stored = notices.payment_received(paid, 1)
    notices.payment_received(paid, 1)  # a rerun
    notices.payment_received(paid, 0)  # a late rerun of the first

    assert stored is not None
    assert [key.step for key in ledger.sent if key.template == "payment-received"] == ["0", "1"]
    first, second = ledger.outbox[1:]
    assert first.subject == f"Paiement reçu : 80,00{NBSP}€ pour la facture INV-202611-00042"
    assert f"Reste dû : 100,00{NBSP}€" in first.text
    assert "Référence : VIR-1" in first.text
    assert "25 novembre 2026" in first.text
    assert "La facture est intégralement réglée." in second.text
    text = text_of(store.latest("invoice", "acc1", "INV-202611-00042"))
    assert "Déjà payé -180,00 €" in text
    assert "Règlement" not in text  # paid: no payment instructions
    assert "INV20261100042" not in text


def test_a_credit_note_gets_its_pdf_and_one_email() -> None:
    notices, store, ledger = make()
    finalised = invoice()
    request = CreditNoteIn(lines=[CreditLineIn(line=0)], reason="Facturé deux fois", refund=False)
    note = credit_note(finalised, request, id="cn_1", number="CN-202611-00003", at=AT)
    after = apply_credit_note(finalised, note)  # the whole invoice: paid by the credit

    stored = notices.credit_note_issued(note, after)
    notices.credit_note_issued(note, after)

    assert stored.key == "credit-notes/acc1/CN-202611-00003.pdf"
    text = text_of(store.latest("credit_note", "acc1", "CN-202611-00003"))
    for expected in ("AVOIR", "CN-202611-00003", "INV-202611-00042", "Facturé deux fois", "180,00 €"):
        assert expected in text, expected
    [email] = ledger.outbox
    assert email.subject == f"Avoir CN-202611-00003 : 180,00{NBSP}€ sur la facture INV-202611-00042"
    assert "https://app.example/invoices/inv_1" in email.text
    # The credit note paid the invoice: its PDF is rendered again, without payment instructions.
    invoice_text = text_of(store.latest("invoice", "acc1", "INV-202611-00042"))
    assert "Avoirs -180,00 €" in invoice_text
    assert "Règlement" not in invoice_text


def test_a_pdf_that_cannot_be_stored_does_not_hold_back_the_email_and_a_rerun_completes() -> None:
    notices, store, ledger = make()
    finalised = invoice()
    store.fail_puts.append(ServiceUnavailable())

    with pytest.raises(NoticeFailed) as failed:
        notices.issued(finalised)

    assert failed.value.stages == ("pdf",)
    assert failed.value.retryable
    assert failed.value.document is None
    assert len(ledger.outbox) == 1  # the link goes to the app, which renders a missing PDF
    assert store.versions == {}
    stored = notices.issued(finalised)  # the rerun
    assert stored.version_id == "v1"
    assert len(ledger.outbox) == 1


def test_a_refused_email_keeps_the_pdf_and_says_so_without_the_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notices, store, ledger = make()
    ledger.fail_sends.append(EmailNotSent("MessageRejected"))

    with pytest.raises(NoticeFailed) as failed:
        notices.issued(invoice())

    assert failed.value.stages == ("email",)
    assert not failed.value.retryable  # a refusal: a rerun repeats it until it is fixed
    assert failed.value.document is not None
    assert failed.value.document.key in store.versions
    assert "MessageRejected" in str(failed.value)
    assert failed.value.__cause__ is None  # a provider's message may quote the address
    assert "dupont.example" not in str(failed.value)
    assert "dupont.example" not in caplog.text
    notices.issued(invoice())  # fixed, rerun: sent now, once
    assert len(ledger.outbox) == 1


def test_a_failed_render_is_raised_after_the_email_goes() -> None:
    def broken(document: InvoiceDocument) -> bytes:
        raise RuntimeError("reportlab fell over")

    ledger = InMemoryEmailLedger()
    notices = InvoiceNotices(InMemoryDocumentStore(), ledger, APP, render_pdf=broken, render_email=render)

    with pytest.raises(NoticeFailed) as failed:
        notices.issued(invoice())

    assert failed.value.stages == ("pdf",)
    assert not failed.value.retryable
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert len(ledger.outbox) == 1


def test_pdf_links_render_a_missing_pdf_first_and_never_build_the_ledger() -> None:
    built: list[SendsOnce] = []

    def factory() -> SendsOnce:
        built.append(InMemoryEmailLedger())
        return built[-1]

    store = InMemoryDocumentStore()
    notices = InvoiceNotices(store, factory, APP)
    finalised = invoice()

    assert not notices.exists("invoice", "acc1", "INV-202611-00042")
    link = notices.invoice_link(finalised)
    assert link == "https://documents.example/invoices/acc1/INV-202611-00042.pdf?expires=300"
    notices.invoice_link(finalised)
    assert len(store.versions["invoices/acc1/INV-202611-00042.pdf"]) == 1  # rendered once, on demand
    assert notices.document(finalised).version_id == "v2"  # POST .../pdf: rendered again
    assert notices.link("invoice", "acc1", "INV-202611-00042") == link
    assert built == []  # no email: no SES client


def test_a_draft_or_a_payment_that_is_not_there_is_a_programming_error() -> None:
    notices, _, _ = make()
    finalised = invoice()

    with pytest.raises(ValueError, match="no payment 0"):
        notices.payment_received(finalised, 0)
    draft = finalised.model_copy(update={"status": "draft", "number": None})
    with pytest.raises(ValueError, match="not finalised"):
        notices.issued(draft)
    with pytest.raises(ValueError, match="APP_URL"):
        InvoiceNotices(InMemoryDocumentStore(), InMemoryEmailLedger(), "")


def test_an_english_usd_customer_is_written_to_in_english() -> None:
    notices, _, ledger = make()
    acme = Customer(account_id="acc1", name="Acme Inc.", email="ap@acme.example", country="US", locale="en")

    notices.issued(invoice(acme, currency="USD"))

    [email] = ledger.outbox
    assert email.subject == "Invoice INV-202611-00042: $180.00 due 7 December 2026"


class FakeS3:
    def __init__(self, code: str | None, status: int = 404) -> None:
        self.code, self.status = code, status

    def head_object(self, **request: Any) -> dict[str, Any]:
        if self.code is None:
            return {"ContentLength": 1}
        response: Any = {"Error": {"Code": self.code}, "ResponseMetadata": {"HTTPStatusCode": self.status}}
        raise ClientError(response, "HeadObject")


def test_the_store_reads_a_404_as_missing_and_raises_anything_else() -> None:
    def store(code: str | None, status: int = 404) -> DocumentStore:
        return DocumentStore(cast("S3Client", FakeS3(code, status)), "docs")

    assert store(None).exists("invoices/a/1.pdf")
    assert not store("404").exists("invoices/a/1.pdf")
    assert not store("NoSuchKey").exists("invoices/a/1.pdf")
    # Without s3:ListBucket S3 answers 403 for a missing key: raised, never taken for absent.
    with pytest.raises(ClientError):
        store("403", 403).exists("invoices/a/1.pdf")
    with pytest.raises(ServiceUnavailable):
        store("SlowDown", 503).exists("invoices/a/1.pdf")
