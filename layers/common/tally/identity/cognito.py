"""Whether a user has TOTP on, from Cognito's admin API (AdminGetUser's UserMFASettingList)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

TOTP = "SOFTWARE_TOKEN_MFA"


class CognitoMfaSettings:
    def __init__(self, client: CognitoIdentityProviderClient, user_pool_id: str) -> None:
        self._client = client
        self._pool = user_pool_id

    def totp_enabled(self, subject: str) -> bool:
        # In a pool whose usernames are emails, Cognito's username is the sub.
        try:
            with transient_as_unavailable():
                user = self._client.admin_get_user(UserPoolId=self._pool, Username=subject)
        except ClientError as exc:
            if error_code(exc) == "UserNotFoundException":
                return False
            raise
        return TOTP in (user.get("UserMFASettingList") or [])
