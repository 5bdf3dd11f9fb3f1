from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tally.billing.catalogue import Cycle
from tally.billing.periods import BillingAnchor, period_at
from tally.billing.proration import PricedChoice, Proration, classify, plan_change, prorate
from tally.errors import Conflict, InvalidInput

MARCH = period_at(BillingAnchor(datetime(2025, 3, 1, tzinfo=UTC), "UTC"), "monthly", 0)  # 31 days
APRIL = period_at(BillingAnchor(datetime(2025, 3, 1, tzinfo=UTC), "UTC"), "monthly", 1)  # 30 days
APRIL_ALONE = period_at(BillingAnchor(datetime(2025, 4, 1, tzinfo=UTC), "UTC"), "monthly", 0)
MAY = period_at(BillingAnchor(datetime(2025, 4, 1, tzinfo=UTC), "UTC"), "monthly", 1)


def choice(
    code: str, rank: int, amount: int | None, cycle: Cycle = "monthly", currency: str = "EUR"
) -> PricedChoice:
    return PricedChoice(code, 1, code.title(), rank, cycle, currency, amount)


BRONZE = choice("bronze", 1, 2900)
SILVER = choice("silver", 2, 7900)
GOLD = choice("gold", 3, 19900)
ESSENTIAL = choice("essential", 1, 15000, currency="XOF")
PROFESSIONAL = choice("professional", 2, 45000, currency="XOF")


def amounts(proration: Proration) -> list[int]:
    return [line.amount for line in proration.lines]


def test_an_upgrade_ten_days_into_march_in_eur() -> None:
    # 21 of 31 days unused: credit 2900 x 21/31 = 1964.52 -> 1965; charge 7900 x 21/31 = 5351.61 -> 5352
    proration = prorate(
        current=BRONZE, new=SILVER, period=MARCH, new_period=MARCH, at=datetime(2025, 3, 11, tzinfo=UTC)
    )
    assert amounts(proration) == [-1965, 5352]
    assert proration.net == 3387
    assert (proration.lines[0].period_start, proration.lines[0].period_end) == (
        datetime(2025, 3, 11, tzinfo=UTC),
        MARCH.end,
    )


def test_proration_is_to_the_second() -> None:
    # One second later: 1,814,399 of 2,678,400 s: 2900 x … = 1964.515… -> 1965; 7900 x … = 5351.610… -> 5352
    at = datetime(2025, 3, 11, 0, 0, 1, tzinfo=UTC)
    assert amounts(prorate(current=BRONZE, new=SILVER, period=MARCH, new_period=MARCH, at=at)) == [
        -1965,
        5352,
    ]
    # 1 s before the end: 2900 / 2,678,400 -> 0; Gold's 19900 / 2,678,400 -> 0.0074 -> 0
    last = MARCH.end - timedelta(seconds=1)
    assert amounts(prorate(current=BRONZE, new=GOLD, period=MARCH, new_period=MARCH, at=last)) == [0, 0]
    # Sub-second parts are dropped: 999 ms before the end leaves 0 whole seconds
    nearly = MARCH.end - timedelta(milliseconds=999)
    assert amounts(prorate(current=BRONZE, new=GOLD, period=MARCH, new_period=MARCH, at=nearly)) == [0, 0]


def test_an_upgrade_in_xof() -> None:
    # April has 30 days; from 11 April, 20 are left: 15000 x 2/3 = 10000, 45000 x 2/3 = 30000
    at = datetime(2025, 4, 11, tzinfo=UTC)
    proration = prorate(current=ESSENTIAL, new=PROFESSIONAL, period=APRIL, new_period=APRIL, at=at)
    assert amounts(proration) == [-10000, 30000]
    assert proration.net == 20000


def test_half_a_franc_rounds_up_on_each_line() -> None:
    # Mid-April exactly: 15001 / 2 = 7500.5 -> 7501 (credit -7501), 45001 / 2 = 22500.5 -> 22501
    at = datetime(2025, 4, 16, tzinfo=UTC)
    odd_essential = choice("essential", 1, 15001, currency="XOF")
    odd_professional = choice("professional", 2, 45001, currency="XOF")
    proration = prorate(current=odd_essential, new=odd_professional, period=APRIL, new_period=APRIL, at=at)
    assert amounts(proration) == [-7501, 22501]
    assert proration.net == 15000


def test_an_upgrade_goes_on_the_next_invoice_with_the_renewal() -> None:
    change = plan_change(
        current=BRONZE,
        new=SILVER,
        period=MARCH,
        at=datetime(2025, 3, 11, tzinfo=UTC),
        new_period=MARCH,
        following_period=APRIL,
    )
    assert change.kind == "upgrade"
    assert change.effective_at == datetime(2025, 3, 11, tzinfo=UTC)
    assert change.next_invoice_at == MARCH.end
    assert [line.amount for line in change.next_invoice] == [-1965, 5352, 7900]
    assert change.next_invoice_total == 11287


def test_a_downgrade_waits_for_the_period_end_without_proration() -> None:
    change = plan_change(
        current=GOLD,
        new=SILVER,
        period=MARCH,
        at=datetime(2025, 3, 11, tzinfo=UTC),
        new_period=MARCH,
        following_period=APRIL,
    )
    assert (change.kind, change.effective_at, change.proration) == ("downgrade", MARCH.end, None)
    assert [(line.amount, line.period_start) for line in change.next_invoice] == [(7900, APRIL.start)]


def test_a_downgrade_asked_for_now_credits_the_difference() -> None:
    change = plan_change(
        current=PROFESSIONAL,
        new=ESSENTIAL,
        period=APRIL_ALONE,
        at=datetime(2025, 4, 11, tzinfo=UTC),
        new_period=APRIL_ALONE,
        following_period=MAY,
        immediately=True,
    )
    assert change.proration is not None
    assert amounts(change.proration) == [-30000, 10000]
    assert change.next_invoice_total == -30000 + 10000 + 15000


def test_a_change_of_cycle_starts_a_new_period_and_is_invoiced_at_once() -> None:
    at = datetime(2025, 3, 11, tzinfo=UTC)
    year = period_at(BillingAnchor(at, "UTC"), "annual", 0)
    gold_annual = choice("gold", 3, 199000, cycle="annual")
    change = plan_change(
        current=BRONZE, new=gold_annual, period=MARCH, at=at, new_period=year, following_period=year
    )
    assert change.next_invoice_at == at
    assert [line.amount for line in change.next_invoice] == [-1965, 199000]
    assert change.next_invoice[1].period_end == datetime(2026, 3, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "new", "kind"),
    [
        (BRONZE, SILVER, "upgrade"),
        (GOLD, BRONZE, "downgrade"),
        # Same tier: the price per month decides. Annual Bronze (29000 / 12 = 2416.67) is cheaper.
        (BRONZE, choice("bronze", 1, 29000, cycle="annual"), "downgrade"),
        (BRONZE, choice("bronze-plus", 1, 3500), "upgrade"),
        # Same price per month: the longer commitment is the upgrade.
        (BRONZE, choice("bronze", 1, 8700, cycle="quarterly"), "upgrade"),
        (BRONZE, BRONZE, "none"),
        # Tier rank first: a lower tier costing more per month is still a downgrade.
        (SILVER, choice("legacy", 1, 9900), "downgrade"),
    ],
)
def test_upgrade_or_downgrade(current: PricedChoice, new: PricedChoice, kind: str) -> None:
    assert classify(current, new) == kind


def test_changes_that_cannot_be_priced_are_refused_in_words() -> None:
    march_11 = datetime(2025, 3, 11, tzinfo=UTC)
    with pytest.raises(Conflict, match="already on Bronze"):
        plan_change(
            current=BRONZE, new=BRONZE, period=MARCH, at=march_11, new_period=MARCH, following_period=APRIL
        )
    with pytest.raises(Conflict, match="on quote"):
        plan_change(
            current=PROFESSIONAL,
            new=choice("enterprise", 3, None, currency="XOF"),
            period=MARCH,
            at=march_11,
            new_period=MARCH,
            following_period=APRIL,
        )
    with pytest.raises(InvalidInput, match="outside the current period"):
        prorate(current=BRONZE, new=SILVER, period=MARCH, new_period=MARCH, at=APRIL.start)
    with pytest.raises(InvalidInput, match="keeps the currency"):
        prorate(current=BRONZE, new=PROFESSIONAL, period=MARCH, new_period=MARCH, at=march_11)
