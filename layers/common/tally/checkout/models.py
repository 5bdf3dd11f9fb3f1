"""The checkout, self-service and placement routes' wire models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from tally.billing.amounts import Currency
from tally.billing.catalogue import Cycle
from tally.billing.codes import PlanCode
from tally.billing.coupons import CouponCode
from tally.http.fields import Identifier, WireModel

Url = Annotated[
    str,
    Field(
        min_length=10,
        max_length=2000,
        pattern=r"^https?://[^\x00-\x20\x7f]+$",
        description="An absolute https URL (http only for localhost) on an allowed origin",
    ),
]
Kind = Literal["subscription", "order"]


class PlacementIn(WireModel):
    model_config = ConfigDict(extra="forbid")

    location_id: Identifier
    category_id: Identifier


class CheckoutIn(WireModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "plan": "essential",
                    "cycle": "monthly",
                    "currency": "EUR",
                    "coupon": "WELCOME10",
                    "success_url": "https://app.example.com/billing/done?session={CHECKOUT_SESSION_ID}",
                    "cancel_url": "https://app.example.com/billing",
                }
            ]
        },
    )

    kind: Kind = Field(
        default="subscription",
        description="`subscription`: a Stripe subscription to the plan (subscription mode, with the "
        "plan's trial); `order`: one period of the plan paid once (payment mode), nothing renews",
    )
    plan: PlanCode
    cycle: Cycle
    currency: Currency
    coupon: CouponCode | None = Field(
        default=None,
        description="Checked now (422 `coupon_<reason>` in words); redeemed when the checkout completes",
    )
    placement: PlacementIn | None = Field(
        default=None,
        description="A sponsored seat of this (location, category), reserved until the session "
        "expires: 409 `placement_full` with `next_free_at` when none is free",
    )
    success_url: Url
    cancel_url: Url


class CheckoutOut(WireModel):
    checkout_url: str
    session_id: str
    expires_at: datetime = Field(description="When the session (and its placement's reservation) expires")
    reservation_id: str | None = Field(
        default=None,
        description="The placement's reservation; once paid, the sponsorship's id (track it as "
        "`sponsorship_id`)",
    )


class PortalIn(WireModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"return_url": "https://app.example.com/billing"}]}
    )

    return_url: Url


class PortalOut(WireModel):
    url: str


class PlanChangeIn(WireModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"plan": "professional"}]})

    plan: PlanCode
    cycle: Cycle | None = Field(default=None, description="The new cycle; the current one when absent")


class PlacementOut(WireModel):
    location_id: str
    category_id: str
    capacity: int
    taken: int = Field(description="Seats held now: active sponsorships and live reservations")
    free: int
    reserved: int = Field(description="Of the seats taken, those reserved by a checkout in progress")
    next_free_at: datetime | None = Field(
        description="When no seat is free: the earliest a reservation may expire (null when every "
        "seat is an active sponsorship, or a seat is free)"
    )
