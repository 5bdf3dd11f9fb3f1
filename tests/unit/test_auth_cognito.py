"""Cognito's answers in Tally's words: each error code the sign-in routes can meet, mapped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tally.auth.cognito import (
    ACCESS_TOKEN_INVALID,
    EXPIRED_CODE,
    SESSION_GONE,
    WRONG_CODE,
    WRONG_CREDENTIALS,
    WRONG_TOTP,
    CognitoIdentity,
)
from tally.auth.domain import MfaChallenge, NewUser, Tokens
from tally.auth.errors import RETRY_AFTER_S, AlreadyConfirmed, TooManyAttempts, UserExists
from tally.errors import DomainError, Forbidden, InvalidInput, NotAuthenticated, ServiceUnavailable

RESULT = {
    "AuthenticationResult": {"IdToken": "id", "AccessToken": "access", "RefreshToken": "r", "ExpiresIn": 60}
}


class FakeCognito:
    """Answers every call with `answer`, or raises `error` (a Cognito error code)."""

    def __init__(
        self, answer: dict[str, Any] | None = None, error: str | None = None, message: str = ""
    ) -> None:
        self.answer = answer or {}
        self.error = error
        self.message = message
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        def call(**params: Any) -> dict[str, Any]:
            self.calls.append((operation, params))
            if self.error:
                raise ClientError({"Error": {"Code": self.error, "Message": self.message}}, operation)
            return self.answer

        return call


def identity(client: FakeCognito) -> CognitoIdentity:
    return CognitoIdentity(client, "client-1")  # type: ignore[arg-type]


USER = NewUser("jo@example.com", "Correct-Horse-9!", "Jo", "+33612345678", "fr")


def test_sign_up_sends_the_attributes_through_the_app_client() -> None:
    client = FakeCognito({"UserSub": "s"})

    identity(client).sign_up(USER)

    [(operation, params)] = client.calls
    assert operation == "sign_up"
    assert params["ClientId"] == "client-1"
    assert params["Username"] == "jo@example.com"
    assert {a["Name"]: a["Value"] for a in params["UserAttributes"]} == {
        "email": "jo@example.com",
        "name": "Jo",
        "locale": "fr",
        "phone_number": "+33612345678",
    }


@pytest.mark.parametrize(
    ("call", "code", "message", "raised", "field", "words"),
    [
        ("sign_up", "UsernameExistsException", "", UserExists, None, ""),
        ("sign_up", "InvalidPasswordException", "", InvalidInput, "password", "12 to 256 characters"),
        (
            "sign_up",
            "InvalidParameterException",
            "Invalid phone number format.",
            InvalidInput,
            "phone",
            "+33",
        ),
        ("sign_up", "InvalidParameterException", "Invalid email address format.", InvalidInput, "email", ""),
        ("sign_up", "CodeDeliveryFailureException", "", ServiceUnavailable, None, "could not be sent"),
        ("resend", "InvalidParameterException", "User is already confirmed.", AlreadyConfirmed, None, ""),
        ("confirm", "CodeMismatchException", "", InvalidInput, "code", WRONG_CODE),
        ("confirm", "ExpiredCodeException", "", InvalidInput, "code", EXPIRED_CODE),
        ("confirm", "UserNotFoundException", "", InvalidInput, "code", WRONG_CODE),
        (
            "confirm",
            "NotAuthorizedException",
            "Current status is CONFIRMED",
            InvalidInput,
            "code",
            WRONG_CODE,
        ),
        ("confirm", "LimitExceededException", "", TooManyAttempts, None, "Too many attempts"),
        ("confirm", "TooManyFailedAttemptsException", "", TooManyAttempts, None, "Too many attempts"),
        ("confirm", "TooManyRequestsException", "", ServiceUnavailable, None, "busy"),
        ("reset", "CodeMismatchException", "", InvalidInput, "code", WRONG_CODE),
        ("reset", "ExpiredCodeException", "", InvalidInput, "code", EXPIRED_CODE),
        ("reset", "InvalidPasswordException", "", InvalidInput, "new_password", "12 to 256 characters"),
        ("login", "NotAuthorizedException", "", NotAuthenticated, None, WRONG_CREDENTIALS),
        ("login", "UserNotFoundException", "", NotAuthenticated, None, WRONG_CREDENTIALS),
        ("login", "InvalidParameterException", "", NotAuthenticated, None, WRONG_CREDENTIALS),
        ("login", "UserNotConfirmedException", "", Forbidden, None, "not confirmed"),
        ("login", "PasswordResetRequiredException", "", NotAuthenticated, None, "reset is required"),
        ("mfa", "CodeMismatchException", "", InvalidInput, "code", WRONG_TOTP),
        ("mfa", "NotAuthorizedException", "Invalid session", NotAuthenticated, "session", SESSION_GONE),
        ("mfa", "ResourceNotFoundException", "", NotAuthenticated, "session", SESSION_GONE),
        (
            "refresh",
            "NotAuthorizedException",
            "Refresh Token has been revoked",
            NotAuthenticated,
            "refresh_token",
            "sign in again",
        ),
        ("totp", "NotAuthorizedException", "", NotAuthenticated, "access_token", ACCESS_TOKEN_INVALID),
        ("verify", "CodeMismatchException", "", InvalidInput, "code", WRONG_TOTP),
        ("verify", "EnableSoftwareTokenMFAException", "", InvalidInput, "code", WRONG_TOTP),
    ],
)
def test_cognito_errors_become_answers_in_words(
    call: str, code: str, message: str, raised: type[Exception], field: str | None, words: str
) -> None:
    cognito = identity(FakeCognito(error=code, message=message))
    calls: dict[str, Callable[[], object]] = {
        "sign_up": lambda: cognito.sign_up(USER),
        "resend": lambda: cognito.resend_code("jo@example.com"),
        "confirm": lambda: cognito.confirm_sign_up("jo@example.com", "123456"),
        "reset": lambda: cognito.confirm_forgot_password("jo@example.com", "123456", "Correct-Horse-9!"),
        "login": lambda: cognito.sign_in("jo@example.com", "pw"),
        "mfa": lambda: cognito.answer_mfa("jo@example.com", "s" * 20, "123456"),
        "refresh": lambda: cognito.refresh("token"),
        "totp": lambda: cognito.totp_secret("access"),
        "verify": lambda: cognito.enable_totp("access", "123456"),
    }

    with pytest.raises(raised) as caught:
        calls[call]()

    if isinstance(caught.value, DomainError):
        assert caught.value.field == field
        assert words in caught.value.message
    if isinstance(caught.value, TooManyAttempts):
        assert (caught.value.status_code, caught.value.retry_after) == (429, RETRY_AFTER_S)


@pytest.mark.parametrize(
    "code", ["UserNotFoundException", "InvalidParameterException", "NotAuthorizedException"]
)
def test_password_reset_for_an_unknown_or_unconfirmed_address_is_no_error(code: str) -> None:
    identity(FakeCognito(error=code)).forgot_password("nobody@example.com")


def test_resending_to_an_unknown_address_is_no_error() -> None:
    identity(FakeCognito(error="UserNotFoundException")).resend_code("nobody@example.com")


def test_an_unforeseen_cognito_error_is_not_hidden() -> None:
    with pytest.raises(ClientError):
        identity(FakeCognito(error="InternalErrorExceptionX")).confirm_sign_up("jo@example.com", "123456")


def test_a_network_failure_is_worth_a_retry() -> None:
    class Unreachable(FakeCognito):
        def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
            def call(**params: Any) -> dict[str, Any]:
                raise EndpointConnectionError(endpoint_url="https://cognito-idp")

            return call

    with pytest.raises(ServiceUnavailable):
        identity(Unreachable()).sign_in("jo@example.com", "pw")


def test_sign_in_answers_tokens_or_the_totp_challenge() -> None:
    tokens = identity(FakeCognito(RESULT)).sign_in("jo@example.com", "pw")
    challenge = identity(FakeCognito({"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s1"})).sign_in(
        "j", "p"
    )

    assert tokens == Tokens("id", "access", "r", 60)
    assert challenge == MfaChallenge("s1")
    with pytest.raises(NotAuthenticated, match="NEW_PASSWORD_REQUIRED"):
        identity(FakeCognito({"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s"})).sign_in("j", "p")


def test_refresh_keeps_no_refresh_token_and_mfa_answers_the_challenge() -> None:
    client = FakeCognito(RESULT)

    refreshed = identity(client).refresh("token")
    identity(client).answer_mfa("jo@example.com", "s" * 20, "123456")

    assert refreshed.refresh_token is None
    assert client.calls[0][1]["AuthFlow"] == "REFRESH_TOKEN_AUTH"
    assert client.calls[1][1]["ChallengeResponses"] == {
        "USERNAME": "jo@example.com",
        "SOFTWARE_TOKEN_MFA_CODE": "123456",
    }


def test_totp_is_verified_then_made_the_preferred_mfa() -> None:
    client = FakeCognito({"Status": "SUCCESS"})

    identity(client).enable_totp("access", "123456")

    assert [operation for operation, _ in client.calls] == [
        "verify_software_token",
        "set_user_mfa_preference",
    ]
    assert client.calls[1][1]["SoftwareTokenMfaSettings"] == {"Enabled": True, "PreferredMfa": True}
    assert "ClientId" not in client.calls[0][1]  # the access token is what authenticates these
    with pytest.raises(InvalidInput):
        identity(FakeCognito({"Status": "ERROR"})).enable_totp("access", "123456")
