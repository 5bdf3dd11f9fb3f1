from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tally.billing.catalogue import PlanVersion, Quota
from tally.billing.catalogue_files import load_catalogue
from tally.billing.quotas import (
    Overrides,
    check_increment,
    entitlements,
    hard_limit_threshold,
    thresholds_crossed,
    usage_status,
)

HARD = Quota(limit=100, enforcement="hard")
SOFT = Quota(limit=100, enforcement="soft")


@pytest.mark.parametrize(
    ("value", "percent", "state"),
    [
        ("0", "0.0", "ok"),
        ("79", "79.0", "ok"),
        ("79.96", "80.0", "ok"),  # the state compares exactly; only the shown percent is rounded
        ("80", "80.0", "warning"),
        ("99.96", "100.0", "warning"),
        ("100", "100.0", "exceeded"),
        ("130", "130.0", "exceeded"),
    ],
)
def test_usage_status(value: str, percent: str, state: str) -> None:
    status = usage_status("api_calls", Decimal(value), HARD)
    assert (status.limit, status.percent, status.state, status.enforcement) == (
        100,
        Decimal(percent),
        state,
        "hard",
    )


def test_percent_rounds_half_up_to_one_place() -> None:
    # 1 of 8 = 12.5 %; 1 of 16 = 6.25 % -> 6.3
    assert usage_status("users", Decimal(1), Quota(limit=16, enforcement="soft")).percent == Decimal("6.3")


def test_no_quota_and_a_zero_limit() -> None:
    free = usage_status("sms", Decimal(5000), None)
    assert (free.limit, free.percent, free.state) == (None, None, "ok")
    closed = usage_status("sms", Decimal(0), Quota(limit=0, enforcement="hard"))
    assert (closed.percent, closed.state) == (None, "exceeded")


def test_a_hard_quota_allows_up_to_the_limit_exactly() -> None:
    assert check_increment(Decimal(97), Decimal(100), HARD).allowed
    refused = check_increment(Decimal(97), Decimal(101), HARD)
    assert (refused.allowed, refused.value, refused.limit, refused.remaining) == (
        False,
        Decimal(97),
        100,
        Decimal(3),
    )
    assert check_increment(Decimal(97), Decimal(250), SOFT).allowed
    assert check_increment(Decimal(120), Decimal(121), SOFT).remaining == 0
    assert check_increment(Decimal(10**9), Decimal(10**9 + 1), None).allowed


def test_the_conditional_write_threshold() -> None:
    # value <= limit - quantity: from 97, +3 is allowed, +4 is not
    assert hard_limit_threshold(100, Decimal(3)) == 97
    assert hard_limit_threshold(100, Decimal(4)) == 96
    assert hard_limit_threshold(100, Decimal(101)) < 0


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=1, max_value=10_000),
)
def test_threshold_and_check_agree(value: int, quantity: int, limit: int) -> None:
    quota = Quota(limit=limit, enforcement="hard")
    by_condition = value <= hard_limit_threshold(limit, Decimal(quantity))
    assert by_condition == check_increment(Decimal(value), Decimal(value + quantity), quota).allowed


@pytest.mark.parametrize(
    ("before", "after", "crossed"),
    [
        ("70", "79", ()),
        ("70", "80", (80,)),
        ("79.5", "85", (80,)),
        ("80", "90", ()),  # 80 was crossed by the increment that reached it
        ("85", "100", (100,)),
        ("70", "120", (80, 100)),
        ("100", "150", ()),
    ],
)
def test_soft_thresholds_are_crossed_once(before: str, after: str, crossed: tuple[int, ...]) -> None:
    assert thresholds_crossed(Decimal(before), Decimal(after), 100) == crossed


@given(st.lists(st.integers(min_value=0, max_value=40), max_size=30), st.integers(min_value=1, max_value=200))
def test_a_run_of_increments_crosses_each_threshold_at_most_once(steps: list[int], limit: int) -> None:
    value = Decimal(0)
    crossed: list[int] = []
    for step in steps:
        crossed += thresholds_crossed(value, value + step, limit)
        value += step
    assert crossed == [t for t in (80, 100) if value * 100 >= t * limit]


def test_entitlements_merge_the_version_and_the_overrides() -> None:
    gold = next(p for p in load_catalogue("esxi-backup").plans if p.code == "gold").version
    overrides = Overrides.model_validate(
        {
            "features": {"support_level": "dedicated", "beta_dashboard": True},
            "quotas": {"vms": {"limit": 400, "enforcement": "hard"}, "backups": None},
        }
    )
    merged = entitlements(gold, overrides)
    assert merged.feature("support_level") == "dedicated"
    assert merged.feature("beta_dashboard") is True
    assert merged.feature("replication") is True
    assert merged.quota("vms") == Quota(limit=400, enforcement="hard")
    assert merged.quota("backups") is None  # removed: unlimited for this account
    assert merged.quota("servers") == gold.quotas["servers"]
    assert merged.overridden_quotas == {"vms", "backups"}
    assert merged.overridden_features == {"support_level", "beta_dashboard"}


def test_without_overrides_the_version_is_in_force() -> None:
    version = PlanVersion.model_validate(
        {"prices": [{"cycle": "monthly", "currency": "EUR", "amount": 100}], "data_retention_days": 30}
    )
    merged = entitlements(version)
    assert (dict(merged.features), dict(merged.quotas)) == ({}, {})


def test_overrides_are_checked_like_the_catalogue() -> None:
    with pytest.raises(ValidationError, match="Use lower case letters"):
        Overrides.model_validate({"quotas": {"Storage": {"limit": 1, "enforcement": "hard"}}})
