"""Accounts logic: create and read the businesses Tally tracks and bills."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tally import clock
from tally.accounts.domain import Account
from tally.accounts.models import AccountIn, AccountOut
from tally.accounts.ports import AccountRepository
from tally.errors import NotFound


def new_account_id() -> str:
    return f"acc_{uuid.uuid4().hex}"


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        name=account.name,
        email=account.email,
        country=account.country,
        currency=account.currency,
        siren=account.siren,
        siret=account.siret,
        created_at=account.created_at.isoformat(),
    )


class AccountService:
    def __init__(
        self,
        accounts: AccountRepository,
        id_factory: Callable[[], str] = new_account_id,
    ) -> None:
        self._accounts = accounts
        self._new_id = id_factory

    def create(self, request: AccountIn) -> Account:
        account = Account(
            id=self._new_id(),
            name=request.name,
            email=request.email.lower(),
            country=request.country,
            currency=request.currency,
            siren=request.siren,
            siret=request.siret,
            created_at=clock.now(),
        )
        self._accounts.add(account)
        return account

    def get(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        return account
