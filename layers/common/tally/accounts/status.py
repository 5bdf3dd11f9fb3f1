"""The account status machine, and the one function that changes an account's status.

pending → active ⇄ suspended → cancelled | expired (DESIGN.md "The billing domain"), widened by
decision 0012 for an account that follows its subscription: a subscription canceled (or an
incomplete one expiring) ends the account from wherever it is, and a returning customer's new
subscription makes an ended account active again. Every transition is audited with its reason;
billing moves it in the subscription's own transaction (tally.subscriptions), later issues with
`Actor.system(...)` or `Actor.provider(...)` in the context.
"""

from __future__ import annotations

from tally.accounts.domain import Account, AccountStatus
from tally.accounts.ports import AccountStore
from tally.audit.records import AuditContext
from tally.errors import Conflict, NotFound

TRANSITIONS: dict[AccountStatus, frozenset[AccountStatus]] = {
    "pending": frozenset({"active", "cancelled", "expired"}),
    "active": frozenset({"suspended", "cancelled", "expired"}),
    "suspended": frozenset({"active", "cancelled", "expired"}),
    "cancelled": frozenset({"active"}),
    "expired": frozenset({"active"}),
}


class ImpossibleTransition(Conflict):
    code = "impossible_transition"


def transition_problem(current: AccountStatus, wanted: AccountStatus) -> str | None:
    """Why an account cannot go from `current` to `wanted`, in words, or None when it can."""
    if current == wanted:
        return f"The account is already {current}"
    if wanted in TRANSITIONS[current]:
        return None
    allowed = " or ".join(sorted(TRANSITIONS[current]))
    return f"An account that is {current} can become {allowed}, not {wanted}"


def change_status(
    accounts: AccountStore, account_id: str, wanted: AccountStatus, reason: str, context: AuditContext
) -> Account:
    """Move the account to `wanted`, recording the reason with the change; 409 in words when the
    machine does not allow it (or the status changed meanwhile), 404 when there is no account."""
    account = accounts.get(account_id)
    if account is None:
        raise NotFound(f"No account '{account_id}'", field="account_id")
    if problem := transition_problem(account.status, wanted):
        raise ImpossibleTransition(problem, field="status")
    return accounts.change_status(account, wanted, reason, context)
