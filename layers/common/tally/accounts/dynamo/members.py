"""Members of an account and their mirrors in each user's partition, with the owner count.

Demoting or removing an owner decrements the account's `owner_count` under `owner_count > 1` in
the same transaction, and an owner acting on owners is checked to still be one: two owners
demoting each other at once cannot both succeed, and the last owner stays.
"""

from __future__ import annotations

from dataclasses import replace

from tally.accounts.domain import Member
from tally.accounts.dynamo.items import member_item, member_of, membership_item
from tally.accounts.dynamo.table import EXISTS, NEW, BillingTable
from tally.accounts.errors import AlreadyMember, ChangedMeanwhile, LastOwner, UnknownMember
from tally.audit.records import AuditContext
from tally.errors import Forbidden
from tally.identity.roles import Role
from tally.storage import keys
from tally.storage.transaction import Transaction, TransactionRefused

ROLE_CHANGED = "This member's role changed while this request was made: read the members again, then retry"
NO_LONGER_OWNER = "You are no longer an owner of this account"


def owner_count_change(
    transaction: Transaction, account_id: str, before: Role | None, after: Role | None
) -> None:
    """Keep the account's owner_count true when a member's role goes from `before` to `after`."""
    if before is Role.OWNER and after is not Role.OWNER:
        transaction.update(
            keys.account(account_id),
            "SET owner_count = owner_count - :one",
            condition="owner_count > :one",
            values={":one": 1},
            label="owners",
        )
    elif after is Role.OWNER and before is not Role.OWNER:
        transaction.update(
            keys.account(account_id),
            "SET owner_count = if_not_exists(owner_count, :zero) + :one",
            condition=EXISTS,
            values={":one": 1, ":zero": 0},
            label="owners",
        )


def add_member(transaction: Transaction, member: Member) -> None:
    """The member, its mirror, the owner count and the audit record, for every way in."""
    transaction.put(member_item(member), condition=NEW, label="member")
    transaction.put(membership_item(member), condition=NEW, label="mirror")
    owner_count_change(transaction, member.account_id, None, member.role)
    transaction.audit(
        "member.added",
        "member",
        member.user_id,
        account_id=member.account_id,
        changes={"role": (None, member.role.value), "email": (None, member.email)},
    )


def raise_member_refusal(refused: TransactionRefused) -> None:
    """The words for a refused membership write (called inside `except TransactionRefused`)."""
    if refused.refused("member") or refused.refused("mirror"):
        raise AlreadyMember("You are already a member of this account") from refused


class DynamoMemberStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def members(self, account_id: str) -> list[Member]:
        return [member_of(raw) for raw in self._table.query(keys.account_pk(account_id), keys.MEMBER_PREFIX)]

    def member(self, account_id: str, user_id: str) -> Member | None:
        raw = self._table.get(keys.member(account_id, user_id))
        return member_of(raw) if raw else None

    def _acting_owner(self, transaction: Transaction, member: Member, acting_owner: str | None) -> None:
        if acting_owner is not None and acting_owner != member.user_id:
            transaction.check(
                keys.member(member.account_id, acting_owner),
                "#role = :owner",
                names={"#role": "role"},
                values={":owner": Role.OWNER.value},
                label="actor",
            )

    def change_role(
        self, member: Member, role: Role, acting_owner: str | None, context: AuditContext
    ) -> Member:
        transaction = self._table.transaction(context)
        names = {"#role": "role"}
        transaction.update(
            keys.member(member.account_id, member.user_id),
            "SET #role = :role",
            condition="#role = :before",
            names=names,
            values={":role": role.value, ":before": member.role.value},
            label="member",
        )
        transaction.update(
            keys.membership(member.user_id, member.account_id),
            "SET #role = :role",
            condition=EXISTS,
            names=names,
            values={":role": role.value},
        )
        owner_count_change(transaction, member.account_id, member.role, role)
        self._acting_owner(transaction, member, acting_owner)
        transaction.audit(
            "member.role_changed",
            "member",
            member.user_id,
            account_id=member.account_id,
            changes={"role": (member.role.value, role.value)},
        )
        self._commit(transaction)
        return replace(member, role=role)

    def remove(self, member: Member, acting_owner: str | None, action: str, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        transaction.delete(
            keys.member(member.account_id, member.user_id),
            condition="#role = :before",
            names={"#role": "role"},
            values={":before": member.role.value},
            label="member",
        )
        transaction.delete(keys.membership(member.user_id, member.account_id))
        owner_count_change(transaction, member.account_id, member.role, None)
        self._acting_owner(transaction, member, acting_owner)
        transaction.audit(
            action,
            "member",
            member.user_id,
            account_id=member.account_id,
            changes={"role": (member.role.value, None), "email": (member.email, None)},
        )
        self._commit(transaction)

    def _commit(self, transaction: Transaction) -> None:
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            if refused.refused("owners"):
                raise LastOwner() from refused
            if refused.refused("actor"):
                raise Forbidden(NO_LONGER_OWNER) from refused
            member = refused.refused("member")
            if member is not None and member.old is None:
                raise UnknownMember() from refused
            raise ChangedMeanwhile(ROLE_CHANGED) from refused
