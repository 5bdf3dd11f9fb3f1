"""User profiles (USER#<sub>/PROFILE): name, phone, locale, and the last sign-out everywhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tally.accounts.domain import UserProfile
from tally.accounts.dynamo.items import profile_item, profile_of
from tally.accounts.dynamo.table import EXISTS, NEW, BillingTable, guarded_update
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.identity.roles import Role
from tally.storage import keys
from tally.storage.items import from_item
from tally.storage.transaction import TransactionRefused

PROFILE_FIELDS = ("email", "name", "phone", "locale")
CHANGED = "Your profile changed while this request was made: read it again, then retry"


class DynamoProfileStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def profile(self, user_id: str) -> UserProfile | None:
        raw = self._table.get(keys.user_profile(user_id))
        return profile_of(raw) if raw else None

    def profiles(self, user_ids: Iterable[str]) -> dict[str, UserProfile]:
        found = self._table.batch_get(keys.user_profile(user_id) for user_id in user_ids)
        return {profile.user_id: profile for profile in map(profile_of, found)}

    def create(self, profile: UserProfile, context: AuditContext) -> bool:
        transaction = self._table.transaction(context)
        transaction.put(profile_item(profile), condition=NEW)
        created = {field: (None, getattr(profile, field)) for field in PROFILE_FIELDS}
        transaction.audit("user.created", "user", profile.user_id, account_id=None, changes=created)
        try:
            self._table.commit(transaction)
        except TransactionRefused:
            return False  # made by a concurrent request of the same user
        return True

    def update(
        self, profile: UserProfile, changes: Mapping[str, tuple[Any, Any]], context: AuditContext
    ) -> None:
        expression, condition, names, values = guarded_update(changes)
        transaction = self._table.transaction(context)
        transaction.update(
            keys.user_profile(profile.user_id), expression, condition=condition, names=names, values=values
        )
        transaction.audit("user.updated", "user", profile.user_id, account_id=None, changes=changes)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED) from refused

    def sign_out(self, user_id: str, at: datetime, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        transaction.update(
            keys.user_profile(user_id),
            "SET signed_out_at = :at",
            condition=EXISTS,
            values={":at": at.isoformat()},
        )
        transaction.audit(
            "user.signed_out",
            "user",
            user_id,
            account_id=None,
            changes={"signed_out_at": (None, at.isoformat())},
        )
        self._table.commit(transaction)

    def memberships(self, user_id: str) -> dict[str, Role]:
        found = self._table.query(keys.user_pk(user_id), keys.MEMBERSHIP_PREFIX)
        return {str(item["account_id"]): Role(str(item["role"])) for item in map(from_item, found)}
