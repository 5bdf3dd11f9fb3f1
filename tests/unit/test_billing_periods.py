from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tally.billing.catalogue import CYCLES, Cycle
from tally.billing.periods import (
    BillingAnchor,
    boundary,
    next_period,
    period_at,
    period_containing,
    period_for_key,
    period_key,
    trial_end,
)

PARIS = ZoneInfo("Europe/Paris")


def local(anchor: BillingAnchor, instant: datetime) -> datetime:
    return instant.astimezone(ZoneInfo(anchor.zone))


def starts(anchor: BillingAnchor, cycle: Cycle, count: int) -> list[str]:
    return [local(anchor, boundary(anchor, cycle, i)).strftime("%Y-%m-%d %H:%M") for i in range(count)]


def test_a_period_anchored_on_the_31st_ends_on_shorter_months_last_day_and_returns() -> None:
    anchor = BillingAnchor(datetime(2025, 1, 31, 10, tzinfo=PARIS), "Europe/Paris")
    assert starts(anchor, "monthly", 6) == [
        "2025-01-31 10:00",
        "2025-02-28 10:00",
        "2025-03-31 10:00",
        "2025-04-30 10:00",
        "2025-05-31 10:00",
        "2025-06-30 10:00",
    ]


def test_a_leap_february_ends_on_the_29th() -> None:
    anchor = BillingAnchor(datetime(2024, 1, 30, tzinfo=UTC), "UTC")
    assert starts(anchor, "monthly", 3) == ["2024-01-30 00:00", "2024-02-29 00:00", "2024-03-30 00:00"]


def test_quarterly_and_annual_periods() -> None:
    november = BillingAnchor(datetime(2024, 11, 30, 9, tzinfo=UTC), "UTC")
    assert starts(november, "quarterly", 4) == [
        "2024-11-30 09:00",
        "2025-02-28 09:00",
        "2025-05-30 09:00",
        "2025-08-30 09:00",
    ]
    leap_day = BillingAnchor(datetime(2024, 2, 29, tzinfo=UTC), "UTC")
    assert [s[:10] for s in starts(leap_day, "annual", 5)] == [
        "2024-02-29",
        "2025-02-28",
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]


def test_boundaries_keep_the_local_time_across_daylight_saving() -> None:
    # 15 March 09:00 in Paris is 08:00 UTC (winter); 15 April 09:00 is 07:00 UTC (summer).
    anchor = BillingAnchor(datetime(2025, 3, 15, 9, tzinfo=PARIS), "Europe/Paris")
    period = period_at(anchor, "monthly", 0)
    assert (period.start, period.end) == (
        datetime(2025, 3, 15, 8, tzinfo=UTC),
        datetime(2025, 4, 15, 7, tzinfo=UTC),
    )
    assert period.seconds == 31 * 86400 - 3600


def test_the_seller_time_zone_decides_the_day() -> None:
    # 31 January 23:30 UTC is already 1 February in Paris: periods start on the 1st there.
    anchor = BillingAnchor(datetime(2025, 1, 31, 23, 30, tzinfo=UTC), "Europe/Paris")
    assert starts(anchor, "monthly", 2) == ["2025-02-01 00:30", "2025-03-01 00:30"]
    assert period_key(anchor.at, "Europe/Paris") == "2025-02"
    assert period_key(anchor.at, "UTC") == "2025-01"


def test_the_period_containing_an_instant() -> None:
    anchor = BillingAnchor(datetime(2025, 1, 31, 10, tzinfo=UTC), "UTC")
    inside = period_containing(anchor, "monthly", datetime(2025, 3, 15, tzinfo=UTC))
    assert (inside.index, inside.start, inside.end) == (
        1,
        datetime(2025, 2, 28, 10, tzinfo=UTC),
        datetime(2025, 3, 31, 10, tzinfo=UTC),
    )
    at_boundary = period_containing(anchor, "monthly", datetime(2025, 3, 31, 10, tzinfo=UTC))
    assert at_boundary.index == 2  # [start, end): a boundary belongs to the period it starts
    assert next_period(anchor, "monthly", inside) == at_boundary
    with pytest.raises(ValueError, match="before the subscription's first period"):
        period_containing(anchor, "monthly", datetime(2025, 1, 1, tzinfo=UTC))


def test_period_keys() -> None:
    anchor = BillingAnchor(datetime(2025, 1, 31, 10, tzinfo=UTC), "UTC")
    february = period_for_key(anchor, "monthly", "2025-02")
    assert (february.start, period_key(february.start, "UTC")) == (
        datetime(2025, 2, 28, 10, tzinfo=UTC),
        "2025-02",
    )
    quarterly = BillingAnchor(datetime(2025, 1, 15, tzinfo=UTC), "UTC")
    assert period_for_key(quarterly, "quarterly", "2025-04").start == datetime(2025, 4, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="No period starts in 2025-05: quarterly periods"):
        period_for_key(quarterly, "quarterly", "2025-05")
    with pytest.raises(ValueError, match="starts later"):
        period_for_key(quarterly, "quarterly", "2024-12")
    with pytest.raises(ValueError, match="write YYYY-MM"):
        period_for_key(quarterly, "quarterly", "2025-13")


def test_a_trial_counts_calendar_days_in_the_seller_time_zone() -> None:
    # 14 days from 20 March 10:00 Paris (09:00 UTC) is 3 April 10:00 Paris (08:00 UTC): DST began.
    start = datetime(2025, 3, 20, 9, tzinfo=UTC)
    assert trial_end(start, 14, "Europe/Paris") == datetime(2025, 4, 3, 8, tzinfo=UTC)


def test_an_unknown_time_zone_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        BillingAnchor(datetime(2025, 1, 1, tzinfo=UTC), "Europe/Atlantis")
    with pytest.raises(ValueError, match="aware"):
        BillingAnchor(datetime(2025, 1, 1), "UTC")


# --- properties ---

ZONES = ["UTC", "Europe/Paris", "Africa/Dakar", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham"]

anchors = st.builds(
    lambda at, zone: BillingAnchor(at, zone),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(ZONES),
)
cycles = st.sampled_from(CYCLES)


def expected_day(anchor: BillingAnchor, start: datetime) -> int:
    return min(anchor.local.day, calendar.monthrange(start.year, start.month)[1])


@settings(max_examples=300, deadline=None)
@given(anchors, cycles, st.integers(min_value=0, max_value=120))
def test_periods_are_contiguous_and_start_on_the_anchor_day(
    anchor: BillingAnchor, cycle: Cycle, index: int
) -> None:
    period = period_at(anchor, cycle, index)
    following = period_at(anchor, cycle, index + 1)
    assert period.start < period.end == following.start
    start = local(anchor, period.start)
    # A wall-clock time that a DST change skips moves forward, never to another day.
    assert start.day == expected_day(anchor, start)


@settings(max_examples=300, deadline=None)
@given(anchors, cycles, st.integers(min_value=0, max_value=20 * 365 * 86400))
def test_every_instant_is_in_exactly_one_period(anchor: BillingAnchor, cycle: Cycle, offset: int) -> None:
    instant = anchor.at + timedelta(seconds=offset)
    period = period_containing(anchor, cycle, instant)
    assert period.start <= instant < period.end
    assert period == period_at(anchor, cycle, period.index)
    neighbours = [period_at(anchor, cycle, i) for i in (period.index - 1, period.index + 1) if i >= 0]
    assert not any(p.contains(instant) for p in neighbours)
    assert period_for_key(anchor, cycle, period_key(period.start, anchor.zone)) == period


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=2000, max_value=2060),
    st.sampled_from([1, 3, 5, 7, 8, 10, 12]),
    st.sampled_from(ZONES),
    st.integers(min_value=1, max_value=60),
)
def test_the_31st_returns_in_every_long_month(year: int, month: int, zone: str, count: int) -> None:
    anchor = BillingAnchor(datetime(year, month, 31, 12, tzinfo=ZoneInfo(zone)), zone)
    for index in range(count):
        start = local(anchor, boundary(anchor, "monthly", index))
        last_day = calendar.monthrange(start.year, start.month)[1]
        assert start.day == last_day  # the 31st, or the last day of a shorter month
