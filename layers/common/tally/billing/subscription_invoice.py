"""The invoice of one subscription period: which period (`roll_over`), its lines (the plan's price
for the cycle, billed in advance; the proration lines of plan changes; the usage charges of the
closing period, billed in arrears), the coupon's discount, and credits that do not fit.

Pure: the service (tally.invoices.subscription) reads the subscription, the plan versions and
the usage, and stores the result as the period's one invoice with the subscription's change, in
one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tally.billing.amounts import canonical_decimal, ratio_half_up, round_minor
from tally.billing.charges import ChargeLine
from tally.billing.coupons import AppliedCoupon
from tally.billing.invoice_lines import LineIn, percent_off, price_lines, spread_amount_off
from tally.billing.periods import BillingAnchor, Period, period_at, period_containing
from tally.billing.proration import ProrationLine
from tally.billing.seller import SellerSettings
from tally.billing.subscription_state import PendingLine, Subscription, period_end_reached


def subscription_lines(
    *,
    description: str,
    price: int,
    period: Period,
    currency: str,
    proration: Sequence[ProrationLine | PendingLine] = (),
    usage: Sequence[ChargeLine] = (),
    usage_period: Period | None = None,
    tax_rate: str | None = None,
    free: bool = False,
) -> list[LineIn]:
    """`free`: a free month of a coupon (`free_months`): the plan line is discounted in full."""
    lines = [
        LineIn(
            description=description,
            unit_amount=price,
            currency=currency,
            tax_rate=tax_rate,
            discount=price if free else 0,
            period_start=period.start,
            period_end=period.end,
        )
    ]
    lines += [
        LineIn(
            description=line.description,
            unit_amount=line.amount,
            currency=currency,
            tax_rate=tax_rate,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in proration
    ]
    closing = usage_period or period
    lines += [
        LineIn(
            description=f"{charge.description} ({canonical_decimal(charge.billable)} billable of "
            f"{canonical_decimal(charge.usage)})",
            quantity=Decimal(1),
            unit_amount=charge.amount,
            currency=charge.currency,
            tax_rate=tax_rate,
            period_start=closing.start,
            period_end=closing.end,
        )
        for charge in usage
    ]
    return lines


# --- which period ---------------------------------------------------------------------------


def current_period(subscription: Subscription) -> Period:
    return Period(0, subscription.current_period_start, subscription.current_period_end)


def prorated_price(price: int, subscription: Subscription) -> int:
    """The plan's price for the current period: whole, or in proportion to its length when it is
    the end of its anchor's period (starting after it): the first period of a subscription
    renewing on the 1st of the month (issue 10, seller setting `renewal_anchor`), or the rest of a
    period after an off-rhythm one. Half-up to the minor unit."""
    period = current_period(subscription)
    anchor = BillingAnchor(subscription.billing_anchor, subscription.time_zone)
    if period.start < anchor.at:
        return price
    whole = period_containing(anchor, subscription.cycle, period.start)
    if period.end != whole.end or period.start <= whole.start:
        return price
    return ratio_half_up(price * period.seconds, whole.seconds)


def following_period(subscription: Subscription) -> Period:
    """The period that begins when the current one ends: cut from the anchor and the cycle in
    force after a pending change (a change of cycle anchors the new cycle at the old end, as
    `period_end_reached` does). A current period off the anchor's rhythm is followed by the rest
    of the anchor's period it ends in."""
    end = subscription.current_period_end
    change = subscription.pending_change
    if change is not None and change.cycle != subscription.cycle:
        return period_at(BillingAnchor(end, subscription.time_zone), change.cycle, 0)
    anchor = BillingAnchor(subscription.billing_anchor, subscription.time_zone)
    period = period_containing(anchor, subscription.cycle, end)
    return period if period.start == end else Period(period.index, end, period.end)


@dataclass(frozen=True)
class Renewal:
    """`subscription`: rolled over to the period containing the instant (or canceled, when it was
    set to cancel); its current period is the one to invoice. `closing`: the subscription as it
    was during the period that closed last (its current period is that period, its plan version
    the one in force then), or None when no period closed."""

    subscription: Subscription
    closing: Subscription | None

    @property
    def rolled(self) -> bool:
        return self.closing is not None


def roll_over(subscription: Subscription, now: datetime) -> Renewal:
    """`period_end_reached` until the current period contains `now` (a pending change applies at
    the first end). Several periods may pass at once when nobody invoiced them: only the last
    one's usage is billed (issue 9; the scheduler invoices every period)."""
    current, closing = subscription, None
    while now >= current.current_period_end:
        if current.cancel_at_period_end:
            end = current.current_period_end
            return Renewal(period_end_reached(current, next_period=Period(1, end, end)), current)
        closing = current
        current = period_end_reached(current, next_period=following_period(current))
    return Renewal(current, closing)


# --- coupons --------------------------------------------------------------------------------


def coupon_covers(coupon: AppliedCoupon, subscription: Subscription) -> bool:
    """Whether the coupon discounts the subscription's current period: periods of its cycle are
    counted from the coupon's `starts_at` (`once`: the first only; `periods` None: every one)."""
    index = coupon.period_index(subscription.cycle, subscription.time_zone, subscription.current_period_start)
    return coupon.covers(index)


def apply_coupon(lines: Sequence[LineIn], coupon: AppliedCoupon, currency: str) -> list[LineIn]:
    """A percentage off every line that can take it, or an amount off spread over them (never
    below zero). A free month is the plan line's full discount, given to `subscription_lines`
    (`free`); an amount off in another currency takes nothing."""
    if coupon.percent_off is not None:
        return percent_off(lines, coupon.percent_off)
    if coupon.amount_off is not None and coupon.currency == currency:
        return spread_amount_off(lines, coupon.amount_off)
    return list(lines)


# --- credits larger than the period's charges -------------------------------------------------


def _total(lines: Sequence[LineIn], currency: str, settings: SellerSettings) -> int:
    return sum(line.total for line in price_lines(lines, currency, settings))


def fit_credits(
    lines: Sequence[LineIn], currency: str, settings: SellerSettings
) -> tuple[list[LineIn], tuple[PendingLine, ...]]:
    """An invoice's total is never negative: when the credit lines (a downgrade's unused time)
    exceed what the period charges, the invoice takes as much credit as brings its total to zero,
    in the lines' order, and the rest waits for the next invoice (like Stripe's customer
    balance). Answers the invoice's lines and the credit carried over."""
    if all(line.unit_amount >= 0 for line in lines) or _total(lines, currency, settings) >= 0:
        return list(lines), ()
    charged = sum(
        round_minor(line.quantity * line.unit_amount) - line.discount
        for line in lines
        if line.unit_amount > 0
    )
    # Taxes are rounded per line: the credit that fits may be a few minor units below `charged`.
    for room in range(charged, -1, -1):
        kept, carried = _take_credit(lines, room)
        if room == 0 or _total(kept, currency, settings) >= 0:
            return kept, carried
    raise AssertionError("unreachable")  # pragma: no cover - room 0 returns


def _take_credit(lines: Sequence[LineIn], room: int) -> tuple[list[LineIn], tuple[PendingLine, ...]]:
    kept: list[LineIn] = []
    carried: list[PendingLine] = []
    for line in lines:
        if line.unit_amount >= 0:
            kept.append(line)
            continue
        credit = -round_minor(line.quantity * line.unit_amount)
        taken = min(credit, room)
        room -= taken
        if taken:
            kept.append(line.model_copy(update={"quantity": Decimal(1), "unit_amount": -taken}))
        if taken < credit:
            # A credit line is a pending line: it has its period.
            carried.append(
                PendingLine.model_validate(
                    {
                        "description": line.description,
                        "amount": taken - credit,
                        "period_start": line.period_start,
                        "period_end": line.period_end,
                    }
                )
            )
    return kept, tuple(carried)
