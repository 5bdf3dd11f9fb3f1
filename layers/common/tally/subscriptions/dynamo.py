"""Subscriptions in the billing table (docs/billing.md "Storage"):

    ACCOUNT#{id}  SUBSCRIPTION#{subscription id}  every field of the subscription, flat (instants
                                                  ISO-8601 UTC), and `fingerprint`, the hash of
                                                  its content that a change is conditional on
    ACCOUNT#{id}  SUBSCRIPTION#CURRENT            the current one: subscription_id, plan_code,
                                                  plan_version, status, cycle, currency,
                                                  current_period_start/end, billing_anchor,
                                                  time_zone (the usage half reads it)

Every write puts both (and the account's status when it follows) with the audit record in one
transaction. Creating one is conditional on the pointer being absent or naming a subscription
that has ended: two concurrent starts, one wins.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tally.accounts.dynamo.accounts import add_status_change
from tally.accounts.dynamo.table import NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.subscription_state import Subscription
from tally.coupons.dynamo import add_redemption, redemption_refusal
from tally.coupons.ports import PendingRedemption
from tally.errors import Conflict
from tally.storage import keys
from tally.storage.items import from_item, to_item
from tally.storage.transaction import Transaction, TransactionRefused
from tally.subscriptions.due import due_attributes
from tally.subscriptions.ports import AccountFollows

SUBSCRIPTION_KIND = "subscription"
CURRENT_KIND = "current_subscription"
POINTER_FIELDS = (
    "plan_code",
    "plan_version",
    "status",
    "cycle",
    "currency",
    "current_period_start",
    "current_period_end",
    "billing_anchor",
    "time_zone",
)
NO_LIVE_CURRENT = "attribute_not_exists(PK) OR #status IN (:canceled, :expired)"
CHANGED_MEANWHILE = "The subscription changed while this request was made: read it again, then retry"
HELD = "This account already has a subscription (started at the same moment?): change or cancel it instead"


def fingerprint(subscription: Subscription) -> str:
    # Without its pending lines while it has none: the hash of a subscription stored before they
    # existed stays the same, so changes to it are still conditional on what was read.
    # The same for issue 9's fields (the Stripe ids, grace_until) while they are unset.
    leave_out = set() if subscription.pending_lines else {"pending_lines"}
    leave_out |= {
        name
        for name in ("stripe_subscription_id", "stripe_customer_id", "grace_until")
        if getattr(subscription, name) is None
    }
    return hashlib.sha256(subscription.model_dump_json(exclude=leave_out or None).encode()).hexdigest()[:32]


def subscription_item(subscription: Subscription) -> dict[str, Any]:
    values = subscription.model_dump(mode="json")
    # Issue 10: its DueIndex entry (if any) goes with every write of it, so it never lags.
    return (
        keys.subscription(subscription.account_id, subscription.id)
        | to_item({"kind": SUBSCRIPTION_KIND, **values, "fingerprint": fingerprint(subscription)})
        | due_attributes(subscription)
    )


def pointer_item(subscription: Subscription) -> dict[str, Any]:
    values = subscription.model_dump(mode="json", include=set(POINTER_FIELDS))
    return keys.current_subscription(subscription.account_id) | to_item(
        {"kind": CURRENT_KIND, "subscription_id": subscription.id, **values}
    )


def subscription_of(item: dict[str, Any]) -> Subscription:
    values = from_item(item)
    for extra in ("PK", "SK", "kind", "fingerprint", "DUEPK", "DUESK"):
        values.pop(extra, None)
    return Subscription.model_validate(values)


def _changes(before: Subscription | None, after: Subscription) -> dict[str, tuple[Any, Any]]:
    old = before.model_dump(mode="json") if before is not None else {}
    new = after.model_dump(mode="json")
    return {
        field: (old.get(field), value)
        for field, value in new.items()
        if old.get(field) != value and field not in ("id", "account_id")
    }


class DynamoSubscriptionStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def current(self, account_id: str) -> Subscription | None:
        pointer = self._table.get(keys.current_subscription(account_id))
        if pointer is None:
            return None
        item = self._table.get(keys.subscription(account_id, str(from_item(pointer)["subscription_id"])))
        return subscription_of(item) if item else None

    def _follow(self, transaction: Transaction, follows: AccountFollows | None) -> None:
        if follows is not None:
            add_status_change(
                transaction, follows.account, follows.status, follows.reason, self._table.now().isoformat()
            )

    def create(
        self,
        subscription: Subscription,
        replaces: Subscription | None,
        follows: AccountFollows | None,
        context: AuditContext,
        redemption: PendingRedemption | None = None,
    ) -> None:
        transaction = self._table.transaction(context)
        transaction.put(
            pointer_item(subscription),
            condition=NO_LIVE_CURRENT,
            names={"#status": "status"},
            values={":canceled": "canceled", ":expired": "incomplete_expired"},
            label="current",
        )
        transaction.put(subscription_item(subscription), condition=NEW, label="subscription")
        transaction.audit(
            "subscription.created",
            "subscription",
            subscription.id,
            account_id=subscription.account_id,
            changes=_changes(None, subscription)
            | ({"replaces": (None, replaces.id)} if replaces is not None else {}),
        )
        self._follow(transaction, follows)
        if redemption is not None:  # issue 8: the coupon is redeemed with the subscription, or neither
            add_redemption(transaction, redemption)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            if redemption is not None and (problem := redemption_refusal(refused, redemption)):
                raise problem from refused
            if refused.refused("current") or refused.refused("subscription"):
                raise Conflict(HELD, field="plan") from refused
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused

    def save(
        self,
        before: Subscription,
        after: Subscription,
        action: str,
        follows: AccountFollows | None,
        context: AuditContext,
    ) -> None:
        transaction = self._table.transaction(context)
        add_subscription_change(transaction, before, after, action, follows, self._table.now().isoformat())
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused


def add_subscription_change(
    transaction: Transaction,
    before: Subscription,
    after: Subscription,
    action: str,
    follows: AccountFollows | None,
    at: str,
) -> None:
    """`after` in place of `before` (conditional on its fingerprint), the pointer, the audit
    record and the account's status when it follows, added to `transaction`: the subscription
    store's own change, and the invoices' when a payment activates or restores a subscription."""
    transaction.put(
        subscription_item(after),
        condition="fingerprint = :before",
        values={":before": fingerprint(before)},
        label="subscription",
    )
    transaction.put(
        pointer_item(after),
        condition="subscription_id = :id",
        values={":id": before.id},
        label="current",
    )
    transaction.audit(
        action, "subscription", after.id, account_id=after.account_id, changes=_changes(before, after)
    )
    if follows is not None:
        add_status_change(transaction, follows.account, follows.status, follows.reason, at)
