"""Signing a user out everywhere: Cognito's AdminUserGlobalSignOut revokes their refresh tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient


class CognitoSignOut:
    def __init__(self, client: CognitoIdentityProviderClient, user_pool_id: str) -> None:
        self._client = client
        self._pool = user_pool_id

    def sign_out_everywhere(self, user_id: str) -> None:
        # In a pool whose usernames are emails, Cognito's username is the sub.
        try:
            with transient_as_unavailable():
                self._client.admin_user_global_sign_out(UserPoolId=self._pool, Username=user_id)
        except ClientError as exc:
            if error_code(exc) != "UserNotFoundException":  # deleted meanwhile: nothing to revoke
                raise
