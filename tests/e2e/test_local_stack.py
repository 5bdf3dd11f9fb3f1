"""Smoke test of the local stack itself, over real HTTP against `python -m local`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.e2e

UNAUTHORIZED = {"message": "Unauthorized"}
NOT_FOUND = {"message": "Not Found"}
# A route behind the JWT authorizer (the stats route takes API keys too: test_api_keys_flow.py).
PRIVATE_ROUTE = "/v1/accounts/acc_1"


def _now(stack_url: str) -> datetime:
    response = requests.get(f"{stack_url}/_local/clock", timeout=10)
    assert response.status_code == 200
    return datetime.fromisoformat(response.json()["now"])


def test_health(stack_url: str) -> None:
    response = requests.get(f"{stack_url}/_local/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_clock_can_be_set_and_keeps_running_then_reset(stack_url: str) -> None:
    try:
        response = requests.post(
            f"{stack_url}/_local/clock", json={"now": "2026-11-01T12:00:00Z"}, timeout=10
        )
        assert response.status_code == 200
        first = datetime.fromisoformat(response.json()["now"])
        assert abs(first - datetime(2026, 11, 1, 12, tzinfo=UTC)) < timedelta(seconds=5)
        time.sleep(0.05)
        assert _now(stack_url) > first  # an offset clock: time moves on from the instant set
    finally:
        reset = requests.post(f"{stack_url}/_local/clock", json={"now": None}, timeout=10)
    assert reset.status_code == 200
    assert abs(_now(stack_url) - datetime.now(UTC)) < timedelta(seconds=30)


def test_clock_rejects_a_non_instant(stack_url: str) -> None:
    response = requests.post(f"{stack_url}/_local/clock", json={"now": "next tuesday"}, timeout=10)
    assert response.status_code == 400


def test_unknown_route_is_404_like_api_gateway(stack_url: str) -> None:
    response = requests.get(f"{stack_url}/v1/no-such-thing", timeout=10)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_known_path_with_another_method_is_404(stack_url: str) -> None:
    response = requests.delete(f"{stack_url}/v1/auth/login", timeout=10)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_private_route_without_token_is_401(stack_url: str) -> None:
    response = requests.get(f"{stack_url}{PRIVATE_ROUTE}", timeout=10)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_private_route_with_garbage_token_is_401(stack_url: str) -> None:
    response = requests.get(
        f"{stack_url}{PRIVATE_ROUTE}", headers={"Authorization": "Bearer not.a.jwt"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_cors_preflight_is_answered_by_the_gateway(stack_url: str) -> None:
    response = requests.options(
        f"{stack_url}/v1/track/click",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=10,
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] in {"*", "https://app.example.com"}
    assert "POST" in response.headers["access-control-allow-methods"]


def test_streams_drain(stack_url: str) -> None:
    response = requests.get(f"{stack_url}/_local/streams/drain", timeout=30)
    assert response.status_code == 200
    assert response.json() == {"drained": True}


def test_login_token_opens_private_routes(stack_url: str, admin_token: str) -> None:
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    assert claims["email"]
    assert "platform-admin" in claims["cognito:groups"]
    response = requests.get(
        f"{stack_url}/v1/accounts/acc_does_not_exist",
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert response.status_code != 401, response.text
    assert "code" in response.json()  # the handler answered, not the gateway


def test_token_signed_by_another_key_is_401(stack_url: str, admin_token: str) -> None:
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "dummy"})
    response = requests.get(
        f"{stack_url}{PRIVATE_ROUTE}", headers={"Authorization": f"Bearer {forged}"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_expired_token_is_401(stack_url: str, admin_token: str) -> None:
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 60
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    expired = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "dummy"})
    response = requests.get(
        f"{stack_url}{PRIVATE_ROUTE}", headers={"Authorization": f"Bearer {expired}"}, timeout=10
    )
    assert response.status_code == 401
