"""An account's owners and admins manage its subscription themselves: read it, open Stripe's
billing portal, cancel at the period's end, resume, preview and apply a change of plan.

A `collection: invoice` subscription (Tally invoices it) goes to tally.subscriptions.service,
exactly as /v1/accounts/{id}/subscription does. A `collection: stripe` one is changed in Stripe
first (idempotency keys derived from the subscription as read, so a retry changes nothing
twice), then mirrored here through the same state machine, in one transaction with its audit
record; the webhook's later events find it applied already. The machine is asked before Stripe
is: what it refuses (a canceled subscription cannot resume) never reaches Stripe.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tally import clock as clocks
from tally.audit.records import AuditContext
from tally.billing import subscription_state as machine
from tally.billing.catalogue import Cycle
from tally.billing.periods import Period
from tally.billing.proration import PricedChoice, classify
from tally.billing.subscription_state import Subscription
from tally.checkout.stripe_objects import StripeIds, StripeObjects
from tally.checkout.urls import check_return_url
from tally.clock import Clock
from tally.errors import Conflict, InvalidInput, NotFound
from tally.payments.stripe_checkout import InvoicePreview, StripeCheckout
from tally.plans.service import CatalogueService
from tally.subscriptions.choices import choosable, current_choice, priced_choice
from tally.subscriptions.dynamo import fingerprint
from tally.subscriptions.models import ChangedOut, ChangeOut, LineOut, change_out, choice_out
from tally.subscriptions.ports import SubscriptionStore
from tally.subscriptions.service import NoSubscription, SubscriptionService


def preview_out(
    current: PricedChoice, new: PricedChoice, preview: InvoicePreview, at: datetime, period_end: datetime
) -> ChangeOut:
    """Stripe's invoice preview in the native preview's shape: a Stripe change applies at once,
    its proration lines are the preview's proration lines, the next invoice is the preview."""
    kind = classify(current, new)
    lines = [
        LineOut(
            description=line.description,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in preview.lines
    ]
    proration = [out for out, line in zip(lines, preview.lines, strict=True) if line.proration]
    return ChangeOut(
        kind=kind,
        effective_at=at,
        currency=new.currency,
        current=choice_out(current),
        new=choice_out(new),
        proration=proration,
        proration_net=sum(line.amount for line in proration),
        next_invoice_at=preview.next_payment_at or period_end,
        next_invoice=lines,
        next_invoice_total=preview.total,
    )


class SelfService:
    def __init__(
        self,
        *,
        subscriptions: SubscriptionService,
        store: SubscriptionStore,
        catalogue: CatalogueService,
        ids: StripeIds,
        stripe: StripeCheckout,
        allowed_origins: Callable[[], frozenset[str]],
        clock: Clock | None = None,
    ) -> None:
        self._subscriptions = subscriptions
        self._store = store
        self._catalogue = catalogue
        self._ids = ids
        self._stripe = stripe
        self._objects = StripeObjects(ids, stripe)
        self._allowed = allowed_origins
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    def current(self, account_id: str, context: AuditContext) -> Subscription:
        return self._subscriptions.current(account_id, context)

    def _stripe_id(self, subscription: Subscription) -> str:
        if subscription.stripe_subscription_id is None:
            raise Conflict("This subscription's Stripe side is not known yet: retry in a moment")
        return subscription.stripe_subscription_id

    # -- the billing portal ----------------------------------------------------------------

    def portal(self, account_id: str, return_url: str) -> str:
        check_return_url(return_url, "return_url", self._allowed())
        customer = self._ids.customer(account_id)
        if customer is None:
            current = self._store.current(account_id)
            customer = current.stripe_customer_id if current is not None else None
        if customer is None:
            raise Conflict("This account pays no subscription through Stripe yet: start a checkout first")
        return self._stripe.create_portal_session(customer, return_url)

    # -- cancelling and resuming -----------------------------------------------------------

    def cancel(self, account_id: str, context: AuditContext) -> Subscription:
        subscription = self._changing(account_id, context)
        if subscription.collection != "stripe":
            return self._subscriptions.cancel(account_id, True, context.reason, context)
        after = machine.cancel_at_period_end(subscription, at=self._now(), reason=context.reason)
        stripe_id = self._stripe_id(subscription)
        self._stripe.set_cancel_at_period_end(
            stripe_id, True, idempotency_key=f"tally-cancel-{stripe_id}-{fingerprint(subscription)[:16]}"
        )
        self._store.save(subscription, after, "subscription.cancel_scheduled", None, context)
        return after

    def resume(self, account_id: str, context: AuditContext) -> Subscription:
        subscription = self._changing(account_id, context)
        if subscription.collection != "stripe":
            return self._subscriptions.resume(account_id, context)
        after = machine.resume(subscription, at=self._now())
        stripe_id = self._stripe_id(subscription)
        self._stripe.set_cancel_at_period_end(
            stripe_id, False, idempotency_key=f"tally-resume-{stripe_id}-{fingerprint(subscription)[:16]}"
        )
        self._store.save(subscription, after, "subscription.resumed", None, context)
        return after

    # -- changing plan ---------------------------------------------------------------------

    def preview(
        self, account_id: str, plan_code: str, cycle: Cycle | None, context: AuditContext
    ) -> ChangeOut:
        subscription = self._changing(account_id, context)
        if subscription.collection != "stripe":
            native = self._subscriptions.preview(account_id, plan_code, cycle, context)
            return change_out(native.current, native.new, native.change)
        current, new, price_id, _after = self._planned(subscription, plan_code, cycle, context)
        remote = self._stripe.subscription(self._stripe_id(subscription))
        now = self._now()
        preview = self._stripe.preview_change(
            remote.customer_id, remote.id, remote.item_id, price_id, proration_date=now
        )
        return preview_out(current, new, preview, now, subscription.current_period_end)

    def change(
        self,
        account_id: str,
        plan_code: str,
        cycle: Cycle | None,
        immediately: bool | None,
        context: AuditContext,
    ) -> ChangedOut:
        subscription = self._changing(account_id, context)
        if subscription.collection != "stripe":
            after, native = self._subscriptions.change(account_id, plan_code, cycle, immediately, context)
            return ChangedOut(
                subscription=after, change=change_out(native.current, native.new, native.change)
            )
        if immediately is False:
            raise InvalidInput("A subscription paid through Stripe changes at once", field="immediately")
        current, new, price_id, after = self._planned(subscription, plan_code, cycle, context)
        stripe_id = self._stripe_id(subscription)
        remote = self._stripe.subscription(stripe_id)
        now = self._now()
        preview = self._stripe.preview_change(
            remote.customer_id, remote.id, remote.item_id, price_id, proration_date=now
        )
        metadata = {
            **remote.metadata,
            "tally_plan": new.plan_code,
            "tally_plan_version": str(new.plan_version),
            "tally_cycle": new.cycle,
        }
        changed = self._stripe.change_price(
            stripe_id,
            remote.item_id,
            price_id,
            metadata,
            proration_date=now,
            idempotency_key=f"tally-change-{stripe_id}-{fingerprint(subscription)[:16]}-{price_id}",
        )
        if changed.current_period_start and changed.current_period_end and new.cycle != subscription.cycle:
            after = after.model_copy(
                update={
                    "current_period_start": changed.current_period_start,
                    "current_period_end": changed.current_period_end,
                }
            )
        self._store.save(subscription, after, "subscription.plan_changed", None, context)
        return ChangedOut(
            subscription=after,
            change=preview_out(current, new, preview, now, subscription.current_period_end),
        )

    def _changing(self, account_id: str, context: AuditContext) -> Subscription:
        try:
            return self._subscriptions.current(account_id, context)
        except NotFound:
            raise NoSubscription(
                "This account has no subscription: start one first", field="account_id"
            ) from None

    def _planned(
        self, subscription: Subscription, plan_code: str, cycle: Cycle | None, context: AuditContext
    ) -> tuple[PricedChoice, PricedChoice, str, Subscription]:
        """The current and new choices, the new Stripe price, and the subscription after the
        change (the machine refuses what cannot change before anything reaches Stripe)."""
        stored, version = choosable(self._catalogue, plan_code)
        wanted = cycle or subscription.cycle
        new = priced_choice(stored, version, wanted, subscription.currency)
        current = current_choice(self._catalogue, subscription)
        if classify(current, new) == "none":
            raise Conflict(f"The subscription is already on {new.plan_name} ({new.cycle})")
        if new.amount is None:
            raise Conflict("A plan priced on quote cannot be chosen here: a platform admin sets it up")
        after = machine.change_now(
            subscription,
            plan_code=new.plan_code,
            plan_version=new.plan_version,
            cycle=new.cycle,
            period=Period(0, subscription.current_period_start, subscription.current_period_end),
        )
        price_id = self._objects.price(
            stored.plan, version, wanted, subscription.currency, new.amount, context
        )
        return current, new, price_id, after
