"""The accounts domain's refusals, in words a person can act on."""

from __future__ import annotations

from tally.errors import Conflict, NotFound

LAST_OWNER = "This is the account's last owner: an account always keeps one. Make another member owner first"


class LastOwner(Conflict):
    code = "last_owner"

    def __init__(self, message: str = LAST_OWNER) -> None:
        super().__init__(message)


class AlreadyMember(Conflict):
    code = "already_member"


class ChangedMeanwhile(Conflict):
    """Another request changed the same thing first: read it again and retry if still wanted."""

    code = "changed_meanwhile"


class UnknownMember(NotFound):
    def __init__(self) -> None:
        super().__init__("This user is not a member of this account", field="user_id")


class UnknownCompany(NotFound):
    def __init__(self, field: str) -> None:
        super().__init__("No company is registered with this SIREN/SIRET", field=field)


class NumberTaken(Conflict):
    """A SIREN or SIRET another account holds; the service words the answer for the caller."""

    def __init__(self, field: str, number: str, holder: str | None) -> None:
        super().__init__(f"{field.upper()} {number} is already registered", field=field)
        self.number = number
        self.holder = holder
