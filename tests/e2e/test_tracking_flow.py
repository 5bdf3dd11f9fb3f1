"""The "done when" walk-through, over real HTTP against the local stack (`make dev`)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.members import member_token

pytestmark = pytest.mark.e2e

FIREFOX = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
MARTIN = {
    "name": "Plomberie Martin",
    "email": "martin@example.fr",
    "country": "FR",
    "currency": "EUR",
    "siren": "552100554",
}
BINGBOT = {"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def account(stack_url: str, admin_token: str) -> dict[str, Any]:
    answer = requests.post(
        f"{stack_url}/v1/accounts",
        json=MARTIN,
        headers={**bearer(admin_token), "Idempotency-Key": "e2e-martin"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@pytest.fixture(scope="module")
def owner(stack_url: str, account: dict[str, Any]) -> str:
    """The id token of the account's owner (stats are the account's users', and staff with MFA)."""
    return member_token(stack_url, account["id"])


def drain(stack_url: str) -> None:
    answer = requests.get(f"{stack_url}/_local/streams/drain", timeout=30)
    assert answer.status_code == 200, answer.text


def test_login_rejects_wrong_password(stack_url: str) -> None:
    answer = requests.post(
        f"{stack_url}/v1/auth/login", json={"email": "admin@tally.local", "password": "nope"}, timeout=10
    )

    assert answer.status_code == 401
    assert answer.json()["message"] == "Wrong email or password"


def test_create_account_is_idempotent_and_admin_only(
    stack_url: str, admin_token: str, account: dict[str, Any]
) -> None:
    again = requests.post(
        f"{stack_url}/v1/accounts",
        json=MARTIN,
        headers={**bearer(admin_token), "Idempotency-Key": "e2e-martin"},
        timeout=10,
    )
    assert again.status_code == 201
    assert again.json()["id"] == account["id"]

    read = requests.get(f"{stack_url}/v1/accounts/{account['id']}", headers=bearer(admin_token), timeout=10)
    assert read.json() == account
    assert requests.get(f"{stack_url}/v1/accounts/{account['id']}", timeout=10).status_code == 401

    bad = requests.post(
        f"{stack_url}/v1/accounts",
        json={"name": "X", "email": "x@example.fr", "country": "FR", "currency": "EUR", "siren": "123456789"},
        headers=bearer(admin_token),
        timeout=10,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "siren"


def test_clicks_and_views_duplicates_and_bots_then_stats_add_up(
    stack_url: str, owner: str, account: dict[str, Any]
) -> None:
    account_id = account["id"]

    def track(kind: str, body: dict[str, Any], headers: dict[str, str] = FIREFOX) -> dict[str, Any]:
        answer = requests.post(
            f"{stack_url}/v1/track/{kind}",
            json={"account_id": account_id, **body},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    assert track("click", {"source": "seo", "page_url": "/martin"})["counted"] is True
    assert track("click", {"source": "seo", "page_url": "/martin"})["reason"] == "duplicate"
    assert track("view", {"source": "search", "page_url": "/search?q=plombier"})["counted"] is True
    assert track("view", {"source": "search", "page_url": "/search?q=plombier"}, BINGBOT)["reason"] == "bot"
    assert track("view", {"source": "rotation", "sponsorship_id": "sp_martin"})["counted"] is True

    batch = requests.post(
        f"{stack_url}/v1/track/events",
        json={
            "events": [
                {"type": "view", "account_id": account_id, "source": "city", "page_url": "/lyon"},
                {"type": "click", "account_id": account_id, "source": "city", "page_url": "/lyon"},
                {"type": "click", "account_id": account_id, "source": "city", "page_url": "/lyon"},
                {"type": "view", "account_id": "acc_unknown", "source": "city"},
                {"type": "view", "account_id": account_id, "source": "moon"},
            ]
        },
        headers=FIREFOX,
        timeout=10,
    )
    assert batch.status_code == 202
    results = batch.json()["results"]
    assert [r["status"] for r in results] == [202, 202, 202, 404, 422]
    assert [r.get("counted") for r in results[:3]] == [True, True, False]

    drain(stack_url)
    stats = requests.get(
        f"{stack_url}/v1/track/stats",
        params={"account_id": account_id, "days": 30},
        headers=bearer(owner),
        timeout=10,
    )

    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert (body["clicks_total"], body["views_total"]) == (2, 3)
    assert (body["clicks"], body["views"], body["ctr"]) == (2, 3, 66.67)
    assert body["clicks_by_source"]["seo"] == 1
    assert body["clicks_by_source"]["city"] == 1
    assert body["views_by_source"] == {
        "seo": 0,
        "sponsorship": 0,
        "search": 1,
        "category": 0,
        "city": 1,
        "rotation": 1,
        "other": 0,
    }
    assert len(body["daily"]) == 30
    assert sum(day["clicks"] for day in body["daily"]) == 2
    assert body["sponsorships"] == [{"sponsorship_id": "sp_martin", "clicks": 0, "impressions": 1}]


def test_yesterdays_events_land_on_yesterday(stack_url: str, owner: str, account: dict[str, Any]) -> None:
    now = requests.get(f"{stack_url}/_local/clock", timeout=10).json()["now"]
    requests.post(
        f"{stack_url}/_local/clock", json={"now": "2026-01-10T08:00:00Z"}, timeout=10
    ).raise_for_status()
    try:
        answer = requests.post(
            f"{stack_url}/v1/track/click",
            json={"account_id": account["id"], "source": "direct", "page_url": "/time-travel"},
            headers=FIREFOX,
            timeout=10,
        )
        assert answer.json()["counted"] is True
        drain(stack_url)
        requests.post(f"{stack_url}/_local/clock", json={"now": "2026-01-11T08:00:00Z"}, timeout=10)
        stats = requests.get(
            f"{stack_url}/v1/track/stats",
            params={"account_id": account["id"], "days": 2},
            headers=bearer(owner),
            timeout=10,
        ).json()
    finally:
        requests.post(f"{stack_url}/_local/clock", json={"now": None}, timeout=10)

    assert stats["daily"] == [
        {"date": "2026-01-10", "clicks": 1, "views": 0},
        {"date": "2026-01-11", "clicks": 0, "views": 0},
    ]
    assert now


@pytest.mark.parametrize(
    ("path", "data", "status", "field"),
    [
        ("/v1/track/click", b'{"account_id": "x", ', 422, "body"),
        ("/v1/track/click", b'{"account_id": "x", "source": "seo", "position": "first"}', 422, "position"),
        ("/v1/track/view", b'{"account_id": "x"}', 422, "source"),
        ("/v1/track/click", b'{"account_id": "acc_unknown", "source": "seo"}', 404, "account_id"),
        ("/v1/track/events", b'{"events": []}', 422, "events"),
        (
            "/v1/track/click",
            b'{"account_id": "x", "source": "seo", "page_url": "' + b"a" * 70_000 + b'"}',
            413,
            "body",
        ),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    stack_url: str, path: str, data: bytes, status: int, field: str
) -> None:
    answer = requests.post(
        f"{stack_url}{path}", data=data, headers={"Content-Type": "application/json"}, timeout=10
    )

    assert answer.status_code == status, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert answer.json()["message"]


def test_stats_need_a_token(stack_url: str, account: dict[str, Any]) -> None:
    answer = requests.get(f"{stack_url}/v1/track/stats", params={"account_id": account["id"]}, timeout=10)

    assert answer.status_code == 401


def test_openapi_and_swagger_ui_are_served(stack_url: str) -> None:
    document = requests.get(f"{stack_url}/v1/openapi.json", timeout=10)
    ui = requests.get(f"{stack_url}/v1/docs", timeout=10)

    assert document.status_code == 200
    assert "/v1/track/click" in document.json()["paths"]
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()
