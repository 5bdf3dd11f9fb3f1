"""What signing up and in needs from the identity provider (Cognito; in-memory in unit tests)."""

from __future__ import annotations

from typing import Protocol

from tally.auth.domain import MfaChallenge, NewUser, Tokens


class IdentityProvider(Protocol):
    def sign_up(self, user: NewUser) -> None:
        """Create the user, unconfirmed, and send the confirmation code. Raises UserExists."""
        ...

    def resend_code(self, email: str) -> None:
        """Send a new confirmation code. Raises AlreadyConfirmed; an unknown address is no error."""
        ...

    def confirm_sign_up(self, email: str, code: str) -> None:
        """Raises InvalidInput naming `code` when it is wrong or expired (or the user unknown)."""
        ...

    def forgot_password(self, email: str) -> None:
        """Send a password reset code; an unknown or unconfirmed address is no error."""
        ...

    def confirm_forgot_password(self, email: str, code: str, new_password: str) -> None: ...

    def sign_in(self, email: str, password: str) -> Tokens | MfaChallenge:
        """Raises NotAuthenticated on wrong credentials."""
        ...

    def answer_mfa(self, email: str, session: str, code: str) -> Tokens: ...

    def refresh(self, refresh_token: str) -> Tokens:
        """New id and access tokens; raises NotAuthenticated when the refresh token is expired or revoked."""
        ...

    def totp_secret(self, access_token: str) -> str:
        """A new TOTP secret for the access token's user (not yet in force)."""
        ...

    def enable_totp(self, access_token: str, code: str) -> None:
        """Check a code of the new secret, then make TOTP the user's MFA, preferred."""
        ...
