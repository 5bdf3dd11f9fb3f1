"""The coupon routes' wire models."""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from tally.billing.amounts import Currency
from tally.billing.catalogue import Cycle
from tally.billing.codes import PlanCode
from tally.billing.coupons import (
    Coupon,
    CouponCode,
    Duration,
    Eligibility,
    Instant,
    Minimum,
    Percent,
    Preview,
)
from tally.coupons.ports import StoredCoupon
from tally.http.fields import Name, WireModel

_EXAMPLE: JsonDict = {
    "code": "WELCOME10",
    "name": "Welcome: 10 % off the first three months",
    "percent_off": "10",
    "duration": "repeating",
    "duration_months": 3,
    "max_redemptions": 100,
    "max_per_account": 1,
    "plans": ["essential", "professional"],
    "eligibility": "new_customers",
}


class CouponIn(Coupon):
    """A new coupon: exactly one of `percent_off`, `amount_off` (with `currency`) or `free_months`."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})


class CouponPatch(WireModel):
    """The fields to change (the others stay); `null` clears an optional one. The code stays."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"max_redemptions": 200, "valid_until": "2027-01-01T00:00:00Z"}]},
    )

    name: Name | None = None
    percent_off: Percent | None = None
    amount_off: int | None = Field(default=None, ge=1, le=10**15)
    currency: Currency | None = None
    free_months: int | None = Field(default=None, ge=1, le=120)
    duration: Duration | None = None
    duration_months: int | None = Field(default=None, ge=1, le=120)
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    max_redemptions: int | None = Field(default=None, ge=1, le=1_000_000)
    max_per_account: int | None = Field(default=None, ge=1, le=1_000_000)
    plans: list[PlanCode] | None = Field(default=None, max_length=100)
    eligibility: Eligibility | None = None
    minimum: Minimum | None = None
    first_payment_only: bool | None = None
    active: bool | None = None

    def changes(self) -> dict[str, object]:
        """What was sent; `null` on a field that has a default sets the default back."""
        sent = self.model_dump(exclude_unset=True)
        defaults = {"duration": "once", "plans": [], "eligibility": "all", "first_payment_only": False}
        defaults |= {"active": True}
        return {field: defaults.get(field) if value is None else value for field, value in sent.items()}


class CouponOut(Coupon):
    model_config = ConfigDict(defer_build=True)

    redemptions: int = Field(description="How many times it has been redeemed")


def coupon_out(stored: StoredCoupon) -> CouponOut:
    return CouponOut.model_validate(stored.coupon.model_dump() | {"redemptions": stored.redemptions})


class CouponsOut(WireModel):
    coupons: list[CouponOut]


class ValidateIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"code": "WELCOME10", "plan": "essential", "cycle": "monthly", "currency": "XOF"}]
        },
    )

    code: CouponCode
    plan: PlanCode
    cycle: Cycle
    currency: Currency


class ValidateOut(WireModel):
    code: str
    original: int = Field(description="The plan's price for the cycle, minor units")
    discount: int = Field(description="What the coupon takes off a covered period, minor units")
    final: int = Field(description="original - discount")
    currency: str
    duration: Duration
    periods: int | None = Field(description="How many periods of the cycle it covers; null: every one")


def validate_out(code: str, shown: Preview) -> ValidateOut:
    return ValidateOut(
        code=code,
        original=shown.original,
        discount=shown.discount,
        final=shown.final,
        currency=shown.currency,
        duration=shown.duration,
        periods=shown.periods,
    )
