"""Signing up and in over real HTTP against the local stack, reading the codes from its mailbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tally.auth.claims import unverified_claims
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.support.totp import current_code

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-9!"
NEW_PASSWORD = "Battery-Staple-7?"


def fresh_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}@example.com"


def post(url: str, body: dict[str, Any], token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(url, json=body, headers=headers, timeout=30)


def mailbox(stack_url: str, to: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack_url}/_local/mailbox", params={"to": to}, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["messages"])


def latest_code(stack_url: str, to: str) -> str:
    newest = mailbox(stack_url, to)[0]
    assert newest["source"] == "cognito", newest
    found = re.search(r"\b(\d{6})\b", newest["text"])
    assert found, newest
    return found.group(1)


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def register(stack_url: str, email: str) -> requests.Response:
    return post(f"{stack_url}/v1/auth/register", {"email": email, "password": PASSWORD, "name": "E2E"})


def sign_up(stack_url: str, email: str) -> None:
    assert register(stack_url, email).status_code == 202
    confirmed = post(f"{stack_url}/v1/auth/confirm", {"email": email, "code": latest_code(stack_url, email)})
    assert confirmed.status_code == 200, confirmed.text


def sign_in(stack_url: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    answer = post(f"{stack_url}/v1/auth/login", {"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
def moved_clock(stack_url: str) -> Iterator[None]:
    yield
    requests.post(f"{stack_url}/_local/clock", json={"now": None}, timeout=10).raise_for_status()


def test_sign_up_code_from_the_mailbox_confirm_then_sign_in(stack_url: str) -> None:
    email = fresh_email()

    registered = register(stack_url, email)
    [message] = mailbox(stack_url, email)
    code = latest_code(stack_url, email)
    confirmed = post(f"{stack_url}/v1/auth/confirm", {"email": email, "code": code})
    tokens = sign_in(stack_url, email)
    page = requests.get(f"{stack_url}/_local/mailbox.html", params={"to": email}, timeout=10)

    assert registered.status_code == 202
    assert (message["to"], message["source"], message["subject"]) == (
        [email],
        "cognito",
        "Your Tally code / Votre code Tally",
    )
    assert confirmed.status_code == 200
    assert tokens["mfa_setup_required"] is False
    assert unverified_claims(tokens["id_token"])["email"] == email
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert f"Your Tally code is {code}." in page.text
    assert "<br>" not in page.text  # the HTML part is escaped into a sandboxed frame


def test_an_existing_address_is_answered_like_a_new_one(stack_url: str) -> None:
    known = fresh_email()
    sign_up(stack_url, known)

    first = register(stack_url, fresh_email())
    again = post(
        f"{stack_url}/v1/auth/register",
        {"email": known, "password": NEW_PASSWORD, "name": "X", "locale": "fr"},
    )

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    notice = mailbox(stack_url, known)[0]
    assert (notice["source"], notice["subject"]) == ("ses", "Votre compte Tally existe déjà")
    assert known in notice["text"]
    assert f"<strong>{known}</strong>" in notice["html"]
    assert sign_in(stack_url, known)["id_token"]  # nothing changed


def test_wrong_and_expired_codes(stack_url: str, moved_clock: None) -> None:
    email = fresh_email()
    register(stack_url, email)
    code = latest_code(stack_url, email)

    wrong = post(f"{stack_url}/v1/auth/confirm", {"email": email, "code": other_than(code)})
    later = datetime.now(UTC) + timedelta(hours=25)
    requests.post(f"{stack_url}/_local/clock", json={"now": later.isoformat()}, timeout=10).raise_for_status()
    expired = post(f"{stack_url}/v1/auth/confirm", {"email": email, "code": code})
    resent = post(f"{stack_url}/v1/auth/resend-code", {"email": email})
    confirmed = post(f"{stack_url}/v1/auth/confirm", {"email": email, "code": latest_code(stack_url, email)})

    assert wrong.status_code == 422
    assert [(e["field"], e["in"]) for e in wrong.json()["errors"]] == [("code", "body")]
    assert expired.status_code == 422
    assert expired.json()["errors"][0]["message"] == "This code has expired: ask for a new one"
    assert resent.status_code == 202
    assert confirmed.status_code == 200, confirmed.text


def test_password_reset_by_code_then_refresh(stack_url: str) -> None:
    email = fresh_email()
    sign_up(stack_url, email)

    asked = post(f"{stack_url}/v1/auth/password-reset", {"email": email})
    unknown = post(f"{stack_url}/v1/auth/password-reset", {"email": fresh_email()})
    reset = post(
        f"{stack_url}/v1/auth/password-reset/confirm",
        {"email": email, "code": latest_code(stack_url, email), "new_password": NEW_PASSWORD},
    )
    tokens = sign_in(stack_url, email, NEW_PASSWORD)
    refreshed = post(f"{stack_url}/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    garbage = post(f"{stack_url}/v1/auth/refresh", {"refresh_token": "not-a-refresh-token"})

    assert (asked.status_code, asked.json()) == (unknown.status_code, unknown.json())
    assert asked.status_code == 202
    assert reset.status_code == 200, reset.text
    assert post(f"{stack_url}/v1/auth/login", {"email": email, "password": PASSWORD}).status_code == 401
    assert refreshed.status_code == 200
    assert refreshed.headers["cache-control"] == "no-store"
    assert set(refreshed.json()) == {"id_token", "access_token", "expires_in"}
    assert garbage.status_code == 401


def test_totp_set_up_then_sign_in_with_a_real_code(stack_url: str) -> None:
    email = fresh_email()
    sign_up(stack_url, email)
    tokens = sign_in(stack_url, email)

    setup = post(f"{stack_url}/v1/me/mfa/setup", {"access_token": tokens["access_token"]}, tokens["id_token"])
    without_token = post(f"{stack_url}/v1/me/mfa/setup", {"access_token": tokens["access_token"]})
    secret = setup.json()["secret"]
    verified = post(
        f"{stack_url}/v1/me/mfa/verify",
        {"access_token": tokens["access_token"], "code": current_code(secret)},
        tokens["id_token"],
    )
    challenge = post(f"{stack_url}/v1/auth/login", {"email": email, "password": PASSWORD})
    session = challenge.json()["session"]
    wrong = post(f"{stack_url}/v1/auth/login/mfa", {"email": email, "session": session, "code": "000000"})
    done = post(
        f"{stack_url}/v1/auth/login/mfa", {"email": email, "session": session, "code": current_code(secret)}
    )

    assert setup.status_code == 200, setup.text
    assert setup.json()["otpauth_uri"] == f"otpauth://totp/Tally:{email}?secret={secret}&issuer=Tally"
    assert without_token.status_code == 401  # the API's JWT authorizer
    assert verified.json() == {"mfa_enabled": True}
    assert challenge.json() == {"mfa_required": True, "session": session}
    assert wrong.status_code == 422
    assert done.status_code == 200, done.text
    assert unverified_claims(done.json()["id_token"])["email"] == email


def test_staff_signing_in_without_mfa_are_told_to_set_it_up(stack_url: str) -> None:
    tokens = sign_in(stack_url, ADMIN_EMAIL, ADMIN_PASSWORD)

    assert tokens["mfa_setup_required"] is True
    assert "platform-admin" in unverified_claims(tokens["id_token"])["cognito:groups"]
