"""Invitations: the invitation, its email's slot (one pending invitation per email and account)
and its token, written and removed together."""

from __future__ import annotations

from tally.accounts.domain import Invitation, Member
from tally.accounts.dynamo.items import invitation_items, invitation_of
from tally.accounts.dynamo.members import add_member, raise_member_refusal
from tally.accounts.dynamo.table import EXISTS, NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.accounts.ports import InviteeSlot
from tally.audit.records import AuditContext
from tally.storage import keys
from tally.storage.items import from_item
from tally.storage.transaction import Transaction, TransactionRefused

SLOT_CHANGED = (
    "Another invitation to this address was sent at the same moment: look at the invitations, then retry"
)
GONE = "This invitation was accepted, revoked or replaced by a newer one meanwhile"


class DynamoInvitationStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def slot(self, account_id: str, email: str) -> InviteeSlot | None:
        raw = self._table.get(keys.invitee(account_id, email))
        if raw is None:
            return None
        item = from_item(raw)
        return InviteeSlot(str(item["invitation_id"]), str(item["token_hash"]))

    def create(self, invitation: Invitation, replaces: InviteeSlot | None, context: AuditContext) -> None:
        item, slot, token = invitation_items(invitation)
        transaction = self._table.transaction(context)
        transaction.put(item, condition=NEW)
        transaction.put(token, condition=NEW)
        if replaces is None:
            transaction.put(slot, condition=NEW, label="slot")
        else:
            transaction.put(
                slot, condition="invitation_id = :old", values={":old": replaces.invitation_id}, label="slot"
            )
            transaction.delete(keys.invitation(invitation.account_id, replaces.invitation_id))
            transaction.delete(keys.invite_token(replaces.token_hash))
            transaction.audit(
                "invitation.replaced",
                "invitation",
                replaces.invitation_id,
                account_id=invitation.account_id,
                changes={"status": ("pending", "replaced"), "replaced_by": (None, invitation.id)},
            )
        transaction.audit(
            "invitation.created",
            "invitation",
            invitation.id,
            account_id=invitation.account_id,
            changes={
                "email": (None, invitation.email),
                "role": (None, invitation.role.value),
                "expires_at": (None, invitation.expires_at.isoformat()),
            },
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(SLOT_CHANGED, field="email") from refused

    def invitations(self, account_id: str) -> list[Invitation]:
        found = self._table.query(keys.account_pk(account_id), keys.INVITATION_PREFIX)
        return sorted(map(invitation_of, found), key=lambda invitation: invitation.created_at, reverse=True)

    def invitation(self, account_id: str, invitation_id: str) -> Invitation | None:
        raw = self._table.get(keys.invitation(account_id, invitation_id))
        return invitation_of(raw) if raw else None

    def by_token(self, token_hash: str) -> Invitation | None:
        raw = self._table.get(keys.invite_token(token_hash))
        return invitation_of(raw) if raw else None

    def _withdraw(self, transaction: Transaction, invitation: Invitation) -> None:
        transaction.delete(
            keys.invitation(invitation.account_id, invitation.id), condition=EXISTS, label="invitation"
        )
        transaction.delete(
            keys.invitee(invitation.account_id, invitation.email),
            condition="invitation_id = :id",
            values={":id": invitation.id},
        )
        transaction.delete(keys.invite_token(invitation.token_hash))

    def revoke(self, invitation: Invitation, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        self._withdraw(transaction, invitation)
        transaction.audit(
            "invitation.revoked",
            "invitation",
            invitation.id,
            account_id=invitation.account_id,
            changes={"status": ("pending", "revoked")},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(GONE) from refused

    def accept(self, invitation: Invitation, member: Member, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        self._withdraw(transaction, invitation)
        transaction.audit(
            "invitation.accepted",
            "invitation",
            invitation.id,
            account_id=invitation.account_id,
            changes={"status": ("pending", "accepted"), "user_id": (None, member.user_id)},
        )
        add_member(transaction, member)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise_member_refusal(refused)
            raise ChangedMeanwhile(GONE) from refused
