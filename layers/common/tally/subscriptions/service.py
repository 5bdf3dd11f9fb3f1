"""Starting, changing, cancelling and resuming an account's subscription.

Every status change is a transition of tally.billing.subscription_state (an impossible one is
409 in words); the account's status follows (`account_status_for`) in the same transaction, when
the accounts' own machine (tally.accounts.status) allows the move.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from tally import clock as clocks
from tally.accounts.errors import ChangedMeanwhile
from tally.accounts.status import transition_problem
from tally.audit.records import Actor, AuditContext
from tally.billing import subscription_state as machine
from tally.billing.catalogue import Cycle
from tally.billing.periods import (
    BillingAnchor,
    Period,
    first_period,
    next_period,
    period_at,
    period_containing,
    trial_end,
)
from tally.billing.proration import ChangePlan, PricedChoice, ProrationLine, classify, plan_change
from tally.billing.subscription_state import FINAL, PendingChange, PendingLine, Subscription
from tally.clock import Clock
from tally.errors import Conflict, InvalidInput, NotFound
from tally.plans.service import CatalogueService
from tally.subscriptions.choices import choosable, current_choice, priced_choice
from tally.subscriptions.ports import AccountFollows, Accounts, SubscriptionStore

if TYPE_CHECKING:
    from tally.coupons.ports import PendingRedemption
    from tally.coupons.service import CouponService


class NoSubscription(Conflict):
    code = "no_subscription"


DEFAULT_TIME_ZONE = "Europe/Paris"


def new_subscription_id() -> str:
    return f"sub_{secrets.token_hex(10)}"


@dataclass(frozen=True)
class Preview:
    """A change as it would apply now: its plan (kind, when, proration, next invoice)."""

    current: PricedChoice
    new: PricedChoice
    change: ChangePlan


class SubscriptionService:
    def __init__(
        self,
        store: SubscriptionStore,
        catalogue: CatalogueService,
        accounts: Accounts,
        *,
        time_zone: str = DEFAULT_TIME_ZONE,
        clock: Clock | None = None,
        coupons: CouponService | None = None,
        renewal_anchor: Callable[[], str] | None = None,
    ) -> None:
        """`renewal_anchor`: the seller setting (issue 10), read at each start: `anniversary`
        (the default, also without it) or `first_of_month` (a prorated first period to the 1st)."""
        self._renewal_anchor = renewal_anchor
        self._coupons = coupons
        self._store = store
        self._catalogue = catalogue
        self._accounts = accounts
        self._zone = time_zone
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    # -- reading ---------------------------------------------------------------------------

    def current(self, account_id: str, context: AuditContext) -> Subscription:
        subscription = self._stored(account_id, context)
        if subscription is None:
            raise NotFound("This account has no subscription: start one first", field="account_id")
        return subscription

    def _changing(self, account_id: str, context: AuditContext) -> Subscription:
        """The subscription a change, cancellation or resumption acts on: none is a conflict with
        the account's state (start one first), not a missing resource: the account exists."""
        subscription = self._stored(account_id, context)
        if subscription is None:
            raise NoSubscription("This account has no subscription: start one first", field="account_id")
        return subscription

    def _stored(self, account_id: str, context: AuditContext) -> Subscription | None:
        subscription = self._store.current(account_id)
        return None if subscription is None else self._settled(subscription, context)

    def _settled(self, subscription: Subscription, context: AuditContext) -> Subscription:
        return settle(self._store, self._accounts, subscription, self._now(), context)

    # -- starting --------------------------------------------------------------------------

    def start(
        self,
        account_id: str,
        plan_code: str,
        cycle: Cycle,
        currency: str,
        context: AuditContext,
        *,
        active_reason: str | None = None,
        coupon: str | None = None,
    ) -> Subscription:
        """Trialing when the plan has a trial without a card; active when a platform admin says
        why (`active_reason`, checked by the route); otherwise incomplete until its first invoice
        is paid."""
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        if account.status == "suspended":
            # A new subscription would make the account active again (it follows): that would
            # lift a suspension its owners cannot lift. Paying what is due does (the invoices).
            raise Conflict(
                f"The account is suspended ({account.status_reason or 'no reason given'}): settle what "
                "is due, or ask the platform to lift the suspension, before starting a subscription",
                field="account_id",
            )
        existing = self._stored(account_id, context)
        if existing is not None and existing.status not in FINAL:
            raise Conflict(
                f"This account already has a {existing.status} subscription ({existing.id}): change "
                "it or cancel it instead",
                field="plan",
            )
        _stored, version = choosable(self._catalogue, plan_code)
        price = version.version.price(cycle, currency)
        if price is None:
            offered = ", ".join(f"{p.cycle} {p.currency}" for p in version.version.prices)
            # Blame the cycle when no price has it, else the currency.
            wrong = "currency" if any(p.cycle == cycle for p in version.version.prices) else "cycle"
            raise InvalidInput(
                f"Plan '{plan_code}' has no {cycle} price in {currency}: it is priced {offered}",
                field=wrong,
            )
        if price.on_quote and active_reason is None:
            raise Conflict(
                f"Plan '{plan_code}' is sold on quote in {currency}: a platform admin sets it up",
                field="plan",
            )
        now = self._now()
        common = {
            "id": new_subscription_id(),
            "account_id": account_id,
            "plan_code": plan_code,
            "plan_version": version.number,
            "cycle": cycle,
            "currency": currency,
            "time_zone": self._zone,
            "at": now,
        }
        trial = version.version.trial
        rule = self._renewal_anchor() if self._renewal_anchor is not None else "anniversary"
        anchor, first = first_period(now, cycle, self._zone, rule)
        if active_reason is not None:
            subscription = machine.start_active(
                **common,  # type: ignore[arg-type]
                period=first,
                anchor=anchor.at,
                reason=active_reason,
            )
        elif trial is not None and not trial.card_required:
            subscription = machine.start_trial(**common, trial_end=trial_end(now, trial.days, self._zone))  # type: ignore[arg-type]
        else:
            subscription = machine.start_incomplete(**common, period=first, anchor=anchor.at)  # type: ignore[arg-type]
        redemption = None
        if coupon is not None:
            subscription, redemption = self._redeeming(coupon, subscription, price.amount, existing is None)
        self._store.create(
            subscription, existing, self._follows(account_id, subscription), context, redemption=redemption
        )
        return subscription

    def _redeeming(
        self, code: str, subscription: Subscription, amount: int | None, new_customer: bool
    ) -> tuple[Subscription, PendingRedemption]:
        """Issue 8: the coupon checked for this start (redeemed in the store's transaction), and
        the subscription remembering it from its first paid period (after the trial)."""
        if self._coupons is None or amount is None:
            raise InvalidInput("A coupon cannot be used for this plan and currency", field="coupon")
        pending = self._coupons.prepare(
            code,
            subscription.account_id,
            subscription.plan_code,
            subscription.cycle,
            subscription.currency,
            amount,
            ("subscription", subscription.id),
            subscription.trial_end or subscription.current_period_start,
            new_customer=new_customer,
            field="coupon",
        )
        return subscription.model_copy(update={"coupon": pending.applied}), pending

    # -- changing plan or cycle ------------------------------------------------------------

    def _plan(
        self, subscription: Subscription, new: PricedChoice, immediately: bool | None, now: datetime
    ) -> ChangePlan:
        current = current_choice(self._catalogue, subscription)
        if subscription.status == "trialing":
            # Nothing is paid during a trial: a change applies at once (unless asked to wait),
            # without proration; the first invoice, at the trial's end, is at the new price.
            kind = classify(current, new)
            if kind == "none":
                raise Conflict(f"The subscription is already on {new.plan_name} ({new.cycle})")
            if new.amount is None:
                raise Conflict("A plan priced on quote cannot be chosen here: a platform admin sets it up")
            end = subscription.current_period_end
            first = period_at(BillingAnchor(end, subscription.time_zone), new.cycle, 0)
            line = ProrationLine(f"{new.plan_name} ({new.cycle})", new.amount, first.start, first.end)
            return ChangePlan(
                kind=kind,
                effective_at=end if immediately is False else now,
                proration=None,
                next_invoice_at=end,
                next_invoice=(line,),
            )
        anchor = BillingAnchor(subscription.billing_anchor, subscription.time_zone)
        period = period_containing(anchor, subscription.cycle, subscription.current_period_start)
        if (
            period.start != subscription.current_period_start
        ):  # pragma: no cover - a first period set by activate
            period = Period(0, subscription.current_period_start, subscription.current_period_end)
        if new.cycle == subscription.cycle:
            new_period = period
            following = next_period(anchor, subscription.cycle, period)
        else:
            new_period = period_at(BillingAnchor(now, subscription.time_zone), new.cycle, 0)
            following = period_at(BillingAnchor(period.end, subscription.time_zone), new.cycle, 0)
        return plan_change(
            current=current,
            new=new,
            period=period,
            at=now,
            new_period=new_period,
            following_period=following,
            immediately=immediately,
        )

    def preview(self, account_id: str, plan_code: str, cycle: Cycle | None, context: AuditContext) -> Preview:
        """What `change` would do now, refused exactly when `change` would refuse it."""
        _after, _action, preview = self._changed(self._changing(account_id, context), plan_code, cycle, None)
        return preview

    def change(
        self,
        account_id: str,
        plan_code: str,
        cycle: Cycle | None,
        immediately: bool | None,
        context: AuditContext,
    ) -> tuple[Subscription, Preview]:
        subscription = self._changing(account_id, context)
        after, action, preview = self._changed(subscription, plan_code, cycle, immediately)
        self._store.save(subscription, after, action, None, context)
        return after, preview

    def _changed(
        self, subscription: Subscription, plan_code: str, cycle: Cycle | None, immediately: bool | None
    ) -> tuple[Subscription, str, Preview]:
        """The subscription after the change, its audit action, and the plan of it: the state
        machine is asked even for a preview, so a preview never promises what a change refuses."""
        stored, version = choosable(self._catalogue, plan_code)
        new = priced_choice(stored, version, cycle or subscription.cycle, subscription.currency)
        now = self._now()
        if subscription.status in FINAL:
            # The machine words the refusal (a canceled subscription cannot change plan).
            machine.change_now(
                subscription,
                plan_code=plan_code,
                plan_version=version.number,
                cycle=new.cycle,
                period=Period(0, now, now),
            )
        planned = self._plan(subscription, new, immediately, now)
        if planned.effective_at > now:
            after = machine.schedule_change(
                subscription,
                PendingChange(
                    plan_code=new.plan_code,
                    plan_version=new.plan_version,
                    cycle=new.cycle,
                    effective_at=planned.effective_at,
                ),
            )
            action = "subscription.change_scheduled"
        else:
            if subscription.status == "trialing" or new.cycle == subscription.cycle:
                period = Period(0, subscription.current_period_start, subscription.current_period_end)
            else:
                period = period_at(BillingAnchor(now, subscription.time_zone), new.cycle, 0)
            after = machine.change_now(
                subscription,
                plan_code=new.plan_code,
                plan_version=new.plan_version,
                cycle=new.cycle,
                period=period,
                lines=pending_lines(planned),
            )
            action = "subscription.plan_changed"
        return after, action, Preview(current_choice(self._catalogue, subscription), new, planned)

    # -- cancelling and resuming -----------------------------------------------------------

    def cancel(
        self, account_id: str, at_period_end: bool, reason: str | None, context: AuditContext
    ) -> Subscription:
        subscription = self._changing(account_id, context)
        now = self._now()
        if at_period_end:
            after = machine.cancel_at_period_end(subscription, at=now, reason=reason)
            action = "subscription.cancel_scheduled"
        else:
            after = machine.cancel_now(subscription, at=now, reason=reason)
            action = "subscription.canceled"
        self._store.save(subscription, after, action, self._follows(account_id, after), context)
        return after

    def resume(self, account_id: str, context: AuditContext) -> Subscription:
        subscription = self._changing(account_id, context)
        after = machine.resume(subscription, at=self._now())
        self._store.save(subscription, after, "subscription.resumed", None, context)
        return after

    # -- the account follows ---------------------------------------------------------------

    def _follows(self, account_id: str, subscription: Subscription) -> AccountFollows | None:
        return account_follows(self._accounts, account_id, subscription)


def pending_lines(planned: ChangePlan) -> tuple[PendingLine, ...]:
    """What an immediate change leaves for the next invoice: its proration. When a new cycle
    starts with the change, the charge is the whole new period's price: that period's own invoice
    bills it as its plan line, so only the credit waits (ChangePlan.next_invoice says the same)."""
    if planned.proration is None:
        return ()
    lines = planned.proration.lines
    if planned.next_invoice_at == planned.proration.at:
        lines = tuple(line for line in lines if line.amount < 0)
    return tuple(
        PendingLine(
            description=line.description,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in lines
    )


def account_follows(accounts: Accounts, account_id: str, subscription: Subscription) -> AccountFollows | None:
    """The account's status change the subscription's status implies, when the accounts' machine
    allows it from where the account is (else the account stays as it is). Also used when paying
    an invoice moves the subscription (tally.invoices.service)."""
    wanted = machine.account_status_for(subscription.status)
    account = accounts.get(account_id)
    if wanted is None or account is None or account.status == wanted:
        return None
    if transition_problem(account.status, wanted) is not None:
        return None
    return AccountFollows(account, wanted, f"Subscription {subscription.id} is {subscription.status}")


def settle(
    store: SubscriptionStore,
    accounts: Accounts,
    subscription: Subscription,
    now: datetime,
    context: AuditContext,
) -> Subscription:
    """A subscription set to cancel whose period has ended is canceled, and its account
    cancelled, before anything reads, changes or invoices it: nobody sees it live past its end.
    (The expiry job of the scheduled-jobs issue does the same without waiting for a request.)
    Rolling a period over is not done here: it goes with the period's invoice
    (tally.invoices.subscription)."""
    end = subscription.current_period_end
    if not (subscription.cancel_at_period_end and subscription.allows("period_end_reached") and now >= end):
        return subscription
    after = machine.period_end_reached(subscription, next_period=Period(1, end, end))
    system = replace(
        context,
        actor=Actor.system("period-end"),
        reason="The period ended with the subscription set to cancel",
    )
    try:
        store.save(
            subscription,
            after,
            "subscription.canceled",
            account_follows(accounts, after.account_id, after),
            system,
        )
    except ChangedMeanwhile:
        # Another request settled it first: read what it wrote.
        return store.current(after.account_id) or after
    return after
