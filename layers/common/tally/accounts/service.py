"""Accounts: create (a tenant's own, or one for others by platform admins), read, update."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tally import clock
from tally.accounts.domain import Account, Member
from tally.accounts.errors import NumberTaken
from tally.accounts.models import AccountIn
from tally.accounts.ports import AccountStore
from tally.audit.records import AuditContext
from tally.errors import Conflict, NotFound
from tally.identity.roles import Role

JOIN_INSTEAD = "ask to join the account that holds it with POST /v1/accounts/join"


def new_account_id() -> str:
    return f"acc_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Creator:
    user_id: str
    email: str
    # A platform admin creating an account for a listed company: no member, and a conflict names
    # the account holding the number. Anyone else creates their own account and owns it.
    for_others: bool


class AccountService:
    def __init__(self, accounts: AccountStore, id_factory: Callable[[], str] = new_account_id) -> None:
        self._accounts = accounts
        self._new_id = id_factory

    def create(self, request: AccountIn, creator: Creator, context: AuditContext) -> Account:
        """A tenant's account starts pending, with its creator as owner (member, membership mirror,
        owner count, claims and audit in one transaction); one for others has no member yet."""
        now = clock.now()
        account = Account(
            id=self._new_id(),
            name=request.name,
            email=request.email.lower(),
            country=request.country,
            currency=request.currency,
            siren=request.siren,
            siret=request.siret,
            email_domain=request.email_domain,
            created_at=now,
            owner_count=0 if creator.for_others else 1,
            created_by=None if creator.for_others else creator.user_id,
        )
        owner = (
            None
            if creator.for_others
            else Member(account.id, creator.user_id, creator.email, Role.OWNER, now)
        )
        try:
            self._accounts.create(account, owner, context)
        except NumberTaken as taken:
            field = str(taken.field)
            if creator.for_others:
                whose = f"account '{taken.holder}'" if taken.holder else "another account"
                raise Conflict(
                    f"{field.upper()} {taken.number} already belongs to {whose}", field=field
                ) from taken
            # A public number proves nothing: a tenant is not told which account holds it.
            raise Conflict(
                f"{field.upper()} {taken.number} is already registered on Tally: {JOIN_INSTEAD}", field=field
            ) from taken
        return account

    def get(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        return account

    def update(self, account_id: str, wanted: dict[str, Any], context: AuditContext) -> Account:
        """Set the fields given (None clears an optional one); unchanged fields are not written."""
        account = self.get(account_id)
        changes = {field: (getattr(account, field), value) for field, value in wanted.items()}
        changes = {field: change for field, change in changes.items() if change[0] != change[1]}
        if not changes:
            return account
        return self._accounts.update(account, changes, context)
