"""local.cognito_codes: moto's Cognito sends codes to the local mailbox and checks them as Cognito does.

Driven through boto3 against the tests' moto server, which has the patch installed, with the
template's user pool and app client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import cognito_codes
from local.mailbox import MAILBOX
from tests.support.stack import Stack

EMAIL = "jo@example.com"
PASSWORD = "Correct-Horse-9!"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    moved = Clock()
    cognito_codes.use_clock(moved)
    yield moved
    cognito_codes.use_clock(None)


@pytest.fixture
def cognito(stack: Stack) -> Any:
    return stack.client("cognito-idp")


@pytest.fixture
def client_id(stack: Stack) -> str:
    return stack.ref("UserPoolClient")


def latest_code(to: str = EMAIL) -> str:
    message = MAILBOX.messages(to)[0]
    found = re.search(r"\b(\d{6})\b", message.text)
    assert found, message.text
    return found.group(1)


def error_of(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    error = raised.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def sign_up(cognito: Any, client_id: str, email: str = EMAIL) -> None:
    cognito.sign_up(
        ClientId=client_id,
        Username=email,
        Password=PASSWORD,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": "Jo"}],
    )


def test_sign_up_emails_a_code_with_the_pools_template_and_only_that_code_confirms(
    stack: Stack, cognito: Any, client_id: str, clock: Clock
) -> None:
    sign_up(cognito, client_id)
    [message] = MAILBOX.messages(EMAIL)
    code = latest_code()
    template = stack.registry.template.resources["UserPool"].properties["VerificationMessageTemplate"]

    assert (message.source, message.sender, message.subject) == (
        "cognito",
        "no-reply@verificationemail.com",  # SenderEmailVerified=false: Cognito's own sender
        template["EmailSubject"],
    )
    assert message.html == template["EmailMessage"].replace("{####}", code)
    assert message.text.startswith(f"Your Tally code is {code}.")
    assert "<br>" not in message.text
    assert (
        error_of(
            cognito.confirm_sign_up, ClientId=client_id, Username=EMAIL, ConfirmationCode=other_than(code)
        )[0]
        == "CodeMismatchException"
    )
    cognito.confirm_sign_up(ClientId=client_id, Username=EMAIL, ConfirmationCode=code)
    # Used: confirming again is refused, with Cognito's words for a confirmed user.
    assert error_of(cognito.confirm_sign_up, ClientId=client_id, Username=EMAIL, ConfirmationCode=code) == (
        "NotAuthorizedException",
        "User cannot be confirmed. Current status is CONFIRMED",
    )


def test_codes_expire_by_the_clock_and_a_new_code_replaces_the_old(
    cognito: Any, client_id: str, clock: Clock
) -> None:
    sign_up(cognito, client_id)
    first = latest_code()
    clock.now += timedelta(hours=24)

    expired = error_of(cognito.confirm_sign_up, ClientId=client_id, Username=EMAIL, ConfirmationCode=first)
    cognito.resend_confirmation_code(ClientId=client_id, Username=EMAIL)
    second = latest_code()

    assert expired[0] == "ExpiredCodeException"
    assert len(MAILBOX.messages(EMAIL)) == 2
    if first != second:
        assert (
            error_of(cognito.confirm_sign_up, ClientId=client_id, Username=EMAIL, ConfirmationCode=first)[0]
            == "CodeMismatchException"
        )
    cognito.confirm_sign_up(ClientId=client_id, Username=EMAIL, ConfirmationCode=second)


def test_five_wrong_codes_spend_the_code(cognito: Any, client_id: str, clock: Clock) -> None:
    sign_up(cognito, client_id)
    code = latest_code()
    wrong = other_than(code)

    answers = [
        error_of(cognito.confirm_sign_up, ClientId=client_id, Username=EMAIL, ConfirmationCode=wrong)[0]
        for _ in range(cognito_codes.MAX_WRONG_ATTEMPTS)
    ]
    spent = error_of(cognito.confirm_sign_up, ClientId=client_id, Username=EMAIL, ConfirmationCode=code)

    assert answers == ["CodeMismatchException"] * cognito_codes.MAX_WRONG_ATTEMPTS
    assert spent[0] == "LimitExceededException"


def test_resend_answers_as_cognito_does_for_unknown_unconfirmed_and_confirmed_users(
    stack: Stack, cognito: Any, client_id: str
) -> None:
    sign_up(cognito, client_id)
    unknown = cognito.resend_confirmation_code(ClientId=client_id, Username="nobody@example.com")
    pending = cognito.resend_confirmation_code(ClientId=client_id, Username=EMAIL)
    cognito.admin_confirm_sign_up(UserPoolId=stack.ref("UserPool"), Username=EMAIL)

    confirmed = error_of(cognito.resend_confirmation_code, ClientId=client_id, Username=EMAIL)

    assert unknown["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"  # a delivery that never happens
    assert MAILBOX.messages("nobody@example.com") == []
    assert pending["CodeDeliveryDetails"]["Destination"] == "j***@e***"
    assert confirmed == ("InvalidParameterException", "User is already confirmed.")
    assert (
        error_of(
            cognito.confirm_sign_up,
            ClientId=client_id,
            Username="nobody@example.com",
            ConfirmationCode="123456",
        )[0]
        == "CodeMismatchException"
    )


def test_a_password_is_reset_with_a_one_hour_code_checked_against_the_policy(
    stack: Stack, cognito: Any, client_id: str, clock: Clock
) -> None:
    sign_up(cognito, client_id)
    unconfirmed = error_of(cognito.forgot_password, ClientId=client_id, Username=EMAIL)
    cognito.admin_confirm_sign_up(UserPoolId=stack.ref("UserPool"), Username=EMAIL)

    answer = cognito.forgot_password(ClientId=client_id, Username=EMAIL)
    code = latest_code()
    new_password = "Another-Horse-7?" + "x" * 200  # Cognito takes up to 256 characters

    assert unconfirmed[0] == "InvalidParameterException"
    assert "x-moto-forgot-password-confirmation-code" not in answer["ResponseMetadata"]["HTTPHeaders"]
    assert (
        error_of(
            cognito.confirm_forgot_password,
            ClientId=client_id,
            Username=EMAIL,
            ConfirmationCode=code,
            Password="weakpassword1",
        )[0]
        == "InvalidPasswordException"
    )
    clock.now += timedelta(minutes=59)
    cognito.confirm_forgot_password(
        ClientId=client_id, Username=EMAIL, ConfirmationCode=code, Password=new_password
    )
    assert (
        error_of(
            cognito.confirm_forgot_password,
            ClientId=client_id,
            Username=EMAIL,
            ConfirmationCode=code,
            Password=PASSWORD,
        )[0]
        == "CodeMismatchException"
    )
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": new_password},
    )
    assert tokens["AuthenticationResult"]["IdToken"]

    cognito.forgot_password(ClientId=client_id, Username=EMAIL)
    clock.now += timedelta(hours=1)
    assert (
        error_of(
            cognito.confirm_forgot_password,
            ClientId=client_id,
            Username=EMAIL,
            ConfirmationCode=latest_code(),
            Password=PASSWORD,
        )[0]
        == "ExpiredCodeException"
    )


def test_unknown_users_get_no_email_and_a_wrong_code_answer(cognito: Any, client_id: str) -> None:
    cognito.forgot_password(ClientId=client_id, Username="nobody@example.com")

    refused = error_of(
        cognito.confirm_forgot_password,
        ClientId=client_id,
        Username="nobody@example.com",
        ConfirmationCode="123456",
        Password=PASSWORD,
    )

    assert MAILBOX.messages("nobody@example.com") == []
    assert refused[0] == "CodeMismatchException"


@pytest.mark.parametrize(
    "email", ["o'brien@example.com", "jo+tally@sub.example.co", "x@xn--bcher-kva.example"]
)
def test_any_ascii_address_is_a_username(cognito: Any, client_id: str, email: str) -> None:
    sign_up(cognito, client_id, email)

    assert MAILBOX.messages(email)[0].to == (email,)


def test_ses_messages_reach_the_mailbox_with_both_parts(stack: Stack) -> None:
    ses = stack.client("sesv2")
    sender = stack.ref("SenderEmailIdentity")

    answer = ses.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": [EMAIL]},
        Content={
            "Simple": {
                "Subject": {"Data": "Hi"},
                "Body": {"Text": {"Data": "t"}, "Html": {"Data": "<p>h</p>"}},
            }
        },
    )
    refused = error_of(
        ses.send_email,
        FromEmailAddress="someone@elsewhere.example",
        Destination={"ToAddresses": [EMAIL]},
        Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "t"}}}},
    )

    [message] = MAILBOX.messages(EMAIL)
    assert (message.id, message.sender, message.subject, message.text, message.html, message.source) == (
        answer["MessageId"],
        sender,
        "Hi",
        "t",
        "<p>h</p>",
        "ses",
    )
    assert refused[0] == "MessageRejected"  # moto sends only from a verified identity
