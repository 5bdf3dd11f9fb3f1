"""Against moto: an invoice issued, paid in two payments and credited, end to end through the
versioned documents bucket, the email ledger in the billing table and SES (from the template's
verified sender identity); then every call again, which writes new PDF versions and no email."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from pypdf import PdfReader

from local.mailbox import MAILBOX
from tally.billing.credit_notes import CreditLineIn, CreditNoteIn, apply_credit_note, credit_note
from tally.billing.formatting import NBSP
from tally.billing.invoice_lines import LineIn
from tally.billing.invoices import Customer, Invoice, Payment, finalize, new_draft, record_payment
from tally.billing.seller import default_seller_settings
from tally.documents.store import DocumentStore
from tally.invoices.notices import InvoiceNotices
from tally.notifications.ledger import EmailLedger
from tally.notifications.mailer import SesMailer
from tally.storage import clients, keys
from tally.storage.items import from_item
from tests.support.stack import Stack

SELLER = default_seller_settings()
AT = datetime(2026, 11, 22, 9, tzinfo=UTC)
TO = "compta@ndiaye.example"
CUSTOMER = Customer(account_id="acc_sn", name="Boulangerie Ndiaye", email=TO, country="SN", locale="fr")
INVOICE_KEY = "invoices/acc_sn/INV-202611-00001.pdf"
NOTE_KEY = "credit-notes/acc_sn/CN-202611-00001.pdf"


def text(s3: Any, bucket: str, key: str, version: str | None = None) -> str:
    extra = {"VersionId": version} if version else {}
    body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
    pages = PdfReader(io.BytesIO(body)).pages
    return " ".join(" ".join(page.extract_text().replace(NBSP, " ").split()) for page in pages)


def versions(s3: Any, bucket: str, key: str) -> list[str]:
    """The key's versions, the latest last (LastModified ties within a second)."""
    listed = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]
    return [v["VersionId"] for v in sorted(listed, key=lambda v: v["IsLatest"])]


def paid(invoice: Invoice, amount: int, reference: str, day: int) -> Invoice:
    at = datetime(2026, 11, day, 10, tzinfo=UTC)
    payment = Payment(amount=amount, method="bank_transfer", reference=reference, received_at=at)
    return record_payment(invoice, payment, at=at)


def test_issued_paid_and_credited_end_to_end_then_rerun(stack: Stack) -> None:
    bucket, table = stack.ref("DocumentsBucket"), stack.ref("BillingTable")
    sender = stack.functions["AccountsFunction"].environment["SENDER_EMAIL"]
    s3: Any = clients.s3()
    notices = InvoiceNotices(
        DocumentStore(clients.s3(), bucket),
        lambda: EmailLedger(clients.dynamodb(), table, SesMailer(clients.sesv2(), sender)),
        "https://app.example",
    )
    draft = new_draft(
        id="inv_e2e",
        account_id="acc_sn",
        currency="XOF",
        lines=[LineIn(description="Abonnement Pro, mensuel", unit_amount=15000, tax_rate="sn_vat_18")],
        settings=SELLER,
        at=AT,
    )
    issued = finalize(draft, number="INV-202611-00001", at=AT, seller=SELLER, customer=CUSTOMER)
    partly = paid(issued, 7700, "VIR-1", 24)
    settled = paid(partly, 10000, "VIR-2", 26)
    note = credit_note(
        settled,
        CreditNoteIn(lines=[CreditLineIn(line=0)], reason="Service interrompu", refund=True),
        id="cn_e2e",
        number="CN-202611-00001",
        at=datetime(2026, 11, 27, tzinfo=UTC),
    )
    credited = apply_credit_note(settled, note)

    def run() -> None:
        notices.issued(issued)
        notices.payment_received(partly, 0)
        notices.payment_received(settled, 1)
        notices.credit_note_issued(note, credited)

    assert not DocumentStore(clients.s3(), bucket).exists(INVOICE_KEY)
    run()

    # S3: the invoice as issued, then as paid; the credit note.
    first, paid_version = versions(s3, bucket, INVOICE_KEY)
    as_issued = text(s3, bucket, INVOICE_KEY, first)
    assert "Montant dû 17 700 FCFA" in as_issued
    assert "INV20261100001" in as_issued  # the bank reference, while due
    as_paid = text(s3, bucket, INVOICE_KEY, paid_version)
    assert "Déjà payé -17 700 FCFA" in as_paid
    assert "Montant dû 0 FCFA" in as_paid
    assert "INV20261100001" not in as_paid
    note_text = text(s3, bucket, NOTE_KEY)
    for expected in ("AVOIR", "CN-202611-00001", "INV-202611-00001", "Service interrompu", "17 700 FCFA"):
        assert expected in note_text, expected
    head = s3.head_object(Bucket=bucket, Key=INVOICE_KEY)
    assert (head["ContentType"], head["ServerSideEncryption"]) == ("application/pdf", "AES256")
    assert DocumentStore(clients.s3(), bucket).exists(INVOICE_KEY)

    # SES: four emails, from the sender identity, in French, each recorded in the ledger.
    messages = list(reversed(MAILBOX.messages(to=TO)))
    assert [m.subject.replace(NBSP, " ") for m in messages] == [
        "Facture INV-202611-00001 : 17 700 FCFA à régler avant le 7 décembre 2026",
        "Paiement reçu : 7 700 FCFA pour la facture INV-202611-00001",
        "Paiement reçu : 10 000 FCFA pour la facture INV-202611-00001",
        "Avoir CN-202611-00001 : 17 700 FCFA sur la facture INV-202611-00001",
    ]
    assert {m.sender for m in messages} == {sender}
    assert {m.source for m in messages} == {"ses"}
    assert "https://app.example/invoices/inv_e2e" in messages[0].text
    assert "Reste dû : 10 000 FCFA" in messages[1].text.replace(NBSP, " ")
    assert "intégralement réglée" in messages[2].text
    assert "remboursé" in messages[3].text
    dynamodb: Any = clients.dynamodb()
    for template, entity, step in (
        ("invoice-issued", "inv_e2e", None),
        ("payment-received", "inv_e2e", "0"),
        ("payment-received", "inv_e2e", "1"),
        ("credit-note-issued", "cn_e2e", None),
    ):
        item = dynamodb.get_item(TableName=table, Key=keys.email_sent(template, entity, step))["Item"]
        assert from_item(item)["status"] == "sent"

    # Everything again (a retried job): new PDF versions, no email.
    run()
    assert len(versions(s3, bucket, INVOICE_KEY)) == 4  # issued, paid, and both again
    assert len(versions(s3, bucket, NOTE_KEY)) == 2
    assert len(MAILBOX.messages(to=TO)) == 4
    link = notices.invoice_link(credited)
    assert "X-Amz-Expires=300" in link
