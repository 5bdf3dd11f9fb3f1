"""Accounts, memberships and platform staff as the access policy reads them, for in-process tests.

Items are written as tally.identity.dynamo reads them (the account's status, the user's membership
mirror); staff get a pool user with TOTP on, as the policy asks Cognito for staff powers.
"""

from __future__ import annotations

from typing import Any

from tally.storage import clients, keys
from tally.storage.items import to_item
from tests.support.stack import Stack
from tests.support.totp import current_code

PASSWORD = "Correct-Horse-9!"


def seed_account(stack: Stack, account_id: str, status: str = "active") -> None:
    item = keys.account(account_id) | to_item({"kind": "account", "id": account_id, "status": status})
    clients.dynamodb().put_item(TableName=stack.ref("BillingTable"), Item=item)


def seed_member(stack: Stack, subject: str, account_id: str, role: str = "owner") -> None:
    mirror = keys.membership(subject, account_id) | to_item({"account_id": account_id, "role": role})
    clients.dynamodb().put_item(TableName=stack.ref("BillingTable"), Item=mirror)


def user_claims(subject: str, email: str | None = None) -> dict[str, Any]:
    """What API Gateway's JWT authorizer hands over for an id token (values as strings)."""
    return {
        "sub": subject,
        "email": email or f"{subject}@example.com",
        "token_use": "id",
        "iat": "1790000000",
    }


def staff_with_mfa(stack: Stack, email: str = "staff@example.com") -> dict[str, Any]:
    """A platform admin of the pool with TOTP on: the claims of their id token."""
    pool, client_id = stack.ref("UserPool"), stack.ref("UserPoolClient")
    cognito = stack.client("cognito-idp")
    created = cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS")
    subject = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
    cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)
    signed_in = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )
    access = signed_in["AuthenticationResult"]["AccessToken"]
    secret = cognito.associate_software_token(AccessToken=access)["SecretCode"]
    cognito.verify_software_token(AccessToken=access, UserCode=current_code(secret))
    cognito.admin_set_user_mfa_preference(
        UserPoolId=pool, Username=email, SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True}
    )
    return {**user_claims(str(subject), email), "cognito:groups": "[platform-admin]"}
