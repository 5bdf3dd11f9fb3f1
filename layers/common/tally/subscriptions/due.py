"""Which DueIndex entry a subscription carries (issue 10): what the scheduled jobs will find due.

At most one, from its state alone, written in the same Put as every change of the subscription
(tally.subscriptions.dynamo.subscription_item), so a job's planner reads exactly the
subscriptions whose next event falls due, and a change (a renewal, a cancellation, a payment)
moves or removes the entry in the same write:

- set to cancel at its period's end (trialing or not): EXPIRIES_DUE at that end (the expiry
  job sends the reminders and ends it);
- trialing: TRIALS_DUE at the trial's end (reminders, then the trial ends);
- invoice-collected, left incomplete by its trial: TRIAL_GRACE_DUE at the trial's end (the
  trials job cancels it once the seller's grace period has passed, when there is one);
- invoice-collected, active or past due: RENEWALS_DUE at its period's end (the recurring
  invoicing job invoices the next period and rolls it over).

Stripe-collected subscriptions renew in Stripe (its webhooks move them); ended, paused, unpaid
and never-paid ones have nothing due.
"""

from __future__ import annotations

from datetime import datetime

from tally.billing.subscription_state import FINAL, Subscription
from tally.storage import keys


def due_entry(subscription: Subscription) -> tuple[str, datetime] | None:
    """(DUEPK, instant) of the subscription's next scheduled event, or None."""
    status = subscription.status
    if status in FINAL:
        return None
    if subscription.cancel_at_period_end and subscription.allows("period_end_reached"):
        return keys.EXPIRIES_DUE, subscription.current_period_end
    if status == "trialing":
        return keys.TRIALS_DUE, subscription.trial_end or subscription.current_period_end
    if subscription.collection != "invoice":
        return None
    if status == "incomplete" and subscription.trial_end is not None:
        return keys.TRIAL_GRACE_DUE, subscription.trial_end
    if status in ("active", "past_due"):
        return keys.RENEWALS_DUE, subscription.current_period_end
    return None


def due_attributes(subscription: Subscription) -> dict[str, dict[str, str]]:
    entry = due_entry(subscription)
    if entry is None:
        return {}
    partition, at = entry
    return keys.subscription_due(partition, at, subscription.id)
