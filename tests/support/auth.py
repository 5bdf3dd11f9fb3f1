"""In-memory fakes of the identity provider and the mailer, faithful to the ports' semantics."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from tally.auth.cognito import EXPIRED_CODE, SESSION_GONE, WRONG_CODE, WRONG_CREDENTIALS, WRONG_TOTP
from tally.auth.domain import MfaChallenge, NewUser, Tokens
from tally.auth.errors import AlreadyConfirmed, UserExists
from tally.errors import Forbidden, InvalidInput, NotAuthenticated
from tally.notifications.email import Email

TOTP_CODE = "424242"  # the fake authenticator's only valid code


def unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


@dataclass
class FakeUser:
    user: NewUser
    sub: str = field(default_factory=lambda: secrets.token_hex(8))
    confirmed: bool = False
    groups: tuple[str, ...] = ()
    totp_secret: str | None = None
    totp_on: bool = False


class FakeIdentityProvider:
    def __init__(self) -> None:
        self.users: dict[str, FakeUser] = {}
        self.codes: dict[tuple[str, str], str] = {}  # (purpose, email) -> live code
        self.expired: set[tuple[str, str]] = set()
        self.sessions: dict[str, str] = {}  # session -> email
        self.access_tokens: dict[str, str] = {}  # access token -> email
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> email
        self.calls: list[tuple[str, str]] = []  # (operation, email)
        self.issued: list[tuple[str, str]] = []  # (purpose, email) of every code sent

    def add_confirmed(self, email: str, password: str, *, groups: tuple[str, ...] = ()) -> FakeUser:
        user = FakeUser(NewUser(email, password, "Someone"), confirmed=True, groups=groups)
        self.users[email] = user
        return user

    def _issue(self, purpose: str, email: str) -> None:
        self.codes[(purpose, email)] = f"{secrets.randbelow(1_000_000):06d}"
        self.issued.append((purpose, email))
        self.expired.discard((purpose, email))

    def _spend(self, purpose: str, email: str, code: str) -> None:
        if (purpose, email) in self.expired:
            raise InvalidInput(EXPIRED_CODE, field="code")
        if email not in self.users or self.codes.get((purpose, email)) != code:
            raise InvalidInput(WRONG_CODE, field="code")
        del self.codes[(purpose, email)]

    # -- the port ---------------------------------------------------------------------------

    def sign_up(self, user: NewUser) -> None:
        self.calls.append(("sign_up", user.email))
        if user.email in self.users:
            raise UserExists()
        self.users[user.email] = FakeUser(user)
        self._issue("sign_up", user.email)

    def resend_code(self, email: str) -> None:
        self.calls.append(("resend_code", email))
        user = self.users.get(email)
        if user is None:
            return
        if user.confirmed:
            raise AlreadyConfirmed()
        self._issue("sign_up", email)

    def confirm_sign_up(self, email: str, code: str) -> None:
        self._spend("sign_up", email, code)
        self.users[email].confirmed = True

    def forgot_password(self, email: str) -> None:
        self.calls.append(("forgot_password", email))
        if email in self.users and self.users[email].confirmed:
            self._issue("reset", email)

    def confirm_forgot_password(self, email: str, code: str, new_password: str) -> None:
        self._spend("reset", email, code)
        user = self.users[email]
        self.users[email] = FakeUser(
            NewUser(email, new_password, user.user.name),
            user.sub,
            True,
            user.groups,
            user.totp_secret,
            user.totp_on,
        )

    def _tokens(self, email: str, *, refresh: bool = True) -> Tokens:
        user = self.users[email]
        claims = {
            "sub": user.sub,
            "email": email,
            "cognito:groups": list(user.groups),
            "jti": secrets.token_hex(4),
        }
        access = unsigned_jwt({"sub": user.sub, "jti": secrets.token_hex(4)})
        self.access_tokens[access] = email
        refresh_token = secrets.token_hex(8) if refresh else None
        if refresh_token:
            self.refresh_tokens[refresh_token] = email
        return Tokens(unsigned_jwt(claims), access, refresh_token, 3600)

    def sign_in(self, email: str, password: str) -> Tokens | MfaChallenge:
        user = self.users.get(email)
        if user is None or user.user.password != password:
            raise NotAuthenticated(WRONG_CREDENTIALS)
        if not user.confirmed:
            raise Forbidden("This user has not confirmed their email address yet")
        if user.totp_on:
            session = secrets.token_hex(16)
            self.sessions[session] = email
            return MfaChallenge(session)
        return self._tokens(email)

    def answer_mfa(self, email: str, session: str, code: str) -> Tokens:
        if self.sessions.get(session) != email:
            raise NotAuthenticated(SESSION_GONE, field="session")
        if code != TOTP_CODE:
            raise InvalidInput(WRONG_TOTP, field="code")
        del self.sessions[session]
        return self._tokens(email)

    def refresh(self, refresh_token: str) -> Tokens:
        email = self.refresh_tokens.get(refresh_token)
        if email is None:
            raise NotAuthenticated("The refresh token has expired or was revoked: sign in again")
        return self._tokens(email, refresh=False)

    def _user_of(self, access_token: str) -> FakeUser:
        email = self.access_tokens.get(access_token)
        if email is None:
            raise NotAuthenticated("The access token is not valid", field="access_token")
        return self.users[email]

    def totp_secret(self, access_token: str) -> str:
        user = self._user_of(access_token)
        user.totp_secret = "JBSWY3DPEHPK3PXP"
        return user.totp_secret

    def enable_totp(self, access_token: str, code: str) -> None:
        user = self._user_of(access_token)
        if user.totp_secret is None or code != TOTP_CODE:
            raise InvalidInput(WRONG_TOTP, field="code")
        user.totp_on = True


class RecordingMailer:
    def __init__(self, failure: Exception | None = None) -> None:
        self.sent: list[Email] = []
        self.failure = failure

    def send(self, email: Email) -> str:
        if self.failure is not None:
            raise self.failure
        self.sent.append(email)
        return f"message-{len(self.sent)}"
