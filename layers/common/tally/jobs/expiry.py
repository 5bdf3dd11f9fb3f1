"""Expiry (`expiry`, daily): subscriptions set to end at their period's end get reminders 7, 3
and 1 days before, and at the end they end (`period_end_reached` cancels a flagged subscription;
the account follows: cancelled).

Plan: one Query per window of EXPIRIES_DUE (the reminders' days ahead; everything ended by the
end of the day). Work, as of the period's end (or the run's instant, if later): expiry-reminder
to the owners and admins once per (subscription, days, recipient); the end through
tally.subscriptions.service.settle, which every read of the subscription applies too, so a
request and the job never both end it (the store's write is conditional on what was read).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from tally.billing.subscription_state import Subscription
from tally.jobs.base import JobName, Worked, WorkItem
from tally.jobs.calendar import days_until, local_day
from tally.jobs.deps import JobDeps
from tally.jobs.reminders import (
    as_instant,
    planned_subscription,
    reminder_steps,
    send_to_managers,
    subscription_item,
    system_context,
)
from tally.storage import keys
from tally.subscriptions.service import settle

TEMPLATE = "expiry-reminder"


class Expiry:
    name: JobName = "expiry"

    def __init__(self, deps: JobDeps) -> None:
        self._deps = deps

    def plan(self, as_of: datetime) -> Iterator[WorkItem]:
        zone = self._deps.settings.current().time_zone
        for entry, step in reminder_steps(self._deps.due, keys.EXPIRIES_DUE, as_of, zone):
            key = f"{entry.subscription_id}#{keys.due_instant(entry.at)}#{step}"
            yield subscription_item(self.name, key, entry, "ends_at", step)

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        subscription = planned_subscription(self._deps, item)
        if subscription is None:
            return Worked("skipped", "the account's current subscription is another one")
        ends_at = as_instant(item.data["ends_at"])
        if not subscription.cancel_at_period_end or subscription.current_period_end != ends_at:
            return Worked("skipped", f"not ending then (it is {subscription.status})")
        if item.data["step"] == "end":
            at = max(as_of, ends_at)
            context = system_context(
                self.name, item.key, "The period ended with the subscription set to cancel"
            )
            after = settle(self._deps.subscriptions, self._deps.accounts, subscription, at, context)
            return Worked("done" if after.status != subscription.status else "skipped", after.status)
        return self._remind(subscription, item.data["step"], as_of)

    def _remind(self, subscription: Subscription, step: str, as_of: datetime) -> Worked:
        zone = self._deps.settings.current().time_zone
        ends_at = subscription.current_period_end
        context: dict[str, object] = {
            "plan_name": self._deps.catalogue.stored(subscription.plan_code).plan.name,
            "expires_on": local_day(ends_at, zone),
            "days_left": max(0, days_until(as_of, ends_at, zone)),
            "renew_url": f"{self._deps.app_url}/billing",
        }
        version = self._deps.catalogue.version(subscription.plan_code, subscription.plan_version)
        price = version.version.price(subscription.cycle, subscription.currency)
        if price is not None and price.amount is not None:
            context |= {"price": price.amount, "currency": subscription.currency}
        # The ledger's entity: the subscription and the end it announces (a resumed then
        # re-cancelled subscription with another end gets its reminders again).
        entity = f"{subscription.id}@{keys.due_instant(ends_at)}"
        sent = send_to_managers(self._deps, subscription.account_id, TEMPLATE, entity, step, context)
        return Worked("done" if sent else "skipped", f"{sent} sent")
