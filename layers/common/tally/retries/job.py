"""The payment retries job (`payment-retries`, daily; issue 10, job 3).

`plan(as_of)`: one Query of the sparse DueIndex (PAYMENT_RETRIES_DUE) up to the end of the day in
the seller's time zone: the invoices with an attempt due, never the others.

`work(item, as_of)`: reads the record (PAYRETRY#{invoice id}) and the invoice again. An invoice
no longer open (paid, voided elsewhere) or owing nothing leaves: its due entry is removed.
Otherwise attempt n = len(attempts) is made when due: the saved card charged through the
CardCharger with the idempotency key `tally-invoice-{id}-attempt-{n}`, then the attempt recorded
with a write conditional on the record holding n attempts. Two workers (a rerun, SQS
redelivery) asking for the same n make one charge (same key, Stripe answers the first's
PaymentIntent) and one record (the second write is refused). A success is recorded on the
invoice as a card payment (reference: the PaymentIntent id) through InvoiceService, which
restores a past-due subscription and reactivates the account as a payment does; a retry after a
crash between the two finds the success recorded and records the payment (once: the invoice
refuses the same reference twice). The last failure, or no saved card, ends the attempts: the
invoice is on the dunning ladder already (from its finalisation), which chases it from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.invoices import Invoice, Payment
from tally.clock import Clock, FixedClock
from tally.errors import Conflict, InvalidInput
from tally.jobs.base import JobName, Worked, WorkItem
from tally.jobs.calendar import day_end
from tally.jobs.reminders import system_context
from tally.retries.ports import (
    NO_SAVED_CARD,
    AttemptTaken,
    CardCharger,
    InvoicePayments,
    RetryStore,
    SettingsReader,
)
from tally.retries.schedule import Attempt, RetryRecord, idempotency_key, next_attempt_at
from tally.storage import keys

LOGGER = logging.getLogger(__name__)
ATTEMPTS = 3  # reads and writes of one item before raising (SQS retries it)


class ChargeNotRecorded(RuntimeError):
    """A card was charged but the invoice cannot take the payment (paid or changed meanwhile):
    raised so the item lands in the dead letters, where staff see it (a refund may be due)."""


class PaymentRetries:
    name: JobName = "payment-retries"

    def __init__(
        self,
        store: RetryStore,
        charger: CardCharger,
        invoices: Callable[[Clock], InvoicePayments],
        settings: SettingsReader,
    ) -> None:
        self._store = store
        self._charger = charger
        self._invoices = invoices
        self._settings = settings

    def plan(self, as_of: datetime) -> Iterator[WorkItem]:
        end = day_end(as_of, self._settings.current().time_zone)
        for entry in self._store.due(end):
            yield WorkItem(
                self.name,
                f"{entry.invoice_id}#{keys.due_instant(entry.at)}",
                {"invoice_id": entry.invoice_id, "account_id": entry.account_id, "at": entry.at.isoformat()},
            )

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        invoice_id = item.data.get("invoice_id") or item.key.split("#", 1)[0]
        context = system_context(self.name, item.key, "A saved card charged for an unpaid invoice")
        raced = False
        for attempt in range(ATTEMPTS):
            try:
                worked = self._work(invoice_id, as_of, context)
            except (ChangedMeanwhile, AttemptTaken):
                # Another worker recorded an attempt meanwhile: read again (what is left, if anything).
                raced = True
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return Worked("skipped", worked.detail) if raced else worked
        raise AssertionError("unreachable")  # pragma: no cover

    def _work(self, invoice_id: str, as_of: datetime, context: AuditContext) -> Worked:
        record = self._store.record(invoice_id)
        if record is None:
            return Worked("skipped", f"no payment retries for invoice {invoice_id}")
        invoices = self._invoices(FixedClock(as_of))
        invoice = invoices.get(invoice_id)
        last = record.last
        if last is not None and last.outcome == "succeeded":
            # Recorded by this item before (or another worker): its payment may be missing still.
            settled = self._settle(invoices, invoice, last, context)
            self._close(record)
            return Worked(
                "done" if settled else "skipped", f"attempt {last.n} succeeded ({last.payment_intent})"
            )
        if invoice.status != "open" or invoice.amount_due == 0 or invoice.source != "tally":
            self._close(record)
            return Worked("skipped", f"invoice {invoice_id} is {invoice.status}, {invoice.amount_due} due")
        if record.due_at is None:
            return Worked("skipped", f"no attempt to come for invoice {invoice_id}")
        settings = self._settings.current()
        if record.due_at >= day_end(as_of, settings.time_zone):
            return Worked("skipped", f"attempt {len(record.attempts)} is due {record.due_at.isoformat()}")
        n = len(record.attempts)
        result = self._charger.charge(invoice, n, idempotency_key=idempotency_key(invoice_id, n))
        if result.succeeded:
            attempt = Attempt(n, as_of, "succeeded", None, result.reference, invoice.amount_due)
        elif result.decline_code == NO_SAVED_CARD:
            attempt = Attempt(n, as_of, "no_card", NO_SAVED_CARD, None, message=result.message)
        else:
            attempt = Attempt(
                n, as_of, "failed", result.decline_code, result.reference, message=result.message
            )
        following = next_attempt_at((*record.attempts, attempt), settings.payment_retry_days)
        self._store.add_attempt(record, attempt, following)
        LOGGER.info(
            "Payment attempt made",
            extra={
                "invoice_id": invoice_id,
                "attempt": n,
                "outcome": attempt.outcome,
                "decline_code": attempt.decline_code,
                "payment_intent": attempt.payment_intent,
            },
        )
        if attempt.outcome == "succeeded":
            self._settle(invoices, invoice, attempt, context)
            return Worked(
                "done", f"attempt {n} succeeded ({attempt.payment_intent}): invoice {invoice_id} paid"
            )
        if following is None:
            return Worked("done", f"attempt {n} {attempt.outcome}: no attempt to come, dunning chases it")
        return Worked(
            "done", f"attempt {n} {attempt.outcome} ({attempt.decline_code}); next {following.isoformat()}"
        )

    def _settle(
        self, invoices: InvoicePayments, invoice: Invoice, attempt: Attempt, context: AuditContext
    ) -> bool:
        """The successful charge as a card payment on the invoice; False when it is there already."""
        assert attempt.payment_intent is not None
        if any(p.method == "card" and p.reference == attempt.payment_intent for p in invoice.payments):
            return False
        payment = Payment(
            amount=attempt.amount, method="card", reference=attempt.payment_intent, received_at=attempt.at
        )
        try:
            invoices.record_payment(invoice.id, payment, context)
        except (Conflict, InvalidInput) as refused:
            # Recorded meanwhile by another worker (the same reference is refused twice)?
            now = invoices.get(invoice.id)
            if any(p.method == "card" and p.reference == attempt.payment_intent for p in now.payments):
                return False
            # Paid, voided or credited meanwhile: the money is taken, the invoice cannot take it.
            raise ChargeNotRecorded(
                f"The card was charged {attempt.amount} ({attempt.payment_intent}) for invoice {invoice.id}, "
                f"which is {now.status} with {now.amount_due} due: refund or record it by hand ({refused})"
            ) from refused
        return True

    def _close(self, record: RetryRecord) -> None:
        if record.due_at is not None:
            self._store.close(record)
