"""The tracking function end to end in-process: HTTP API v2 events in, moto behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tally.identity.roles import Role
from tally.storage import clients, keys
from tests.support.events import FakeContext, http_event, tenant_claims
from tests.support.stack import Stack, stream_batch
from tests.support.tenancy import User, reset_function_caches, seed_member, staff

ACCOUNT = "acc_demo"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def api(stack: Stack) -> Iterator[Stack]:
    clients.dynamodb().put_item(
        TableName=stack.ref("BillingTable"), Item=keys.account(ACCOUNT) | {"kind": {"S": "account"}}
    )
    seed_member(stack, ACCOUNT, MEMBER, Role.VIEWER)
    with stack.environment("TrackingFunction"):
        reset_function_caches()
        yield stack
        reset_function_caches()


MEMBER = User("member-1", "member@example.com")


@pytest.fixture
def admin(api: Stack) -> dict[str, Any]:
    """A platform admin with TOTP on (staff powers need it)."""
    return staff(api).claims()


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    from tracking.app import lambda_handler

    answer = lambda_handler(event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"] or "null"), answer.get("headers") or {}


def track(kind: str, body: Any, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    kwargs.setdefault("user_agent", FIREFOX)
    return call(http_event("POST", f"/v1/track/{kind}", body=body, **kwargs))


def project(stack: Stack) -> None:
    from tracking.counter import lambda_handler

    with stack.environment("TrackingCounterFunction"):
        answer = lambda_handler({"Records": stream_batch(stack, "EventsTable")}, FakeContext())  # type: ignore[arg-type]
    assert answer == {"batchItemFailures": []}


def stats(claims: dict[str, Any] | None, **query: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    return call(http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT, **query}, claims=claims))


def raw_events(stack: Stack) -> list[dict[str, Any]]:
    page = clients.dynamodb().scan(TableName=stack.ref("EventsTable"))
    return [item for item in page["Items"] if item.get("kind") == {"S": "event"}]


def test_click_view_and_stats_add_up(api: Stack, admin: dict[str, Any]) -> None:
    click = {"account_id": ACCOUNT, "source": "seo", "page_url": "/pros/1", "position": 2}
    assert track("click", click)[:2][0] == 202
    status, body, _ = track("click", click)
    assert (status, body["counted"], body["reason"]) == (202, False, "duplicate")
    status, body, _ = track("view", {"account_id": ACCOUNT, "source": "rotation", "sponsorship_id": "sp_1"})
    assert (status, body["counted"]) == (202, True)
    status, body, _ = track("view", {"account_id": ACCOUNT, "source": "seo"}, user_agent="Googlebot/2.1")
    assert (status, body["counted"], body["reason"]) == (202, False, "bot")
    status, body, _ = call(
        http_event(
            "POST",
            "/v1/track/events",
            body={
                "events": [
                    {"type": "view", "account_id": ACCOUNT, "source": "search", "page_url": "/s"},
                    {"type": "click", "account_id": ACCOUNT, "source": "search", "page_url": "/s"},
                    {"type": "view", "account_id": ACCOUNT, "source": "nowhere"},
                ]
            },
            user_agent=FIREFOX,
        )
    )
    assert status == 202
    assert [r["status"] for r in body["results"]] == [202, 202, 422]
    project(api)
    project(api)  # a redelivered stream batch changes nothing

    status, body, _ = stats(admin, days="7")

    assert status == 200
    assert (body["clicks_total"], body["views_total"], body["clicks"], body["views"]) == (2, 2, 2, 2)
    assert body["ctr"] == 100.0
    assert body["clicks_by_source"]["seo"] == 1
    assert body["views_by_source"]["rotation"] == 1
    assert len(body["daily"]) == 7
    assert body["daily"][-1] == {"date": body["end"], "clicks": 2, "views": 2}
    assert body["sponsorships"] == [{"sponsorship_id": "sp_1", "clicks": 0, "impressions": 1}]
    assert len(raw_events(api)) == 6


def test_the_client_ip_comes_from_api_gateway_not_headers(api: Stack) -> None:
    track(
        "click",
        {"account_id": ACCOUNT, "source": "direct"},
        source_ip="192.0.2.44",
        headers={"x-forwarded-for": "10.9.9.9"},
    )

    [stored] = raw_events(api)
    assert stored["ip_prefix"] == {"S": "192.0.2.0"}
    assert stored["user_agent"] == {"S": FIREFOX}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"source": "seo"}, "account_id", "required"),
        ({"account_id": ACCOUNT, "source": "teleport"}, "source", "Input should be"),
        ({"account_id": ACCOUNT, "source": "seo", "position": "3"}, "position", "integer"),
        ({"account_id": ACCOUNT, "source": "seo", "position": -1}, "position", "greater than or equal"),
        ({"account_id": ACCOUNT, "source": "seo", "ip_address": "1.2.3.4"}, "ip_address", "not allowed"),
        ({"account_id": ACCOUNT, "source": "rotation"}, "source", "Input should be"),
        ([1, 2], "body", "object"),
    ],
)
def test_bad_clicks_get_422_naming_the_field_and_write_nothing(
    api: Stack, body: Any, field: str, words: str
) -> None:
    status, answer, _ = track("click", body)

    assert status == 422
    assert any(e["field"] == field and words in e["message"] for e in answer["errors"]), answer
    assert field in answer["message"]
    assert raw_events(api) == []


def test_malformed_json_is_422_with_the_reason(api: Stack) -> None:
    status, answer, _ = call(http_event("POST", "/v1/track/click", raw_body='{"account_id": '))

    assert status == 422
    assert answer["errors"][0]["field"] == "body"
    assert "not valid JSON" in answer["errors"][0]["message"]


def test_unknown_account_is_404(api: Stack) -> None:
    status, answer, _ = track("view", {"account_id": "acc_nobody", "source": "seo"})

    assert status == 404
    assert answer["errors"][0]["field"] == "account_id"
    assert raw_events(api) == []


def test_a_batch_entry_that_is_not_an_object_rejects_only_itself(api: Stack) -> None:
    good = {"type": "view", "account_id": ACCOUNT, "source": "seo"}
    status, answer, _ = call(http_event("POST", "/v1/track/events", body={"events": ["oops", good, 42]}))

    assert status == 202
    assert [r["status"] for r in answer["results"]] == [422, 202, 422]
    assert answer["results"][0]["errors"][0] == {"field": "events.0", "message": "Expected a JSON object"}


def test_batches_over_100_and_bodies_over_64_kib_are_refused_whole(api: Stack) -> None:
    event = {"type": "view", "account_id": ACCOUNT, "source": "seo"}
    status, answer, _ = call(http_event("POST", "/v1/track/events", body={"events": [event] * 101}))
    assert status == 422
    assert answer["errors"][0]["field"] == "events"
    assert "at most 100" in answer["errors"][0]["message"]

    huge = {"account_id": ACCOUNT, "source": "seo", "page_url": "x" * (64 * 1024)}
    status, answer, _ = track("click", huge)
    assert status == 413
    assert answer["errors"][0]["field"] == "body"
    assert raw_events(api) == []


def test_stats_need_a_token_and_the_right_account(api: Stack, admin: dict[str, Any]) -> None:
    assert stats(None)[0] == 401
    assert stats(tenant_claims("outsider"))[0] == 403
    assert stats(MEMBER.claims())[0] == 200
    assert stats(admin, account_id="acc_nobody")[0] == 404
    status, answer, _ = stats(admin, days="0")
    assert status == 422
    assert answer["errors"][0] == {"field": "days", "in": "query", "message": answer["errors"][0]["message"]}


def test_a_throttled_table_answers_503_with_retry_after(api: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "TransactWriteItems",
        )

    monkeypatch.setattr(clients.dynamodb(), "transact_write_items", throttled)

    status, answer, headers = track("click", {"account_id": ACCOUNT, "source": "seo"})

    assert status == 503
    assert headers["Retry-After"] == "1"
    assert answer["code"] == "service_unavailable"
    assert raw_events(api) == []


def test_stats_errors_say_the_account_is_a_query_parameter(api: Stack, admin: dict[str, Any]) -> None:
    answers = [
        stats(tenant_claims("outsider")),
        stats(admin, account_id="acc_nobody"),
        stats(admin, account_id="not an id"),
    ]

    assert [status for status, _, _ in answers] == [403, 404, 422]
    for _, answer, _ in answers:
        assert [(e["field"], e["in"]) for e in answer["errors"]] == [("account_id", "query")]


def test_the_gateways_answer_for_an_unknown_path_in_a_function_has_tallys_shape(api: Stack) -> None:
    status, answer, _ = call(http_event("GET", "/v1/track/nowhere"))

    assert status == 404
    assert answer == {"message": "Not found", "code": "not_found", "errors": []}


def test_a_query_parameter_sent_twice_is_refused_in_words(api: Stack, admin: dict[str, Any]) -> None:
    event = http_event("GET", "/v1/track/stats", query={"account_id": ACCOUNT}, claims=admin)
    event["rawQueryString"] = f"account_id={ACCOUNT}&account_id=acc_other"
    event["queryStringParameters"] = {"account_id": f"{ACCOUNT},acc_other"}  # API Gateway joins repeats

    status, answer, _ = call(event)

    assert status == 422
    assert answer["errors"] == [{"field": "account_id", "in": "query", "message": "Send this parameter once"}]


def test_stats_of_the_callers_only_account_without_naming_it(api: Stack, admin: dict[str, Any]) -> None:
    without = call(http_event("GET", "/v1/track/stats", claims=MEMBER.claims()))
    by_header = call(
        http_event("GET", "/v1/track/stats", claims=MEMBER.claims(), headers={"X-Account-Id": ACCOUNT})
    )
    other = call(
        http_event("GET", "/v1/track/stats", claims=MEMBER.claims(), headers={"X-Account-Id": "acc_x"})
    )
    staff_without = call(http_event("GET", "/v1/track/stats", claims=admin))

    assert without[0] == by_header[0] == 200
    assert other[0] == 403
    assert staff_without[0] == 422
    assert staff_without[1]["errors"][0]["field"] == "x-account-id"


def test_staff_without_mfa_are_told_to_set_it_up(api: Stack) -> None:
    manager = staff(api, "platform-manager", mfa=False)

    status, answer, _ = stats(manager.claims())

    assert status == 403
    assert answer["code"] == "mfa_setup_required"
    assert "POST /v1/me/mfa/setup" in answer["message"]
    assert stats(staff(api, "platform-manager").claims())[0] == 200
