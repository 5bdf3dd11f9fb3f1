"""Invitations: an owner or admin invites an email with a role; the link (valid 7 days, single
use) is accepted by the signed-in user with that email. Inviting the same email again replaces
the pending invitation."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from accounts.wiring import (
    AccountId,
    AuditReason,
    account_store,
    audit,
    invitations,
    policy,
    principal,
    with_profile,
)
from tally import clock
from tally.accounts.me_models import MembershipOut
from tally.accounts.membership_models import (
    AcceptIn,
    InvitationIn,
    InvitationOut,
    InvitationsOut,
    invitation_out,
)
from tally.http.patterns import IDENTIFIER
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Permission
from tally.identity.roles import Role

router = Router()

TAGS = ["invitations"]
InvitationId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=IDENTIFIER, description="The invitation")
]


@router.post(
    "/v1/accounts/<account_id>/invitations",
    summary="Invite someone by email, with a role",
    description="Emails a single-use link valid 7 days. Inviting the same email again replaces its "
    "pending invitation (the old link stops working). Only owners invite owners.",
    tags=TAGS,
    security=BEARER,
    status_code=201,
    responses=responses(
        201,
        "The invitation (the link is in the email only)",
        (*PRIVATE, *BODY, 404, 409),
        {409: "The address is already a member's, or another invitation to it was sent at the same moment"},
    ),
)
def invite(account_id: AccountId, body: InvitationIn, reason: AuditReason = None) -> InvitationOut:
    who = principal()
    permission = Permission.OWNERS_WRITE if body.role is Role.OWNER else Permission.INVITATIONS_WRITE
    access = policy().authorize(who, permission, account_id)
    invitation = invitations().invite(access, body.email, body.role, audit(who, reason))
    return invitation_out(invitation, clock.now())


@router.get(
    "/v1/accounts/<account_id>/invitations",
    summary="List an account's pending invitations",
    description="Expired invitations are listed (as `expired`) for 30 days.",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The invitations, newest first", (*PRIVATE, 404, 422)),
)
def list_invitations(account_id: AccountId) -> InvitationsOut:
    access = policy().authorize(principal(), Permission.INVITATIONS_WRITE, account_id)
    now = clock.now()
    return InvitationsOut(
        invitations=[invitation_out(i, now) for i in invitations().invitations(access.account_id)]
    )


@router.delete(
    "/v1/accounts/<account_id>/invitations/<invitation_id>",
    summary="Revoke a pending invitation",
    tags=TAGS,
    security=BEARER,
    status_code=204,
    responses=responses(
        204,
        "Revoked: its link no longer works",
        (*PRIVATE, 404, 409, 422),
        {409: "It was accepted or replaced meanwhile"},
    ),
)
def revoke_invitation(
    account_id: AccountId, invitation_id: InvitationId, reason: AuditReason = None
) -> Response[None]:
    who = principal()
    access = policy().authorize(who, Permission.INVITATIONS_WRITE, account_id)
    invitations().revoke(access.account_id, invitation_id, audit(who, reason))
    return Response(status_code=204)


@router.post(
    "/v1/invitations/accept",
    summary="Accept an invitation (signed in with the address it was sent to)",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200,
        "You are a member of the account",
        (*PRIVATE, *BODY, 404, 409),
        {
            403: "The invitation was sent to another email address",
            404: "The link is not valid (used, revoked or replaced), or has expired (`invitation_expired`)",
            409: "You are already a member of the account",
        },
    ),
)
def accept_invitation(body: AcceptIn, reason: AuditReason = None) -> MembershipOut:
    who = principal()
    policy().signed_in(who)
    with_profile(who)
    member = invitations().accept(who, body.token, audit(who, reason))
    account = account_store().get(member.account_id)
    return MembershipOut(
        account_id=member.account_id,
        name=account.name if account else "",
        role=member.role,
        status=account.status if account else "pending",
    )
