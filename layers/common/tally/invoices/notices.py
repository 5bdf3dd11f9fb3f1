"""What follows a committed invoice change: its PDF in the documents bucket and its email.

    notices = InvoiceNotices(DocumentStore(clients.s3(), bucket), ledger_factory, settings.app_url)
    after = service.finalize(invoice_id, context)        # committed
    try:
        notices.issued(after)
    except NoticeFailed as failed:                        # the change stands: answer it
        logger.warning("invoice notice incomplete", extra={"failed": failed.stages})

- `issued(invoice)`: the PDF at `invoices/{account}/{number}.pdf`; invoice-issued, once per
  invoice.
- `payment_received(invoice, i)`: payment-received, once per (invoice, i); the invoice's PDF
  again when payment i paid it (it shows paid, without payment instructions).
- `credit_note_issued(note, invoice)`: the PDF at `credit-notes/{account}/{number}.pdf`;
  credit-note-issued, once per note; the invoice's PDF again when the note paid it.
- `document(invoice)`: the invoice's PDF again (POST /v1/invoices/{id}/pdf), no email.

Rerunning any of them is safe: a PDF rendered again is written as a new version of the same
object (the same bytes for an unchanged invoice: rendering is deterministic), and the email
ledger (tally.notifications.ledger) never sends a key twice.
So a caller whose notice failed reruns the same call (a job, or the next request), and nothing
else needs remembering.

The steps are independent: a PDF that cannot be stored does not hold back the email (its link
goes to the app, which renders a missing PDF on demand: `invoice_link`), and an email that
cannot be sent does not undo the PDF. Whatever failed is raised at the end as one `NoticeFailed`.

Logs name the invoice, the template and the outcome, never an address (DESIGN "Observability").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from tally.billing.credit_notes import CreditNote
from tally.billing.invoices import Invoice
from tally.billing.periods import time_zone
from tally.documents.model import InvoiceDocument, bank_reference
from tally.documents.pdf import render_pdf as draw_pdf
from tally.documents.store import LINK_SECONDS, DocumentKind, StoredDocument, document_key
from tally.errors import ServiceUnavailable
from tally.invoices.documents import credit_note_document, invoice_document
from tally.notifications.email import Email
from tally.notifications.ledger import LedgerKey, SendOutcome, SendResult
from tally.notifications.mailer import EmailNotSent

LOGGER = logging.getLogger(__name__)

INVOICE_ISSUED = "invoice-issued"
PAYMENT_RECEIVED = "payment-received"
CREDIT_NOTE_ISSUED = "credit-note-issued"

Stage = Literal["pdf", "email"]


class DocumentStorage(Protocol):
    """tally.documents.store.DocumentStore, or an in-memory stand-in."""

    def put(self, kind: DocumentKind, account_id: str, number: str, pdf: bytes) -> StoredDocument: ...

    def exists(self, key: str) -> bool: ...

    def link(self, key: str, seconds: int = LINK_SECONDS) -> str: ...


@runtime_checkable
class SendsOnce(Protocol):
    """tally.notifications.ledger.EmailLedger, or an in-memory stand-in."""

    def send_once(self, email: Email, key: LedgerKey) -> SendResult: ...


class RendersEmail(Protocol):
    """tally.notifications.render.render's signature."""

    def __call__(
        self, template: str, locale: str, *, to: str, entity_id: str | None = None, **context: Any
    ) -> Email: ...


class NoticeFailed(Exception):
    """A committed change's PDF or email (or both) did not go out. The change stands: answer it,
    and rerun the same call later (safe, see the module). `document` is the PDF stored before
    the email failed, if it was; `retryable` says every failure was a dependency throttled or
    down (worth a retry soon) rather than a refusal (an unverified sender, a suppressed
    recipient, a template error), which a rerun repeats until it is fixed."""

    def __init__(
        self, what: str, failures: Mapping[Stage, Exception], document: StoredDocument | None
    ) -> None:
        self.failures: dict[Stage, Exception] = dict(failures)
        self.document = document
        described = ", ".join(f"{stage} ({_describe(exc)})" for stage, exc in self.failures.items())
        super().__init__(f"{what}: not done: {described}; the change is committed, rerunning is safe")

    @property
    def stages(self) -> tuple[Stage, ...]:
        return tuple(self.failures)

    @property
    def retryable(self) -> bool:
        return all(isinstance(exc, ServiceUnavailable) for exc in self.failures.values())


def _describe(exc: Exception) -> str:
    """A failure in words that quote no address (a provider's message may)."""
    if isinstance(exc, EmailNotSent):
        return f"refused: {exc.code}"
    if isinstance(exc, ServiceUnavailable):
        return "unavailable"
    return type(exc).__name__


class InvoiceNotices:
    def __init__(
        self,
        documents: DocumentStorage,
        ledger: SendsOnce | Callable[[], SendsOnce],
        app_url: str,
        *,
        render_pdf: Callable[[InvoiceDocument], bytes] = draw_pdf,
        render_email: RendersEmail | None = None,
    ) -> None:
        """`ledger` may be a factory: it is built on the first email only, so a function that
        only serves PDFs never builds an SES client. `app_url` is the front end's base URL
        (APP_URL), which the emails link to."""
        if not app_url.startswith(("https://", "http://")):
            raise ValueError(
                "app_url must be the front end's absolute URL (APP_URL), e.g. https://app.example"
            )
        self._documents = documents
        self._ledger_or_factory = ledger
        self._ledger: SendsOnce | None = None
        self._app_url = app_url.rstrip("/")
        self._render_pdf = render_pdf
        self._render_email = render_email

    # --- after a change -------------------------------------------------------------------------

    def issued(self, invoice: Invoice) -> StoredDocument:
        """A finalised invoice: its PDF, then invoice-issued to the customer, once. An invoice
        paid at finalisation (nothing due) gets both too. ValueError for a draft; NoticeFailed
        when a step failed."""
        document = invoice_document(invoice)
        failures: dict[Stage, Exception] = {}
        stored = self._store_pdf(document, invoice.account_id, invoice.id, failures)
        context: dict[str, Any] = {
            "account_name": document.customer.name,
            "invoice_number": document.number,
            "total": invoice.total,
            "amount_due": invoice.amount_due,
            "currency": invoice.currency,
            "due_date": invoice.due_date,
            # A link to the app, not a presigned URL: those expire in 5 minutes (LINK_SECONDS),
            # long before an email is read; the app signs a fresh one when it is opened.
            "pdf_url": self.invoice_url(invoice),
        }
        if invoice.amount_due > 0:
            context["payment_reference"] = bank_reference(document.number)
        self._email(invoice, INVOICE_ISSUED, LedgerKey(INVOICE_ISSUED, invoice.id), context, failures)
        _raise_if(f"Invoice {invoice.id} issued", failures, stored)
        assert stored is not None  # no failure: stored
        return stored

    def payment_received(self, invoice: Invoice, payment_index: int) -> StoredDocument | None:
        """The receipt of `invoice.payments[payment_index]`, once per (invoice, index); when that
        payment paid the invoice, its PDF again (paid: no payment instructions). Answers that
        PDF, or None when the invoice is not paid yet."""
        if not 0 <= payment_index < len(invoice.payments):
            raise ValueError(f"Invoice {invoice.id} has no payment {payment_index}")
        document = invoice_document(invoice)
        payment = invoice.payments[payment_index]
        last = payment_index == len(invoice.payments) - 1
        failures: dict[Stage, Exception] = {}
        stored = None
        if invoice.status == "paid" and last:
            stored = self._store_pdf(document, invoice.account_id, invoice.id, failures)
        # What was left after this payment: what is due now plus the payments since (a rerun for
        # an earlier payment; credit notes issued since are not added back).
        paid_since = sum(since.amount for since in invoice.payments[payment_index + 1 :])
        context: dict[str, Any] = {
            "account_name": document.customer.name,
            "invoice_number": document.number,
            "amount": payment.amount,
            "amount_due": invoice.amount_due + paid_since,
            "currency": invoice.currency,
            "received_on": _local_day(payment.received_at, invoice),
            "reference": payment.reference,
        }
        key = LedgerKey(PAYMENT_RECEIVED, invoice.id, str(payment_index))
        self._email(invoice, PAYMENT_RECEIVED, key, context, failures)
        _raise_if(f"Payment {payment_index} of invoice {invoice.id}", failures, stored)
        return stored

    def credit_note_issued(self, note: CreditNote, invoice: Invoice) -> StoredDocument:
        """A credit note on `invoice` (as it is once the note applies): the note's PDF and
        credit-note-issued, once per note; when the note paid the invoice (nothing left due),
        the invoice's PDF again."""
        document = credit_note_document(note, invoice)
        failures: dict[Stage, Exception] = {}
        stored = self._store_pdf(document, invoice.account_id, note.id, failures)
        if invoice.status == "paid" and note.pre_payment_amount > 0 and invoice.amount_due == 0:
            self._store_pdf(invoice_document(invoice), invoice.account_id, invoice.id, failures)
        context: dict[str, Any] = {
            "account_name": document.customer.name,
            "credit_note_number": note.number,
            "invoice_number": document.related_number,
            "amount": note.total,
            "currency": note.currency,
            "refund": note.refund,
            # The invoice's page in the app lists its credit notes (see `issued` on links).
            "pdf_url": self.invoice_url(invoice),
        }
        self._email(invoice, CREDIT_NOTE_ISSUED, LedgerKey(CREDIT_NOTE_ISSUED, note.id), context, failures)
        _raise_if(f"Credit note {note.id}", failures, stored)
        assert stored is not None
        return stored

    def dunning_email(self, invoice: Invoice, template: str, step: str, context: Mapping[str, Any]) -> bool:
        """A dunning email (tally.dunning) to the invoice's customer, once per (template, invoice,
        step). True when this call sent it; False when it went already (or is going, or the
        customer has no address); NoticeFailed when it could not be sent."""
        failures: dict[Stage, Exception] = {}
        result = self._email(
            invoice, template, LedgerKey(template, invoice.id, step), dict(context), failures
        )
        _raise_if(f"Dunning {step} of invoice {invoice.id}", failures, None)
        return result is not None and result.outcome is SendOutcome.SENT

    def billing_url(self) -> str:
        """The app's billing page, where a suspended account's users can still pay."""
        return f"{self._app_url}/billing"

    # --- the PDFs on their own (the PDF routes) ------------------------------------------------

    def document(self, invoice: Invoice) -> StoredDocument:
        """The invoice's PDF rendered and stored again (same key, a new version). Errors are
        raised as they are (ServiceUnavailable: 503): no committed change rides on it."""
        return self._put(invoice_document(invoice), invoice.account_id)

    def credit_note_document(self, note: CreditNote, invoice: Invoice) -> StoredDocument:
        return self._put(credit_note_document(note, invoice), invoice.account_id)

    def link(self, kind: DocumentKind, account_id: str, number: str) -> str:
        """A presigned GET of the PDF's latest version, valid LINK_SECONDS (signed locally)."""
        return self._documents.link(document_key(kind, account_id, number))

    def exists(self, kind: DocumentKind, account_id: str, number: str) -> bool:
        return self._documents.exists(document_key(kind, account_id, number))

    def invoice_link(self, invoice: Invoice) -> str:
        """GET .../pdf: the link, the PDF rendered first when it is missing (its rendering
        failed after the invoice was committed). ValueError for a draft."""
        if invoice.number is None:
            raise ValueError("A draft has no PDF: finalise it first")
        number = invoice.number
        if not self.exists("invoice", invoice.account_id, number):
            self.document(invoice)
        return self.link("invoice", invoice.account_id, number)

    def credit_note_link(self, note: CreditNote, invoice: Invoice) -> str:
        if not self.exists("credit_note", invoice.account_id, note.number):
            self.credit_note_document(note, invoice)
        return self.link("credit_note", invoice.account_id, note.number)

    def invoice_url(self, invoice: Invoice) -> str:
        """The invoice's page in the app, which the emails link to."""
        return f"{self._app_url}/invoices/{invoice.id}"

    # --- steps ------------------------------------------------------------------------------------

    def _put(self, document: InvoiceDocument, account_id: str) -> StoredDocument:
        return self._documents.put(document.kind, account_id, document.number, self._render_pdf(document))

    def _store_pdf(
        self, document: InvoiceDocument, account_id: str, entity_id: str, failures: dict[Stage, Exception]
    ) -> StoredDocument | None:
        try:
            stored = self._put(document, account_id)
        except Exception as exc:
            failures.setdefault("pdf", exc)
            LOGGER.warning(
                "PDF not stored",
                extra={"entity_id": entity_id, "kind": document.kind, "error": _describe(exc)},
                exc_info=not isinstance(exc, ServiceUnavailable),
            )
            return None
        LOGGER.info(
            "PDF stored", extra={"entity_id": entity_id, "key": stored.key, "version_id": stored.version_id}
        )
        return stored

    def _email(
        self,
        invoice: Invoice,
        template: str,
        key: LedgerKey,
        context: dict[str, Any],
        failures: dict[Stage, Exception],
    ) -> SendResult | None:
        customer = invoice.customer
        log = {"template": template, "entity_id": key.entity_id, "step": key.step}
        if customer is None or not customer.email:
            LOGGER.info("Email not sent: the customer has no email address", extra=log)
            return None
        try:
            email = self._render(
                template, customer.locale, to=customer.email, entity_id=key.entity_id, **context
            )
            result = self._sender().send_once(email, key)
        except Exception as exc:
            failures["email"] = exc
            # No exc_info: a provider's message, chained, may quote the address.
            LOGGER.warning("Email not sent", extra={**log, "error": _describe(exc)})
            return None
        if result.outcome is SendOutcome.IN_PROGRESS:
            LOGGER.info("Email being sent by another call", extra=log)
        else:
            LOGGER.info("Email sent", extra={**log, "outcome": result.outcome.value})
        return result

    def _render(self, template: str, locale: str, *, to: str, entity_id: str, **context: Any) -> Email:
        if self._render_email is None:
            # jinja2 is imported on the first email only (DESIGN decision 11).
            from tally.notifications.render import render

            self._render_email = render
        return self._render_email(template, locale, to=to, entity_id=entity_id, **context)

    def _sender(self) -> SendsOnce:
        if self._ledger is None:
            given = self._ledger_or_factory
            self._ledger = given if isinstance(given, SendsOnce) else given()
        return self._ledger


def _local_day(at: datetime, invoice: Invoice) -> date:
    zone = invoice.seller.time_zone if invoice.seller is not None else "UTC"
    return at.astimezone(time_zone(zone)).date()


def _raise_if(what: str, failures: Mapping[Stage, Exception], stored: StoredDocument | None) -> None:
    if failures:
        # Chained to a PDF failure only: an email failure's chain may hold the provider's
        # message, which may quote the address, and callers log what they catch.
        raise NoticeFailed(what, failures, stored) from failures.get("pdf")
