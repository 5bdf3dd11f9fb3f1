"""The plans catalogue: plans and their immutable versions.

A plan (`bronze`, `essential`…) is what people choose; its terms live in numbered versions that
never change once published: prices per (cycle, currency) in integer minor units or on quote, a
trial, quotas, features, data retention and usage charges. A price change is a new version;
subscriptions keep the version they started on until they change plan.

`content_hash` is the version's identity: sha256 over its canonical JSON (sorted keys, no
spaces, one spelling per decimal, prices and charges in a fixed order), so importing the same
catalogue file twice finds the same hash and changes nothing (`next_version`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tally.billing.amounts import Currency, check_amount
from tally.billing.charges import UsageCharge
from tally.billing.codes import FeatureFlag, MetricCode, PlanCode

Cycle = Literal["monthly", "quarterly", "annual"]
CYCLES: tuple[Cycle, ...] = ("monthly", "quarterly", "annual")
CYCLE_MONTHS: dict[Cycle, int] = {"monthly": 1, "quarterly": 3, "annual": 12}
Enforcement = Literal["hard", "soft"]
PlanStatus = Literal["active", "archived"]

FeatureValue = bool | int | Annotated[str, Field(max_length=200)]

_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class Price(BaseModel):
    """One price of a version: `{cycle, currency, amount}` (minor units) or `{cycle, currency,
    on_quote: true}` (the plan is sold on quote in that currency and cycle)."""

    model_config = _CONFIG

    cycle: Cycle
    currency: Currency
    amount: int | None = Field(default=None, description="Positive integer minor units (1900 = 19.00 EUR)")
    on_quote: bool = False

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: object, info: ValidationInfo) -> int | None:
        return None if value is None else check_amount(value, info)

    @model_validator(mode="after")
    def _amount_or_quote(self) -> Price:
        if self.on_quote and self.amount is not None:
            raise ValueError(f"{self.cycle} {self.currency}: give either amount or on_quote: true, not both")
        if not self.on_quote and self.amount is None:
            raise ValueError(
                f"amount: {self.cycle} {self.currency} needs an amount in minor units, or on_quote: true"
            )
        return self


class Trial(BaseModel):
    model_config = _CONFIG

    days: Annotated[int, Field(ge=1, le=365)]
    card_required: bool


class Quota(BaseModel):
    model_config = _CONFIG

    limit: Annotated[
        int, Field(ge=0, description="The most a period may reach (for ever, if the metric never resets)")
    ]
    enforcement: Enforcement


class PlanVersion(BaseModel):
    """A version's terms (what is hashed). Versions are published, never edited."""

    model_config = _CONFIG

    prices: list[Price] = Field(min_length=1)
    trial: Trial | None = None
    quotas: dict[MetricCode, Quota] = Field(default_factory=dict)
    features: dict[FeatureFlag, FeatureValue] = Field(default_factory=dict)
    data_retention_days: Annotated[int, Field(ge=1, le=3650)]
    charges: list[UsageCharge] = Field(default_factory=list)

    @field_validator("prices")
    @classmethod
    def _one_price_per_cycle_and_currency(cls, prices: list[Price]) -> list[Price]:
        seen: dict[tuple[str, str], int] = {}
        for index, price in enumerate(prices):
            key = (price.cycle, price.currency)
            if key in seen:
                raise ValueError(
                    f"prices.{index}: {price.cycle} {price.currency} is already priced by prices.{seen[key]}"
                )
            seen[key] = index
        return sorted(prices, key=lambda p: (CYCLES.index(p.cycle), p.currency))

    @field_validator("charges")
    @classmethod
    def _one_charge_per_metric_and_currency(cls, charges: list[UsageCharge]) -> list[UsageCharge]:
        seen: dict[tuple[str, str], int] = {}
        for index, charge in enumerate(charges):
            key = (charge.metric, charge.currency)
            if key in seen:
                raise ValueError(
                    f"charges.{index}: {charge.metric} in {charge.currency} is already charged by "
                    f"charges.{seen[key]}"
                )
            seen[key] = index
        return sorted(charges, key=lambda c: (c.metric, c.currency))

    def price(self, cycle: Cycle, currency: str) -> Price | None:
        return next((p for p in self.prices if p.cycle == cycle and p.currency == currency), None)

    def currencies(self) -> frozenset[str]:
        return frozenset(p.currency for p in self.prices)

    def metrics(self) -> frozenset[str]:
        """Every metric the version names, in quotas or charges."""
        return frozenset(self.quotas) | frozenset(c.metric for c in self.charges)


class Plan(BaseModel):
    model_config = _CONFIG

    code: PlanCode
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    tier_rank: Annotated[
        int, Field(ge=0, description="Higher is a bigger plan; decides upgrade or downgrade")
    ]
    public: bool = True
    status: PlanStatus = "active"


class PublishedVersion(BaseModel):
    """A version as stored: its plan, its number (1, 2, …), its hash and when it was published."""

    model_config = _CONFIG

    plan_code: PlanCode
    number: Annotated[int, Field(ge=1)]
    content_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    published_at: datetime
    version: PlanVersion


def canonical_json(version: PlanVersion) -> str:
    return json.dumps(
        version.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_hash(version: PlanVersion) -> str:
    return hashlib.sha256(canonical_json(version).encode()).hexdigest()


def next_version(
    plan_code: str, latest: PublishedVersion | None, version: PlanVersion, at: datetime
) -> PublishedVersion | None:
    """The version to publish for `version`, or None when it is the latest's terms already (an
    import of the same file twice, a repeated request)."""
    digest = content_hash(version)
    if latest is not None and latest.content_hash == digest:
        return None
    number = 1 if latest is None else latest.number + 1
    return PublishedVersion(
        plan_code=plan_code, number=number, content_hash=digest, published_at=at, version=version
    )


def monthly_equivalent(amount: int, cycle: Cycle) -> Decimal:
    """A price per month, unrounded (what an upgrade or a downgrade compares)."""
    return Decimal(amount) / CYCLE_MONTHS[cycle]


_ONE_PLACE = Decimal("0.1")


def annual_saving_percent(version: PlanVersion, currency: str) -> Decimal | None:
    """What the annual price saves against twelve monthly prices, in percent, one decimal,
    half-up: 15000 XOF a month and 144000 a year -> 20.0; 150000 a year -> 16.7. None when either
    price is missing or on quote. Negative when the annual price costs more."""
    monthly = version.price("monthly", currency)
    annual = version.price("annual", currency)
    if monthly is None or annual is None or monthly.amount is None or annual.amount is None:
        return None
    twelve = 12 * monthly.amount
    percent = Decimal(twelve - annual.amount) * 100 / twelve
    return percent.quantize(_ONE_PLACE, rounding=ROUND_HALF_UP)
