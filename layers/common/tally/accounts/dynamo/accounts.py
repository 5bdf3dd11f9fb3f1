"""Accounts, with their SIREN/SIRET claims and, for a tenant's own account, its first owner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from tally.accounts.domain import Account, AccountStatus, Member
from tally.accounts.dynamo.items import (
    LEGACY_STATUS,
    account_item,
    account_of,
    claim_item,
    member_item,
    membership_item,
)
from tally.accounts.dynamo.table import NEW, BillingTable, guarded_update
from tally.accounts.errors import ChangedMeanwhile, NumberTaken
from tally.accounts.ports import CompanyNumber
from tally.audit.records import AuditContext
from tally.errors import Conflict
from tally.storage import keys
from tally.storage.items import from_item
from tally.storage.transaction import Transaction, TransactionRefused

CREATED_FIELDS = ("name", "email", "country", "currency", "siren", "siret", "status", "email_domain")
CHANGED_MEANWHILE = "The account changed while this request was made: read it again, then retry"


class DynamoAccountStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def create(self, account: Account, owner: Member | None, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        transaction.put(account_item(account), condition=NEW, label="account")
        numbers = [
            (field, value) for field, value in (("siren", account.siren), ("siret", account.siret)) if value
        ]
        for field, value in numbers:
            claim = keys.siren_claim(value) if field == "siren" else keys.siret_claim(value)
            transaction.put(claim_item(claim, account.id), condition=NEW, label=field)
        created = {field: (None, getattr(account, field)) for field in CREATED_FIELDS}
        transaction.audit("account.created", "account", account.id, account_id=account.id, changes=created)
        if owner is not None:
            transaction.put(member_item(owner), condition=NEW)
            transaction.put(membership_item(owner), condition=NEW)
            transaction.audit(
                "member.added",
                "member",
                owner.user_id,
                account_id=account.id,
                changes={"role": (None, owner.role.value), "email": (None, owner.email)},
            )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            for field, value in numbers:
                if held := refused.refused(field):
                    raise NumberTaken(field, value, (held.old or {}).get("account_id")) from refused
            raise Conflict(f"Account '{account.id}' already exists", field="id") from refused

    def get(self, account_id: str) -> Account | None:
        raw = self._table.get(keys.account(account_id))
        return account_of(raw) if raw else None

    def get_many(self, account_ids: Iterable[str]) -> dict[str, Account]:
        found = self._table.batch_get(keys.account(account_id) for account_id in account_ids)
        return {account.id: account for account in map(account_of, found)}

    def update(
        self, account: Account, changes: Mapping[str, tuple[Any, Any]], context: AuditContext
    ) -> Account:
        expression, condition, names, values = guarded_update(changes)
        transaction = self._table.transaction(context)
        transaction.update(
            keys.account(account.id), expression, condition=condition, names=names, values=values
        )
        transaction.audit("account.updated", "account", account.id, account_id=account.id, changes=changes)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused
        return replace(account, **{field: after for field, (_, after) in changes.items()})

    def change_status(
        self, account: Account, status: AccountStatus, reason: str, context: AuditContext
    ) -> Account:
        transaction = self._table.transaction(context)
        add_status_change(transaction, account, status, reason, self._table.now().isoformat())
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE, field="status") from refused
        return replace(account, status=status, status_reason=reason)

    def holder(self, kind: CompanyNumber, number: str) -> str | None:
        raw = self._table.get(keys.siren_claim(number) if kind == "siren" else keys.siret_claim(number))
        return str(from_item(raw)["account_id"]) if raw else None


ACCOUNT_STATUS_LABEL = "account-status"


def add_status_change(
    transaction: Transaction, account: Account, status: AccountStatus, reason: str, at: str
) -> None:
    """The account's status change and its audit record, added to `transaction` (the accounts
    store's own change, and billing's when an account follows its subscription): conditional on
    the status read (its refusal is labelled ACCOUNT_STATUS_LABEL). The machine's rules are the
    caller's to check first (tally.accounts.status.transition_problem)."""
    condition = "#status = :before"
    if account.status == LEGACY_STATUS:
        condition = f"attribute_exists(PK) AND ({condition} OR attribute_not_exists(#status))"
    transaction.update(
        keys.account(account.id),
        "SET #status = :status, status_reason = :reason, status_changed_at = :at",
        condition=condition,
        names={"#status": "status"},
        values={":status": status, ":reason": reason, ":before": account.status, ":at": at},
        label=ACCOUNT_STATUS_LABEL,
    )
    transaction.audit(
        "account.status_changed",
        "account",
        account.id,
        account_id=account.id,
        changes={"status": (account.status, status), "status_reason": (account.status_reason, reason)},
    )
