"""The signed-in user's own routes: their profile and memberships, and signing out everywhere.

They name no account: a suspended account's users still reach them (DESIGN.md).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from accounts.wiring import AuditReason, audit, policy, principal, profiles, token
from tally.accounts.me_models import MeOut, MePatchIn, SignedOutOut, me_out
from tally.errors import InvalidInput
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER

router = Router()

TAGS = ["me"]
SIGNED_OUT = (
    "Signed out everywhere: every refresh token is revoked, and id tokens issued before now stop "
    "working within a minute. Sign in again to continue."
)


@router.get(
    "/v1/me",
    summary="Your profile and memberships",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "Your profile and the accounts you belong to", PRIVATE),
)
def get_me() -> MeOut:
    who = principal()
    policy().signed_in(who)
    return me_out(profiles().me(who, token(), audit(who)))


@router.patch(
    "/v1/me",
    summary="Change your name, phone or language",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "Your profile as it is now", (*PRIVATE, *BODY, 409)),
)
def update_me(body: MePatchIn, reason: AuditReason = None) -> MeOut:
    who = principal()
    policy().signed_in(who)
    wanted = body.model_dump(include=body.model_fields_set)
    if not wanted:
        raise InvalidInput("Send at least one field to change: name, phone or locale", field="body")
    return me_out(profiles().update(who, token(), wanted, audit(who, reason)))


@router.post(
    "/v1/auth/logout",
    summary="Sign out everywhere",
    description="Revokes every refresh token, and refuses the id tokens issued before now within a "
    "minute (each function instance trusts what it read of a user for up to 60 s).",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "Signed out", (*PRIVATE, 422)),
)
def logout(reason: AuditReason = None) -> SignedOutOut:
    who = principal()
    policy().signed_in(who)
    at = profiles().sign_out(who, token(), audit(who, reason))
    return SignedOutOut(signed_out_at=at.isoformat(), message=SIGNED_OUT)
