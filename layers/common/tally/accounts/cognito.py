"""Cognito as the identity provider: sign-in with email and password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from tally.accounts.domain import Tokens
from tally.errors import Forbidden, NotAuthenticated, ServiceUnavailable
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

WRONG_CREDENTIALS = "Wrong email or password"

logger = Logger()


class CognitoIdentity:
    def __init__(self, client: CognitoIdentityProviderClient, client_id: str) -> None:
        self._client = client
        self._client_id = client_id

    def login(self, email: str, password: str) -> Tokens:
        try:
            with transient_as_unavailable():
                answer = self._client.initiate_auth(
                    ClientId=self._client_id,
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
            if code == "TooManyRequestsException":
                raise ServiceUnavailable() from exc
            if code == "InvalidParameterException":
                # Cognito refuses some usernames outright (characters outside its pattern, over
                # 128 characters): no user can have one. The message may quote it, so only the
                # code is logged, in case the cause is the app client's configuration instead.
                logger.warning("Cognito refused the sign-in parameters", extra={"error_code": code})
                raise NotAuthenticated(WRONG_CREDENTIALS) from exc
            raise
        result = answer.get("AuthenticationResult")
        if not result:
            # A challenge (e.g. NEW_PASSWORD_REQUIRED for an invited user) is not a session.
            challenge = answer.get("ChallengeName", "a challenge")
            raise NotAuthenticated(f"Sign-in needs {challenge} to be completed first")
        return Tokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            refresh_token=result.get("RefreshToken"),
            expires_in=int(result.get("ExpiresIn", 3600)),
        )
