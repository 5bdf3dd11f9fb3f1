"""Coupons: their rules, whether one applies (`why_not`, in words) and the discount it gives.

Pure domain: no storage, no clock. A coupon gives exactly one of `percent_off` (a Decimal,
0 < p <= 100, rounded half-up to the minor unit per line), `amount_off` (integer minor units in
its one `currency`, never taking a line below zero) or `free_months` (the next N periods'
subscription lines are zero). `duration` says for how many periods a percentage or an amount
applies: `once` (the first), `repeating` (`duration_months` worth of periods), `forever`.
`first_payment_only` limits any coupon to the first payment of what it is redeemed on.
Codes are case-insensitive: stored and compared upper-case.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from tally.billing.amounts import Currency, canonical_decimal, exact_decimal, round_minor
from tally.billing.catalogue import CYCLE_MONTHS, Cycle
from tally.billing.codes import PlanCode
from tally.billing.periods import BillingAnchor, period_containing, utc
from tally.http.fields import ISO_INSTANT, WHOLE, Name

Duration = Literal["once", "repeating", "forever"]
Eligibility = Literal["all", "new_customers", "existing_customers"]
Reason = Literal[
    "inactive",
    "not_yet_valid",
    "expired",
    "used_up",
    "already_used",
    "not_for_plan",
    "currency_mismatch",
    "below_minimum",
    "new_customers_only",
    "existing_customers_only",
    "first_payment_only",
]

COUPON_CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
_CODE_WORDS = "A coupon code has 1 to 32 letters, digits, _ or -, starting with a letter or a digit"

# The words each refusal is answered in (the stable code is `coupon_{reason}`).
WORDS: dict[Reason, str] = {
    "inactive": "This coupon is inactive",
    "not_yet_valid": "This coupon is not yet valid",
    "expired": "This coupon has expired",
    "used_up": "This coupon is used up",
    "already_used": "This coupon was already used by this account",
    "not_for_plan": "This coupon is not for this plan",
    "currency_mismatch": "This coupon is in another currency",
    "below_minimum": "The amount is below this coupon's minimum",
    "new_customers_only": "This coupon is only for new customers",
    "existing_customers_only": "This coupon is only for existing customers",
    "first_payment_only": "This coupon is only for a first payment",
}


def normal_code(value: str) -> str:
    """The one spelling of a code: `welcome10` and `WELCOME10` are the same coupon."""
    return value.upper()


def _code(value: str) -> str:
    if not re.fullmatch(COUPON_CODE, value):
        raise ValueError(f"{_CODE_WORDS}: got '{value}'")
    return normal_code(value)


CouponCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        json_schema_extra={"pattern": COUPON_CODE},
        description="Case-insensitive; kept upper-case",
    ),
    AfterValidator(_code),
]


def _percent(value: Decimal) -> Decimal:
    if not value.is_finite() or not Decimal(0) < value <= Decimal(100):
        raise ValueError(f"A percentage is above 0 and at most 100: got {value}")
    places = value.as_tuple().exponent
    if isinstance(places, int) and places < -4:
        raise ValueError(f"A percentage has at most 4 decimal places: got {value}")
    return value


# What a request may send, said in the OpenAPI document so that a client (or the fuzzer) drawing
# from it only sends what is accepted: above 0, at most 100, at most 4 decimal places. (The
# validator also takes a JSON number with decimals, e.g. 12.5.)
_PERCENT_IN = {
    "anyOf": [
        # Whole numbers as JSON numbers; fractions as strings (a drawn binary fraction such as
        # 0.30000000000000004 has more places than a percentage may).
        {"type": "integer", "minimum": 1, "maximum": 100},
        {"type": "string", "pattern": r"^(100(\.0{1,4})?|[1-9][0-9]?(\.[0-9]{1,4})?|0?\.[0-9]{0,3}[1-9])$"},
    ],
    "description": 'Above 0, at most 100, as a decimal ("12.5" or 12.5), never a float',
}

Percent = Annotated[
    Decimal,
    BeforeValidator(exact_decimal("the percentage", '"12.5"')),
    AfterValidator(_percent),
    PlainSerializer(canonical_decimal, return_type=str, when_used="json"),
    Field(description='Above 0, at most 100, as a decimal ("12.5" or 12.5), never a float'),
    WithJsonSchema(_PERCENT_IN, mode="validation"),
]
_Count = Annotated[int, Field(ge=1, le=1_000_000), WHOLE]
_Months = Annotated[int, Field(ge=1, le=120), WHOLE]
_Amount = Annotated[int, Field(ge=1, le=10**15), WHOLE]
Instant = Annotated[datetime, ISO_INSTANT, AfterValidator(utc)]


class Minimum(BaseModel):
    """The least the amount a coupon applies to must be, in one currency."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    amount: _Amount = Field(description="Minor units")
    currency: Currency


class Coupon(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    code: CouponCode
    name: Name
    percent_off: Percent | None = None
    amount_off: _Amount | None = Field(default=None, description="Minor units of `currency`")
    currency: Currency | None = Field(default=None, description="The currency of `amount_off` (only)")
    free_months: _Months | None = Field(
        default=None, description="The next N periods' subscription lines are zero"
    )
    duration: Duration = Field(default="once", description="For a percentage or an amount off")
    duration_months: _Months | None = Field(default=None, description="With `repeating` (only)")
    valid_from: Instant | None = None
    valid_until: Instant | None = None
    max_redemptions: _Count | None = Field(default=None, description="Overall; none: unlimited")
    max_per_account: _Count | None = Field(default=None, description="Per account; none: unlimited")
    plans: list[PlanCode] = Field(default_factory=list, max_length=100, description="Empty: every plan")
    eligibility: Eligibility = "all"
    minimum: Minimum | None = None
    first_payment_only: bool = False
    active: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Coupon:
        given = [f for f in ("percent_off", "amount_off", "free_months") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("Give exactly one of percent_off, amount_off or free_months")
        if (self.amount_off is None) != (self.currency is None):
            raise ValueError("amount_off and currency go together (currency says what amount_off is in)")
        if self.free_months is not None and self.duration != "once":
            raise ValueError("free_months sets how long it lasts: leave duration out")
        if (self.duration == "repeating") != (self.duration_months is not None):
            raise ValueError("duration_months goes with duration 'repeating', and only with it")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if (
            self.max_redemptions is not None
            and self.max_per_account is not None
            and self.max_per_account > self.max_redemptions
        ):
            raise ValueError("max_per_account cannot exceed max_redemptions")
        return self

    def periods(self, cycle: Cycle) -> int | None:
        """How many periods of `cycle` the discount covers, from the first one paid; None: every
        one. A 3-month repeating coupon covers 3 monthly periods, or one quarterly or annual."""
        if self.first_payment_only:
            return 1
        if self.free_months is not None:
            return self.free_months
        if self.duration == "once":
            return 1
        if self.duration == "repeating":
            assert self.duration_months is not None
            return math.ceil(self.duration_months / CYCLE_MONTHS[cycle])
        return None


def discount(coupon: Coupon, amount: int) -> int:
    """What the coupon takes off one line of `amount` minor units: a percentage half-up, an amount
    off or a free period never more than the line (the currency is checked by `why_not`)."""
    if amount <= 0:
        return 0
    if coupon.percent_off is not None:
        return min(amount, round_minor(Decimal(amount) * coupon.percent_off / 100))
    if coupon.amount_off is not None:
        return min(amount, coupon.amount_off)
    return amount  # free_months: the period's subscription line is zero


def discount_for_period(coupon: Coupon, cycle: Cycle, amount: int, period_index: int) -> int:
    """The discount on the subscription line of its `period_index`-th paid period (0 the first)."""
    periods = coupon.periods(cycle)
    if period_index < 0 or (periods is not None and period_index >= periods):
        return 0
    return discount(coupon, amount)


@dataclass(frozen=True)
class Use:
    """What a coupon is asked to apply to, and what storage knows of its uses."""

    plan: str
    currency: str
    amount: int  # minor units, before the discount
    at: datetime
    redemptions: int  # the coupon's, overall
    account_redemptions: int  # this account's
    new_customer: bool  # docs/billing.md "Coupons": no subscription ever
    first_payment: bool = True


def why_not(coupon: Coupon, use: Use) -> Reason | None:
    """Why the coupon does not apply (see WORDS), or None when it does."""
    if not coupon.active:
        return "inactive"
    if coupon.valid_from is not None and use.at < coupon.valid_from:
        return "not_yet_valid"
    if coupon.valid_until is not None and use.at >= coupon.valid_until:
        return "expired"
    if coupon.max_redemptions is not None and use.redemptions >= coupon.max_redemptions:
        return "used_up"
    if coupon.max_per_account is not None and use.account_redemptions >= coupon.max_per_account:
        return "already_used"
    if coupon.plans and use.plan not in coupon.plans:
        return "not_for_plan"
    if coupon.currency is not None and coupon.currency != use.currency:
        return "currency_mismatch"
    if coupon.minimum is not None and (
        coupon.minimum.currency != use.currency or use.amount < coupon.minimum.amount
    ):
        return "currency_mismatch" if coupon.minimum.currency != use.currency else "below_minimum"
    if coupon.eligibility == "new_customers" and not use.new_customer:
        return "new_customers_only"
    if coupon.eligibility == "existing_customers" and use.new_customer:
        return "existing_customers_only"
    if coupon.first_payment_only and not use.first_payment:
        return "first_payment_only"
    return None


@dataclass(frozen=True)
class Preview:
    original: int
    discount: int
    final: int
    currency: str
    duration: Duration
    periods: int | None  # of the cycle; None: every period


def preview(coupon: Coupon, amount: int, currency: str, cycle: Cycle) -> Preview:
    off = discount(coupon, amount)
    return Preview(amount, off, amount - off, currency, coupon.duration, coupon.periods(cycle))


class AppliedCoupon(BaseModel):
    """What a subscription remembers of the coupon redeemed with it, for its invoices: the terms
    as they were, the redemption, and from when the periods count (the first paid period)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    code: CouponCode
    redemption_id: Annotated[str, Field(min_length=1, max_length=64)]
    percent_off: Percent | None = None
    amount_off: int | None = None
    free_months: int | None = None
    currency: str
    periods: int | None = Field(description="How many periods it covers; null: every period")
    starts_at: Instant = Field(description="The start of the first period it covers")

    def period_index(self, cycle: Cycle, zone: str, start: datetime) -> int:
        """Which of its periods the one starting at `start` is, counted in `cycle`s from
        `starts_at` in the seller's `zone`: 0 the first; -1 for a period before it."""
        if utc(start) < self.starts_at:
            return -1
        return period_containing(BillingAnchor(self.starts_at, zone), cycle, start).index

    def covers(self, period_index: int) -> bool:
        """Whether it discounts its `period_index`-th period (`once`: the first only)."""
        return period_index >= 0 and (self.periods is None or period_index < self.periods)


def applied(
    coupon: Coupon, redemption_id: str, currency: str, cycle: Cycle, starts_at: datetime
) -> AppliedCoupon:
    return AppliedCoupon(
        code=coupon.code,
        redemption_id=redemption_id,
        percent_off=coupon.percent_off,
        amount_off=coupon.amount_off,
        free_months=coupon.free_months,
        currency=currency,
        periods=coupon.periods(cycle),
        starts_at=starts_at,
    )
