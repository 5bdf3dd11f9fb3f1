"""moto's Cognito made to send and check codes as Cognito does; `install()` before moto serves.

moto 5.2.5 confirms a sign-up with any code, has no ResendConfirmationCode, hands the
forgot-password code back in a response header (checking it only if it starts with a magic
prefix), never checks the new password's policy, refuses passwords of 99 characters or more,
and accepts as usernames only a narrow set of email addresses. `install()` patches, once per
process:

- SignUp and ResendConfirmationCode issue a random 6-digit code valid 24 hours, ForgotPassword
  one valid 1 hour; each new code replaces the user's previous one of that kind, and each is
  emailed to the local mailbox with the pool's VerificationMessageTemplate, as Cognito would;
- ConfirmSignUp and ConfirmForgotPassword check it: CodeMismatchException for a wrong code,
  ExpiredCodeException past its validity, LimitExceededException after 5 wrong tries (the code
  is then spent), and a code that worked cannot be used again. An unknown user is answered as
  a wrong code (the app client prevents user existence errors); a confirmed user's ConfirmSignUp
  is NotAuthorizedException; ForgotPassword for an unconfirmed user is InvalidParameterException;
- passwords: Cognito's limit of 256 characters, and the pool's policy on ConfirmForgotPassword;
- usernames: any ASCII email address (moto's pattern refused `o'brien@example.com`).

Codes expire by `use_clock()`'s clock: the local stack gives its own, so `POST /_local/clock`
expires them as it moves. Used by the local stack and the integration tests' moto server alike.
docs/decisions/0010 says why this shape.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, Literal

from moto.cognitoidp import models as cognito_models
from moto.cognitoidp import utils as cognito_utils
from moto.cognitoidp.exceptions import (
    CodeMismatchException,
    ExpiredCodeException,
    InvalidParameterException,
    InvalidPasswordException,
    NotAuthorizedError,
    ResourceNotFoundError,
    UserNotFoundError,
)
from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUser, CognitoIdpUserPool, UserStatus
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult

from local.mailbox import MAILBOX, Mailbox

Purpose = Literal["sign_up", "reset"]
VALIDITY: dict[Purpose, timedelta] = {"sign_up": timedelta(hours=24), "reset": timedelta(hours=1)}
MAX_WRONG_ATTEMPTS = 5
MAX_PASSWORD_LENGTH = 256
COGNITO_SENDER = "no-reply@verificationemail.com"  # Cognito's own sender (COGNITO_DEFAULT)
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- "
# What Cognito takes as an email username here: an address SES can deliver to.
EMAIL_USERNAME = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"


def _system_now() -> datetime:
    return datetime.now(UTC)


_lock = threading.RLock()  # moto's Cognito handlers run on the server's threads
_installed = False
_now: Callable[[], datetime] = _system_now
_mailbox: Mailbox = MAILBOX


class LimitExceededError(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("LimitExceededException", "Attempt limit exceeded, please try after some time.")


@dataclass
class IssuedCode:
    code: str
    expires_at: datetime
    wrong_attempts: int = 0


def use_clock(now: Callable[[], datetime] | None) -> None:
    """The clock codes expire by (None: the system clock)."""
    global _now
    _now = now or _system_now


def _codes(user: CognitoIdpUser) -> dict[Purpose, IssuedCode]:
    """The user's live codes, kept on moto's user object so that a moto reset forgets them too."""
    codes: dict[Purpose, IssuedCode] = user.__dict__.setdefault("local_codes", {})
    return codes


# -- issuing ---------------------------------------------------------------------------------------


def _sender(pool: CognitoIdpUserPool) -> str:
    config = pool.extended_config.get("EmailConfiguration") or {}
    if config.get("EmailSendingAccount") == "DEVELOPER":
        return str(config.get("From") or str(config.get("SourceArn", "")).rpartition("identity/")[2])
    return COGNITO_SENDER


def _issue(pool: CognitoIdpUserPool, user: CognitoIdpUser, purpose: Purpose) -> None:
    """A new code for `purpose`, emailed to the user with the pool's verification message."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    with _lock:
        _codes(user)[purpose] = IssuedCode(code, _now() + VALIDITY[purpose])
    address = user.attribute_lookup.get("email")
    if not address:
        return  # Cognito would send it by SMS, which the local stack does not emulate
    template = pool.extended_config.get("VerificationMessageTemplate") or {}
    message = str(template.get("EmailMessage") or pool.extended_config.get("EmailVerificationMessage") or "")
    subject = str(template.get("EmailSubject") or pool.extended_config.get("EmailVerificationSubject") or "")
    body = message.replace("{####}", code)
    _mailbox.deliver(
        sender=_sender(pool),
        to=[address],
        subject=subject,
        text=re.sub(r" *<br\s*/?> *", "\n", body),
        html_part=body,  # Cognito sends the message as an HTML email
        source="cognito",
    )


def _pool_of_client(backend: CognitoIdpBackend, client_id: str) -> CognitoIdpUserPool:
    for pool in backend.user_pools.values():
        if client_id in pool.clients:
            return pool
    raise ResourceNotFoundError(client_id)


def _hides_existence(pool: CognitoIdpUserPool, client_id: str) -> bool:
    return bool(pool.clients[client_id].extended_config.get("PreventUserExistenceErrors") == "ENABLED")


def _delivery(user: CognitoIdpUser | None, username: str) -> dict[str, str]:
    address = user.attribute_lookup.get("email", username) if user is not None else username
    local, _, domain = str(address).partition("@")
    return {
        "Destination": f"{local[:1]}***@{domain[:1]}***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }


# -- checking --------------------------------------------------------------------------------------


def _spend(
    user: CognitoIdpUser, purpose: Purpose, code: str, then: Callable[[], None] = lambda: None
) -> None:
    """Check `code`, run `then` (which may refuse: the code stays live), spend it; raises as Cognito does."""
    with _lock:
        codes = _codes(user)
        issued = codes.get(purpose)
        if issued is None:
            raise CodeMismatchException("Invalid verification code provided, please try again.")
        if _now() >= issued.expires_at:
            raise ExpiredCodeException("Invalid code provided, please request a code again.")
        if issued.wrong_attempts >= MAX_WRONG_ATTEMPTS:
            raise LimitExceededError()
        if not secrets.compare_digest(issued.code, code):
            issued.wrong_attempts += 1
            raise CodeMismatchException("Invalid verification code provided, please try again.")
        then()
        del codes[purpose]


def _user_or_mismatch(pool: CognitoIdpUserPool, client_id: str, username: str) -> CognitoIdpUser:
    user = pool._get_user(username)
    if user is None:
        if _hides_existence(pool, client_id):
            raise CodeMismatchException("Invalid verification code provided, please try again.")
        raise UserNotFoundError("Username/client id combination not found.")
    return user


# -- the patched operations ------------------------------------------------------------------------


def _issuing_sign_up(sign_up: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(sign_up)
    def patched(self: CognitoIdpBackend, client_id: str, username: str, *args: Any, **kwargs: Any) -> Any:
        user, details = sign_up(self, client_id, username, *args, **kwargs)
        _issue(_pool_of_client(self, client_id), user, "sign_up")
        return user, details

    return patched


def resend_confirmation_code(self: CognitoIdpBackend, client_id: str, username: str) -> dict[str, Any]:
    pool = _pool_of_client(self, client_id)
    user = pool._get_user(username)
    if user is None:
        if _hides_existence(pool, client_id):
            return {"CodeDeliveryDetails": _delivery(None, username)}  # a delivery that never happens
        raise UserNotFoundError("Username/client id combination not found.")
    if user.status == UserStatus.CONFIRMED:
        raise InvalidParameterException("User is already confirmed.")
    _issue(pool, user, "sign_up")
    return {"CodeDeliveryDetails": _delivery(user, username)}


def _respond_resend_confirmation_code(self: CognitoIdpResponse) -> ActionResult:
    client_id = self._get_param("ClientId")
    backend = cognito_models.RegionAgnosticBackend(self.current_account, self.region)
    target = backend._find_backend_for_clientid(client_id)
    return ActionResult(resend_confirmation_code(target, client_id, self._get_param("Username")))


def _checking_confirm_sign_up(
    confirm: Callable[[CognitoIdpResponse], Any],
) -> Callable[[CognitoIdpResponse], Any]:
    """moto's handler does not pass the code on to its backend: it is checked here, first."""

    @wraps(confirm)
    def patched(self: CognitoIdpResponse) -> Any:
        client_id = self._get_param("ClientId")
        backend = cognito_models.RegionAgnosticBackend(self.current_account, self.region)
        pool = _pool_of_client(backend._find_backend_for_clientid(client_id), client_id)
        user = _user_or_mismatch(pool, client_id, self._get_param("Username"))
        if user.status == UserStatus.CONFIRMED:
            raise NotAuthorizedError("User cannot be confirmed. Current status is CONFIRMED")
        _spend(user, "sign_up", str(self._get_param("ConfirmationCode") or ""))
        return confirm(self)

    return patched


def _issuing_forgot_password(forgot: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(forgot)
    def patched(self: CognitoIdpBackend, client_id: str, username: str) -> tuple[None, dict[str, Any]]:
        pool = _pool_of_client(self, client_id)
        user = pool._get_user(username)
        if user is not None and user.status == UserStatus.UNCONFIRMED:
            raise InvalidParameterException(
                "Cannot reset password for the user as there is no registered/verified email or phone_number"
            )
        _, details = forgot(self, client_id, username)
        if user is not None:
            user.confirmation_code = None  # moto's magic code: not a way in any more
            _issue(pool, user, "reset")
        return None, details  # the code is in the mailbox, never in a response header

    return patched


def _without_magic_header(forgot: Callable[[CognitoIdpResponse], ActionResult]) -> Callable[..., Any]:
    @wraps(forgot)
    def patched(self: CognitoIdpResponse) -> ActionResult:
        answer = forgot(self)
        self.response_headers.pop("x-moto-forgot-password-confirmation-code", None)
        return answer

    return patched


def confirm_forgot_password(
    self: CognitoIdpBackend, client_id: str, username: str, password: str, confirmation_code: str
) -> None:
    pool = _pool_of_client(self, client_id)
    user = _user_or_mismatch(pool, client_id, username)
    # A password the policy refuses leaves the code usable with a better one.
    _spend(user, "reset", confirmation_code, then=lambda: self._validate_password(pool.id, password))
    user.password = password
    if user.status == UserStatus.RESET_REQUIRED:
        user.status = UserStatus.CONFIRMED


def _validate_password(self: CognitoIdpBackend, user_pool_id: str, password: str) -> None:
    """The pool's PasswordPolicy as Cognito applies it (moto caps passwords at 98 characters)."""
    policy = (
        self.describe_user_pool(user_pool_id).extended_config.get("Policies", {}).get("PasswordPolicy", {})
    )
    required = {
        "RequireUppercase": r"[A-Z]",
        "RequireLowercase": r"[a-z]",
        "RequireNumbers": r"[0-9]",
    }
    if not policy.get("MinimumLength", 8) <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidPasswordException()
    for setting, pattern in required.items():
        if policy.get(setting, True) and not re.search(pattern, password):
            raise InvalidPasswordException()
    if policy.get("RequireSymbols", True) and not any(ch in SYMBOLS for ch in password.strip(" ")):
        raise InvalidPasswordException()


def install(mailbox: Mailbox = MAILBOX) -> None:
    """Patch moto's Cognito in this process; calling it again does nothing."""
    global _installed, _mailbox
    with _lock:
        if _installed:
            return
        _mailbox = mailbox
        CognitoIdpBackend.sign_up = _issuing_sign_up(CognitoIdpBackend.sign_up)  # type: ignore[method-assign]
        CognitoIdpBackend.resend_confirmation_code = resend_confirmation_code  # type: ignore[attr-defined]
        CognitoIdpBackend.forgot_password = _issuing_forgot_password(CognitoIdpBackend.forgot_password)  # type: ignore[method-assign]
        CognitoIdpBackend.confirm_forgot_password = confirm_forgot_password  # type: ignore[method-assign]
        CognitoIdpBackend._validate_password = _validate_password  # type: ignore[method-assign]
        CognitoIdpResponse.resend_confirmation_code = _respond_resend_confirmation_code  # type: ignore[attr-defined]
        CognitoIdpResponse.forgot_password = _without_magic_header(CognitoIdpResponse.forgot_password)  # type: ignore[method-assign]
        CognitoIdpResponse.confirm_sign_up = _checking_confirm_sign_up(  # type: ignore[method-assign,assignment]
            CognitoIdpResponse.confirm_sign_up
        )
        cognito_utils.FORMATS["email"] = EMAIL_USERNAME
        _installed = True


def installed() -> bool:
    return _installed
