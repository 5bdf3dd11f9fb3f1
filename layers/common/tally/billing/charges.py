"""Usage-based charges: how a period's aggregate of a metric becomes an amount.

Every charge names its metric and currency and may include free units: the billable quantity is
the usage minus the included units (never below zero), and the model prices that:

- `standard`: billable x unit_price (a Decimal in the currency's major unit: "0.05" EUR per SMS);
- `graduated`: each tier prices the units that fall in it (1-1000 at one price, 1001-5000 at
  another…), plus the flat amount of every tier reached;
- `volume`: the tier the whole billable quantity falls in prices every unit, plus its flat amount;
- `package`: a price per started package of N units (1001 units in packages of 1000: 2 packages).

Tiers' `up_to` are inclusive and increasing; the last tier has none (no upper bound). A tier's
flat amount (minor units) is charged when at least one unit falls in it, so no usage costs
nothing. Each line is computed exactly in Decimal and rounded half-up to the minor unit once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tally.billing.amounts import Currency, UnitPrice, canonical_decimal, check_amount, round_minor, scale
from tally.billing.codes import MetricCode

ChargeModel = Literal["standard", "graduated", "volume", "package"]

_CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)

IncludedUnits = Annotated[int, Field(ge=0, description="Units of the period that cost nothing")]


class Tier(BaseModel):
    model_config = _CONFIG

    up_to: Annotated[int, Field(ge=1)] | None = Field(
        description="The last unit of this tier (inclusive); null on the last tier"
    )
    unit_price: UnitPrice
    flat_amount: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Charged once when at least one unit falls in this tier, in minor units"
    )


def _tiers_problem(tiers: list[Tier]) -> str | None:
    if not tiers:
        return "tiers: give at least one tier"
    for index, tier in enumerate(tiers[:-1]):
        if tier.up_to is None:
            return f"tiers.{index}.up_to: only the last tier is unbounded; give this one its last unit"
        following = tiers[index + 1].up_to
        if following is not None and following <= tier.up_to:
            return (
                f"tiers.{index + 1}.up_to: tiers go up: {following} is not above the previous "
                f"tier's {tier.up_to}"
            )
    if tiers[-1].up_to is not None:
        return f"tiers.{len(tiers) - 1}.up_to: the last tier has no upper bound; set up_to to null"
    return None


class _Charge(BaseModel):
    model_config = _CONFIG

    metric: MetricCode
    currency: Currency
    included_units: IncludedUnits = 0


class StandardCharge(_Charge):
    model: Literal["standard"]
    unit_price: UnitPrice


class GraduatedCharge(_Charge):
    model: Literal["graduated"]
    tiers: list[Tier]

    @model_validator(mode="after")
    def _tiers(self) -> GraduatedCharge:
        if problem := _tiers_problem(self.tiers):
            raise ValueError(problem)
        return self


class VolumeCharge(_Charge):
    model: Literal["volume"]
    tiers: list[Tier]

    @model_validator(mode="after")
    def _tiers(self) -> VolumeCharge:
        if problem := _tiers_problem(self.tiers):
            raise ValueError(problem)
        return self


class PackageCharge(_Charge):
    model: Literal["package"]
    package_size: Annotated[int, Field(ge=1, description="Units in one package")]
    package_amount: int = Field(description="The price of one package, in positive integer minor units")

    @field_validator("package_amount", mode="before")
    @classmethod
    def _amount(cls, value: object, info: ValidationInfo) -> int:
        return check_amount(value, info)


UsageCharge = Annotated[
    StandardCharge | GraduatedCharge | VolumeCharge | PackageCharge, Field(discriminator="model")
]


# --- calculators ----------------------------------------------------------------------------


def billable_quantity(charge: UsageCharge, usage: Decimal) -> Decimal:
    return max(Decimal(0), usage - charge.included_units)


def _ceil(value: Decimal) -> int:
    whole = int(value)
    return whole + 1 if value > whole else whole


def _graduated(tiers: list[Tier], quantity: Decimal, per_unit: Decimal) -> Decimal:
    """Minor units, unrounded. `per_unit`: minor units per major unit of the currency."""
    total = Decimal(0)
    floor = Decimal(0)
    for tier in tiers:
        if quantity <= floor:
            break
        top = quantity if tier.up_to is None else min(quantity, Decimal(tier.up_to))
        total += (top - floor) * tier.unit_price * per_unit + tier.flat_amount
        if tier.up_to is None:
            break
        floor = Decimal(tier.up_to)
    return total


def _volume(tiers: list[Tier], quantity: Decimal, per_unit: Decimal) -> Decimal:
    if quantity <= 0:
        return Decimal(0)
    tier = next(t for t in tiers if t.up_to is None or quantity <= t.up_to)
    return quantity * tier.unit_price * per_unit + tier.flat_amount


def exact_amount(charge: UsageCharge, usage: Decimal) -> Decimal:
    """The charge for a period's usage in minor units, before rounding (123.5 cents, say)."""
    billable = billable_quantity(charge, usage)
    per_unit = scale(charge.currency)
    match charge:
        case StandardCharge():
            return billable * charge.unit_price * per_unit
        case GraduatedCharge():
            return _graduated(charge.tiers, billable, per_unit)
        case VolumeCharge():
            return _volume(charge.tiers, billable, per_unit)
        case PackageCharge():
            return Decimal(_ceil(billable / charge.package_size) * charge.package_amount)


def charge_amount(charge: UsageCharge, usage: Decimal) -> int:
    """The charge in integer minor units, rounded half-up once."""
    return round_minor(exact_amount(charge, usage))


@dataclass(frozen=True)
class ChargeLine:
    """One line of a period's usage charges, as the invoice will bill it."""

    metric: str
    model: ChargeModel
    currency: str
    usage: Decimal
    included_units: int
    billable: Decimal
    amount: int
    description: str


def _describe(charge: UsageCharge, metric_name: str, usage: Decimal, billable: Decimal) -> str:
    quantity = canonical_decimal(usage)
    free = f", {charge.included_units} included" if charge.included_units else ""
    match charge:
        case StandardCharge():
            how = f"{canonical_decimal(billable)} x {canonical_decimal(charge.unit_price)} {charge.currency}"
        case GraduatedCharge():
            how = f"{canonical_decimal(billable)} in graduated tiers"
        case VolumeCharge():
            how = f"{canonical_decimal(billable)} at its volume tier's price"
        case PackageCharge():
            packages = _ceil(billable / charge.package_size)
            how = f"{packages} package(s) of {charge.package_size}"
    return f"{metric_name}: {quantity}{free}; {how}"


def preview(
    charges: Iterable[UsageCharge],
    usage: Mapping[str, Decimal],
    currency: str,
    *,
    metric_names: Mapping[str, str] | None = None,
) -> list[ChargeLine]:
    """The period's usage charge lines in `currency`: one per charge of that currency, in the
    version's order, each rounded half-up; a metric without usage counts as zero."""
    names = metric_names or {}
    lines = []
    for charge in charges:
        if charge.currency != currency:
            continue
        used = usage.get(charge.metric, Decimal(0))
        billable = billable_quantity(charge, used)
        lines.append(
            ChargeLine(
                metric=charge.metric,
                model=charge.model,
                currency=currency,
                usage=used,
                included_units=charge.included_units,
                billable=billable,
                amount=charge_amount(charge, used),
                description=_describe(charge, names.get(charge.metric, charge.metric), used, billable),
            )
        )
    return lines


def total(lines: Iterable[ChargeLine]) -> int:
    return sum(line.amount for line in lines)
