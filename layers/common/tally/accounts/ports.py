"""What the accounts logic needs from the outside world: stores (DynamoDB; in memory in unit
tests), Cognito's sign-out, and email. Every write takes the request's AuditContext: the store
writes the audit record in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from tally.accounts.domain import Account, AccountStatus, Invitation, JoinRequest, Member, UserProfile
from tally.audit.records import AuditContext
from tally.identity.roles import Role

CompanyNumber = Literal["siren", "siret"]


class AccountStore(Protocol):
    def create(self, account: Account, owner: Member | None, context: AuditContext) -> None:
        """The account, its SIREN/SIRET claims and (for a tenant's own account) its owner as a
        member; raises NumberTaken (naming the holder) when a claim is held, writing nothing."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]: ...

    def update(
        self, account: Account, changes: Mapping[str, tuple[Any, Any]], context: AuditContext
    ) -> Account:
        """Set each field to its `after` value; ChangedMeanwhile when the account changed since read."""
        ...

    def change_status(
        self, account: Account, status: AccountStatus, reason: str, context: AuditContext
    ) -> Account:
        """Under the condition that the status is still `account.status` (else ChangedMeanwhile)."""
        ...

    def holder(self, kind: CompanyNumber, number: str) -> str | None:
        """The id of the account holding this SIREN or SIRET, if any."""
        ...


class MemberStore(Protocol):
    def members(self, account_id: str) -> list[Member]: ...

    def member(self, account_id: str, user_id: str) -> Member | None: ...

    def change_role(
        self, member: Member, role: Role, acting_owner: str | None, context: AuditContext
    ) -> Member:
        """Under the conditions that the member still has `member.role`, that `acting_owner` (when
        given) is still an owner, and that demoting an owner leaves one: LastOwner, else
        ChangedMeanwhile."""
        ...

    def remove(self, member: Member, acting_owner: str | None, action: str, context: AuditContext) -> None:
        """The same conditions as change_role; `action` is member.removed or member.left."""
        ...


@dataclass(frozen=True)
class InviteeSlot:
    """The one pending invitation of an email in an account."""

    invitation_id: str
    token_hash: str


class InvitationStore(Protocol):
    def slot(self, account_id: str, email: str) -> InviteeSlot | None: ...

    def create(self, invitation: Invitation, replaces: InviteeSlot | None, context: AuditContext) -> None:
        """The invitation, its token and its email's slot, replacing the invitation `replaces`
        names; ChangedMeanwhile when the slot changed since it was read."""
        ...

    def invitations(self, account_id: str) -> list[Invitation]: ...

    def invitation(self, account_id: str, invitation_id: str) -> Invitation | None: ...

    def by_token(self, token_hash: str) -> Invitation | None: ...

    def revoke(self, invitation: Invitation, context: AuditContext) -> None:
        """ChangedMeanwhile when it was accepted, revoked or replaced meanwhile."""
        ...

    def accept(self, invitation: Invitation, member: Member, context: AuditContext) -> None:
        """The member (and the owner count, for an owner) instead of the invitation, all at once;
        AlreadyMember, or ChangedMeanwhile when the invitation is gone."""
        ...


class JoinRequestStore(Protocol):
    def create(self, request: JoinRequest, member: Member | None, context: AuditContext) -> None:
        """A pending request; or, with `member`, an approved one and the member at once.
        AlreadyMember, or ChangedMeanwhile when the user already has a pending request."""
        ...

    def pending(self, user_id: str, account_id: str) -> bool: ...

    def requests(self, account_id: str) -> list[JoinRequest]: ...

    def request(self, account_id: str, request_id: str) -> JoinRequest | None: ...

    def approve(self, request: JoinRequest, member: Member, context: AuditContext) -> JoinRequest:
        """AlreadyMember, or ChangedMeanwhile when it was decided meanwhile."""
        ...

    def reject(self, request: JoinRequest, decided_by: str, context: AuditContext) -> JoinRequest: ...


class ProfileStore(Protocol):
    def profile(self, user_id: str) -> UserProfile | None: ...

    def profiles(self, user_ids: Iterable[str]) -> dict[str, UserProfile]: ...

    def create(self, profile: UserProfile, context: AuditContext) -> bool:
        """False (writing nothing) when the user already has one."""
        ...

    def update(
        self, profile: UserProfile, changes: Mapping[str, tuple[Any, Any]], context: AuditContext
    ) -> None: ...

    def sign_out(self, user_id: str, at: datetime, context: AuditContext) -> None: ...

    def memberships(self, user_id: str) -> dict[str, Role]:
        """The user's memberships as stored now (account id -> role), read consistently."""
        ...


class SignOut(Protocol):
    def sign_out_everywhere(self, user_id: str) -> None:
        """Revoke every refresh token of the user (Cognito AdminUserGlobalSignOut)."""
        ...
