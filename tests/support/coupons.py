"""An in-memory coupon store, faithful to the DynamoDB adapter's conditions (revision, limits,
never-redeemed deletes)."""

from __future__ import annotations

from dataclasses import replace

from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.coupons import Coupon
from tally.coupons.ports import CouponRefused, PendingRedemption, Redemption, StoredCoupon
from tally.errors import Conflict, NotFound


class InMemoryCouponStore:
    def __init__(self) -> None:
        self.coupons: dict[str, StoredCoupon] = {}
        self.per_account: dict[tuple[str, str], int] = {}
        self.redemptions: list[Redemption] = []
        self.actions: list[str] = []

    def get(self, code: str) -> StoredCoupon | None:
        return self.coupons.get(code)

    def account_redemptions(self, code: str, account_id: str) -> int:
        return self.per_account.get((code, account_id), 0)

    def listed(self) -> list[StoredCoupon]:
        return [self.coupons[code] for code in sorted(self.coupons)]

    def create(self, coupon: Coupon, context: AuditContext) -> None:
        if coupon.code in self.coupons:
            raise Conflict("exists")
        self.coupons[coupon.code] = StoredCoupon(coupon, 0, 1)
        self.actions.append("coupon.created")

    def change(self, stored: StoredCoupon, coupon: Coupon, action: str, context: AuditContext) -> None:
        now = self.coupons.get(coupon.code)
        if now is None or now.revision != stored.revision:
            raise ChangedMeanwhile("changed")
        self.coupons[coupon.code] = StoredCoupon(coupon, now.redemptions, now.revision + 1)
        self.actions.append(action)

    def delete(self, stored: StoredCoupon, context: AuditContext) -> None:
        now = self.coupons.get(stored.coupon.code)
        if now is None:
            raise NotFound("gone")
        if now.redemptions:
            raise Conflict("redeemed")
        del self.coupons[stored.coupon.code]
        self.actions.append("coupon.deleted")

    def redeem(self, pending: PendingRedemption, context: AuditContext) -> None:
        coupon = pending.read.coupon
        now = self.coupons.get(coupon.code)
        if now is None:
            raise NotFound("gone")
        if now.revision != pending.read.revision:
            raise ChangedMeanwhile("changed")
        if not now.coupon.active:
            raise CouponRefused("inactive")
        if coupon.max_redemptions is not None and now.redemptions >= coupon.max_redemptions:
            raise CouponRefused("used_up")
        key = (coupon.code, pending.redemption.account_id)
        if coupon.max_per_account is not None and self.per_account.get(key, 0) >= coupon.max_per_account:
            raise CouponRefused("already_used")
        self.coupons[coupon.code] = replace(now, redemptions=now.redemptions + 1)
        self.per_account[key] = self.per_account.get(key, 0) + 1
        self.redemptions.append(pending.redemption)
        self.actions.append("coupon.redeemed")
