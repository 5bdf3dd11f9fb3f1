"""Coupons: platform admins' create, update, deactivate, delete; everyone's validate; redeeming.

"New customer" (eligibility `new_customers`): an account that has never had a subscription, i.e.
has no SUBSCRIPTION#CURRENT pointer (the pointer stays once a subscription ends). Paid invoices
do not exist yet; when they do, an account with one is not new either (docs/billing.md "Coupons").
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tally import clock as clocks
from tally.audit.records import AuditContext
from tally.billing.catalogue import Cycle
from tally.billing.coupons import Coupon, Preview, Use, applied, normal_code, preview, why_not
from tally.clock import Clock
from tally.coupons.ports import (
    AppliesTo,
    CouponRefused,
    CouponStore,
    PendingRedemption,
    Redemption,
    StoredCoupon,
    Subscriptions,
)
from tally.errors import Conflict, InvalidInput, NotFound
from tally.plans.service import CatalogueService


def new_redemption_id() -> str:
    return f"red_{secrets.token_hex(10)}"


class CouponService:
    def __init__(
        self,
        store: CouponStore,
        catalogue: CatalogueService,
        subscriptions: Subscriptions,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._subscriptions = subscriptions
        self._clock = clock

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    # -- platform admins -------------------------------------------------------------------

    def get(self, code: str) -> StoredCoupon:
        stored = self._store.get(normal_code(code))
        if stored is None:
            raise NotFound(f"No coupon '{normal_code(code)}'", field="code")
        return stored

    def listed(self) -> list[StoredCoupon]:
        return sorted(self._store.listed(), key=lambda stored: stored.coupon.code)

    def create(self, coupon: Coupon, context: AuditContext) -> StoredCoupon:
        if self._store.get(coupon.code) is not None:
            raise Conflict(f"Coupon '{coupon.code}' exists already", field="code")
        self._store.create(coupon, context)
        return StoredCoupon(coupon, 0, 1)

    def update(self, code: str, changes: dict[str, Any], context: AuditContext) -> StoredCoupon:
        """`changes` as sent (the fields given); the code cannot change."""
        stored = self.get(code)
        if "code" in changes and normal_code(str(changes["code"])) != stored.coupon.code:
            raise InvalidInput("A coupon's code cannot change: create another coupon", field="code")
        terms = stored.coupon.model_dump() | changes | {"code": stored.coupon.code}
        try:
            coupon = Coupon.model_validate(terms)
        except ValidationError as invalid:  # the terms together (exactly one discount, ...)
            first = invalid.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or None
            raise InvalidInput(first["msg"].removeprefix("Value error, "), field=where) from None
        if coupon == stored.coupon:
            return stored
        self._store.change(stored, coupon, "coupon.updated", context)
        return StoredCoupon(coupon, stored.redemptions, stored.revision + 1)

    def deactivate(self, code: str, context: AuditContext) -> StoredCoupon:
        stored = self.get(code)
        if not stored.coupon.active:
            return stored
        coupon = stored.coupon.model_copy(update={"active": False})
        self._store.change(stored, coupon, "coupon.deactivated", context)
        return StoredCoupon(coupon, stored.redemptions, stored.revision + 1)

    def delete(self, code: str, context: AuditContext) -> None:
        stored = self.get(code)
        if stored.redemptions:
            raise Conflict(
                f"Coupon '{stored.coupon.code}' has been redeemed {stored.redemptions} time(s): it "
                "cannot be deleted, deactivate it instead",
                field="code",
            )
        self._store.delete(stored, context)

    # -- checking and redeeming ------------------------------------------------------------

    def new_customer(self, account_id: str) -> bool:
        return self._subscriptions.current(account_id) is None

    def price(self, plan_code: str, cycle: Cycle, currency: str) -> int:
        """The plan's current price for the cycle and currency, which a coupon is checked on."""
        stored = self._catalogue.stored(plan_code)
        if stored.plan.status != "active":
            raise Conflict(f"Plan '{plan_code}' is archived: choose another plan", field="plan")
        price = self._catalogue.latest(stored).version.price(cycle, currency)
        if price is None:
            raise InvalidInput(f"Plan '{plan_code}' has no {cycle} price in {currency}", field="currency")
        if price.amount is None:
            raise Conflict(
                f"Plan '{plan_code}' is sold on quote in {currency}: coupons do not apply", field="plan"
            )
        return price.amount

    def check(
        self,
        code: str,
        account_id: str,
        plan_code: str,
        currency: str,
        amount: int,
        *,
        new_customer: bool | None = None,
        first_payment: bool = True,
        field: str = "code",
    ) -> StoredCoupon:
        """The coupon, when it applies to this use now; CouponRefused in words otherwise."""
        stored = self.get(code)
        use = Use(
            plan=plan_code,
            currency=currency,
            amount=amount,
            at=self._now(),
            redemptions=stored.redemptions,
            account_redemptions=self._store.account_redemptions(stored.coupon.code, account_id),
            new_customer=self.new_customer(account_id) if new_customer is None else new_customer,
            first_payment=first_payment,
        )
        if reason := why_not(stored.coupon, use):
            raise CouponRefused(reason, field=field)
        return stored

    def validate(self, code: str, account_id: str, plan_code: str, cycle: Cycle, currency: str) -> Preview:
        amount = self.price(plan_code, cycle, currency)
        stored = self.check(code, account_id, plan_code, currency, amount)
        return preview(stored.coupon, amount, currency, cycle)

    def prepare(
        self,
        code: str,
        account_id: str,
        plan_code: str,
        cycle: Cycle,
        currency: str,
        amount: int,
        applies_to: tuple[AppliesTo, str],
        starts_at: datetime,
        *,
        new_customer: bool | None = None,
        field: str = "code",
    ) -> PendingRedemption:
        """A redemption checked now, for the store to write conditionally (with what it applies
        to, in the same transaction)."""
        stored = self.check(
            code, account_id, plan_code, currency, amount, new_customer=new_customer, field=field
        )
        shown = preview(stored.coupon, amount, currency, cycle)
        redemption = Redemption(
            id=new_redemption_id(),
            code=stored.coupon.code,
            account_id=account_id,
            applies_to=applies_to[0],
            applies_to_id=applies_to[1],
            original=shown.original,
            discount=shown.discount,
            final=shown.final,
            currency=currency,
            at=self._now(),
        )
        return PendingRedemption(
            stored, redemption, applied(stored.coupon, redemption.id, currency, cycle, starts_at)
        )
