"""What the coupon service needs from storage (DynamoDB; in memory in unit tests). Every write
takes the request's AuditContext: the store writes the audit record in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from tally.audit.records import AuditContext
from tally.billing.coupons import WORDS, AppliedCoupon, Coupon, Reason
from tally.billing.subscription_state import Subscription
from tally.errors import InvalidInput

AppliesTo = Literal["subscription", "invoice"]


class CouponRefused(InvalidInput):
    """422 with the reason in words and a stable code, `coupon_{reason}`."""

    def __init__(self, reason: Reason, *, field: str = "code") -> None:
        super().__init__(WORDS[reason], field=field, location="body")
        self.reason: Reason = reason
        self.code = f"coupon_{reason}"


@dataclass(frozen=True)
class StoredCoupon:
    coupon: Coupon
    redemptions: int
    revision: int  # a change to the terms is conditional on it, and so is a redemption


@dataclass(frozen=True)
class Redemption:
    id: str
    code: str
    account_id: str
    applies_to: AppliesTo
    applies_to_id: str
    original: int
    discount: int
    final: int
    currency: str
    at: datetime


@dataclass(frozen=True)
class PendingRedemption:
    """A redemption checked against the coupon as read (`read`): the store writes it conditional
    on that revision, on the overall limit and on the account's."""

    read: StoredCoupon
    redemption: Redemption
    applied: AppliedCoupon


class CouponStore(Protocol):
    def get(self, code: str) -> StoredCoupon | None: ...

    def account_redemptions(self, code: str, account_id: str) -> int: ...

    def listed(self) -> list[StoredCoupon]:
        """Every coupon, by code."""
        ...

    def create(self, coupon: Coupon, context: AuditContext) -> None:
        """Conflict when the code is taken, writing nothing."""
        ...

    def change(self, stored: StoredCoupon, coupon: Coupon, action: str, context: AuditContext) -> None:
        """New terms, conditional on `stored.revision` (ChangedMeanwhile otherwise); the counter
        is left as it is (redemptions may be counting meanwhile)."""
        ...

    def delete(self, stored: StoredCoupon, context: AuditContext) -> None:
        """Conditional on it never having been redeemed (Conflict otherwise)."""
        ...

    def redeem(self, pending: PendingRedemption, context: AuditContext) -> None:
        """The counters and the redemption record in one transaction (CouponRefused `used_up` or
        `already_used` when a limit is reached meanwhile)."""
        ...


class Subscriptions(Protocol):
    def current(self, account_id: str) -> Subscription | None: ...
