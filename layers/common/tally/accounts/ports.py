"""What the accounts logic needs from the outside world."""

from __future__ import annotations

from typing import Protocol

from tally.accounts.domain import Account


class AccountRepository(Protocol):
    def add(self, account: Account) -> None:
        """Store a new account; raises Conflict, writing nothing, if its id is taken or its SIREN
        or SIRET belongs to another account."""
        ...

    def get(self, account_id: str) -> Account | None: ...
