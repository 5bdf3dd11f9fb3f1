"""Subscriptions and the one state machine that changes their status.

Statuses are Stripe's words. Every change of status (and of the cancellation flags that go with
it) is one named transition below; a transition the current status does not allow raises
`TransitionRefused` (409), whose message says why in words. Each transition is a pure function
from a `Subscription` to the next one: the caller stores it, with its audit record, in one
transaction, conditional on the status it read (so two concurrent changes cannot both apply).

    (new) --start_trial--> trialing --activate--> active
    (new) --start_incomplete--> incomplete --activate--> active
    (new) --start_active (platform admin, offline deal)--> active
    incomplete --expire_incomplete--> incomplete_expired
    trialing --trial_lapsed--> paused --unpause--> active
    trialing --end_trial (no card, no payment method)--> incomplete (its first invoice issued)
    active --payment_failed--> past_due --mark_unpaid--> unpaid
    past_due | unpaid --payment_recovered--> active
    active | trialing --pause--> paused
    any live status --cancel_now--> canceled
    trialing | active | past_due --cancel_at_period_end--> (same status, flag set) --resume--> (flag cleared)
    period_end_reached: cancels a subscription flagged to cancel, applies a pending change, or
    rolls the period over.

`canceled` and `incomplete_expired` are final: a new subscription is a new subscription.

Several subscriptions per account (add-ons) later: nothing in `Subscription` assumes it is the
account's only one. It has its own id and names its account as a reference; "one current
subscription per account" is a rule of the service that creates subscriptions (a claim item
`ACCOUNT#<id>` / `SUBSCRIPTION#CURRENT` holding the current id, written in the same transaction),
not of this model or this machine. Add-ons would add a `role` (`base` by default, or `add_on`)
and keep the claim for the base subscription only; entitlements would merge the base plan's with
each add-on's, and `account_status_for` would read the base subscription.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tally.billing.amounts import Currency
from tally.billing.catalogue import Cycle
from tally.billing.codes import PlanCode
from tally.billing.coupons import AppliedCoupon
from tally.billing.periods import Period, utc
from tally.errors import Conflict
from tally.http.fields import ISO_INSTANT

Status = Literal[
    "trialing", "active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "paused"
]
Collection = Literal["invoice", "stripe"]
AccountStatus = Literal["pending", "active", "suspended", "cancelled", "expired"]
TransitionName = Literal[
    "start_trial",
    "start_incomplete",
    "start_active",
    "activate",
    "expire_incomplete",
    "trial_lapsed",
    "end_trial",
    "payment_failed",
    "mark_unpaid",
    "payment_recovered",
    "pause",
    "unpause",
    "cancel_now",
    "cancel_at_period_end",
    "resume",
    "period_end_reached",
    "schedule_change",
    "cancel_pending_change",
    "change_now",
]

MAX_PENDING_LINES = 100  # an invoice holds 200 lines; changes beyond this wait for the next one
FINAL: frozenset[Status] = frozenset({"canceled", "incomplete_expired"})
LIVE: frozenset[Status] = frozenset({"trialing", "active", "past_due", "unpaid", "incomplete", "paused"})

# Which statuses each transition leaves from. The three start_* transitions create a subscription.
ALLOWED_FROM: Mapping[TransitionName, frozenset[Status]] = {
    "activate": frozenset({"incomplete", "trialing"}),
    "expire_incomplete": frozenset({"incomplete"}),
    "trial_lapsed": frozenset({"trialing"}),
    "end_trial": frozenset({"trialing"}),
    "payment_failed": frozenset({"active", "past_due"}),
    "mark_unpaid": frozenset({"past_due"}),
    "payment_recovered": frozenset({"past_due", "unpaid"}),
    "pause": frozenset({"active", "trialing"}),
    "unpause": frozenset({"paused"}),
    "cancel_now": LIVE,
    "cancel_at_period_end": frozenset({"trialing", "active", "past_due"}),
    "resume": frozenset({"trialing", "active", "past_due"}),
    "period_end_reached": frozenset({"trialing", "active", "past_due", "unpaid", "paused"}),
    "schedule_change": frozenset({"trialing", "active"}),
    "cancel_pending_change": frozenset({"trialing", "active", "past_due", "unpaid", "paused"}),
    "change_now": frozenset({"trialing", "active"}),
}

_WORDS: Mapping[TransitionName, str] = {
    "activate": "be activated",
    "expire_incomplete": "expire as incomplete",
    "trial_lapsed": "end a trial",
    "end_trial": "end a trial",
    "payment_failed": "record a failed payment",
    "mark_unpaid": "be marked unpaid",
    "payment_recovered": "record a recovered payment",
    "pause": "be paused",
    "unpause": "be unpaused",
    "cancel_now": "be canceled",
    "cancel_at_period_end": "be set to cancel at the period's end",
    "resume": "be resumed",
    "period_end_reached": "roll over to a new period",
    "schedule_change": "schedule a plan change",
    "cancel_pending_change": "drop a scheduled plan change",
    "change_now": "change plan",
}

_STATUS_WORDS: Mapping[Status, str] = {
    "trialing": "A trialing subscription",
    "active": "An active subscription",
    "past_due": "A past-due subscription",
    "unpaid": "An unpaid subscription",
    "canceled": "A canceled subscription",
    "incomplete": "An incomplete subscription",
    "incomplete_expired": "An expired incomplete subscription",
    "paused": "A paused subscription",
}

# Why, where the general sentence would not say enough.
_BECAUSE: Mapping[tuple[Status, TransitionName], str] = {
    ("canceled", "resume"): "it has ended; start a new subscription",
    ("incomplete_expired", "activate"): "its first invoice was not paid in time; start a new subscription",
    ("incomplete", "payment_failed"): "it has never been paid; it expires if its first invoice stays unpaid",
    ("incomplete", "pause"): "it has never been paid",
    ("active", "activate"): "it is active already",
    ("active", "resume"): "it is not set to cancel",
    ("unpaid", "cancel_at_period_end"): "it is unpaid; cancel it now instead",
    ("incomplete", "cancel_at_period_end"): "it has no paid period to run to; cancel it now instead",
}


class TransitionRefused(Conflict):
    code = "invalid_transition"


def _refuse(status: Status, name: TransitionName, reason: str | None = None) -> TransitionRefused:
    subject = _STATUS_WORDS[status]
    because = reason or _BECAUSE.get((status, name))
    if because is None:
        if status in FINAL:
            because = "it has ended; start a new subscription"
        else:
            allowed = sorted(ALLOWED_FROM[name])
            because = f"only {' or '.join(s.replace('_', '-') for s in allowed)} subscriptions can"
    return TransitionRefused(f"{subject} cannot {_WORDS[name]}: {because}")


def _aware_utc(value: datetime) -> datetime:
    return utc(value)


Instant = Annotated[datetime, ISO_INSTANT, AfterValidator(_aware_utc)]


class PendingChange(BaseModel):
    """A plan or cycle change waiting for the period's end (a downgrade, by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    plan_code: PlanCode
    plan_version: Annotated[int, Field(ge=1)]
    cycle: Cycle
    effective_at: Instant


class PendingLine(BaseModel):
    """A line waiting for the subscription's next invoice: the proration of an immediate change
    (a credit is negative), or what is left of a credit the last invoice could not take."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    description: Annotated[str, Field(min_length=1, max_length=500)]
    amount: Annotated[int, Field(ge=-(10**15), le=10**15, description="Minor units; a credit is negative")]
    period_start: Instant
    period_end: Instant


class Subscription(BaseModel):
    """An account on a plan version, cycle and currency.

    Not strict: storage reads it back from ISO-8601 strings. Instants are aware and UTC.
    `billing_anchor` and `time_zone` fix its periods (tally.billing.periods.BillingAnchor).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: Annotated[str, Field(min_length=1, max_length=64)]
    account_id: Annotated[str, Field(min_length=1, max_length=64)]
    plan_code: PlanCode
    plan_version: Annotated[int, Field(ge=1)]
    cycle: Cycle
    currency: Currency
    status: Status
    collection: Collection = "invoice"
    billing_anchor: Instant
    time_zone: str
    current_period_start: Instant
    current_period_end: Instant
    trial_end: Instant | None = None
    cancel_at_period_end: bool = False
    canceled_at: Instant | None = None
    ended_at: Instant | None = None
    cancellation_reason: str | None = None
    pending_change: PendingChange | None = None
    created_at: Instant
    # issue 8: the coupon redeemed with it, which its invoices apply to the periods it covers.
    coupon: AppliedCoupon | None = None
    # issue 9: proration lines of immediate changes, which the next period's invoice takes (and
    # clears, in its transaction). Empty by default, so subscriptions stored before still load.
    pending_lines: tuple[PendingLine, ...] = Field(
        default=(), description="Lines waiting for the next invoice (the proration of a change)"
    )
    # issue 9: a `collection: stripe` subscription mirrors these Stripe objects.
    stripe_subscription_id: Annotated[str, Field(max_length=255)] | None = None
    stripe_customer_id: Annotated[str, Field(max_length=255)] | None = None
    # issue 9: while past_due after a failed payment, access is kept until then (the seller's
    # `payment_grace_days` after the failure); None otherwise.
    grace_until: Instant | None = None

    def allows(self, name: TransitionName) -> bool:
        return self.status in ALLOWED_FROM[name]


def _require(subscription: Subscription, name: TransitionName) -> None:
    if subscription.status not in ALLOWED_FROM[name]:
        raise _refuse(subscription.status, name)


def _move(subscription: Subscription, **changes: object) -> Subscription:
    return subscription.model_validate({**subscription.model_dump(), **changes})


# --- creating a subscription ------------------------------------------------------------------


def _new(
    status: Status,
    *,
    id: str,
    account_id: str,
    plan_code: str,
    plan_version: int,
    cycle: Cycle,
    currency: str,
    collection: Collection,
    time_zone: str,
    period: Period,
    at: datetime,
    trial_end: datetime | None = None,
    anchor: datetime | None = None,
) -> Subscription:
    return Subscription(
        id=id,
        account_id=account_id,
        plan_code=plan_code,
        plan_version=plan_version,
        cycle=cycle,
        currency=currency,
        status=status,
        collection=collection,
        billing_anchor=anchor or period.start,
        time_zone=time_zone,
        current_period_start=period.start,
        current_period_end=period.end,
        trial_end=trial_end,
        created_at=at,
    )


def start_trial(
    *,
    id: str,
    account_id: str,
    plan_code: str,
    plan_version: int,
    cycle: Cycle,
    currency: str,
    time_zone: str,
    trial_end: datetime,
    at: datetime,
    collection: Collection = "invoice",
) -> Subscription:
    """A trial without a card starts at once; its period is the trial, from `at` to `trial_end`."""
    if utc(trial_end) <= utc(at):
        raise TransitionRefused("A trial must end after it starts")
    trial = Period(0, utc(at), utc(trial_end))
    return _new(
        "trialing",
        id=id,
        account_id=account_id,
        plan_code=plan_code,
        plan_version=plan_version,
        cycle=cycle,
        currency=currency,
        collection=collection,
        time_zone=time_zone,
        period=trial,
        at=at,
        trial_end=trial_end,
    )


def start_incomplete(
    *,
    id: str,
    account_id: str,
    plan_code: str,
    plan_version: int,
    cycle: Cycle,
    currency: str,
    time_zone: str,
    period: Period,
    at: datetime,
    collection: Collection = "invoice",
    anchor: datetime | None = None,
) -> Subscription:
    """Waiting for its first invoice to be paid."""
    return _new(
        "incomplete",
        id=id,
        account_id=account_id,
        plan_code=plan_code,
        plan_version=plan_version,
        cycle=cycle,
        currency=currency,
        collection=collection,
        time_zone=time_zone,
        period=period,
        at=at,
        anchor=anchor,
    )


def start_active(
    *,
    id: str,
    account_id: str,
    plan_code: str,
    plan_version: int,
    cycle: Cycle,
    currency: str,
    time_zone: str,
    period: Period,
    at: datetime,
    reason: str,
    collection: Collection = "invoice",
    anchor: datetime | None = None,
) -> Subscription:
    """A platform admin's offline deal: active at once. The reason goes to the audit record."""
    if not reason.strip():
        raise TransitionRefused("Starting a subscription active needs a reason (the offline deal)")
    return _new(
        "active",
        id=id,
        account_id=account_id,
        plan_code=plan_code,
        plan_version=plan_version,
        cycle=cycle,
        currency=currency,
        collection=collection,
        time_zone=time_zone,
        period=period,
        at=at,
        anchor=anchor,
    )


# --- transitions ----------------------------------------------------------------------------


def activate(subscription: Subscription, *, period: Period | None = None) -> Subscription:
    """The first invoice is paid (or a trial converts). `period`: the first paid period, when it
    is not the current one (a trial's period ends with the trial)."""
    _require(subscription, "activate")
    if period is None:
        return _move(subscription, status="active")
    return _move(
        subscription,
        status="active",
        billing_anchor=period.start,
        current_period_start=period.start,
        current_period_end=period.end,
    )


def expire_incomplete(subscription: Subscription, *, at: datetime) -> Subscription:
    _require(subscription, "expire_incomplete")
    return _move(subscription, status="incomplete_expired", ended_at=at)


def trial_lapsed(subscription: Subscription) -> Subscription:
    """The trial ended without a payment: paused until paid (the account is suspended)."""
    _require(subscription, "trial_lapsed")
    return _move(subscription, status="paused")


def end_trial(subscription: Subscription, *, period: Period, anchor: datetime | None = None) -> Subscription:
    """Issue 10: the trial ended and nothing pays for the first period yet (no card was needed and
    none was given): incomplete, its first paid period `period` (from the trial's end; anchored
    there, or on `anchor`: the 1st of the month), until that period's invoice is paid (`activate`)."""
    _require(subscription, "end_trial")
    if subscription.cancel_at_period_end:
        raise _refuse(subscription.status, "end_trial", "it is set to cancel at the trial's end")
    return _move(
        subscription,
        status="incomplete",
        billing_anchor=anchor or period.start,
        current_period_start=period.start,
        current_period_end=period.end,
    )


def payment_failed(subscription: Subscription) -> Subscription:
    _require(subscription, "payment_failed")
    return _move(subscription, status="past_due")


def mark_unpaid(subscription: Subscription) -> Subscription:
    """The dunning ladder gave up retrying."""
    _require(subscription, "mark_unpaid")
    return _move(subscription, status="unpaid")


def payment_recovered(subscription: Subscription) -> Subscription:
    _require(subscription, "payment_recovered")
    return _move(subscription, status="active")


def pause(subscription: Subscription) -> Subscription:
    _require(subscription, "pause")
    return _move(subscription, status="paused")


def unpause(subscription: Subscription, *, period: Period | None = None) -> Subscription:
    _require(subscription, "unpause")
    if period is None:
        return _move(subscription, status="active")
    return _move(
        subscription,
        status="active",
        current_period_start=period.start,
        current_period_end=period.end,
    )


def cancel_now(subscription: Subscription, *, at: datetime, reason: str | None = None) -> Subscription:
    _require(subscription, "cancel_now")
    return _move(
        subscription,
        status="canceled",
        canceled_at=at,
        ended_at=at,
        cancel_at_period_end=False,
        cancellation_reason=reason,
        pending_change=None,
    )


def cancel_at_period_end(
    subscription: Subscription, *, at: datetime, reason: str | None = None
) -> Subscription:
    """Runs to the period's end, then `period_end_reached` cancels it. `canceled_at` records the
    request, as Stripe does."""
    _require(subscription, "cancel_at_period_end")
    if subscription.cancel_at_period_end:
        raise _refuse(subscription.status, "cancel_at_period_end", "it is set to cancel already")
    return _move(subscription, cancel_at_period_end=True, canceled_at=at, cancellation_reason=reason)


def resume(subscription: Subscription, *, at: datetime) -> Subscription:
    """Undo a cancellation at the period's end, before the period ends."""
    _require(subscription, "resume")
    if not subscription.cancel_at_period_end:
        raise _refuse(subscription.status, "resume", "it is not set to cancel")
    if utc(at) >= subscription.current_period_end:
        raise _refuse(subscription.status, "resume", "its period has ended")
    return _move(subscription, cancel_at_period_end=False, canceled_at=None, cancellation_reason=None)


def schedule_change(subscription: Subscription, change: PendingChange) -> Subscription:
    _require(subscription, "schedule_change")
    if subscription.cancel_at_period_end:
        raise _refuse(subscription.status, "schedule_change", "it is set to cancel; resume it first")
    return _move(subscription, pending_change=change.model_dump())


def cancel_pending_change(subscription: Subscription) -> Subscription:
    _require(subscription, "cancel_pending_change")
    if subscription.pending_change is None:
        raise _refuse(subscription.status, "cancel_pending_change", "no plan change is scheduled")
    return _move(subscription, pending_change=None)


def change_now(
    subscription: Subscription,
    *,
    plan_code: str,
    plan_version: int,
    cycle: Cycle,
    period: Period,
    lines: Sequence[PendingLine] = (),
) -> Subscription:
    """An immediate change (an upgrade): the new plan from now; `period` is the period in force
    (the current one, or the new cycle's first when the cycle changes). `lines`, its proration,
    wait for the next invoice after those already waiting."""
    _require(subscription, "change_now")
    if subscription.cancel_at_period_end:
        raise _refuse(subscription.status, "change_now", "it is set to cancel; resume it first")
    if len(subscription.pending_lines) + len(lines) > MAX_PENDING_LINES:
        raise _refuse(
            subscription.status,
            "change_now",
            "its next invoice holds too many changes already; change it after that invoice",
        )
    anchor = subscription.billing_anchor if cycle == subscription.cycle else period.start
    return _move(
        subscription,
        plan_code=plan_code,
        plan_version=plan_version,
        cycle=cycle,
        billing_anchor=anchor,
        current_period_start=period.start,
        current_period_end=period.end,
        pending_change=None,
        pending_lines=(*subscription.pending_lines, *lines),
    )


def period_end_reached(subscription: Subscription, *, next_period: Period) -> Subscription:
    """At `current_period_end`: a subscription set to cancel ends; otherwise a pending change
    applies and the next period begins (`next_period`, computed by the caller from the anchor and
    the cycle in force after the change, starting at the old period's end)."""
    _require(subscription, "period_end_reached")
    end = subscription.current_period_end
    if subscription.cancel_at_period_end:
        return _move(
            subscription, status="canceled", ended_at=end, cancel_at_period_end=False, pending_change=None
        )
    if next_period.start != end:
        raise TransitionRefused(
            f"The next period must start when the current one ends ({end.isoformat()}), "
            f"not at {next_period.start.isoformat()}"
        )
    changes: dict[str, object] = {
        "current_period_start": next_period.start,
        "current_period_end": next_period.end,
    }
    change = subscription.pending_change
    if change is not None:
        changes |= {
            "plan_code": change.plan_code,
            "plan_version": change.plan_version,
            "cycle": change.cycle,
            "pending_change": None,
        }
        if change.cycle != subscription.cycle:
            changes["billing_anchor"] = end
    return _move(subscription, **changes)


# --- the account follows its subscription -----------------------------------------------------

_ACCOUNT_STATUS: Mapping[Status, AccountStatus | None] = {
    "trialing": "active",
    "active": "active",
    "past_due": None,  # grace: the dunning ladder decides (mark_unpaid suspends)
    "unpaid": "suspended",
    "paused": "suspended",
    "incomplete": "pending",
    "incomplete_expired": "expired",
    "canceled": "cancelled",
}


def account_status_for(status: Status) -> AccountStatus | None:
    """The account status a subscription status implies, or None when it leaves the account as
    it is. A subscription set to cancel at the period's end is still trialing or active, so the
    account stays active until `period_end_reached` cancels it."""
    return _ACCOUNT_STATUS[status]
