"""The dunning job (issue 10, DESIGN "Dunning"): every open invoice walks the seller's ladder
(tally.billing.seller.DunningSettings) until it is paid, voided or credited.

`plan(as_of)`: one Query of the sparse DueIndex for the open invoices whose next dunning date is
today or earlier (the seller's time zone). The entry's date is the next step's, not the due
date, and each step moves it to the step after (or drops it after the last): the Query reads the
invoices with a step due, never the ones waiting for a later step nor the ones the ladder is done
with, so reads grow with the due items, not with the invoices.

`work(item, as_of)`: reads the invoice again; one that is no longer open (or owes nothing)
leaves the ladder. Otherwise the latest step due runs in one transaction, conditional on the step
not being in the invoice's dunning record and on the invoice not having changed (a payment
landing meanwhile wins; the retry sees it paid): the record, the invoice (its next date, its
overdue mark), the subscription's status and the account's, with their audit records. The email
follows through the ledger (once per template, invoice and step); a retry after a failed email
finds the step recorded and sends only the email. Steps the job missed (it did not run for days)
are recorded as skipped: only the latest one runs.

Stripe-collected subscriptions (docs/decisions/0013-dunning-and-stripe-collection.md): the emails
and the overdue mark, but neither the subscription's status (Stripe's webhooks move it while
Stripe retries the card) nor the suspension step (the account follows the subscription when
Stripe gives up): that step is recorded as skipped. When the job missed the days up to it, the
latest step before it runs (its email sent) and the suspension is recorded skipped with the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from tally.accounts.errors import ChangedMeanwhile
from tally.accounts.status import transition_problem
from tally.audit.records import Actor, AuditContext
from tally.billing import subscription_state
from tally.billing.invoices import Invoice
from tally.billing.seller import DunningAction, DunningStep, SellerSettings
from tally.billing.subscription_state import Subscription
from tally.dunning.ladder import (
    UNPAID_INVOICE,
    DueStep,
    DunningRecord,
    due_step,
    local_day,
    next_on,
    suspension_date,
)
from tally.dunning.ports import DunningMail, DunningStore, SettingsReader, StepTaken, StepWrite
from tally.jobs.base import JobName, Worked, WorkItem
from tally.subscriptions.ports import AccountFollows

LOGGER = logging.getLogger(__name__)
ATTEMPTS = 3  # reads and writes of one item before raising (SQS retries it)


def _without_dunning(invoice: Invoice, **changes: object) -> Invoice:
    return invoice.model_validate({**invoice.model_dump(), **changes})


class DunningJob:
    name: JobName = "dunning"

    def __init__(self, store: DunningStore, settings: SettingsReader, mail: DunningMail) -> None:
        self._store = store
        self._settings = settings
        self._mail = mail

    # -- planning -------------------------------------------------------------------------------

    def plan(self, as_of: datetime) -> Iterator[WorkItem]:
        today = local_day(as_of, self._settings.current().time_zone)
        for entry in self._store.due(today):
            yield WorkItem(
                job=self.name,
                key=f"{entry.invoice_id}#{entry.on.isoformat()}",
                data={"invoice_id": entry.invoice_id, "on": entry.on.isoformat()},
            )

    # -- working --------------------------------------------------------------------------------

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        invoice_id = item.data.get("invoice_id") or item.key.split("#", 1)[0]
        context = AuditContext(Actor.system("dunning"), f"dunning:{item.key}", None, None)
        for attempt in range(ATTEMPTS):
            try:
                return self._work(invoice_id, as_of, context)
            except ChangedMeanwhile:
                # A payment, a credit note or a concurrent run changed it: read it again.
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _work(self, invoice_id: str, as_of: datetime, context: AuditContext) -> Worked:
        invoice = self._store.invoice(invoice_id)
        if invoice is None:
            return Worked("skipped", f"no invoice {invoice_id}")
        if invoice.status != "open" or invoice.amount_due == 0 or invoice.due_date is None:
            if invoice.dunning_on is not None and invoice.status == "open":
                self._store.reschedule(invoice, _without_dunning(invoice, dunning_on=None), context)
            return Worked("skipped", f"invoice {invoice_id} is {invoice.status}, {invoice.amount_due} due")
        settings = self._settings.current()
        ladder = settings.dunning
        today = local_day(as_of, settings.time_zone)
        record = self._store.record(invoice_id) or DunningRecord(invoice_id, invoice.account_id)
        due = due_step(ladder, invoice.due_date, record, today)
        if due is None:
            return self._nothing_due(invoice, settings, record, context)
        subscription = self._subscription(invoice)
        stripe = subscription is not None and subscription.collection == "stripe"
        if stripe and due.step.action == "suspend" and due.passed_over:
            due = _before_suspension(due)
        write = self._write(invoice, due, today, subscription, stripe)
        try:
            self._store.run_step(write, context)
        except StepTaken:
            return self._finish_email(invoice, settings, due.step, ran=False)
        LOGGER.info(
            "Dunning step run",
            extra={
                "invoice_id": invoice_id,
                "step": due.step.name,
                "skipped": [step.name for step in due.passed_over],
                "stripe": stripe,
            },
        )
        if write.step_skipped:
            return Worked("skipped", f"{due.step.name} {due.step.action}: Stripe collects this invoice")
        return self._finish_email(write.after, settings, due.step, ran=True)

    def _nothing_due(
        self, invoice: Invoice, settings: SellerSettings, record: DunningRecord, context: AuditContext
    ) -> Worked:
        """No step due: a rerun of today's (its email is finished if it failed), or an index entry
        that no longer matches the ladder (changed settings, an invoice stored before the ladder),
        which is moved to the next step's date so the planner stops reading it."""
        assert invoice.due_date is not None
        wanted = next_on(settings.dunning, invoice.due_date, record)
        if wanted != invoice.dunning_on:
            self._store.reschedule(invoice, _without_dunning(invoice, dunning_on=wanted), context)
        last = next((step for step in reversed(settings.dunning.steps) if step.name in record.done), None)
        if last is not None:
            return self._finish_email(invoice, settings, last, ran=False)
        return Worked("skipped", "no dunning step due")

    def _subscription(self, invoice: Invoice) -> Subscription | None:
        if invoice.subscription_id is None:
            return None
        current = self._store.subscription(invoice.account_id)
        return current if current is not None and current.id == invoice.subscription_id else None

    def _write(
        self, invoice: Invoice, due: DueStep, today: date, subscription: Subscription | None, stripe: bool
    ) -> StepWrite:
        step = due.step
        # A passed-over overdue step still has its effect (only its email is not sent), and so
        # does a Stripe-collected suspension passed over (the overdue mark only).
        overdue = step.action == "overdue" or any(
            passed.action in ("overdue", "suspend") for passed in due.passed_over
        )
        changes: dict[str, Any] = {"dunning_on": due.next_on}
        if (overdue or step.action == "suspend") and invoice.overdue_since is None:
            changes["overdue_since"] = today
        after = _without_dunning(invoice, **changes)
        moved: tuple[Subscription, Subscription, str] | None = None
        account: AccountFollows | None = None
        if subscription is not None and not stripe:
            moved = _subscription_move(
                subscription,
                "suspend" if step.action == "suspend" else ("overdue" if overdue else step.action),
            )
        if step.action == "suspend" and not stripe:
            holder = self._store.account(invoice.account_id)
            if holder is not None and transition_problem(holder.status, "suspended") is None:
                account = AccountFollows(holder, "suspended", UNPAID_INVOICE)
        return StepWrite(
            before=invoice,
            after=after,
            step=step.name,
            skipped=tuple(passed.name for passed in due.passed_over),
            step_skipped=stripe and step.action == "suspend",
            action="invoice.marked_overdue" if "overdue_since" in changes else "invoice.dunning_step",
            subscription=moved,
            account=account,
        )

    # -- emails ---------------------------------------------------------------------------------

    def _finish_email(
        self, invoice: Invoice, settings: SellerSettings, step: DunningStep, *, ran: bool
    ) -> Worked:
        """The step's email, through the ledger: sent now, or already (a rerun)."""
        what = f"{step.name} {step.action}"
        if step.template is None or (step.action == "suspend" and not self._suspended(invoice)):
            return Worked("done" if ran else "skipped", what)
        sent = self._mail.dunning_email(
            invoice, step.template, step.name, self._context(invoice, settings, step)
        )
        if ran:
            return Worked("done", what + (", email sent" if sent else ""))
        # Run by another call (or an earlier try whose email failed, which this one sent).
        return Worked("skipped", f"{what}: run already" + (", its email sent now" if sent else ""))

    def _suspended(self, invoice: Invoice) -> bool:
        """The account-suspended email goes only to an account that is suspended (not one whose
        Stripe subscription is still being retried, nor one cancelled meanwhile)."""
        holder = self._store.account(invoice.account_id)
        return holder is not None and holder.status == "suspended"

    def _context(self, invoice: Invoice, settings: SellerSettings, step: DunningStep) -> dict[str, Any]:
        assert invoice.due_date is not None
        name = invoice.customer.name if invoice.customer is not None else invoice.account_id
        context: dict[str, Any] = {
            "account_name": name,
            "invoice_number": invoice.number or invoice.id,
            "amount_due": invoice.amount_due,
            "currency": invoice.currency,
            "due_date": invoice.due_date,
            "pay_url": self._mail.invoice_url(invoice),
            "billing_url": self._mail.billing_url(),
            "step": step.days,
        }
        suspends_on = suspension_date(settings.dunning, invoice.due_date)
        if suspends_on is not None and step.action != "suspend":
            context["suspension_date"] = suspends_on
        return context


def _before_suspension(due: DueStep) -> DueStep:
    """Stripe-collected, after missed days: the suspension is not Tally's to run, and running
    only it (recorded skipped) would leave the customer with no email at all. The latest step
    before it runs instead, its email sent; the suspension is recorded skipped with the passed-over
    steps, in the same write (a retry after a failed email then finds nothing due and sends it)."""
    *earlier, latest = due.passed_over
    return DueStep(
        step=latest, passed_over=(*earlier, due.step), next_on=due.next_on, following=due.following
    )


def _subscription_move(
    subscription: Subscription, action: DunningAction
) -> tuple[Subscription, Subscription, str] | None:
    """overdue: an active subscription becomes past_due; suspend: it becomes unpaid (through
    past_due when the overdue step was not run). Other statuses are left alone."""
    if action == "overdue" and subscription.status == "active":
        return subscription, subscription_state.payment_failed(subscription), "subscription.past_due"
    if action == "suspend":
        current = subscription
        if current.status == "active":
            current = subscription_state.payment_failed(current)
        if current.allows("mark_unpaid"):
            return subscription, subscription_state.mark_unpaid(current), "subscription.unpaid"
    return None
