"""Signing up and in: what Tally adds to the identity provider.

- Registering never reveals whether an address is registered: a new address gets a confirmation
  code, an unconfirmed one a new code, a confirmed one an email telling its owner that someone
  tried (so the owner, and only the owner, learns it); the caller gets the same answer each time.
  Asking for a code again or for a password reset answers alike for every address too, even when
  Cognito's limit on codes for that address is reached (only a known address can reach it).
- Platform staff signing in without MFA are told to set it up (`mfa_setup_required`).
- Emails are lower-cased on the way in: the pool's usernames are case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from aws_lambda_powertools import Logger

from tally.auth.claims import groups, unverified_claims
from tally.auth.domain import Locale, MfaChallenge, NewUser, SignedIn, Tokens, TotpSetup
from tally.auth.errors import AlreadyConfirmed, TooManyAttempts, UserExists
from tally.auth.ports import IdentityProvider
from tally.errors import Forbidden, ServiceUnavailable
from tally.notifications.mailer import EmailNotSent, Mailer

STAFF_GROUPS = frozenset({"platform-admin", "platform-manager"})
TOTP_ISSUER = "Tally"

logger = Logger()


class AuthService:
    def __init__(self, identity: IdentityProvider, mailer: Callable[[], Mailer]) -> None:
        """`mailer` is called only when an email is to be sent (it builds the SES client)."""
        self._identity = identity
        self._mailer = mailer

    # -- signing up ------------------------------------------------------------------------

    def register(self, user: NewUser) -> None:
        user = NewUser(user.email.lower(), user.password, user.name, user.phone, user.locale)
        try:
            self._identity.sign_up(user)
        except UserExists:
            try:
                self._identity.resend_code(user.email)  # not confirmed yet: a new code is a kindness
            except AlreadyConfirmed:
                self._tell_owner_someone_registered(user.email, user.locale)
            except TooManyAttempts:
                _limit_reached("register")

    def _tell_owner_someone_registered(self, email: str, locale: Locale) -> None:
        # Nothing the caller typed but the address goes into this email (their name could be
        # a phishing line written to the owner). jinja2 is imported only when this is sent.
        from tally.notifications.render import render

        try:
            self._mailer().send(render("account-exists", locale, to=email, email=email))
        except (EmailNotSent, ServiceUnavailable) as exc:
            # The caller's answer must not differ from a new address's, so this is not an error
            # for them; the operator sees it (an unverified sender, SES's sandbox...).
            code = exc.code if isinstance(exc, EmailNotSent) else "unavailable"
            logger.warning("The account-exists notice was not sent", extra={"error_code": code})

    def resend_code(self, email: str) -> None:
        try:
            self._identity.resend_code(email.lower())
        except AlreadyConfirmed:
            return  # answered like any other address
        except TooManyAttempts:
            _limit_reached("resend_code")

    def confirm(self, email: str, code: str) -> None:
        self._identity.confirm_sign_up(email.lower(), code)

    # -- passwords -------------------------------------------------------------------------

    def start_password_reset(self, email: str) -> None:
        try:
            self._identity.forgot_password(email.lower())
        except TooManyAttempts:
            _limit_reached("password_reset")

    def finish_password_reset(self, email: str, code: str, new_password: str) -> None:
        self._identity.confirm_forgot_password(email.lower(), code, new_password)

    # -- signing in ------------------------------------------------------------------------

    def sign_in(self, email: str, password: str) -> SignedIn | MfaChallenge:
        answer = self._identity.sign_in(email.lower(), password)
        if isinstance(answer, MfaChallenge):
            return answer
        # Tokens straight away: this sign-in used no MFA, so the user has none in force.
        return SignedIn(answer, mfa_setup_required=bool(groups(answer.id_token) & STAFF_GROUPS))

    def complete_mfa(self, email: str, session: str, code: str) -> SignedIn:
        return SignedIn(self._identity.answer_mfa(email.lower(), session, code))

    def refresh(self, refresh_token: str) -> Tokens:
        return self._identity.refresh(refresh_token)

    # -- TOTP ------------------------------------------------------------------------------

    def start_totp(self, access_token: str, subject: str, email: str | None) -> TotpSetup:
        _same_user(access_token, subject)
        secret = self._identity.totp_secret(access_token)
        label = quote(f"{TOTP_ISSUER}:{email or subject}", safe=":@")
        return TotpSetup(
            secret=secret,
            uri=f"otpauth://totp/{label}?{urlencode({'secret': secret, 'issuer': TOTP_ISSUER})}",
        )

    def enable_totp(self, access_token: str, subject: str, code: str) -> None:
        _same_user(access_token, subject)
        self._identity.enable_totp(access_token, code)


def _limit_reached(action: str) -> None:
    """No new code: the address already has some in flight. Answered like any other address."""
    logger.info("Cognito's limit on codes for an address was reached", extra={"action": action})


def _same_user(access_token: str, subject: str) -> None:
    """The access token (Cognito checks it) must be the signed-in caller's (API Gateway checked
    their id token): one user's session cannot change another's MFA."""
    owner = unverified_claims(access_token).get("sub")
    if owner is not None and owner != subject:
        raise Forbidden("This access token belongs to another user", field="access_token")
