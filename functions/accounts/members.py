"""Members of an account: list them, change a role, remove one; a member may leave.

Only owners (and platform admins) make or unmake owners; the last owner can neither leave nor be
demoted (409 `last_owner`).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accounts.wiring import AccountId, AuditReason, UserId, audit, members, policy, principal
from tally.accounts.members import MemberView
from tally.accounts.membership_models import MemberOut, MembersOut, RoleIn, member_out
from tally.http.responses import BODY, PRIVATE, responses
from tally.http.security import BEARER
from tally.identity.policy import Permission
from tally.identity.roles import Role

router = Router()

TAGS = ["members"]
LAST_OWNER = "The last owner cannot be demoted or leave (`last_owner`), or the member changed meanwhile"


@router.get(
    "/v1/accounts/<account_id>/members",
    summary="List an account's members",
    tags=TAGS,
    security=BEARER,
    responses=responses(200, "The members, oldest first", (*PRIVATE, 404, 422)),
)
def list_members(account_id: AccountId) -> MembersOut:
    access = policy().authorize(principal(), Permission.MEMBERS_READ, account_id)
    return MembersOut(members=[member_out(view) for view in members().members(access.account_id)])


@router.patch(
    "/v1/accounts/<account_id>/members/<user_id>",
    summary="Change a member's role",
    description="Owners and admins change roles; only owners make or unmake owners.",
    tags=TAGS,
    security=BEARER,
    responses=responses(
        200, "The member with their new role", (*PRIVATE, *BODY, 404, 409), {409: LAST_OWNER}
    ),
)
def change_role(
    account_id: AccountId, user_id: UserId, body: RoleIn, reason: AuditReason = None
) -> MemberOut:
    who = principal()
    access = policy().authorize(who, Permission.MEMBERS_WRITE, account_id)
    member = members().member(access.account_id, user_id)
    if Role.OWNER in (member.role, body.role):
        access = policy().authorize(who, Permission.OWNERS_WRITE, account_id)
    changed = members().change_role(access, member, body.role, audit(who, reason))
    return member_out(MemberView(changed, None))


@router.delete(
    "/v1/accounts/<account_id>/members/<user_id>",
    summary="Remove a member, or leave the account (your own user id)",
    description="Owners and admins remove members (only owners remove owners); any member may leave.",
    tags=TAGS,
    security=BEARER,
    status_code=204,
    responses=responses(204, "Removed", (*PRIVATE, 404, 409, 422), {409: LAST_OWNER}),
)
def remove_member(account_id: AccountId, user_id: UserId, reason: AuditReason = None) -> Response[None]:
    who = principal()
    leaving = user_id == who.subject
    permission = Permission.ACCOUNT_READ if leaving else Permission.MEMBERS_WRITE
    access = policy().authorize(who, permission, account_id)
    member = members().member(access.account_id, user_id)
    if member.role is Role.OWNER and not leaving:
        access = policy().authorize(who, Permission.OWNERS_WRITE, account_id)
    members().remove(access, member, audit(who, reason))
    return Response(status_code=204)
