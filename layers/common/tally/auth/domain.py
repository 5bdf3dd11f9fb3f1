"""What signing up and in produces, in the domain's words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Locale = Literal["en", "fr"]


@dataclass(frozen=True)
class NewUser:
    email: str  # lower case: the pool's usernames are case-insensitive, Tally stores them lowered
    password: str
    name: str
    phone: str | None = None  # E.164
    locale: Locale = "en"


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str
    refresh_token: str | None  # None when refreshing: Cognito keeps the refresh token it issued
    expires_in: int


@dataclass(frozen=True)
class MfaChallenge:
    """The password was right and the user has TOTP on: the code completes the sign-in."""

    session: str


@dataclass(frozen=True)
class SignedIn:
    tokens: Tokens
    # Platform staff signed in without MFA: they must set it up before using staff powers.
    mfa_setup_required: bool = False


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, for authenticator apps that take it typed in
    uri: str  # otpauth://totp/Tally:<email>?secret=…&issuer=Tally, for a QR code
