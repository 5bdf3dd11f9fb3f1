"""The lines of a subscription's invoice for one period: the plan's price for the cycle, the
proration lines of plan changes (tally.billing.proration), and the usage charges of the closing
period (tally.billing.charges.preview), each line in minor units with its own period.

Coupon discounts are applied to these lines afterwards (`spread_amount_off`, `percent_off`, or a
free month as the plan line's full discount); the service stores the result as the period's one
invoice (InvoiceService.create_draft with `subscription_id` and the period).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tally.billing.amounts import canonical_decimal
from tally.billing.charges import ChargeLine
from tally.billing.invoice_lines import LineIn
from tally.billing.periods import Period
from tally.billing.proration import ProrationLine


def subscription_lines(
    *,
    description: str,
    price: int,
    period: Period,
    currency: str,
    proration: Sequence[ProrationLine] = (),
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
