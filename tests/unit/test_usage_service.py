"""tally.usage.service over an in-memory store: the rules of recording, quotas and reading."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tally import clock
from tally.billing.metrics import Aggregate, BillableMetric, Contribution, apply
from tally.billing.quotas import Overrides
from tally.clock import FixedClock
from tally.usage.dynamo import AccountTerms, CurrentSubscription, Recorded
from tally.usage.service import ThresholdNotice, UsageService
from tests.support.usage import METRICS, plan_version

ACCOUNT = "acc_1"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


class InMemoryUsageStore:
    """The DynamoUsageStore's contract, in Python: the same conditions, decided the same way."""

    def __init__(self, terms: AccountTerms) -> None:
        self.current_terms = terms
        self.known = {m.code: m for m in METRICS}
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.aggregates_: dict[tuple[str, str, str], Aggregate] = {}
        self.claims: set[tuple[str, str, str, str]] = set()
        self.notices: set[tuple[str, str, str, int]] = set()
        self.violations: list[dict[str, Any]] = []
        self.operations = 0

    def terms(self, account_id: str) -> AccountTerms:
        self.operations += 2
        return self.current_terms

    def metrics(self, codes: set[str]) -> dict[str, BillableMetric]:
        self.operations += 1
        return {code: self.known[code] for code in codes if code in self.known}

    def record(
        self,
        account_id: str,
        event_id: str,
        period: str,
        step: Contribution,
        metric: str,
        threshold: Decimal | None,
        result: Mapping[str, Any],
        at: datetime,
    ) -> Recorded:
        self.operations += 1
        if (account_id, event_id) in self.events:
            return Recorded("repeat", self.events[(account_id, event_id)])
        key = (account_id, period, metric)
        current = self.aggregates_.get(key)
        value = Decimal(0) if current is None else current.value
        if threshold is not None and (value > threshold or (current is None and threshold < 0)):
            return Recorded("refused", value=value)
        new_unique = True
        if step.unique is not None:
            claim = (account_id, period, metric, step.unique)
            new_unique = claim not in self.claims
            self.claims.add(claim)
        self.aggregates_[key] = apply(current, step, new_unique=new_unique)
        self.events[(account_id, event_id)] = json.loads(json.dumps(dict(result)))
        return Recorded("accepted")

    def first_result(self, account_id: str, event_id: str) -> dict[str, Any] | None:
        self.operations += 1
        return self.events.get((account_id, event_id))

    def aggregate(self, account_id: str, period: str, metric: str) -> tuple[Decimal, frozenset[int]]:
        self.operations += 1
        found = self.aggregates_.get((account_id, period, metric))
        noted = frozenset(t for (a, p, m, t) in self.notices if (a, p, m) == (account_id, period, metric))
        return (Decimal(0) if found is None else found.value), noted

    def aggregates(self, account_id: str, period: str) -> dict[str, Decimal]:
        self.operations += 1
        return {m: agg.value for (a, p, m), agg in self.aggregates_.items() if (a, p) == (account_id, period)}

    def claim_notice(self, account_id: str, period: str, metric: str, threshold: int, at: datetime) -> bool:
        self.operations += 1
        key = (account_id, period, metric, threshold)
        if key in self.notices:
            return False
        self.notices.add(key)
        return True

    def put_violation(
        self, account_id: str, violation: Mapping[str, Any], at: datetime, violation_id: str
    ) -> None:
        self.operations += 1
        self.violations.append(dict(violation))


def subscribed(overrides: Overrides | None = None) -> AccountTerms:
    subscription = CurrentSubscription(
        subscription_id="sub_1",
        plan_code="starter",
        plan_version=1,
        status="active",
        cycle="monthly",
        currency="EUR",
        current_period_start=MARCH,
        current_period_end=datetime(2026, 4, 1, tzinfo=UTC),
        billing_anchor=MARCH,
        time_zone="UTC",
    )
    return AccountTerms(subscription, plan_version(), overrides)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    clock.set_clock(FixedClock(NOW))
    yield
    clock.set_clock(None)


def service(
    terms: AccountTerms | None = None,
) -> tuple[UsageService, InMemoryUsageStore, list[ThresholdNotice]]:
    store = InMemoryUsageStore(terms or subscribed())
    notices: list[ThresholdNotice] = []
    return UsageService(store, notices.append), store, notices


def statuses(answer: Any) -> list[int]:
    return [result.status for result in answer.results]


def test_a_repeat_answers_the_first_result_and_moves_nothing() -> None:
    usage, store, _ = service()
    first = usage.record_batch(ACCOUNT, [{"id": "a", "metric": "api_calls", "quantity": 4}])
    again = usage.record_batch(ACCOUNT, [{"id": "a", "metric": "api_calls", "quantity": 40}])
    assert statuses(first) == statuses(again) == [202]
    assert again.results[0].repeat
    assert store.aggregates(ACCOUNT, "2026-03") == {"api_calls": Decimal(4)}


def test_a_hard_quota_stops_at_the_limit_and_names_it() -> None:
    usage, _, _ = service()
    answer = usage.record_batch(
        ACCOUNT,
        [
            {"id": "a", "metric": "api_calls", "quantity": 99},
            {"id": "b", "metric": "api_calls", "quantity": 2},
            {"id": "c", "metric": "api_calls", "quantity": 1},
            {"id": "d", "metric": "api_calls", "quantity": 1},
            {"id": "e", "metric": "api_calls", "quantity": 101},
        ],
    )
    assert statuses(answer) == [202, 409, 202, 409, 409]
    refused = answer.results[1]
    assert (refused.code, refused.limit, refused.value) == ("quota_exceeded", 100, Decimal(99))
    assert answer.results[4].value == Decimal(100)


def test_a_gauge_past_a_hard_limit_is_refused_on_its_own_value() -> None:
    usage, _, _ = service()
    answer = usage.record_batch(
        ACCOUNT,
        [
            {"id": "g1", "metric": "storage_gb", "quantity": 51},
            {"id": "g2", "metric": "storage_gb", "quantity": 50},
        ],
    )
    assert statuses(answer) == [409, 202]
    assert answer.results[1].period == "ALL"


def test_soft_thresholds_are_announced_once_each_and_100_records_a_violation() -> None:
    usage, store, notices = service()
    for n in range(15):
        assert statuses(usage.record_batch(ACCOUNT, [{"id": f"s{n}", "metric": "sms"}])) == [202]
    assert [(n.threshold, n.value) for n in notices] == [(80, Decimal(8)), (100, Decimal(10))]
    assert [(v["metric"], v["limit"], v["value"]) for v in store.violations] == [("sms", 10, Decimal(10))]


def test_a_jump_past_both_thresholds_announces_both() -> None:
    usage, _, notices = service()
    usage.record_batch(ACCOUNT, [{"id": f"s{n}", "metric": "sms"} for n in range(3)])
    assert notices == []
    clock.set_clock(FixedClock(NOW + timedelta(seconds=1)))
    batch = [{"id": f"t{n}", "metric": "sms"} for n in range(9)]
    usage.record_batch(ACCOUNT, batch)
    assert [n.threshold for n in notices] == [80, 100]


def test_timestamps_outside_the_window_are_refused_with_the_reason() -> None:
    usage, _, _ = service()
    answer = usage.record_batch(
        ACCOUNT,
        [
            {"id": "old", "metric": "sms", "timestamp": "2026-02-28T23:59:59+00:00"},
            {
                "id": "ahead",
                "metric": "sms",
                "timestamp": (NOW + timedelta(minutes=5, seconds=1)).isoformat(),
            },
            {"id": "edge", "metric": "sms", "timestamp": MARCH.isoformat()},
            {"id": "naive", "metric": "sms", "timestamp": "2026-03-05T10:00:00"},
        ],
    )
    assert statuses(answer) == [422, 422, 202, 422]
    assert "before the current period" in str(answer.results[0].message)
    assert "ahead" in str(answer.results[1].message)


def test_unique_count_counts_values_once_and_unknown_metrics_are_named() -> None:
    usage, store, _ = service()
    answer = usage.record_batch(
        ACCOUNT,
        [
            {"id": "u1", "metric": "active_users", "properties": {"user_id": 42}},
            {"id": "u2", "metric": "active_users", "properties": {"user_id": "42"}},
            {"id": "u3", "metric": "active_users", "properties": {"user_id": "ann"}},
            {"id": "x", "metric": "nope"},
        ],
    )
    assert statuses(answer) == [202, 202, 202, 422]
    assert store.aggregates(ACCOUNT, "2026-03")["active_users"] == 2


def test_without_a_subscription_there_are_no_quotas() -> None:
    usage, _, notices = service(AccountTerms(None, None, None))
    answer = usage.record_batch(ACCOUNT, [{"id": "a", "metric": "api_calls", "quantity": 1000}])
    assert statuses(answer) == [202]
    assert notices == []
    check = usage.check(ACCOUNT, "api_calls", Decimal(10**6))
    assert (check.allowed, check.limit) == (True, None)
    rights = usage.entitlements(ACCOUNT)
    assert (rights.plan_code, rights.quotas, rights.features) == (None, {}, {})
    assert usage.charges(ACCOUNT, "current").lines == []
    assert usage.usage(ACCOUNT, "current").subscribed is False


def test_overrides_replace_and_remove_quotas() -> None:
    overrides = Overrides.model_validate(
        {"quotas": {"api_calls": {"limit": 5, "enforcement": "hard"}, "sms": None}}
    )
    usage, _, notices = service(subscribed(overrides))
    answer = usage.record_batch(ACCOUNT, [{"id": "a", "metric": "api_calls", "quantity": 6}])
    assert statuses(answer) == [409]
    usage.record_batch(ACCOUNT, [{"id": f"s{n}", "metric": "sms"} for n in range(20)])
    assert notices == []


def test_checks_record_nothing_and_cost_the_same_whatever_is_stored() -> None:
    usage, store, _ = service()
    usage.record_batch(ACCOUNT, [{"id": "a", "metric": "api_calls", "quantity": 60}])
    before = dict(store.aggregates_)
    store.operations = 0
    check = usage.check(ACCOUNT, "api_calls", Decimal(50))
    assert (check.allowed, check.remaining, check.value_after) == (False, Decimal(40), Decimal(110))
    assert store.aggregates_ == before
    small = store.operations
    usage.record_batch(
        ACCOUNT, [{"id": f"more-{n}", "metric": "api_calls", "quantity": 0} for n in range(100)]
    )
    store.operations = 0
    usage.check(ACCOUNT, "api_calls", Decimal(1))
    assert store.operations == small


def test_usage_and_charges_read_aggregates() -> None:
    usage, _, _ = service()
    usage.record_batch(ACCOUNT, [{"id": f"s{n}", "metric": "sms"} for n in range(9)])
    report = usage.usage(ACCOUNT, "current")
    sms = next(line for line in report.metrics if line.metric == "sms")
    assert (sms.value, sms.percent, sms.state) == (Decimal(9), Decimal("90.0"), "warning")
    charges = usage.charges(ACCOUNT, "2026-03")
    assert (charges.total, charges.lines[0].billable) == (20, Decimal(4))  # 4 x 0.05 EUR


def test_a_repeat_after_its_period_closed_still_answers_its_first_result() -> None:
    usage, _, _ = service()
    usage.record_batch(ACCOUNT, [{"id": "late", "metric": "sms", "timestamp": NOW.isoformat()}])
    april = datetime(2026, 4, 1, 1, tzinfo=UTC)
    clock.set_clock(FixedClock(april))
    again = usage.record_batch(ACCOUNT, [{"id": "late", "metric": "sms", "timestamp": NOW.isoformat()}])
    assert (again.results[0].status, again.results[0].repeat, again.results[0].period) == (
        202,
        True,
        "2026-03",
    )
    fresh = usage.record_batch(ACCOUNT, [{"id": "new", "metric": "sms", "timestamp": NOW.isoformat()}])
    assert fresh.results[0].status == 422


def test_the_pointers_current_period_is_authoritative_while_it_lasts() -> None:
    terms = subscribed()
    assert terms.subscription is not None
    moved = AccountTerms(
        replace(terms.subscription, current_period_start=datetime(2026, 3, 5, tzinfo=UTC)),
        terms.version,
        None,
    )
    usage, _, _ = service(moved)
    answer = usage.record_batch(
        ACCOUNT,
        [
            {"id": "before", "metric": "sms", "timestamp": "2026-03-04T23:00:00+00:00"},
            {"id": "after", "metric": "sms", "timestamp": "2026-03-05T00:00:00+00:00"},
        ],
    )
    assert statuses(answer) == [422, 202]
    assert usage.usage(ACCOUNT, "current").start == datetime(2026, 3, 5, tzinfo=UTC)
