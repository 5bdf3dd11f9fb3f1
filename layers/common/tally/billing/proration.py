"""Plan and cycle changes: upgrade or downgrade, and the proration of a change to the second.

A change at instant `at` inside the current period:

- credit for the unused part of the old price: old amount x unused seconds / period seconds;
- charge for the rest of the new period at the new price: new amount x remaining seconds / new
  period seconds. With the same cycle the new period is the current one; a change of cycle
  starts a new period at `at` (the anchor moves to the change), so the charge is the whole new
  price;
- each line is rounded half-up to the minor unit on its own; the net is their sum.

Seconds are whole: a sub-second remainder is dropped from both sides of each ratio.

An upgrade takes effect at once (with the proration); a downgrade at the period's end (no
proration: the next invoice holds the new price) unless asked otherwise. Which one a change is:
the plan's tier rank first; at equal rank, the price per month; at an equal price per month, the
longer cycle (a bigger commitment) is the upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tally.billing.amounts import ratio_half_up
from tally.billing.catalogue import CYCLE_MONTHS, Cycle, monthly_equivalent
from tally.billing.periods import Period, utc
from tally.errors import Conflict, InvalidInput

ChangeKind = Literal["upgrade", "downgrade", "none"]


@dataclass(frozen=True)
class PricedChoice:
    """A plan version at a cycle and currency, with its price (None: on quote)."""

    plan_code: str
    plan_version: int
    plan_name: str
    tier_rank: int
    cycle: Cycle
    currency: str
    amount: int | None


@dataclass(frozen=True)
class ProrationLine:
    description: str
    amount: int  # minor units; a credit is negative
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class Proration:
    currency: str
    at: datetime
    lines: tuple[ProrationLine, ...]

    @property
    def net(self) -> int:
        return sum(line.amount for line in self.lines)


def classify(current: PricedChoice, new: PricedChoice) -> ChangeKind:
    if current.tier_rank != new.tier_rank:
        return "upgrade" if new.tier_rank > current.tier_rank else "downgrade"
    if current.amount is None or new.amount is None:
        same = (current.plan_code, current.plan_version, current.cycle) == (
            new.plan_code,
            new.plan_version,
            new.cycle,
        )
        if same:
            return "none"
        raise Conflict(
            "A plan priced on quote at the same tier cannot be compared: a platform admin changes it"
        )
    old_monthly = monthly_equivalent(current.amount, current.cycle)
    new_monthly = monthly_equivalent(new.amount, new.cycle)
    if old_monthly != new_monthly:
        return "upgrade" if new_monthly > old_monthly else "downgrade"
    if CYCLE_MONTHS[current.cycle] != CYCLE_MONTHS[new.cycle]:
        return "upgrade" if CYCLE_MONTHS[new.cycle] > CYCLE_MONTHS[current.cycle] else "downgrade"
    return "none"


def _seconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds())


def prorate(
    *,
    current: PricedChoice,
    new: PricedChoice,
    period: Period,
    new_period: Period,
    at: datetime,
) -> Proration:
    """The lines of a change at `at`: the credit for the unused part of `period` at the current
    price, and the charge for `new_period` from `at` to its end at the new price. `new_period`
    is `period` when the cycle stays, else the new cycle's first period, starting at `at`."""
    at = utc(at)
    if not period.contains(at):
        raise InvalidInput(
            f"The change at {at.isoformat()} is outside the current period "
            f"({period.start.isoformat()} to {period.end.isoformat()})",
            field="at",
        )
    if not (new_period.start <= at < new_period.end):
        raise InvalidInput("The new period must contain the change's instant", field="at")
    if current.currency != new.currency:
        raise InvalidInput(
            f"A change keeps the currency: the subscription is in {current.currency}, not {new.currency}",
            field="currency",
        )
    if current.amount is None or new.amount is None:
        raise Conflict("A plan priced on quote has no proration: a platform admin sets up the change")
    unused = _seconds(at, period.end)
    credit = ratio_half_up(current.amount * unused, period.seconds)
    remaining = _seconds(at, new_period.end)
    charge = ratio_half_up(new.amount * remaining, new_period.seconds)
    lines = (
        ProrationLine(
            description=f"Unused time on {current.plan_name} ({current.cycle}) after {at.isoformat()}",
            amount=-credit,
            period_start=at,
            period_end=period.end,
        ),
        ProrationLine(
            description=f"Remaining time on {new.plan_name} ({new.cycle}) from {at.isoformat()}",
            amount=charge,
            period_start=at,
            period_end=new_period.end,
        ),
    )
    return Proration(currency=current.currency, at=at, lines=lines)


@dataclass(frozen=True)
class ChangePlan:
    """What a change does: its kind, when it takes effect, its proration (None when it waits for
    the period's end), and the next invoice: when it is issued and its lines."""

    kind: ChangeKind
    effective_at: datetime
    proration: Proration | None
    next_invoice_at: datetime
    next_invoice: tuple[ProrationLine, ...]

    @property
    def next_invoice_total(self) -> int:
        return sum(line.amount for line in self.next_invoice)


def plan_change(
    *,
    current: PricedChoice,
    new: PricedChoice,
    period: Period,
    at: datetime,
    new_period: Period,
    following_period: Period,
    immediately: bool | None = None,
) -> ChangePlan:
    """Decide and price a change at `at`.

    `new_period`: the period in force after an immediate change: `period` itself when the cycle
    stays; the new cycle's first period, starting at `at`, when it changes (that change is
    invoiced at once: the credit and the whole new price). `following_period`: the period the next
    renewal bills in advance: the one after `period` (same cycle), or the new cycle's first period
    starting at `period.end` (a cycle change at the period's end). `immediately`: None follows the
    rule (upgrades now, downgrades at the period's end); True or False forces it.
    """
    kind = classify(current, new)
    if kind == "none":
        raise Conflict(f"The subscription is already on {new.plan_name} ({new.cycle})")
    if new.amount is None:
        raise Conflict("A plan priced on quote cannot be chosen here: a platform admin sets up the change")
    now = kind == "upgrade" if immediately is None else immediately
    renewal = ProrationLine(
        description=f"{new.plan_name} ({new.cycle})",
        amount=new.amount,
        period_start=following_period.start,
        period_end=following_period.end,
    )
    if not now:
        return ChangePlan(
            kind=kind,
            effective_at=period.end,
            proration=None,
            next_invoice_at=period.end,
            next_invoice=(renewal,),
        )
    proration = prorate(current=current, new=new, period=period, new_period=new_period, at=at)
    if new_period.start == proration.at:
        # A new cycle starts now: the credit and the new period are invoiced at once.
        return ChangePlan(
            kind=kind,
            effective_at=proration.at,
            proration=proration,
            next_invoice_at=proration.at,
            next_invoice=proration.lines,
        )
    return ChangePlan(
        kind=kind,
        effective_at=proration.at,
        proration=proration,
        next_invoice_at=period.end,
        next_invoice=(*proration.lines, renewal),
    )
