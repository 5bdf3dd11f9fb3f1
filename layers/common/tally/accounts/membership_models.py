"""Wire models of members, invitations and join requests."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from tally.accounts.domain import Invitation, JoinRequest, JoinStatus
from tally.accounts.fields import InvitationToken
from tally.accounts.members import MemberView
from tally.auth.models import Address
from tally.http.fields import WireModel
from tally.identity.roles import Role


class MemberOut(WireModel):
    user_id: str
    email: str
    name: str | None = Field(default=None, description="From the user's profile")
    role: Role
    joined_at: str


class MembersOut(WireModel):
    members: list[MemberOut]


def member_out(view: MemberView) -> MemberOut:
    member = view.member
    return MemberOut(
        user_id=member.user_id,
        email=member.email,
        name=view.name,
        role=member.role,
        joined_at=member.joined_at.isoformat(),
    )


class RoleIn(WireModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "admin"}]}, extra="forbid")

    role: Role = Field(description="Only owners (and platform admins) make or unmake owners")


class InvitationIn(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "colleague@dupont.example", "role": "member"}]},
        extra="forbid",
    )

    email: Address
    role: Role = Field(description="The role the invitee gets; only owners invite owners")


class InvitationOut(WireModel):
    id: str
    account_id: str
    email: str
    role: Role
    status: Literal["pending", "expired"]
    invited_by: str
    created_at: str
    expires_at: str


class InvitationsOut(WireModel):
    invitations: list[InvitationOut]


def invitation_out(invitation: Invitation, now: datetime) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        account_id=invitation.account_id,
        email=invitation.email,
        role=invitation.role,
        status="expired" if invitation.expired(now) else "pending",
        invited_by=invitation.invited_by,
        created_at=invitation.created_at.isoformat(),
        expires_at=invitation.expires_at.isoformat(),
    )


class AcceptIn(WireModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "Q2hhbmdlTWU0M0NoYXJhY3RlcnNMb25nVG9rZW4xMjM"}]},
        extra="forbid",
    )

    token: InvitationToken


class JoinRequestOut(WireModel):
    id: str
    account_id: str
    user_id: str
    email: str
    status: JoinStatus = Field(description="`approved` at once when the email proved it")
    created_at: str
    decided_at: str | None = None
    decided_by: str | None = Field(default=None, description="Who decided: a user id, or `auto`")


class JoinRequestsOut(WireModel):
    join_requests: list[JoinRequestOut]


def join_request_out(request: JoinRequest) -> JoinRequestOut:
    return JoinRequestOut(
        id=request.id,
        account_id=request.account_id,
        user_id=request.user_id,
        email=request.email,
        status=request.status,
        created_at=request.created_at.isoformat(),
        decided_at=request.decided_at.isoformat() if request.decided_at else None,
        decided_by=request.decided_by,
    )
