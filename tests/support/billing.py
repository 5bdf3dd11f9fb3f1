"""In-memory fakes of the plan and subscription stores, faithful to the DynamoDB adapters'
conditions (one live current subscription per account, changes conditional on what was read)."""

from __future__ import annotations

from dataclasses import replace

from tally.accounts.domain import Account
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import Actor, AuditContext
from tally.billing.catalogue import Plan, PublishedVersion
from tally.billing.subscription_state import FINAL, Subscription
from tally.coupons.ports import PendingRedemption
from tally.errors import Conflict
from tally.plans.ports import StoredPlan
from tally.subscriptions.ports import AccountFollows
from tests.support.coupons import InMemoryCouponStore

CONTEXT = AuditContext(Actor.system("test"), "req-1", None, None)


class InMemoryPlanStore:
    def __init__(self) -> None:
        self.plans: dict[str, StoredPlan] = {}
        self.published: dict[str, list[PublishedVersion]] = {}
        self.writes = 0

    def get(self, code: str) -> StoredPlan | None:
        return self.plans.get(code)

    def listed(self) -> list[StoredPlan]:
        return sorted(self.plans.values(), key=lambda s: (s.plan.tier_rank, s.plan.code))

    def version(self, code: str, number: int) -> PublishedVersion | None:
        return next((v for v in self.published.get(code, []) if v.number == number), None)

    def versions(self, code: str) -> list[PublishedVersion]:
        return list(self.published.get(code, []))

    def create(self, plan: Plan, first: PublishedVersion, context: AuditContext) -> None:
        if plan.code in self.plans:
            raise Conflict(f"Plan '{plan.code}' exists already")
        self.plans[plan.code] = StoredPlan(plan, first.number)
        self.published[plan.code] = [first]
        self.writes += 1

    def change(
        self, stored: StoredPlan, plan: Plan, version: PublishedVersion | None, context: AuditContext
    ) -> None:
        if self.plans[plan.code].latest_version != stored.latest_version:
            raise ChangedMeanwhile("changed")
        latest = stored.latest_version
        if version is not None:
            self.published[plan.code].append(version)
            latest = version.number
        self.plans[plan.code] = StoredPlan(plan, latest)
        self.writes += 1


class InMemoryAccounts:
    def __init__(self, *accounts: Account) -> None:
        self.accounts = {account.id: account for account in accounts}

    def get(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)


class InMemorySubscriptionStore:
    def __init__(self, accounts: InMemoryAccounts, coupons: InMemoryCouponStore | None = None) -> None:
        self.accounts = accounts
        self.coupons = coupons
        self.subscriptions: dict[str, Subscription] = {}
        self.pointers: dict[str, str] = {}
        self.actions: list[str] = []

    def current(self, account_id: str) -> Subscription | None:
        pointer = self.pointers.get(account_id)
        return self.subscriptions[pointer] if pointer else None

    def follow(self, follows: AccountFollows) -> None:
        """The account's move on its own (a payment reactivating it)."""
        self._follow(follows)

    def _follow(self, follows: AccountFollows | None) -> None:
        if follows is not None:
            stored = self.accounts.accounts[follows.account.id]
            if stored.status != follows.account.status:
                raise ChangedMeanwhile("account changed")
            self.accounts.accounts[stored.id] = replace(
                stored, status=follows.status, status_reason=follows.reason
            )

    def create(
        self,
        subscription: Subscription,
        replaces: Subscription | None,
        follows: AccountFollows | None,
        context: AuditContext,
        redemption: PendingRedemption | None = None,
    ) -> None:
        current = self.current(subscription.account_id)
        if current is not None and current.status not in FINAL:
            raise Conflict("This account already has a subscription")
        if redemption is not None:
            assert self.coupons is not None, "give the store the coupons to redeem with"
            self.coupons.redeem(redemption, context)
        self._follow(follows)
        self.subscriptions[subscription.id] = subscription
        self.pointers[subscription.account_id] = subscription.id
        self.actions.append("subscription.created")

    def save(
        self,
        before: Subscription,
        after: Subscription,
        action: str,
        follows: AccountFollows | None,
        context: AuditContext,
    ) -> None:
        if self.subscriptions.get(before.id) != before:
            raise ChangedMeanwhile("changed")
        self._follow(follows)
        self.subscriptions[after.id] = after
        self.actions.append(action)
