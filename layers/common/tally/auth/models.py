"""Wire models of the sign-in routes.

Each constraint the code enforces is in the schema: a pattern is checked here with the words a
person needs (a check of our own, so the message is ours and not the pattern's source), and the
same pattern is written into the document, which reads it as Python's `re.fullmatch` does here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from tally.auth import password
from tally.http.fields import NO_NUL, Email, Name, WireModel, checked

# An address SES can deliver to (the part before the @ in 7-bit ASCII; a Unicode domain written in
# Punycode, xn--…) and Cognito can hold as a username (at most 128 characters).
ADDRESS = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$"
CODE = r"^[0-9]{6}$"
PHONE = r"^\+[1-9][0-9]{6,14}$"
# Cognito's own pattern for tokens; sessions and refresh tokens are printable ASCII.
ACCESS_TOKEN = r"^[A-Za-z0-9_=.-]+$"  # noqa: S105 - a pattern
OPAQUE = r"^[\x21-\x7e]+$"

Address = Annotated[
    str,
    Field(
        min_length=5,
        max_length=128,
        description="An email address in ASCII (a Unicode domain in Punycode, xn--…), at most 128 characters",
        json_schema_extra={"pattern": ADDRESS},
    ),
    AfterValidator(
        checked(
            ADDRESS,
            "Expected an email address such as name@example.com, in ASCII "
            "(write a Unicode domain in Punycode, xn--…)",
        )
    ),
]
EmailCode = Annotated[
    str,
    Field(
        min_length=6,
        max_length=6,
        description="The 6-digit code from the email",
        json_schema_extra={"pattern": CODE},
    ),
    AfterValidator(checked(CODE, "Enter the 6 digits of the code from the email")),
]
TotpCode = Annotated[
    str,
    Field(
        min_length=6,
        max_length=6,
        description="The 6-digit code the authenticator app shows now",
        json_schema_extra={"pattern": CODE},
    ),
    AfterValidator(checked(CODE, "Enter the 6 digits your authenticator app shows")),
]
Phone = Annotated[
    str,
    Field(
        min_length=8,
        max_length=16,
        description="International format (E.164): + then 7 to 15 digits, e.g. +33612345678",
        json_schema_extra={"pattern": PHONE},
    ),
    AfterValidator(
        checked(PHONE, "Write the number in international format: + then 7 to 15 digits, e.g. +33612345678")
    ),
]
AccessToken = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        description="The Cognito access token of the signed-in user, as the sign-in answer gave it",
        json_schema_extra={"pattern": ACCESS_TOKEN},
    ),
    AfterValidator(checked(ACCESS_TOKEN, "Send the access token exactly as the sign-in answer gave it")),
]
Session = Annotated[
    str,
    Field(
        min_length=20,
        max_length=2048,
        description="The `session` of the sign-in answer that asked for the code",
        json_schema_extra={"pattern": OPAQUE},
    ),
    AfterValidator(checked(OPAQUE, "Send the session exactly as the sign-in answer gave it")),
]
RefreshToken = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4096,
        description="The refresh token of a sign-in answer",
        json_schema_extra={"pattern": OPAQUE},
    ),
    AfterValidator(checked(OPAQUE, "Send the refresh token exactly as the sign-in answer gave it")),
]


def _password_policy(value: str) -> str:
    if problem := password.describe(value):
        raise ValueError(problem)
    return value


# The pool's policy, checked here so the answer names what is missing. `tally-password` names it
# for generators (tests/e2e/test_api_fuzz.py), the pattern says it for everyone.
NewPassword = Annotated[
    str,
    Field(
        description=password.DESCRIPTION,
        json_schema_extra={
            "minLength": password.MIN_LENGTH,
            "maxLength": password.MAX_LENGTH,
            "pattern": password.PATTERN,
            "format": "tally-password",
        },
    ),
    AfterValidator(_password_policy),
]


class _In(WireModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "jo@example.com",
                    "password": "Correct-Horse-9!",
                    "name": "Jo Martin",
                    "locale": "fr",
                }
            ]
        }
    )

    email: Address
    password: NewPassword
    name: Name
    phone: Phone | None = None
    locale: Literal["en", "fr"] = Field(default="en", description="The language of Tally's emails")


class EmailIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "jo@example.com"}]})

    email: Address


class ConfirmIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "jo@example.com", "code": "123456"}]})

    email: Address
    code: EmailCode


class PasswordResetIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "jo@example.com", "code": "123456", "new_password": "Battery-Staple-7!"}]
        }
    )

    email: Address
    code: EmailCode
    new_password: NewPassword


class LoginIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "jo@example.com", "password": "Correct-Horse-9!"}]}
    )

    email: Email
    password: str = Field(min_length=1, max_length=256, pattern=NO_NUL)


class LoginMfaIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "jo@example.com",
                    "session": "AYABeEXAMPLEsessionFromTheSignInAnswer",
                    "code": "123456",
                }
            ]
        }
    )

    email: Email
    session: Session
    code: TotpCode


class RefreshIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIn0.EXAMPLE"}]}
    )

    refresh_token: RefreshToken


class MfaSetupIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"access_token": "eyJraWQiOiJFWEFNUExFIn0.eyJzdWIiOiJFWEFNUExFIn0.c2lnbmF0dXJl"}]
        }
    )

    access_token: AccessToken


class MfaVerifyIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJraWQiOiJFWEFNUExFIn0.eyJzdWIiOiJFWEFNUExFIn0.c2lnbmF0dXJl",
                    "code": "123456",
                }
            ]
        }
    )

    access_token: AccessToken
    code: TotpCode


class MessageOut(WireModel):
    message: str


class SignedInOut(WireModel):
    id_token: str = Field(description="Send as `Authorization: Bearer …`; carries groups and account")
    access_token: str = Field(description="For the `/v1/me/mfa/*` routes (Cognito needs it)")
    refresh_token: str | None = Field(description="For `POST /v1/auth/refresh`")
    expires_in: int = Field(description="Seconds until the id and access tokens expire")
    mfa_setup_required: bool = Field(
        default=False,
        description="Platform staff signed in without MFA: set it up (`POST /v1/me/mfa/setup`) "
        "before staff powers are granted",
    )


class MfaRequiredOut(WireModel):
    mfa_required: Literal[True] = Field(
        description="Send the authenticator's code to `POST /v1/auth/login/mfa`"
    )
    session: str = Field(description="Send it back with the code; valid for a few minutes")


class RefreshedOut(WireModel):
    id_token: str
    access_token: str
    expires_in: int = Field(description="Seconds until these tokens expire; the refresh token is unchanged")


class MfaSetupOut(WireModel):
    secret: str = Field(description="Base32 TOTP secret, for apps where it is typed in")
    otpauth_uri: str = Field(description="otpauth://totp/Tally:<email>?secret=…&issuer=Tally, for a QR code")


class MfaEnabledOut(WireModel):
    mfa_enabled: Literal[True]
