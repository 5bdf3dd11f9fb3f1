"""The subscription routes' wire models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictBool

from tally.billing.amounts import Currency
from tally.billing.catalogue import Cycle
from tally.billing.codes import PlanCode
from tally.billing.coupons import CouponCode
from tally.billing.proration import ChangeKind, ChangePlan, PricedChoice, ProrationLine
from tally.billing.subscription_state import Subscription
from tally.http.fields import WireModel

Why = Annotated[
    str, Field(min_length=1, max_length=500, description="Kept with the change in the audit trail")
]


class SubscriptionIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"plan": "essential", "cycle": "monthly", "currency": "XOF"}]},
    )

    plan: PlanCode
    cycle: Cycle
    currency: Currency
    status: Literal["active"] | None = Field(
        default=None,
        description="Platform admins only: start it `active` at once (an offline deal), with `reason`",
    )
    reason: Why | None = None
    coupon: CouponCode | None = Field(
        default=None,
        description="A coupon to redeem with it (POST /v1/coupons/validate previews it): redeemed in "
        "the same transaction, or 422 `coupon_<reason>` in words and nothing is written",
    )


class ChangeIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"plan": "professional"}, {"plan": "essential", "immediately": True}]
        },
    )

    plan: PlanCode
    cycle: Cycle | None = Field(default=None, description="The new cycle; the current one when absent")
    immediately: StrictBool | None = Field(
        default=None,
        description="Absent: an upgrade applies now, a downgrade at the period's end; true or false "
        "forces it",
    )


class CancelIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"at_period_end": True, "reason": "Moving to another tool"}]},
    )

    at_period_end: StrictBool = Field(
        default=True, description="true: runs to the period's end (resumable until then); false: ends now"
    )
    reason: Why | None = None


class LineOut(WireModel):
    description: str
    amount: int = Field(description="Minor units; a credit is negative")
    period_start: datetime
    period_end: datetime


class ChoiceOut(WireModel):
    plan: str
    plan_version: int
    cycle: Cycle
    currency: str
    amount: int | None = Field(description="The price per cycle in minor units; null on quote")


class ChangeOut(WireModel):
    kind: ChangeKind
    effective_at: datetime
    currency: str
    current: ChoiceOut
    new: ChoiceOut
    proration: list[LineOut] = Field(description="Credit and charge of an immediate change (empty otherwise)")
    proration_net: int
    next_invoice_at: datetime
    next_invoice: list[LineOut]
    next_invoice_total: int


class ChangedOut(WireModel):
    subscription: Subscription
    change: ChangeOut


def _line(line: ProrationLine) -> LineOut:
    return LineOut(
        description=line.description,
        amount=line.amount,
        period_start=line.period_start,
        period_end=line.period_end,
    )


def choice_out(choice: PricedChoice) -> ChoiceOut:
    return ChoiceOut(
        plan=choice.plan_code,
        plan_version=choice.plan_version,
        cycle=choice.cycle,
        currency=choice.currency,
        amount=choice.amount,
    )


def change_out(current: PricedChoice, new: PricedChoice, change: ChangePlan) -> ChangeOut:
    lines = change.proration.lines if change.proration is not None else ()
    return ChangeOut(
        kind=change.kind,
        effective_at=change.effective_at,
        currency=new.currency,
        current=choice_out(current),
        new=choice_out(new),
        proration=[_line(line) for line in lines],
        proration_net=sum(line.amount for line in lines),
        next_invoice_at=change.next_invoice_at,
        next_invoice=[_line(line) for line in change.next_invoice],
        next_invoice_total=change.next_invoice_total,
    )
