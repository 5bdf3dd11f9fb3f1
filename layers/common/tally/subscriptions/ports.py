"""What the subscription service needs from storage (DynamoDB; in memory in unit tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tally.accounts.domain import Account, AccountStatus
from tally.audit.records import AuditContext
from tally.billing.subscription_state import Subscription
from tally.coupons.ports import PendingRedemption


@dataclass(frozen=True)
class AccountFollows:
    """The account's status change that goes with a subscription's, in the same transaction."""

    account: Account
    status: AccountStatus
    reason: str


class Accounts(Protocol):
    def get(self, account_id: str) -> Account | None: ...


class SubscriptionStore(Protocol):
    def current(self, account_id: str) -> Subscription | None:
        """The subscription the account's SUBSCRIPTION#CURRENT pointer names, if any."""
        ...

    def create(
        self,
        subscription: Subscription,
        replaces: Subscription | None,
        follows: AccountFollows | None,
        context: AuditContext,
        redemption: PendingRedemption | None = None,
    ) -> None:
        """The subscription and the account's pointer to it, conditional on the account having no
        current subscription that is still live (Conflict otherwise), with the account's status;
        with `redemption`, the coupon's redemption in the same transaction (CouponRefused when a
        limit is reached meanwhile)."""
        ...

    def save(
        self,
        before: Subscription,
        after: Subscription,
        action: str,
        follows: AccountFollows | None,
        context: AuditContext,
    ) -> None:
        """`after` in place of `before`, conditional on the stored one still being `before`
        (ChangedMeanwhile otherwise), with the pointer and the account's status."""
        ...
