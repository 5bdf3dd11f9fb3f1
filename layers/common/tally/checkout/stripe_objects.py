"""Stripe objects made from Tally's: products and prices from the catalogue, coupons from
Tally's coupons, one customer per account. Each is made once (idempotency keys and ids derived
from Tally's) and its id kept in the table, so later checkouts skip Stripe for it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

from tally.accounts.domain import Account
from tally.audit.records import AuditContext
from tally.billing.catalogue import CYCLE_MONTHS, Cycle, Plan, PublishedVersion
from tally.billing.coupons import Coupon
from tally.errors import InvalidInput
from tally.payments.stripe_checkout import (
    CouponDuration,
    CouponSpec,
    Interval,
    PriceSpec,
    ProductSpec,
    StripeCheckout,
)

_INTERVALS: dict[Cycle, tuple[Interval, int]] = {
    "monthly": ("month", 1),
    "quarterly": ("month", 3),
    "annual": ("year", 1),
}


def customer_key(account_id: str) -> str:
    return f"tally-customer-{account_id}"


def lookup_key(plan_code: str, version: int, cycle: Cycle, currency: str) -> str:
    return f"tally:{plan_code}:{version}:{cycle}:{currency}"


def product_spec(plan: Plan) -> ProductSpec:
    return ProductSpec(id=f"tally_{plan.code}", name=plan.name, metadata={"tally_plan": plan.code})


def price_spec(
    plan: Plan, version: PublishedVersion, cycle: Cycle, currency: str, amount: int, product_id: str
) -> PriceSpec:
    interval, count = _INTERVALS[cycle]
    return PriceSpec(
        lookup_key=lookup_key(plan.code, version.number, cycle, currency),
        product_id=product_id,
        amount=amount,
        currency=currency,
        interval=interval,
        interval_count=count,
        nickname=f"{plan.name} v{version.number} ({cycle}, {currency})",
        metadata={"tally_plan": plan.code, "tally_plan_version": str(version.number), "tally_cycle": cycle},
    )


def coupon_spec(coupon: Coupon, cycle: Cycle, currency: str) -> CouponSpec:
    """A Stripe coupon with the same effect on this cycle's invoices: a percentage or an amount
    off for the periods the coupon covers (`Coupon.periods`), free months as 100 % off for as
    many months. Its id names the code and a hash of these terms: new terms, a new coupon."""
    periods = coupon.periods(cycle)
    duration: CouponDuration
    if periods is None:
        duration, months = "forever", None
    elif periods == 1:
        duration, months = "once", None
    else:
        duration, months = "repeating", periods * CYCLE_MONTHS[cycle]
    percent = coupon.percent_off
    amount = coupon.amount_off
    if coupon.free_months is not None:
        from decimal import Decimal

        percent = Decimal(100)
    if amount is not None and coupon.currency != currency:
        raise InvalidInput("This coupon is in another currency", field="coupon")
    terms = json.dumps(
        [str(percent) if percent is not None else None, amount, coupon.currency, duration, months],
        sort_keys=True,
    )
    digest = hashlib.sha256(terms.encode()).hexdigest()[:10]
    return CouponSpec(
        id=f"tally_{coupon.code}_{digest}",
        name=coupon.name,
        percent_off=percent,
        amount_off=amount,
        currency=coupon.currency if amount is not None else None,
        duration=duration,
        duration_in_months=months,
        metadata={"tally_coupon": coupon.code},
    )


class StripeIds(Protocol):
    """Where the Stripe ids are kept (tally.checkout.dynamo.DynamoCheckoutStore)."""

    def stripe_id(self, kind: str, tally_key: str) -> str | None: ...

    def remember(self, kind: str, tally_key: str, stripe_id: str, context: AuditContext) -> str: ...

    def customer(self, account_id: str) -> str | None: ...

    def link_customer(self, account_id: str, customer_id: str, context: AuditContext) -> str: ...


class StripeObjects:
    def __init__(self, ids: StripeIds, stripe: StripeCheckout) -> None:
        self._ids = ids
        self._stripe = stripe

    def product(self, plan: Plan, context: AuditContext) -> str:
        spec = product_spec(plan)
        if (known := self._ids.stripe_id("product", plan.code)) is not None:
            return known
        return self._ids.remember("product", plan.code, self._stripe.ensure_product(spec), context)

    def price(
        self,
        plan: Plan,
        version: PublishedVersion,
        cycle: Cycle,
        currency: str,
        amount: int,
        context: AuditContext,
    ) -> str:
        key = lookup_key(plan.code, version.number, cycle, currency)
        if (known := self._ids.stripe_id("price", key)) is not None:
            return known
        spec = price_spec(plan, version, cycle, currency, amount, self.product(plan, context))
        return self._ids.remember("price", key, self._stripe.ensure_price(spec), context)

    def coupon(self, coupon: Coupon, cycle: Cycle, currency: str, context: AuditContext) -> str:
        spec = coupon_spec(coupon, cycle, currency)
        if (known := self._ids.stripe_id("coupon", spec.id)) is not None:
            return known
        return self._ids.remember("coupon", spec.id, self._stripe.ensure_coupon(spec), context)

    def customer(self, account: Account, context: AuditContext) -> str:
        """The account's one customer: the stored one, else one made with the account's own
        idempotency key (a retry after a failure gets the same one from Stripe) and stored."""
        if (known := self._ids.customer(account.id)) is not None:
            return known
        made = self._stripe.create_customer(
            account.id, account.name, account.email, idempotency_key=customer_key(account.id)
        )
        return self._ids.link_customer(account.id, made, context)
