"""Recurring invoicing (`recurring-invoicing`, daily): every invoice-collected subscription whose
period ends that day (in the seller's time zone) gets its next period's invoice, finalised and
emailed, and rolls over to that period.

Plan: one Query of RENEWALS_DUE up to the end of the day (a period that ended earlier and was
missed is caught up too). Work, as of the period's end (or the run's instant, if later):
`SubscriptionInvoicing.invoice` makes the period's one invoice (its claim,
SUBSCRIPTION#{id} INVOICE#{period start}) and rolls the subscription over in the same
transaction, which moves its due entry to the next period's end; then `finalize` (idempotent)
and invoice-issued through the email ledger (once). A rerun, a second run the same day or a
redelivered message finds the period's invoice made and finishes what is left (finalising,
emailing): exactly one invoice per (subscription, period). An open invoice of an account with a
Stripe customer gets attempt 0 of its card charge scheduled (tally.retries, PAYRETRY#), due at
once: the payment-retries job charges the saved card at its next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from tally.clock import FixedClock
from tally.invoices.subscription import NothingToInvoice
from tally.jobs.base import JobName, Worked, WorkItem
from tally.jobs.calendar import day_end
from tally.jobs.deps import JobDeps
from tally.jobs.reminders import as_instant, system_context
from tally.storage import keys


class RecurringInvoicing:
    name: JobName = "recurring-invoicing"

    def __init__(self, deps: JobDeps) -> None:
        self._deps = deps

    def plan(self, as_of: datetime) -> Iterator[WorkItem]:
        end = day_end(as_of, self._deps.settings.current().time_zone)
        for entry in self._deps.due.due(keys.RENEWALS_DUE, None, end):
            yield WorkItem(
                self.name,
                f"{entry.subscription_id}#{keys.due_instant(entry.at)}",
                {
                    "account_id": entry.account_id,
                    "subscription_id": entry.subscription_id,
                    "period_end": entry.at.isoformat(),
                },
            )

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        account_id, subscription_id = item.data["account_id"], item.data["subscription_id"]
        subscription = self._deps.subscriptions.current(account_id)
        if subscription is None or subscription.id != subscription_id:
            return Worked("skipped", "the account's current subscription is another one")
        if subscription.collection != "invoice":
            return Worked("skipped", "collected by Stripe")
        # As of the period's end: the invoice is dated when the new period begins.
        at = max(as_of, as_instant(item.data["period_end"]))
        context = system_context(self.name, item.key, "The subscription's period ended")
        try:
            invoice, created = self._deps.invoicing(FixedClock(at)).invoice(account_id, context)
        except NothingToInvoice as nothing:
            return Worked("skipped", str(nothing))
        if invoice.status == "draft":
            invoice = self._deps.invoices(FixedClock(at)).finalize(invoice.id, context)
        if self._deps.payment_retries is not None and invoice.status == "open" and invoice.amount_due:
            # Attempt 0 of the saved card's charge, due now: the payment-retries job makes it at
            # its next run (once per invoice; a rerun finds it scheduled).
            self._deps.payment_retries.schedule(invoice, at)
        # Raises NoticeFailed when the PDF or the email did not go out: the item is retried, and
        # the ledger never sends the email twice.
        self._deps.notices.issued(invoice)
        return Worked("done" if created else "skipped", f"invoice {invoice.id} ({invoice.number})")
