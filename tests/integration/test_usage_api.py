"""The usage function end to end in-process: HTTP API v2 events in, moto behind (issue 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from local.mailbox import MAILBOX
from tally import clock
from tally.clock import FixedClock
from tally.identity.roles import Role
from tally.storage import clients, keys
from tally.storage.items import to_item
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.tenancy import User, reset_function_caches, seed_account, seed_member, staff
from tests.support.usage import METRICS, metric_item, plan_version, plan_version_item, subscription_item

ACCOUNT = "acc_usage"
OWNER = User("owner-usage", "owner@usage.example.com")
ADMIN = User("admin-usage", "admin@usage.example.com")
VIEWER = User("viewer-usage", "viewer@usage.example.com")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)


def put(stack: Stack, item: dict[str, Any]) -> None:
    clients.dynamodb().put_item(TableName=stack.ref("BillingTable"), Item=item)


@pytest.fixture
def api(stack: Stack) -> Iterator[Stack]:
    seed_account(stack, ACCOUNT)
    seed_member(stack, ACCOUNT, OWNER, Role.OWNER)
    seed_member(stack, ACCOUNT, ADMIN, Role.ADMIN)
    seed_member(stack, ACCOUNT, VIEWER, Role.VIEWER)
    put(
        stack,
        keys.user_profile(OWNER.sub) | to_item({"kind": "profile", "email": OWNER.email, "locale": "fr"}),
    )
    for metric in METRICS:
        put(stack, metric_item(metric))
    put(stack, plan_version_item("starter", 1, plan_version()))
    put(
        stack,
        subscription_item(ACCOUNT, "starter", 1, anchor=MARCH, period_start=MARCH, period_end=APRIL),
    )
    clock.set_clock(FixedClock(NOW))
    with stack.environment("UsageFunction"):
        reset_function_caches()
        yield stack
        reset_function_caches()
    clock.set_clock(None)


KEY = {"kind": "api_key", "key_id": "key_usage", "account_id": ACCOUNT, "scopes": "usage:write usage:read"}


def call(
    who: User | dict[str, Any] | None,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    from usage.app import lambda_handler

    if isinstance(who, dict) and who.get("kind") == "api_key":
        event = http_event(method, path, body=body, query=query)
        event["requestContext"]["authorizer"] = {"lambda": dict(who)}
    else:
        claims = who.claims() if isinstance(who, User) else who
        event = http_event(method, path, body=body, query=query, claims=claims)
    answer = lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "null")


def send(events: list[dict[str, Any]], who: Any = None) -> list[dict[str, Any]]:
    status, body = call(who or KEY, "POST", "/v1/usage", {"events": events})
    assert status == 202, body
    results: list[dict[str, Any]] = body["results"]
    assert [r["index"] for r in results] == list(range(len(events)))
    return results


def usage(period: str = "current") -> dict[str, dict[str, Any]]:
    status, body = call(KEY, "GET", f"/v1/accounts/{ACCOUNT}/usage", query={"period": period})
    assert status == 200, body
    return {line["metric"]: line for line in body["metrics"]}


def test_a_repeated_id_answers_its_first_result_and_changes_nothing(api: Stack) -> None:
    first = send([{"id": "e-1", "metric": "api_calls", "quantity": 3}])[0]
    assert (first["status"], first["period"], first["repeat"]) == (202, "2026-03", False)
    again = send([{"id": "e-1", "metric": "api_calls", "quantity": 3}, {"id": "e-1", "metric": "api_calls"}])
    assert [(r["status"], r["repeat"]) for r in again] == [(202, True), (202, True)]
    line = usage()["api_calls"]
    assert (Decimal(line["value"]), line["limit"], line["state"]) == (Decimal(3), 100, "ok")


def test_each_event_is_refused_on_its_own_with_its_reason(api: Stack) -> None:
    results = send(
        [
            {"id": "ok-1", "metric": "api_calls", "quantity": 2},
            {"id": "old-1", "metric": "api_calls", "timestamp": "2026-02-28T23:59:59Z"},
            {"id": "ahead-1", "metric": "api_calls", "timestamp": (NOW + timedelta(minutes=6)).isoformat()},
            {"id": "near-1", "metric": "api_calls", "timestamp": (NOW + timedelta(minutes=4)).isoformat()},
            {"id": "what-1", "metric": "nothing_like_it"},
            {"id": "neg-1", "metric": "api_calls", "quantity": -1},
            {"metric": "api_calls"},
            {"id": "user-1", "metric": "active_users"},
        ]
    )
    assert [r["status"] for r in results] == [202, 422, 422, 202, 422, 422, 422, 422]
    assert "before the current period" in results[1]["message"]
    assert "5 minutes ahead" in results[2]["message"]
    assert "Unknown metric" in results[4]["message"]
    assert results[5]["errors"][0]["field"].startswith("events.5.quantity")
    assert results[6]["errors"][0]["field"] == "events.6.id"
    assert results[7]["errors"][0]["field"] == "events.7.properties.user_id"
    assert Decimal(usage()["api_calls"]["value"]) == 3


def test_a_hard_quota_refuses_past_the_limit_naming_it(api: Stack) -> None:
    send([{"id": f"fill-{n}", "metric": "api_calls", "quantity": 10} for n in range(9)])
    results = send(
        [
            {"id": "over", "metric": "api_calls", "quantity": 11},
            {"id": "fits", "metric": "api_calls", "quantity": 10},
            {"id": "one-more", "metric": "api_calls"},
        ]
    )
    assert [r["status"] for r in results] == [409, 202, 409]
    assert results[0]["code"] == "quota_exceeded"
    assert (results[0]["limit"], Decimal(results[0]["value"])) == (100, Decimal(90))
    assert "api_calls is limited to 100" in results[0]["message"]
    assert Decimal(results[2]["value"]) == 100
    line = usage()["api_calls"]
    assert (Decimal(line["value"]), line["percent"], line["state"]) == (Decimal(100), "100.0", "exceeded")
    # The refused id was not recorded: once the limit is raised it may be sent again.
    status, check = call(KEY, "POST", "/v1/quotas/check", {"metric": "api_calls", "quantity": 1})
    assert status == 200
    assert check["allowed"] is False
    assert Decimal(check["remaining"]) == 0


def test_concurrent_events_stop_exactly_at_a_hard_limit(api: Stack) -> None:
    from usage.routes import service

    send([{"id": f"base-{n}", "metric": "api_calls", "quantity": 10} for n in range(8)])  # 80: headroom 20
    events = [{"id": f"rush-{n}", "metric": "api_calls", "quantity": 1} for n in range(80)]  # 4x headroom

    def one(event: dict[str, Any]) -> int:
        return service().record_batch(ACCOUNT, [event]).results[0].status

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, events))
    assert statuses.count(202) == 20
    assert statuses.count(409) + statuses.count(503) == 60
    assert Decimal(usage()["api_calls"]["value"]) == 100


def test_a_soft_quota_accepts_records_a_violation_and_mails_managers_once_per_threshold(api: Stack) -> None:
    results = send([{"id": f"sms-{n}", "metric": "sms"} for n in range(14)])
    assert all(r["status"] == 202 for r in results)
    line = usage()["sms"]
    assert (Decimal(line["value"]), line["state"], line["enforcement"]) == (Decimal(14), "exceeded", "soft")
    owner = MAILBOX.messages(OWNER.email)
    admin = MAILBOX.messages(ADMIN.email)
    assert len(owner) == 2
    assert len(admin) == 2
    assert sorted(m.subject for m in owner) == [
        "sms a atteint 100 % de son quota",
        "sms a atteint 80 % de son quota",
    ]
    assert sorted(m.subject for m in admin) == [
        "sms has reached 100 % of its quota",
        "sms has reached 80 % of its quota",
    ]
    assert MAILBOX.messages(VIEWER.email) == []
    # The email names the account as its members know it, not by its id.
    assert all(f"Account {ACCOUNT}" in m.text for m in owner + admin)
    send([{"id": f"sms-more-{n}", "metric": "sms"} for n in range(5)])
    assert len(MAILBOX.messages(OWNER.email)) == 2
    status, body = call(OWNER, "GET", f"/v1/accounts/{ACCOUNT}/quota-violations")
    assert status == 200, body
    assert [(v["metric"], v["period"], v["limit"]) for v in body["violations"]] == [("sms", "2026-03", 10)]
    platform = staff(api)
    status, feed = call(platform, "GET", "/v1/quota-violations", query={"from": "2026-03-01T00:00:00Z"})
    assert status == 200, feed
    assert [v["account_id"] for v in feed["violations"]] == [ACCOUNT]
    status, _ = call(platform, "GET", "/v1/quota-violations", query={"to": "0.5"})
    assert status == 422
    status, _ = call(OWNER, "GET", "/v1/quota-violations")
    assert status == 403
    # 19 SMS, 5 included, 0.05 EUR each: 14 x 5 = 70 cents.
    status, charges = call(OWNER, "GET", f"/v1/accounts/{ACCOUNT}/usage/charges", query={"period": "2026-03"})
    assert status == 200, charges
    assert (charges["currency"], charges["total"], charges["lines"][0]["amount"]) == ("EUR", 70, 70)


def test_periods_follow_the_subscription(api: Stack) -> None:
    send(
        [
            {"id": "march-1", "metric": "api_calls", "quantity": 7},
            {"id": "gauge-1", "metric": "storage_gb", "quantity": 12},
        ]
    )
    clock.set_clock(FixedClock(APRIL + timedelta(hours=1)))
    results = send(
        [
            {"id": "late-march", "metric": "api_calls", "timestamp": "2026-03-31T23:00:00Z"},
            {"id": "april-1", "metric": "api_calls", "quantity": 2},
            {"id": "gauge-2", "metric": "storage_gb", "quantity": 60},
        ]
    )
    assert [r["status"] for r in results] == [422, 202, 409]
    assert results[1]["period"] == "2026-04"
    now = usage()
    assert Decimal(now["api_calls"]["value"]) == 2
    assert Decimal(now["storage_gb"]["value"]) == 12  # a gauge that never resets
    assert Decimal(usage("2026-03")["api_calls"]["value"]) == 7
    status, body = call(KEY, "GET", f"/v1/accounts/{ACCOUNT}/usage", query={"period": "2025-12"})
    assert status == 422
    assert "first period starts later" in json.dumps(body)


def test_unique_count_counts_each_value_once(api: Stack) -> None:
    results = send(
        [
            {"id": "u-1", "metric": "active_users", "properties": {"user_id": "ann"}},
            {"id": "u-2", "metric": "active_users", "properties": {"user_id": "bob"}},
            {"id": "u-3", "metric": "active_users", "properties": {"user_id": "ann"}},
        ]
    )
    assert [r["status"] for r in results] == [202, 202, 202]
    assert Decimal(usage()["active_users"]["value"]) == 2


def test_entitlements_overrides_metrics_and_checks(api: Stack) -> None:
    status, rights = call(VIEWER, "GET", f"/v1/accounts/{ACCOUNT}/entitlements")
    assert status == 200, rights
    assert rights["plan_code"] == "starter"
    assert rights["quotas"]["api_calls"]["limit"] == 100
    assert rights["features"]["api_access"] is True
    status, _ = call(OWNER, "PUT", f"/v1/accounts/{ACCOUNT}/overrides", {"reason": "x" * 5})
    assert status == 403
    admin = staff(api)
    body = {"reason": "Pilot", "quotas": {"api_calls": {"limit": 5, "enforcement": "hard"}, "sms": None}}
    status, answer = call(admin, "PUT", f"/v1/accounts/{ACCOUNT}/overrides", body)
    assert status == 200, answer
    status, rights = call(KEY, "GET", f"/v1/accounts/{ACCOUNT}/entitlements")
    assert rights["quotas"]["api_calls"]["limit"] == 5
    assert "sms" not in rights["quotas"]
    assert rights["overridden_quotas"] == ["api_calls", "sms"]
    status, check = call(KEY, "POST", "/v1/quotas/check", {"metric": "api_calls", "quantity": 6})
    assert status == 200
    assert (check["allowed"], check["limit"]) == (False, 5)
    audit = clients.dynamodb().query(
        TableName=api.ref("BillingTable"),
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.audit_pk(ACCOUNT)}},
    )["Items"]
    assert [(a["action"]["S"], a["reason"]["S"]) for a in audit] == [("entitlements.overridden", "Pilot")]
    # Metrics: platform admins define them; everyone reads them.
    new = {"code": "exports", "name": "Exports", "aggregation": "count"}
    assert call(OWNER, "POST", "/v1/metrics", new)[0] == 403
    assert call(admin, "POST", "/v1/metrics", new)[0] == 201
    assert call(admin, "POST", "/v1/metrics", new)[0] == 409
    status, body = call(
        admin, "POST", "/v1/metrics", {"code": "seen", "name": "Seen", "aggregation": "unique_count"}
    )
    assert status == 422
    assert "field" in json.dumps(body)
    status, listed = call(KEY, "GET", "/v1/metrics")
    assert status == 200
    assert "exports" in [m["code"] for m in listed["metrics"]]


def test_no_subscription_means_no_quotas(api: Stack) -> None:
    clients.dynamodb().delete_item(TableName=api.ref("BillingTable"), Key=keys.current_subscription(ACCOUNT))
    results = send([{"id": f"free-{n}", "metric": "api_calls", "quantity": 60} for n in range(3)])
    assert [r["status"] for r in results] == [202, 202, 202]
    line = usage()["api_calls"]
    assert (Decimal(line["value"]), line["limit"], line["state"]) == (Decimal(180), None, "ok")
    _status, rights = call(KEY, "GET", f"/v1/accounts/{ACCOUNT}/entitlements")
    assert (rights["plan_code"], rights["quotas"], rights["features"]) == (None, {}, {})


def test_keys_need_their_scope_and_their_account(api: Stack) -> None:
    reader = KEY | {"scopes": "usage:read"}
    status, body = call(reader, "POST", "/v1/usage", {"events": [{"id": "x", "metric": "sms"}]})
    assert status == 403
    assert "usage:write" in body["message"]
    status, _ = call(KEY, "GET", "/v1/accounts/acc_other/usage")
    assert status == 403
    status, _ = call(VIEWER, "POST", "/v1/usage", {"events": [{"id": "x", "metric": "sms"}]})
    assert status == 403


def test_violations_are_read_a_page_at_a_time_with_cursors_that_stay_in_their_partition(api: Stack) -> None:
    from tally.usage.dynamo import DynamoUsageStore

    store = DynamoUsageStore(clients.dynamodb(), api.ref("BillingTable"))
    for n in range(5):
        at = NOW - timedelta(hours=n)
        violation = {"id": f"v{n}", "account_id": ACCOUNT, "metric": "sms", "period": "2026-03", "limit": 10}
        violation |= {"enforcement": "soft"}
        store.put_violation(ACCOUNT, violation | {"value": str(10 + n), "at": at.isoformat()}, at, f"v{n}")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, page = call(OWNER, "GET", f"/v1/accounts/{ACCOUNT}/quota-violations", query=query)
        assert status == 200, page
        seen += [v["value"] for v in page["violations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["10", "11", "12", "13", "14"]  # newest first, each once
    platform = staff(api)
    status, first = call(platform, "GET", "/v1/quota-violations", query={"limit": "3"})
    assert status == 200, first
    assert len(first["violations"]) == 3
    assert first["next_cursor"] is not None
    # A feed cursor is not an account's, and an edited one is refused in words.
    for bad in (first["next_cursor"], "not-a-cursor"):
        status, body = call(OWNER, "GET", f"/v1/accounts/{ACCOUNT}/quota-violations", query={"cursor": bad})
        assert (status, body["errors"][0]["field"]) == (422, "cursor"), body
