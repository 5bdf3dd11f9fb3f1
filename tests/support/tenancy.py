"""Users, staff and members for the in-process tests against moto: real Cognito users (staff with
TOTP on, as the policy requires), membership items, and the claims API Gateway would hand over."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from tally.identity.roles import PLATFORM_ADMIN, Role
from tally.storage import clients, keys
from tally.storage.items import to_item
from tests.support.stack import Stack
from tests.support.totp import current_code

PASSWORD = "Correct-Horse-9!"


@dataclass(frozen=True)
class User:
    sub: str
    email: str
    groups: tuple[str, ...] = ()

    def claims(self, **extra: Any) -> dict[str, Any]:
        """As API Gateway's JWT authorizer hands them over (strings; groups flattened)."""
        claims: dict[str, Any] = {
            "sub": self.sub,
            "email": self.email,
            "token_use": "id",
            "iat": str(int(time.time())),
        }
        if self.groups:
            claims["cognito:groups"] = "[" + " ".join(self.groups) + "]"
        return claims | extra


def user_claims(sub: str = "user-1", email: str | None = None, *groups: str) -> dict[str, Any]:
    """A user who needs no Cognito account (no staff powers: those need MFA in Cognito)."""
    return User(sub, email or f"{sub}@example.com", groups).claims()


def create_user(stack: Stack, email: str | None = None, *groups: str, mfa: bool = False) -> User:
    """A confirmed Cognito user (in `groups`, with TOTP on when `mfa`), as the pool holds them."""
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    pool, client_id = stack.ref("UserPool"), stack.ref("UserPoolClient")
    cognito = stack.client("cognito-idp")
    created = cognito.admin_create_user(
        UserPoolId=pool,
        Username=email,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
    )
    sub = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
    cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=PASSWORD, Permanent=True)
    for group in groups:
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=group)
    if mfa:
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
    return User(sub, email, tuple(groups))


def staff(stack: Stack, group: str = PLATFORM_ADMIN, *, mfa: bool = True) -> User:
    return create_user(stack, None, group, mfa=mfa)


def seed_account(stack: Stack, account_id: str, **values: Any) -> None:
    """An account item as the accounts store writes it (active unless told otherwise)."""
    item = {
        "kind": "account",
        "id": account_id,
        "name": f"Account {account_id}",
        "email": f"contact@{account_id}.example.com",
        "country": "FR",
        "currency": "EUR",
        "status": "active",
        "owner_count": 0,
        "created_at": "2026-01-01T00:00:00+00:00",
    } | values
    clients.dynamodb().put_item(
        TableName=stack.ref("BillingTable"), Item=keys.account(account_id) | to_item(item)
    )


def seed_member(stack: Stack, account_id: str, user: User, role: Role = Role.OWNER) -> None:
    """A member item and its mirror, as a join writes them (the owner count is the caller's)."""
    table = stack.ref("BillingTable")
    member = {
        "kind": "member",
        "account_id": account_id,
        "user_id": user.sub,
        "email": user.email,
        "role": role.value,
        "joined_at": "2026-01-01T00:00:00+00:00",
    }
    mirror = {"kind": "membership", "account_id": account_id, "role": role.value}
    clients.dynamodb().put_item(TableName=table, Item=keys.member(account_id, user.sub) | to_item(member))
    clients.dynamodb().put_item(TableName=table, Item=keys.membership(user.sub, account_id) | to_item(mirror))


def reset_function_caches() -> None:
    """Forget what the in-process functions built (services, the policy's caches, clients)."""
    from authorizer import app as authorizer_app

    from accounts import api_keys, wiring
    from auth import routes as auth_routes
    from tally.http import idempotency, retries
    from tracking import counter
    from tracking import routes as tracking_routes

    clients.reset_clients()
    wiring.reset()
    retries._idempotent.cache_clear()
    tracking_routes.service.cache_clear()
    counter.projection.cache_clear()
    auth_routes.service.cache_clear()
    idempotency.persistence.cache_clear()
    api_keys.service.cache_clear()
    authorizer_app.config.cache_clear()
    authorizer_app.key_verifier.cache_clear()
    authorizer_app.id_tokens.cache_clear()
    # issue 7, usage half
    from usage import routes as usage_routes

    usage_routes.service.cache_clear()
    usage_routes.store.cache_clear()
    from billing import wiring as billing_wiring  # issue 7, catalogue half

    billing_wiring.reset()
    from invoices import wiring as invoices_wiring  # issue 8

    invoices_wiring.reset()
    from checkout import wiring as checkout_wiring  # issue 9

    checkout_wiring.reset()

    from tally.jobs import wiring as jobs_wiring  # issue 10

    jobs_wiring.reset()

    from webhooks import routes as webhook_routes  # issue 9
    from webhooks import wiring as webhook_wiring
    from webhooks import worker as webhook_worker

    webhook_routes.pipeline.cache_clear()
    webhook_routes.stripe_verifier.cache_clear()
    webhook_worker.worker.cache_clear()
    webhook_wiring.set_appliers(None)
