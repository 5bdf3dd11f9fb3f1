"""The counter projection counts each event exactly once, however the stream delivers it."""

from __future__ import annotations

from datetime import UTC, datetime

from tally.tracking.counters import CounterTarget, chunk_for_transactions, increments_for
from tally.tracking.domain import TrackedEvent
from tally.tracking.projection import CounterProjection, StreamRecord, counted_event
from tests.support.fakes import InMemoryCounterStore
from tests.support.tracking import stream_record

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def event(
    number: int, *, account: str = "acc_1", counted: bool = True, sponsorship: str | None = None
) -> TrackedEvent:
    return TrackedEvent(
        id=f"evt_{number}",
        account_id=account,
        type="click" if number % 2 else "view",
        source="seo",
        occurred_at=AT,
        expires_at=0,
        counted=counted,
        sponsorship_id=sponsorship,
    )


def records(count: int, **fields: object) -> list[StreamRecord]:
    return [stream_record(event(n, **fields), n) for n in range(1, count + 1)]  # type: ignore[arg-type]


def projection(store: InMemoryCounterStore) -> CounterProjection:
    return CounterProjection(store, sleep=lambda _: None)


def totals(store: InMemoryCounterStore, account: str = "acc_1") -> dict[str, int]:
    return store.counters.get(CounterTarget(account, "total"), {})


def test_a_redelivered_batch_is_not_counted_twice() -> None:
    store = InMemoryCounterStore()
    batch = records(10)

    assert projection(store).project(batch) == []
    assert projection(store).project(batch) == []

    assert totals(store) == {"clicks": 5, "click_seo": 5, "views": 5, "view_seo": 5}


def test_an_overlapping_redelivery_counts_only_the_new_events() -> None:
    store = InMemoryCounterStore()
    batch = records(10)
    projection(store).project(batch[:6])

    projection(store).project(batch[3:])

    assert totals(store)["clicks"] + totals(store)["views"] == 10


def test_uncounted_events_and_other_items_are_ignored() -> None:
    store = InMemoryCounterStore()
    duplicate = stream_record(event(1, counted=False), 1)
    counter_update = StreamRecord("2", "INSERT", {}, {"clicks": 3})
    modify = StreamRecord("3", "MODIFY", {}, stream_record(event(3), 3).new_image)

    assert [counted_event(r) for r in (duplicate, counter_update, modify)] == [None, None, None]
    assert projection(store).project([duplicate, counter_update, modify]) == []
    assert store.counters == {}


def test_big_batches_are_split_into_transactions_of_at_most_100_items() -> None:
    events = [counted_event(r) for r in records(100, sponsorship=None)]
    many_accounts = [counted_event(stream_record(event(n, account=f"acc_{n}"), n)) for n in range(1, 101)]

    for batch in (events, many_accounts):
        chunks = chunk_for_transactions([e for e in batch if e is not None])
        assert sum(len(chunk) for chunk in chunks) == 100
        assert all(len(chunk) + len(increments_for(chunk)) <= 100 for chunk in chunks)
    assert len(chunk_for_transactions([e for e in many_accounts if e is not None])) > 1


def test_a_failing_chunk_reports_where_to_resume_and_counts_nothing_of_itself() -> None:
    store = InMemoryCounterStore()
    batch = [stream_record(event(n, account=f"acc_{n}"), n) for n in range(1, 101)]
    store.unavailable_times = 0
    project = projection(store)
    first_chunk = chunk_for_transactions([e for r in batch if (e := counted_event(r))])[0]

    store.unavailable_times = 0
    # Let the first chunk through, then keep failing.
    original_apply = store.apply
    calls = {"n": 0}

    def flaky_apply(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 1:
            store.unavailable_times = 1
        return original_apply(*args, **kwargs)

    store.apply = flaky_apply  # type: ignore[method-assign]

    failed = project.project(batch)

    resume_at = str(len(first_chunk) + 1)
    assert failed == [resume_at]
    assert len(store.applied) == len(first_chunk)

    store.apply = original_apply  # type: ignore[method-assign]
    assert project.project(batch[len(first_chunk) :]) == []
    assert len(store.applied) == 100


def test_a_throttled_chunk_is_retried_before_giving_up() -> None:
    store = InMemoryCounterStore()
    store.unavailable_times = 2

    assert projection(store).project(records(4)) == []
    assert store.transactions == 1


def test_sponsored_events_raise_the_sponsorship_counter() -> None:
    store = InMemoryCounterStore()

    projection(store).project(records(3, sponsorship="sp_9"))

    assert store.counters[CounterTarget("acc_1", "sponsorship", sponsorship_id="sp_9")] == {
        "clicks": 2,
        "impressions": 1,
    }
