"""Invoice lines priced: quantity x unit amount, the line's discount, its tax, its total.

DESIGN "Money": each line is worked out exactly in Decimal and rounded half-up to the minor unit
once per amount; an invoice's tax for a rate is the sum of its lines' taxes at that rate (never
re-rounded from a sum). With prices excluding tax, tax = net x rate; with prices including tax,
the price is the total and tax = total x rate / (1 + rate), net = total - tax.

An amount-off discount never takes a line below zero: it is capped at the line's amount (a
negative line, a proration credit, takes no discount).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from tally.billing.amounts import Currency, canonical_decimal, exact_decimal, round_minor
from tally.billing.seller import Rate, SellerSettings
from tally.billing.subscription_state import Instant
from tally.errors import InvalidInput

_CONFIG = ConfigDict(extra="forbid", frozen=True, defer_build=True)
MAX_LINES = 200  # an invoice item stays far below DynamoDB's 400 KB


Quantity = Annotated[
    Decimal,
    BeforeValidator(exact_decimal("this quantity", '"1.5"')),
    Field(gt=0, max_digits=18, decimal_places=6),
    PlainSerializer(canonical_decimal, return_type=str, when_used="json"),
]
Description = Annotated[str, Field(min_length=1, max_length=500)]
MinorUnits = Annotated[int, Field(strict=True, ge=-(10**15), le=10**15)]


class LineIn(BaseModel):
    """A line as a caller writes it. `unit_amount` may be negative (a proration credit)."""

    model_config = _CONFIG

    description: Description
    quantity: Quantity = Decimal(1)
    unit_amount: MinorUnits
    currency: Currency | None = Field(default=None, description="The invoice's currency when absent")
    tax_rate: str | None = Field(default=None, description="A tax rate code of the seller settings")
    discount: Annotated[int, Field(strict=True, ge=0)] = 0
    period_start: Instant | None = None
    period_end: Instant | None = None


class InvoiceLine(BaseModel):
    """A priced line. amount = quantity x unit_amount (half-up); discount as applied (capped);
    net + tax = total."""

    model_config = _CONFIG

    description: Description
    quantity: Quantity
    unit_amount: int
    amount: int
    discount: int
    tax_rate: str
    tax_rate_value: Rate
    net: int
    tax: int
    total: int
    period_start: Instant | None = None
    period_end: Instant | None = None


class TaxAmount(BaseModel):
    """The tax of one rate over a document: the sum of its lines' (taxable: their nets)."""

    model_config = _CONFIG

    tax_rate: str
    rate: Rate
    taxable: int
    tax: int


def price_line(line: LineIn, index: int, currency: str, settings: SellerSettings) -> InvoiceLine:
    """One line priced with the seller's rates; a line in another currency is refused in words."""
    if line.currency is not None and line.currency != currency:
        raise InvalidInput(
            f"This line is in {line.currency} but the invoice is in {currency}: an invoice has one "
            "currency; put this line on an invoice of its own",
            field=f"lines.{index}.currency",
        )
    if (line.period_start is None) != (line.period_end is None) or (
        line.period_start is not None and line.period_end is not None and line.period_end < line.period_start
    ):
        raise InvalidInput(
            "A line's period has a start and an end, the end not before the start",
            field=f"lines.{index}.period_end",
        )
    try:
        rate = settings.tax_rate(line.tax_rate)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=f"lines.{index}.tax_rate") from None
    amount = round_minor(line.quantity * line.unit_amount)
    discount = min(line.discount, max(amount, 0))
    after = amount - discount
    if settings.prices_include_tax:
        total = after
        tax = round_minor(Decimal(after) * rate.rate / (1 + rate.rate))
        net = total - tax
    else:
        net = after
        tax = round_minor(Decimal(net) * rate.rate)
        total = net + tax
    return InvoiceLine(
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        amount=amount,
        discount=discount,
        tax_rate=rate.code,
        tax_rate_value=rate.rate,
        net=net,
        tax=tax,
        total=total,
        period_start=line.period_start,
        period_end=line.period_end,
    )


def line_in(line: InvoiceLine) -> LineIn:
    """A priced line as it was asked for, to price it again (at finalisation, with the rates
    then in force)."""
    return LineIn(
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        tax_rate=line.tax_rate,
        discount=line.discount,
        period_start=line.period_start,
        period_end=line.period_end,
    )


def price_lines(lines: Sequence[LineIn], currency: str, settings: SellerSettings) -> tuple[InvoiceLine, ...]:
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"An invoice holds at most {MAX_LINES} lines", field="lines")
    return tuple(price_line(line, index, currency, settings) for index, line in enumerate(lines))


class TaxedLine(BaseModel):
    """What taxes_of needs from a line (an invoice's or a credit note's)."""

    model_config = _CONFIG

    tax_rate: str
    tax_rate_value: Rate
    net: int
    tax: int


def taxes_of(lines: Iterable[InvoiceLine | TaxedLine]) -> tuple[TaxAmount, ...]:
    """Per rate, in order of first appearance: the sum of the lines' nets and taxes."""
    grouped: dict[str, TaxAmount] = {}
    for line in lines:
        seen = grouped.get(line.tax_rate)
        grouped[line.tax_rate] = TaxAmount(
            tax_rate=line.tax_rate,
            rate=line.tax_rate_value,
            taxable=(seen.taxable if seen else 0) + line.net,
            tax=(seen.tax if seen else 0) + line.tax,
        )
    return tuple(grouped.values())


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` split in proportion to non-negative `weights`, in integers summing to `amount`
    exactly (largest remainder; ties to the first)."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("allocate needs a positive total weight")
    shares = [amount * weight // total for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for index in remainders[: amount - sum(shares)]:
        shares[index] += 1
    return shares


# --- invoice-level discounts spread over the lines (coupons) ----------------------------------


def _room(line: LineIn) -> int:
    """What a discount can still take from this line without taking it below zero."""
    return (
        max(round_minor(line.quantity * line.unit_amount), 0) - line.discount if line.unit_amount > 0 else 0
    )


def spread_amount_off(lines: Sequence[LineIn], amount: int) -> list[LineIn]:
    """An amount off the whole invoice as line discounts, in proportion to what each line can
    still take, exactly; never more than the lines' amounts (no line goes below zero)."""
    if amount < 0:
        raise ValueError("an amount off is not negative")
    rooms = [max(_room(line), 0) for line in lines]
    if sum(rooms) == 0 or amount == 0:
        return list(lines)
    shares = allocate(min(amount, sum(rooms)), rooms)
    return [
        line.model_copy(update={"discount": line.discount + share}) if share else line
        for line, share in zip(lines, shares, strict=True)
    ]


def percent_off(lines: Sequence[LineIn], percent: Decimal) -> list[LineIn]:
    """A percentage off each line that can take it, rounded half-up per line (DESIGN "Money")."""
    if not Decimal(0) <= percent <= Decimal(100):
        raise ValueError("a percentage is between 0 and 100")
    discounted = []
    for line in lines:
        room = max(_room(line), 0)
        if room == 0:
            discounted.append(line)  # a credit line, or one discounted in full already
            continue
        off = min(round_minor(Decimal(round_minor(line.quantity * line.unit_amount)) * percent / 100), room)
        discounted.append(line.model_copy(update={"discount": line.discount + off}) if off else line)
    return discounted


def coupon_discounts(lines: Sequence[LineIn], *, percent: Decimal | None, amount: int | None) -> list[LineIn]:
    """A coupon's discount on a one-off invoice's lines: its percentage off each line, or its
    amount spread over them (never below zero)."""
    if percent is not None:
        return percent_off(lines, percent)
    if amount is not None:
        return spread_amount_off(lines, amount)
    return list(lines)
