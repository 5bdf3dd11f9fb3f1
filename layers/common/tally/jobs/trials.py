"""Trials (`trials`, daily): reminders 7, 3 and 1 days before a trial ends, then its end.

Plan (one Query per window of TRIALS_DUE, so only what is due that day is read): the trials
ending on the day 7, 3 and 1 days ahead (a reminder each), the trials ended by the end of the
day (the end), and, when the seller has a grace period, the subscriptions left incomplete by a
trial whose grace has run out (TRIAL_GRACE_DUE).

Work, as of the trial's end (or the run's instant, if later):
- a reminder: trial-ending to the owners and admins, once per (subscription, days, recipient);
- the end of an invoice-collected trial (no card was needed, and there is no payment method):
  `end_trial` (incomplete, the account follows) then the first period's invoice, finalised and
  emailed, the same way as a renewal (exactly one: the period's claim). A retried item finds the
  subscription incomplete and finishes the invoice. A Stripe-collected trial ends in Stripe.
- the grace run out with the first invoice unpaid: canceled (the account follows).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from tally.accounts.errors import ChangedMeanwhile
from tally.billing import subscription_state as machine
from tally.billing.periods import first_period
from tally.billing.subscription_state import Subscription
from tally.clock import FixedClock
from tally.invoices.subscription import NothingToInvoice
from tally.jobs.base import JobName, Worked, WorkItem
from tally.jobs.calendar import day_end, days_until, local_day
from tally.jobs.deps import JobDeps
from tally.jobs.due import DueEntry
from tally.jobs.reminders import (
    as_instant,
    planned_subscription,
    reminder_steps,
    send_to_managers,
    subscription_item,
    system_context,
)
from tally.storage import keys
from tally.subscriptions.service import account_follows

TEMPLATE = "trial-ending"


class Trials:
    name: JobName = "trials"

    def __init__(self, deps: JobDeps) -> None:
        self._deps = deps

    def plan(self, as_of: datetime) -> Iterator[WorkItem]:
        settings = self._deps.settings.current()
        zone = settings.time_zone
        for entry, step in reminder_steps(self._deps.due, keys.TRIALS_DUE, as_of, zone):
            yield self._item(entry, step)
        if settings.trial_grace_days is not None:
            # Ended at least `grace` days before the end of today.
            cutoff = day_end(as_of, zone) - timedelta(days=settings.trial_grace_days)
            for entry in self._deps.due.due(keys.TRIAL_GRACE_DUE, None, cutoff):
                yield self._item(entry, "lapse")

    def _item(self, entry: DueEntry, step: str) -> WorkItem:
        return subscription_item(self.name, f"{entry.subscription_id}#{step}", entry, "trial_end", step)

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        subscription = planned_subscription(self._deps, item)
        if subscription is None:
            return Worked("skipped", "the account's current subscription is another one")
        trial_end = as_instant(item.data["trial_end"])
        if subscription.trial_end != trial_end:
            return Worked("skipped", "the trial's end changed")
        step = item.data["step"]
        if step == "end":
            return self._end(subscription, item, max(as_of, trial_end))
        if step == "lapse":
            return self._lapse(subscription, item, as_of)
        return self._remind(subscription, step, as_of)

    def _remind(self, subscription: Subscription, step: str, as_of: datetime) -> Worked:
        if subscription.status != "trialing" or subscription.cancel_at_period_end:
            return Worked("skipped", f"the subscription is {subscription.status}")
        assert subscription.trial_end is not None
        zone = self._deps.settings.current().time_zone
        context: dict[str, object] = {
            "plan_name": self._plan_name(subscription),
            "trial_end": local_day(subscription.trial_end, zone),
            "days_left": max(0, days_until(as_of, subscription.trial_end, zone)),
            "billing_url": f"{self._deps.app_url}/billing",
            "cycle": subscription.cycle,
        }
        price = self._price(subscription)
        if price is not None:
            context |= {"price": price, "currency": subscription.currency}
        sent = send_to_managers(self._deps, subscription.account_id, TEMPLATE, subscription.id, step, context)
        return Worked("done" if sent else "skipped", f"{sent} sent")

    def _end(self, subscription: Subscription, item: WorkItem, at: datetime) -> Worked:
        if subscription.collection != "invoice":
            return Worked("skipped", "collected by Stripe: the trial ends there")
        context = system_context(self.name, item.key, "The trial ended without a payment method")
        changed = False
        if subscription.status == "trialing":
            rule = self._deps.settings.current().renewal_anchor
            anchor, first = first_period(
                subscription.current_period_end, subscription.cycle, subscription.time_zone, rule
            )
            after = machine.end_trial(subscription, period=first, anchor=anchor.at)
            follows = account_follows(self._deps.accounts, subscription.account_id, after)
            try:
                self._deps.subscriptions.save(
                    subscription, after, "subscription.trial_ended", follows, context
                )
                subscription, changed = after, True
            except ChangedMeanwhile:
                reread = self._deps.subscriptions.current(subscription.account_id)
                if reread is None or reread.id != subscription.id:
                    return Worked("skipped", "the subscription changed meanwhile")
                subscription = reread
        if subscription.status != "incomplete" or subscription.current_period_start != subscription.trial_end:
            return Worked("done" if changed else "skipped", f"the subscription is {subscription.status}")
        try:
            invoice, created = self._deps.invoicing(FixedClock(at)).invoice(subscription.account_id, context)
        except NothingToInvoice as nothing:
            return Worked("done" if changed else "skipped", str(nothing))
        if invoice.status == "draft":
            invoice = self._deps.invoices(FixedClock(at)).finalize(invoice.id, context)
        self._deps.notices.issued(invoice)
        return Worked("done" if changed or created else "skipped", f"first invoice {invoice.id}")

    def _lapse(self, subscription: Subscription, item: WorkItem, as_of: datetime) -> Worked:
        if subscription.status != "incomplete" or subscription.collection != "invoice":
            return Worked("skipped", f"the subscription is {subscription.status}")
        after = machine.cancel_now(
            subscription, at=as_of, reason="The trial ended and its first invoice is unpaid"
        )
        follows = account_follows(self._deps.accounts, subscription.account_id, after)
        context = system_context(self.name, item.key, "The trial's grace period ended unpaid")
        try:
            self._deps.subscriptions.save(subscription, after, "subscription.canceled", follows, context)
        except ChangedMeanwhile:
            return Worked("skipped", "the subscription changed meanwhile")
        return Worked("done", "canceled")

    def _plan_name(self, subscription: Subscription) -> str:
        return self._deps.catalogue.stored(subscription.plan_code).plan.name

    def _price(self, subscription: Subscription) -> int | None:
        version = self._deps.catalogue.version(subscription.plan_code, subscription.plan_version)
        price = version.version.price(subscription.cycle, subscription.currency)
        return price.amount if price is not None else None
