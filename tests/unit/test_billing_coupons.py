"""The coupon domain: its rules, every refusal in words, the discount and its rounding."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tally.billing.coupons import (
    WORDS,
    Coupon,
    Reason,
    Use,
    applied,
    discount,
    discount_for_period,
    preview,
    why_not,
)

AT = datetime(2026, 5, 1, 12, tzinfo=UTC)
USE = Use(
    plan="essential",
    currency="XOF",
    amount=15000,
    at=AT,
    redemptions=0,
    account_redemptions=0,
    new_customer=True,
)


def coupon(**terms: Any) -> Coupon:
    return Coupon.model_validate({"code": "welcome10", "name": "Welcome", "percent_off": "10"} | terms)


def test_codes_are_kept_upper_case_and_checked_in_words() -> None:
    assert coupon().code == "WELCOME10"
    with pytest.raises(ValidationError, match="letters, digits, _ or -"):
        coupon(code="no spaces")


@pytest.mark.parametrize(
    ("terms", "words"),
    [
        ({"amount_off": 500}, "exactly one of"),
        ({"percent_off": None}, "exactly one of"),
        ({"percent_off": "0"}, "above 0 and at most 100"),
        ({"percent_off": "100.5"}, "above 0 and at most 100"),
        ({"percent_off": 12.5}, "not a binary float"),
        ({"percent_off": None, "amount_off": 500}, "amount_off and currency go together"),
        ({"percent_off": None, "free_months": 2, "duration": "forever"}, "leave duration out"),
        ({"duration": "repeating"}, "duration_months goes with"),
        ({"duration_months": 3}, "duration_months goes with"),
        ({"valid_from": "2026-06-01T00:00:00Z", "valid_until": "2026-05-01T00:00:00Z"}, "after valid_from"),
        ({"max_redemptions": 1, "max_per_account": 2}, "cannot exceed"),
    ],
)
def test_inconsistent_terms_are_refused_in_words(terms: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        coupon(**terms)


def test_a_percentage_is_never_a_float_and_keeps_its_decimals() -> None:
    assert coupon(percent_off="12.5").percent_off == Decimal("12.5")
    assert coupon(percent_off=Decimal("33.3333")).model_dump(mode="json")["percent_off"] == "33.3333"
    assert coupon(percent_off=100).percent_off == Decimal(100)


@pytest.mark.parametrize(
    ("terms", "use", "reason"),
    [
        ({"active": False}, {}, "inactive"),
        ({"valid_from": "2026-06-01T00:00:00Z"}, {}, "not_yet_valid"),
        ({"valid_until": "2026-05-01T12:00:00Z"}, {}, "expired"),
        ({"max_redemptions": 3}, {"redemptions": 3}, "used_up"),
        ({"max_per_account": 1}, {"account_redemptions": 1}, "already_used"),
        ({"plans": ["professional"]}, {}, "not_for_plan"),
        ({"percent_off": None, "amount_off": 500, "currency": "EUR"}, {}, "currency_mismatch"),
        ({"minimum": {"amount": 20000, "currency": "XOF"}}, {}, "below_minimum"),
        ({"minimum": {"amount": 100, "currency": "EUR"}}, {}, "currency_mismatch"),
        ({"eligibility": "new_customers"}, {"new_customer": False}, "new_customers_only"),
        ({"eligibility": "existing_customers"}, {}, "existing_customers_only"),
        ({"first_payment_only": True}, {"first_payment": False}, "first_payment_only"),
    ],
)
def test_why_not_names_each_refusal(terms: dict[str, Any], use: dict[str, Any], reason: Reason) -> None:
    assert why_not(coupon(**terms), replace(USE, **use)) == reason
    assert WORDS[reason]


def test_a_coupon_within_its_rules_applies() -> None:
    rules = coupon(
        valid_from="2026-04-01T00:00:00Z",
        valid_until="2026-06-01T00:00:00Z",
        max_redemptions=3,
        max_per_account=1,
        plans=["essential"],
        minimum={"amount": 15000, "currency": "XOF"},
        eligibility="new_customers",
    )
    assert why_not(rules, replace(USE, redemptions=2)) is None
    assert why_not(coupon(eligibility="existing_customers"), replace(USE, new_customer=False)) is None


def test_the_words_of_every_refusal() -> None:
    assert WORDS["expired"] == "This coupon has expired"
    assert WORDS["already_used"] == "This coupon was already used by this account"
    assert len(WORDS) == 11


def test_percentages_round_half_up_to_the_minor_unit() -> None:
    assert discount(coupon(percent_off="12.5"), 1004) == 126  # 125.5 -> 126, not to even
    assert discount(coupon(percent_off="12.5"), 1012) == 127  # 126.5 -> 127
    assert discount(coupon(percent_off="33.3333"), 15000) == 5000
    assert discount(coupon(percent_off="100"), 15000) == 15000


def test_an_amount_off_never_takes_a_line_below_zero() -> None:
    off = coupon(percent_off=None, amount_off=2000, currency="EUR")
    assert discount(off, 5000) == 2000
    assert discount(off, 1500) == 1500
    assert discount(off, 0) == 0


def test_free_months_make_the_next_periods_zero() -> None:
    free = coupon(percent_off=None, free_months=2)
    assert [discount_for_period(free, "monthly", 15000, index) for index in range(4)] == [15000, 15000, 0, 0]


@pytest.mark.parametrize(
    ("terms", "cycle", "periods"),
    [
        ({}, "monthly", 1),
        ({"duration": "forever"}, "monthly", None),
        ({"duration": "repeating", "duration_months": 3}, "monthly", 3),
        ({"duration": "repeating", "duration_months": 3}, "quarterly", 1),
        ({"duration": "repeating", "duration_months": 4}, "quarterly", 2),
        ({"duration": "repeating", "duration_months": 3}, "annual", 1),
        ({"duration": "forever", "first_payment_only": True}, "monthly", 1),
    ],
)
def test_the_duration_in_periods_of_the_cycle(terms: dict[str, Any], cycle: Any, periods: int | None) -> None:
    assert coupon(**terms).periods(cycle) == periods


def test_a_repeating_discount_stops_after_its_periods() -> None:
    three = coupon(duration="repeating", duration_months=3)
    assert [discount_for_period(three, "monthly", 1000, i) for i in (-1, 0, 2, 3)] == [0, 100, 100, 0]
    forever = coupon(duration="forever")
    assert discount_for_period(forever, "monthly", 1000, 500) == 100


def test_the_preview_and_what_a_subscription_remembers() -> None:
    shown = preview(coupon(), 15000, "XOF", "monthly")
    assert (shown.original, shown.discount, shown.final, shown.duration, shown.periods) == (
        15000,
        1500,
        13500,
        "once",
        1,
    )
    kept = applied(coupon(duration="forever"), "red_1", "XOF", "monthly", AT + timedelta(days=14))
    assert (kept.code, kept.periods, kept.percent_off, kept.starts_at) == (
        "WELCOME10",
        None,
        Decimal(10),
        AT + timedelta(days=14),
    )


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(min_value=0, max_value=10**12),
    percent=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100), places=4),
)
def test_a_percentage_is_the_exact_value_rounded_half_up(amount: int, percent: Decimal) -> None:
    off = discount(coupon(percent_off=percent), amount)
    exact = Decimal(amount) * percent / 100
    assert off == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert abs(Decimal(off) - exact) <= Decimal("0.5")
    assert 0 <= off <= amount


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(min_value=0, max_value=10**9), off=st.integers(min_value=1, max_value=10**9))
def test_an_amount_off_leaves_a_line_between_zero_and_itself(amount: int, off: int) -> None:
    taken = discount(coupon(percent_off=None, amount_off=off, currency="EUR"), amount)
    assert 0 <= amount - taken <= amount
    assert taken == min(amount, off)
