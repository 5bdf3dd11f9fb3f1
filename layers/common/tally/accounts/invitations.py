"""Invitations: a single-use link, valid 7 days, for one email and one role.

Inviting the same email again replaces its pending invitation (and its link): the email's slot
holds the one pending invitation, and a new one is written only while the slot still holds what
was read, so concurrent invitations to one address leave exactly one pending.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta

from tally import clock
from tally.accounts.domain import Invitation, Member
from tally.accounts.emails import Notifier
from tally.accounts.errors import AlreadyMember, ChangedMeanwhile
from tally.accounts.ports import AccountStore, InvitationStore, MemberStore
from tally.audit.records import AuditContext
from tally.errors import Forbidden, NotFound
from tally.identity.policy import Access
from tally.identity.principal import Principal
from tally.identity.roles import Role

VALID_FOR = timedelta(days=7)
ATTEMPTS = 5  # concurrent invitations to one address: each retry reads the slot again
NOT_VALID = "This invitation link is not valid: it was already used, or revoked, or replaced by a newer one"
EXPIRED = (
    "This invitation has expired (links are valid 7 days): ask the account's owners or admins for a new one"
)
OTHER_EMAIL = "This invitation was sent to another email address: sign in with that address to accept it"


class InvitationExpired(NotFound):
    code = "invitation_expired"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Only the hash is stored: a copy of the table does not hold working links."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_invitation_id() -> str:
    return f"inv_{uuid.uuid4().hex}"


class InvitationService:
    def __init__(
        self,
        invitations: InvitationStore,
        members: MemberStore,
        accounts: AccountStore,
        notifier: Notifier,
        forget: Callable[[str], None],
        token_factory: Callable[[], str] = new_token,
        id_factory: Callable[[], str] = new_invitation_id,
    ) -> None:
        self._invitations = invitations
        self._members = members
        self._accounts = accounts
        self._notifier = notifier
        self._forget = forget
        self._new_token = token_factory
        self._new_id = id_factory

    def invite(self, access: Access, email: str, role: Role, context: AuditContext) -> Invitation:
        email = email.lower()
        account_id = access.account_id
        if any(member.email == email for member in self._members.members(account_id)):
            raise AlreadyMember(f"{email} is already a member of this account", field="email")
        token = self._new_token()
        now = clock.now()
        invitation = Invitation(
            id=self._new_id(),
            account_id=account_id,
            email=email,
            role=role,
            invited_by=access.principal.subject,
            created_at=now,
            expires_at=now + VALID_FOR,
            token_hash=token_hash(token),
        )
        for attempt in range(ATTEMPTS):
            try:
                self._invitations.create(invitation, self._invitations.slot(account_id, email), context)
                break
            except ChangedMeanwhile:
                if attempt == ATTEMPTS - 1:
                    raise
        account = self._accounts.get(account_id)
        if account is not None:
            self._notifier.invitation(invitation, token, account, access.principal.email or "Tally")
        return invitation

    def invitations(self, account_id: str) -> list[Invitation]:
        return self._invitations.invitations(account_id)

    def revoke(self, account_id: str, invitation_id: str, context: AuditContext) -> None:
        invitation = self._invitations.invitation(account_id, invitation_id)
        if invitation is None:
            raise NotFound("No pending invitation with this id in this account", field="invitation_id")
        self._invitations.revoke(invitation, context)

    def accept(self, principal: Principal, token: str, context: AuditContext) -> Member:
        """By the signed-in user the invitation was sent to (another address: 403)."""
        invitation = self._invitations.by_token(token_hash(token))
        if invitation is None:
            raise NotFound(NOT_VALID, field="token")
        if invitation.expired(clock.now()):
            raise InvitationExpired(EXPIRED, field="token")
        if (principal.email or "").lower() != invitation.email:
            raise Forbidden(OTHER_EMAIL, field="token")
        member = Member(
            invitation.account_id, principal.subject, invitation.email, invitation.role, clock.now()
        )
        self._invitations.accept(invitation, member, context)
        self._forget(principal.subject)
        return member
