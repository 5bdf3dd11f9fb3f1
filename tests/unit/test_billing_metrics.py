from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tally.billing.metrics import (
    Aggregate,
    BillableMetric,
    MeteredEvent,
    apply,
    contribution,
    event_value,
    unique_value,
    value_after,
)
from tally.errors import InvalidInput

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def metric(**fields: Any) -> BillableMetric:
    return BillableMetric.model_validate({"code": "m", "name": "M", **fields})


def event(quantity: str | None = None, at: datetime = T0, **properties: Any) -> MeteredEvent:
    return MeteredEvent(
        timestamp=at, quantity=None if quantity is None else Decimal(quantity), properties=properties
    )


def test_a_gauge_is_latest_and_never_reset() -> None:
    storage = BillableMetric(code="storage_gb", name="Storage", aggregation="latest", reset="never")
    assert (storage.aggregation, storage.reset, storage.field) == ("latest", "never", None)


def test_unique_count_needs_the_property_it_counts() -> None:
    with pytest.raises(ValidationError, match="unique_count metric counts distinct values"):
        metric(aggregation="unique_count")


def test_count_reads_no_property() -> None:
    with pytest.raises(ValidationError, match="count metric counts events"):
        metric(aggregation="count", field="bytes")


@pytest.mark.parametrize(
    ("fields", "where"),
    [({"code": "Storage GB", "aggregation": "sum"}, "code"), ({"aggregation": "avg"}, "aggregation")],
)
def test_bad_metrics_are_refused_on_their_field(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        metric(**fields)
    assert refused.value.errors()[0]["loc"] == (where,)


def test_count_adds_one_whatever_the_quantity() -> None:
    step = contribution(metric(aggregation="count"), event("40"))
    assert (step.op, step.value) == ("add", Decimal(1))
    assert apply(Aggregate(Decimal(6)), step).value == 7


def test_sum_adds_the_quantity_or_one() -> None:
    sums = metric(aggregation="sum")
    assert contribution(sums, event("2.5")).value == Decimal("2.5")
    assert contribution(sums, event()).value == 1
    assert apply(Aggregate(Decimal(10)), contribution(sums, event("2.5"))).value == Decimal("12.5")


def test_sum_of_a_property() -> None:
    bytes_sent = metric(aggregation="sum", field="bytes")
    assert event_value(bytes_sent, event("9", bytes=1024)) == 1024


@pytest.mark.parametrize(
    ("properties", "words"),
    [
        ({}, "properties.bytes is missing"),
        ({"bytes": "many"}, "must be a number"),
        ({"bytes": -1}, "zero or more"),
    ],
)
def test_a_property_that_cannot_be_read_names_itself(properties: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as refused:
        event_value(metric(aggregation="sum", field="bytes"), event(**properties))
    assert refused.value.field == "properties.bytes"


def test_a_negative_quantity_is_refused() -> None:
    with pytest.raises(InvalidInput, match="zero or more") as refused:
        event_value(metric(aggregation="sum"), event("-1"))
    assert refused.value.field == "quantity"


def test_max_keeps_the_greater() -> None:
    peak = metric(aggregation="max")
    assert apply(Aggregate(Decimal(8)), contribution(peak, event("5"))).value == 8
    assert apply(Aggregate(Decimal(8)), contribution(peak, event("11"))).value == 11
    assert apply(None, contribution(peak, event("3"))).value == 3


def test_latest_takes_the_newest_event_and_ignores_an_older_one() -> None:
    gauge = metric(aggregation="latest", reset="never")
    now = apply(None, contribution(gauge, event("120", at=T0)))
    later = apply(now, contribution(gauge, event("90", at=T0 + timedelta(hours=1))))
    late_arrival = apply(later, contribution(gauge, event("500", at=T0 + timedelta(minutes=30))))
    assert [now.value, later.value, late_arrival.value] == [Decimal(120), Decimal(90), Decimal(90)]
    assert late_arrival.last_event_at == T0 + timedelta(hours=1)


def test_unique_count_claims_each_value_once() -> None:
    users = metric(aggregation="unique_count", field="user_id")
    first = contribution(users, event(user_id="u-1"))
    assert (first.op, first.value, first.unique) == ("add", Decimal(1), "u-1")
    once = apply(None, first, new_unique=True)
    again = apply(once, contribution(users, event(user_id="u-1")), new_unique=False)
    assert (once.value, again.value) == (Decimal(1), Decimal(1))


def test_unique_values_have_one_spelling() -> None:
    users = metric(aggregation="unique_count", field="user_id")
    assert (
        unique_value(users, event(user_id=42)) == unique_value(users, event(user_id=Decimal("42.0"))) == "42"
    )
    with pytest.raises(InvalidInput, match="counts its distinct values"):
        unique_value(users, event())


def test_value_after_is_what_a_hard_quota_compares() -> None:
    assert value_after(Decimal(7), contribution(metric(aggregation="sum"), event("3"))) == 10
    assert value_after(Decimal(7), contribution(metric(aggregation="max"), event("3"))) == 7
    assert value_after(Decimal(7), contribution(metric(aggregation="latest"), event("3"))) == 3
