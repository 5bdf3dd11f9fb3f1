"""Tracking logic with in-memory fakes: what counts, what does not, and stats that add up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tally import clock
from tally.errors import NotFound
from tally.tracking.domain import Visit
from tally.tracking.models import ClickIn, ViewIn
from tally.tracking.service import TrackingPolicy, click_through_rate
from tests.support.tracking import TrackingWorld

BROWSER = Visit(source_ip="198.51.100.23", user_agent="Mozilla/5.0 Firefox/128.0")
OTHER_BROWSER = Visit(source_ip="198.51.100.99", user_agent="Mozilla/5.0 Chrome/130.0")
GOOGLEBOT = Visit(source_ip="66.249.66.1", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)")
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def fixed_clock() -> Iterator[clock.FixedClock]:
    fixed = clock.FixedClock(NOON)
    clock.set_clock(fixed)
    yield fixed
    clock.set_clock(None)


@pytest.fixture
def world(fixed_clock: clock.FixedClock) -> TrackingWorld:
    return TrackingWorld()


def click(**fields: object) -> ClickIn:
    return ClickIn.model_validate({"account_id": "acc_1", "source": "seo", "page_url": "/pros/1", **fields})


def view(**fields: object) -> ViewIn:
    return ViewIn.model_validate({"account_id": "acc_1", "source": "search", "page_url": "/search", **fields})


def test_first_click_is_counted_and_stored_without_the_full_ip(world: TrackingWorld) -> None:
    outcome = world.service.track("click", click(), BROWSER)

    assert outcome.counted is True
    assert outcome.reason is None
    stored = world.ledger.events[0]
    assert stored.id == outcome.id
    assert stored.ip_prefix == "198.51.100.0"
    assert stored.user_agent == BROWSER.user_agent
    assert stored.expires_at == int((NOON + timedelta(days=90)).timestamp())


def test_repeat_inside_the_window_is_acknowledged_but_not_counted(
    world: TrackingWorld, fixed_clock: clock.FixedClock
) -> None:
    world.service.track("click", click(), BROWSER)
    fixed_clock.advance(timedelta(seconds=59))

    repeat = world.service.track("click", click(), BROWSER)

    assert (repeat.counted, repeat.reason) == (False, "duplicate")
    assert len(world.ledger.events) == 2


def test_repeat_after_the_window_counts_again(world: TrackingWorld, fixed_clock: clock.FixedClock) -> None:
    world.service.track("click", click(), BROWSER)
    fixed_clock.advance(timedelta(seconds=60))

    assert world.service.track("click", click(), BROWSER).counted is True


@pytest.mark.parametrize(
    ("visit", "changes"),
    [
        (OTHER_BROWSER, {}),
        (BROWSER, {"page_url": "/pros/2"}),
        (BROWSER, {"source": "search"}),
    ],
    ids=["other visitor", "other page", "other source"],
)
def test_different_visitor_page_or_source_is_not_a_duplicate(
    world: TrackingWorld, visit: Visit, changes: dict[str, object]
) -> None:
    world.service.track("click", click(), BROWSER)

    assert world.service.track("click", click(**changes), visit).counted is True


def test_a_view_does_not_deduplicate_a_click(world: TrackingWorld) -> None:
    world.service.track("click", click(source="search", page_url="/p"), BROWSER)

    assert world.service.track("view", view(page_url="/p"), BROWSER).counted is True


def test_dedup_window_is_configurable(fixed_clock: clock.FixedClock) -> None:
    world = TrackingWorld(policy=TrackingPolicy(dedup_window_seconds=0))
    world.service.track("click", click(), BROWSER)

    assert world.service.track("click", click(), BROWSER).counted is True


def test_crawlers_are_acknowledged_not_counted(world: TrackingWorld) -> None:
    outcome = world.service.track("view", view(), GOOGLEBOT)

    assert (outcome.counted, outcome.reason) == (False, "bot")
    assert world.ledger.claims == {}


def test_unknown_account_is_not_found_and_nothing_is_written(world: TrackingWorld) -> None:
    with pytest.raises(NotFound) as error:
        world.service.track("click", click(account_id="acc_missing"), BROWSER)

    assert error.value.field == "account_id"
    assert world.ledger.events == []


def test_batch_answers_per_event_in_order(world: TrackingWorld) -> None:
    raw = [
        {"type": "click", "account_id": "acc_1", "source": "seo"},
        {"type": "view", "account_id": "acc_1", "source": "teleport"},
        {"type": "view", "account_id": "acc_nope", "source": "seo"},
        {"account_id": "acc_1", "source": "seo"},
        {"type": "view", "account_id": "acc_1", "source": "rotation", "position": 3},
        "not an object",
    ]

    answer = world.service.track_batch(raw, BROWSER)

    assert [result.status for result in answer.results] == [202, 422, 404, 422, 202, 422]
    assert [result.index for result in answer.results] == list(range(6))
    assert (answer.accepted, answer.rejected) == (2, 4)
    assert answer.results[1].errors is not None
    assert answer.results[1].errors[0].field == "events.1.source"
    assert "Input should be" in answer.results[1].errors[0].message
    assert answer.results[2].errors is not None
    assert answer.results[2].errors[0].field == "events.2.account_id"
    assert answer.results[3].errors is not None
    assert answer.results[3].errors[0].field == "events.3.type"
    assert len(world.ledger.events) == 2


def test_batch_repeats_count_once(world: TrackingWorld) -> None:
    same = {"type": "click", "account_id": "acc_1", "source": "seo", "page_url": "/x"}

    answer = world.service.track_batch([same, same, same], BROWSER)

    assert [result.counted for result in answer.results] == [True, False, False]
    assert world.accounts.lookups == 1


def test_batch_stops_writing_when_the_table_is_throttled(world: TrackingWorld) -> None:
    world.ledger.fail_after = 1
    raw = [{"type": "click", "account_id": "acc_1", "source": "seo", "page_url": f"/{i}"} for i in range(3)]

    answer = world.service.track_batch(raw, BROWSER)

    assert [result.status for result in answer.results] == [202, 503, 503]
    assert len(world.ledger.events) == 1


def test_stats_add_up_from_counters(world: TrackingWorld, fixed_clock: clock.FixedClock) -> None:
    service = world.service
    service.track("view", view(source="seo", page_url="/a"), BROWSER)
    service.track("view", view(source="seo", page_url="/a"), BROWSER)  # duplicate
    service.track("view", view(source="rotation", page_url="/b", sponsorship_id="sp_1"), BROWSER)
    service.track("view", view(source="search", page_url="/c"), GOOGLEBOT)  # bot
    service.track("click", click(source="sponsorship", sponsorship_id="sp_1"), BROWSER)
    fixed_clock.advance(timedelta(days=-3))
    service.track("view", view(source="city", page_url="/old"), OTHER_BROWSER)
    fixed_clock.advance(timedelta(days=3))
    assert world.drain_stream() == []

    stats = service.stats("acc_1", days=2)

    assert (stats.clicks_total, stats.views_total) == (1, 3)
    assert (stats.clicks, stats.views) == (1, 2)
    assert stats.ctr == 50.0
    assert stats.views_by_source["seo"] == 1
    assert stats.views_by_source["rotation"] == 1
    assert stats.views_by_source["city"] == 0  # three days ago: outside a 2-day window
    assert stats.clicks_by_source == {
        "seo": 0,
        "sponsorship": 1,
        "search": 0,
        "category": 0,
        "city": 0,
        "direct": 0,
        "other": 0,
    }
    assert [(day.date, day.clicks, day.views) for day in stats.daily] == [
        ("2026-11-19", 0, 0),
        ("2026-11-20", 1, 2),
    ]
    assert [(s.sponsorship_id, s.clicks, s.impressions) for s in stats.sponsorships] == [("sp_1", 1, 1)]


def test_stats_window_has_one_entry_per_day(world: TrackingWorld) -> None:
    stats = world.service.stats("acc_1", days=30)

    assert len(stats.daily) == 30
    assert (stats.start, stats.end) == ("2026-10-22", "2026-11-20")
    assert stats.ctr == 0


def test_stats_of_an_unknown_account_is_not_found(world: TrackingWorld) -> None:
    with pytest.raises(NotFound):
        world.service.stats("acc_missing", days=30)


@pytest.mark.parametrize(
    ("clicks", "views", "expected"),
    [(0, 0, "0.00"), (1, 3, "33.33"), (2, 3, "66.67"), (1, 8, "12.50"), (5, 2, "250.00")],
)
def test_click_through_rate_rounds_half_up_to_two_decimals(clicks: int, views: int, expected: str) -> None:
    assert click_through_rate(clicks, views) == Decimal(expected)
