"""The auth function in-process against moto's Cognito (with local.cognito_codes) and SES."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from local.mailbox import MAILBOX
from tally.auth.claims import unverified_claims
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.totp import current_code

EMAIL = "owner@example.com"
PASSWORD = "Correct-Horse-9!"
NEW_PASSWORD = "Battery-Staple-7?"


@pytest.fixture
def api(stack: Stack) -> Iterator[Stack]:
    with stack.environment("AuthFunction"):
        from auth import routes

        routes.service.cache_clear()
        yield stack
        routes.service.cache_clear()


def post(path: str, body: Any, claims: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
    from auth.app import lambda_handler

    answer = lambda_handler(http_event("POST", path, body=body, claims=claims), FakeContext())  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"] or "null"), answer["headers"]


def call(path: str, body: Any, claims: dict[str, Any] | None = None) -> tuple[int, Any]:
    status, answer, _ = post(path, body, claims)
    return status, answer


def code_sent_to(email: str) -> str:
    message = next(m for m in MAILBOX.messages(email) if m.source == "cognito")
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found
    return found.group(1)


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def registered(email: str = EMAIL, **extra: Any) -> None:
    body = {"email": email, "password": PASSWORD, "name": "Owner", **extra}
    assert call("/v1/auth/register", body)[0] == 202
    assert call("/v1/auth/confirm", {"email": email, "code": code_sent_to(email)})[0] == 200


def signed_in(email: str = EMAIL, password: str = PASSWORD) -> dict[str, Any]:
    status, answer = call("/v1/auth/login", {"email": email, "password": password})
    assert status == 200, answer
    return dict(answer)


def claims_of(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value for key, value in unverified_claims(answer["id_token"]).items() if key in {"sub", "email"}
    }


def test_register_confirm_then_sign_in(api: Stack) -> None:
    status, answer = call(
        "/v1/auth/register",
        {
            "email": "Owner@Example.com",
            "password": PASSWORD,
            "name": "Owner",
            "phone": "+33612345678",
            "locale": "fr",
        },
    )
    before = call("/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    confirmed = call("/v1/auth/confirm", {"email": EMAIL, "code": code_sent_to(EMAIL)})
    tokens = signed_in()

    assert status == 202
    assert "6-digit code" in answer["message"]
    assert before[0] == 403
    assert confirmed[0] == 200
    assert set(tokens) == {"id_token", "access_token", "refresh_token", "expires_in", "mfa_setup_required"}
    assert tokens["mfa_setup_required"] is False
    claims = unverified_claims(tokens["id_token"])
    assert (claims["email"], claims["name"], claims["locale"]) == (EMAIL, "Owner", "fr")


def test_an_existing_address_is_answered_like_a_new_one(api: Stack) -> None:
    new = post("/v1/auth/register", {"email": "new@example.com", "password": PASSWORD, "name": "N"})
    assert (
        call("/v1/auth/register", {"email": "pending@example.com", "password": PASSWORD, "name": "P"})[0]
        == 202
    )
    pending = post("/v1/auth/register", {"email": "pending@example.com", "password": PASSWORD, "name": "P"})
    registered("done@example.com")
    done = post(
        "/v1/auth/register",
        {"email": "done@example.com", "password": NEW_PASSWORD, "name": "X", "locale": "fr"},
    )

    assert new[:2] == pending[:2] == done[:2]
    assert new[2].keys() == pending[2].keys() == done[2].keys()
    # The unconfirmed address got a new code; the confirmed one's owner was told, by SES.
    assert [m.source for m in MAILBOX.messages("pending@example.com")] == ["cognito", "cognito"]
    notice = MAILBOX.messages("done@example.com")[0]
    assert (notice.source, notice.subject) == ("ses", "Votre compte Tally existe déjà")
    assert notice.sender == api.ref("SenderEmailIdentity")
    assert "done@example.com" in notice.text
    assert notice.html is not None
    assert "done@example.com</strong>" in notice.html
    assert signed_in("done@example.com")["id_token"]  # the password did not change


def test_a_password_that_breaks_the_policy_is_422_in_words(api: Stack) -> None:
    status, answer = call("/v1/auth/register", {"email": EMAIL, "password": "correcthorse", "name": "Owner"})

    assert status == 422
    [error] = answer["errors"]
    assert (error["field"], error["in"]) == ("password", "body")
    assert "add an upper case letter (A-Z), a digit (0-9) and a symbol" in error["message"]
    assert MAILBOX.messages(EMAIL) == []


def test_wrong_and_expired_codes_are_422_on_code(api: Stack) -> None:
    from local import cognito_codes

    call("/v1/auth/register", {"email": EMAIL, "password": PASSWORD, "name": "Owner"})
    code = code_sent_to(EMAIL)
    wrong = call("/v1/auth/confirm", {"email": EMAIL, "code": other_than(code)})
    unknown = call("/v1/auth/confirm", {"email": "nobody@example.com", "code": code})
    later = cognito_codes._now() + cognito_codes.VALIDITY["sign_up"]
    cognito_codes.use_clock(lambda: later)
    try:
        expired = call("/v1/auth/confirm", {"email": EMAIL, "code": code})
    finally:
        cognito_codes.use_clock(None)

    assert wrong[0] == unknown[0] == expired[0] == 422
    assert wrong[1] == unknown[1]  # an unknown address is not told apart
    assert [e["field"] for e in wrong[1]["errors"]] == ["code"]
    assert "not the one we sent" in wrong[1]["message"]
    assert "expired: ask for a new one" in expired[1]["message"]


def test_too_many_wrong_codes_is_429_with_retry_after(api: Stack) -> None:
    call("/v1/auth/register", {"email": EMAIL, "password": PASSWORD, "name": "Owner"})
    wrong = {"email": EMAIL, "code": other_than(code_sent_to(EMAIL))}
    for _ in range(5):
        assert call("/v1/auth/confirm", wrong)[0] == 422

    status, answer, headers = post("/v1/auth/confirm", {"email": EMAIL, "code": code_sent_to(EMAIL)})

    assert status == 429
    assert answer["code"] == "too_many_attempts"
    assert headers["Retry-After"] == "300"


def test_resend_code_and_password_reset_answer_alike_for_every_address(api: Stack) -> None:
    registered()

    answers = {
        email: (
            call("/v1/auth/resend-code", {"email": email}),
            call("/v1/auth/password-reset", {"email": email}),
        )
        for email in (EMAIL, "nobody@example.com")
    }

    assert answers[EMAIL] == answers["nobody@example.com"]
    assert [status for status, _ in answers[EMAIL]] == [202, 202]
    assert MAILBOX.messages("nobody@example.com") == []


def test_a_password_is_reset_with_the_emailed_code(api: Stack) -> None:
    registered()
    assert call("/v1/auth/password-reset", {"email": EMAIL})[0] == 202
    code = code_sent_to(EMAIL)

    weak = call("/v1/auth/password-reset/confirm", {"email": EMAIL, "code": code, "new_password": "weak"})
    wrong = call(
        "/v1/auth/password-reset/confirm",
        {"email": EMAIL, "code": other_than(code), "new_password": NEW_PASSWORD},
    )
    done = call(
        "/v1/auth/password-reset/confirm", {"email": EMAIL, "code": code, "new_password": NEW_PASSWORD}
    )

    assert (weak[0], weak[1]["errors"][0]["field"]) == (422, "new_password")
    assert (wrong[0], wrong[1]["errors"][0]["field"]) == (422, "code")
    assert done == (200, {"message": "Your password is changed: sign in with it."})
    assert call("/v1/auth/login", {"email": EMAIL, "password": PASSWORD})[0] == 401
    assert signed_in(password=NEW_PASSWORD)["id_token"]


def test_refresh_gives_new_tokens_until_the_refresh_token_is_revoked(api: Stack) -> None:
    registered()
    tokens = signed_in()

    status, refreshed, headers = post("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    api.client("cognito-idp").admin_user_global_sign_out(UserPoolId=api.ref("UserPool"), Username=EMAIL)
    revoked = call("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]})

    assert status == 200
    assert set(refreshed) == {"id_token", "access_token", "expires_in"}
    assert refreshed["id_token"] != tokens["id_token"]
    assert headers["Cache-Control"] == "no-store"
    assert revoked[0] == 401
    assert revoked[1]["errors"] == [
        {"field": "refresh_token", "in": "body", "message": revoked[1]["message"]}
    ]
    assert "sign in again" in revoked[1]["message"]


def test_totp_set_up_then_asked_for_at_sign_in(api: Stack) -> None:
    registered()
    tokens = signed_in()
    me = claims_of(tokens)

    status, setup, headers = post("/v1/me/mfa/setup", {"access_token": tokens["access_token"]}, me)
    wrong = call("/v1/me/mfa/verify", {"access_token": tokens["access_token"], "code": "000000"}, me)
    verified = call(
        "/v1/me/mfa/verify",
        {"access_token": tokens["access_token"], "code": current_code(setup["secret"])},
        me,
    )
    challenge = signed_in()
    bad_code = call("/v1/auth/login/mfa", {"email": EMAIL, "session": challenge["session"], "code": "000000"})
    done = call(
        "/v1/auth/login/mfa",
        {"email": EMAIL, "session": challenge["session"], "code": current_code(setup["secret"])},
    )

    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert setup["otpauth_uri"] == f"otpauth://totp/Tally:{EMAIL}?secret={setup['secret']}&issuer=Tally"
    assert (wrong[0], wrong[1]["errors"][0]["field"]) == (422, "code")
    assert verified == (200, {"mfa_enabled": True})
    assert challenge == {"mfa_required": True, "session": challenge["session"]}
    assert (bad_code[0], bad_code[1]["errors"][0]["field"]) == (422, "code")
    assert done[0] == 200
    assert done[1]["id_token"]
    assert done[1]["mfa_setup_required"] is False


def test_an_expired_or_unknown_sign_in_session_is_401(api: Stack) -> None:
    status, answer = call("/v1/auth/login/mfa", {"email": EMAIL, "session": "x" * 40, "code": "123456"})

    assert status == 401
    assert answer["errors"][0]["field"] == "session"


def test_an_access_token_cannot_be_used_for_another_user(api: Stack) -> None:
    registered()
    registered("other@example.com")
    mine, theirs = signed_in(), signed_in("other@example.com")

    status, answer = call("/v1/me/mfa/setup", {"access_token": theirs["access_token"]}, claims_of(mine))
    invalid = call("/v1/me/mfa/setup", {"access_token": "not.a.token"}, claims_of(mine))

    assert (status, answer["errors"][0]["field"]) == (403, "access_token")
    assert (invalid[0], invalid[1]["errors"][0]["field"]) == (401, "access_token")


@pytest.mark.parametrize(("group", "flagged"), [(None, False), ("platform-admin", True)])
def test_staff_signing_in_without_mfa_are_flagged(api: Stack, group: str | None, flagged: bool) -> None:
    registered()
    if group:
        api.client("cognito-idp").admin_add_user_to_group(
            UserPoolId=api.ref("UserPool"), Username=EMAIL, GroupName=group
        )

    tokens = signed_in()

    assert tokens["mfa_setup_required"] is flagged
    assert tokens["id_token"]


@pytest.mark.parametrize(
    "credentials",
    [{"email": EMAIL, "password": "wrong"}, {"email": "nobody@example.com", "password": PASSWORD}],
)
def test_wrong_credentials_are_401_without_saying_which(api: Stack, credentials: dict[str, str]) -> None:
    registered()

    status, body = call("/v1/auth/login", credentials)

    assert status == 401
    assert body["message"] == "Wrong email or password"


def test_login_takes_the_email_in_any_case(api: Stack) -> None:
    registered()

    assert signed_in(EMAIL.upper())["expires_in"] > 0
