"""Cognito as the identity provider, through its user-facing API (no IAM permission needed).

Cognito's errors become domain errors here, in words a person can act on; the ones that would
tell a caller whether an address is registered become the same answer as a wrong code. Only
error codes are logged: Cognito's messages may quote the username.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from tally.auth.domain import MfaChallenge, NewUser, Tokens
from tally.auth.errors import AlreadyConfirmed, TooManyAttempts, UserExists
from tally.auth.password import DESCRIPTION as PASSWORD_RULES
from tally.errors import Forbidden, InvalidInput, NotAuthenticated, ServiceUnavailable
from tally.storage.errors import error_code, is_transient

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

WRONG_CREDENTIALS = "Wrong email or password"
WRONG_CODE = (
    "This code is not the one we sent: check the latest email, or ask for a new code "
    "(if this address is already confirmed, sign in instead)"
)
EXPIRED_CODE = "This code has expired: ask for a new one"
WRONG_TOTP = "This is not the current code of your authenticator app: enter the code it shows now"
SESSION_GONE = "This sign-in has expired or is not valid: sign in again with your password"
ACCESS_TOKEN_INVALID = "The access token is not valid or has expired: sign in again"  # noqa: S105 - words
CODE_NOT_SENT = "The code could not be sent by email: try again in a few minutes"
ATTEMPT_LIMITS = frozenset({"LimitExceededException", "TooManyFailedAttemptsException"})

logger = Logger()


def _refused(action: str, code: str) -> None:
    logger.warning("Cognito refused the request", extra={"action": action, "error_code": code})


class CognitoIdentity:
    def __init__(self, client: CognitoIdentityProviderClient, client_id: str) -> None:
        self._client = client
        self._client_id = client_id

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One Cognito call; attempt limits are TooManyAttempts, other throttling ServiceUnavailable.

        LimitExceededException is transient to tally.storage.errors (a quota on an AWS API); from
        Cognito's user-facing API it means this user's attempts, so it is looked at first."""
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**params)
        except ClientError as exc:
            if error_code(exc) in ATTEMPT_LIMITS:
                raise TooManyAttempts() from exc
            if is_transient(exc):
                raise ServiceUnavailable() from exc
            raise
        except BotoCoreError as exc:
            if is_transient(exc):
                raise ServiceUnavailable() from exc
            raise
        return answer

    def _public(self, operation: str, **params: Any) -> dict[str, Any]:
        """A call of the app client's public API (sign-up, codes, sign-in)."""
        return self._call(operation, ClientId=self._client_id, **params)

    # -- signing up ------------------------------------------------------------------------

    def sign_up(self, user: NewUser) -> None:
        attributes = [
            {"Name": "email", "Value": user.email},
            {"Name": "name", "Value": user.name},
            {"Name": "locale", "Value": user.locale},
        ]
        if user.phone:
            attributes.append({"Name": "phone_number", "Value": user.phone})
        try:
            self._public("sign_up", Username=user.email, Password=user.password, UserAttributes=attributes)
        except ClientError as exc:
            code = error_code(exc)
            if code == "UsernameExistsException":
                raise UserExists() from exc
            if code == "InvalidPasswordException":
                # The pool's policy differs from the one Tally checks (tally.auth.password).
                _refused("sign_up", code)
                raise InvalidInput(f"The password is refused: {PASSWORD_RULES}", field="password") from exc
            if code == "CodeDeliveryFailureException":
                raise ServiceUnavailable(CODE_NOT_SENT) from exc
            if code == "InvalidParameterException":
                _refused("sign_up", code)
                self._invalid_details(exc)
            raise

    @staticmethod
    def _invalid_details(exc: ClientError) -> NoReturn:
        """Cognito refused an attribute; its message says which, in its words."""
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if "phone" in message:
            raise InvalidInput(
                "Cognito refused this phone number: write it in international format, e.g. +33612345678",
                field="phone",
            ) from exc
        raise InvalidInput("Cognito refused this email address", field="email") from exc

    def resend_code(self, email: str) -> None:
        try:
            self._public("resend_confirmation_code", Username=email)
        except ClientError as exc:
            code = error_code(exc)
            if code == "InvalidParameterException":  # "User is already confirmed."
                raise AlreadyConfirmed() from exc
            if code == "UserNotFoundException":
                return
            if code == "CodeDeliveryFailureException":
                raise ServiceUnavailable(CODE_NOT_SENT) from exc
            raise

    def confirm_sign_up(self, email: str, code: str) -> None:
        try:
            self._public("confirm_sign_up", Username=email, ConfirmationCode=code)
        except ClientError as exc:
            self._code_refused(exc)

    # -- passwords -------------------------------------------------------------------------

    def forgot_password(self, email: str) -> None:
        try:
            self._public("forgot_password", Username=email)
        except ClientError as exc:
            code = error_code(exc)
            # Unknown, unconfirmed (no verified email) or disabled: the same answer as a known user.
            if code in {"UserNotFoundException", "InvalidParameterException", "NotAuthorizedException"}:
                return
            if code == "CodeDeliveryFailureException":
                raise ServiceUnavailable(CODE_NOT_SENT) from exc
            raise

    def confirm_forgot_password(self, email: str, code: str, new_password: str) -> None:
        try:
            self._public(
                "confirm_forgot_password", Username=email, ConfirmationCode=code, Password=new_password
            )
        except ClientError as exc:
            if error_code(exc) == "InvalidPasswordException":
                _refused("confirm_forgot_password", "InvalidPasswordException")
                raise InvalidInput(
                    f"The password is refused: {PASSWORD_RULES}", field="new_password"
                ) from exc
            self._code_refused(exc)

    @staticmethod
    def _code_refused(exc: ClientError) -> NoReturn:
        code = error_code(exc)
        if code == "ExpiredCodeException":
            raise InvalidInput(EXPIRED_CODE, field="code") from exc
        if code in {
            "CodeMismatchException",
            "UserNotFoundException",  # not to reveal that the address is unknown
            "NotAuthorizedException",  # already confirmed, or disabled
            "InvalidParameterException",  # e.g. a reset for a user who never confirmed
            "AliasExistsException",
        }:
            raise InvalidInput(WRONG_CODE, field="code") from exc
        raise exc

    # -- signing in ------------------------------------------------------------------------

    def sign_in(self, email: str, password: str) -> Tokens | MfaChallenge:
        try:
            answer = self._public(
                "initiate_auth",
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in {"NotAuthorizedException", "UserNotFoundException"}:
                raise NotAuthenticated(WRONG_CREDENTIALS) from exc
            if code == "PasswordResetRequiredException":
                raise NotAuthenticated("A password reset is required before signing in") from exc
            if code == "UserNotConfirmedException":
                raise Forbidden("This user has not confirmed their email address yet") from exc
            if code == "InvalidParameterException":
                # Cognito refuses some usernames outright (characters outside its pattern, over
                # 128 characters): no user can have one.
                _refused("initiate_auth", code)
                raise NotAuthenticated(WRONG_CREDENTIALS) from exc
            raise
        if answer.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            return MfaChallenge(session=str(answer["Session"]))
        return self._tokens(answer)

    def answer_mfa(self, email: str, session: str, code: str) -> Tokens:
        try:
            answer = self._public(
                "respond_to_auth_challenge",
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=session,
                ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code},
            )
        except ClientError as exc:
            refused = error_code(exc)
            if refused == "CodeMismatchException":
                raise InvalidInput(WRONG_TOTP, field="code") from exc
            if refused in {
                "NotAuthorizedException",
                "ExpiredCodeException",
                "ResourceNotFoundException",  # moto's answer to an unknown session
                "InvalidParameterException",
                "UserNotFoundException",
            }:
                raise NotAuthenticated(SESSION_GONE, field="session") from exc
            raise
        return self._tokens(answer)

    def refresh(self, refresh_token: str) -> Tokens:
        try:
            answer = self._public(
                "initiate_auth",
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except ClientError as exc:
            if error_code(exc) in {
                "NotAuthorizedException",
                "ResourceNotFoundException",
                "InvalidParameterException",
            }:
                raise NotAuthenticated(
                    "The refresh token has expired or was revoked: sign in again", field="refresh_token"
                ) from exc
            raise
        tokens = self._tokens(answer)
        return Tokens(tokens.id_token, tokens.access_token, None, tokens.expires_in)

    @staticmethod
    def _tokens(answer: dict[str, Any]) -> Tokens:
        result = answer.get("AuthenticationResult")
        if not result:
            # Another challenge (e.g. NEW_PASSWORD_REQUIRED for an invited user) is not a session.
            challenge = answer.get("ChallengeName", "a challenge")
            raise NotAuthenticated(f"Sign-in needs {challenge} to be completed first")
        return Tokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            refresh_token=result.get("RefreshToken"),
            expires_in=int(result.get("ExpiresIn", 3600)),
        )

    # -- TOTP ------------------------------------------------------------------------------

    def _with_access_token(self, operation: str, **params: Any) -> dict[str, Any]:
        """A call authenticated by the user's access token."""
        try:
            return self._call(operation, **params)
        except ClientError as exc:
            code = error_code(exc)
            if code in {"NotAuthorizedException", "InvalidParameterException", "UserNotFoundException"}:
                raise NotAuthenticated(ACCESS_TOKEN_INVALID, field="access_token") from exc
            if code in {"CodeMismatchException", "EnableSoftwareTokenMFAException"}:
                raise InvalidInput(WRONG_TOTP, field="code") from exc
            raise

    def totp_secret(self, access_token: str) -> str:
        answer = self._with_access_token("associate_software_token", AccessToken=access_token)
        return str(answer["SecretCode"])

    def enable_totp(self, access_token: str, code: str) -> None:
        verified = self._with_access_token(
            "verify_software_token", AccessToken=access_token, UserCode=code, FriendlyDeviceName="Tally"
        )
        if verified.get("Status") != "SUCCESS":
            raise InvalidInput(WRONG_TOTP, field="code")
        self._with_access_token(
            "set_user_mfa_preference",
            AccessToken=access_token,
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )
