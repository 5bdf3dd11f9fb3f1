"""The Stripe applier's storage in the billing table (keys: tally.storage.keys, the "Stripe's
webhook events applied" block, and the subscriptions', invoices', coupons' and members' own).

Every write is one TransactWriteItems with its audit records (decision 3), conditional on what
was read: a subscription or an invoice on its fingerprint (or its absence), the account's status
on the status read, a dispute on its status. A refused condition is ChangedMeanwhile (the
applier reads again), except a completed checkout's claim, which answers "provisioned already".

Reads are GetItem (consistent) and, for the members, one Query of the account's partition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from tally.accounts.domain import Account, Member
from tally.accounts.dynamo.accounts import DynamoAccountStore, add_status_change
from tally.accounts.dynamo.members import DynamoMemberStore, add_member
from tally.accounts.dynamo.table import EXISTS, NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.coupons import Coupon
from tally.billing.invoices import Invoice
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.billing.subscription_state import Subscription
from tally.coupons.dynamo import REDEMPTION_KIND, DynamoCouponStore
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore, invoice_item
from tally.invoices.dynamo import fingerprint as invoice_fingerprint
from tally.payments.stripe_events.ports import Dispute, DisputeStatus, Provisioning
from tally.storage import keys
from tally.storage.items import from_item, to_item
from tally.storage.transaction import Transaction, TransactionRefused
from tally.subscriptions.dynamo import (
    DynamoSubscriptionStore,
    pointer_item,
    subscription_item,
    subscription_of,
)
from tally.subscriptions.dynamo import fingerprint as subscription_fingerprint
from tally.subscriptions.ports import AccountFollows

CHANGED_MEANWHILE = "Stripe's event met a change made at the same moment: read again, then apply"
# The pointer may name this subscription, none, or one that has ended.
POINTER_FREE = "attribute_not_exists(PK) OR subscription_id = :id OR #status IN (:canceled, :expired)"
CLAIM_LABEL = "claim"
DISPUTE_KIND = "dispute"


def _subscription_changes(before: Subscription | None, after: Subscription) -> dict[str, tuple[Any, Any]]:
    old = before.model_dump(mode="json") if before is not None else {}
    new = after.model_dump(mode="json")
    return {
        name: (old.get(name), value)
        for name, value in new.items()
        if old.get(name) != value and name not in ("id", "account_id")
    }


def _invoice_changes(before: Invoice | None, after: Invoice) -> dict[str, tuple[Any, Any]]:
    fields = ("status", "number", "total", "amount_due", "amount_paid", "stripe_invoice_id")
    old = before.model_dump(mode="json", include=set(fields)) if before is not None else {}
    new = after.model_dump(mode="json", include=set(fields))
    return {name: (old.get(name), new.get(name)) for name in fields if old.get(name) != new.get(name)}


def dispute_of(item: dict[str, Any]) -> Dispute:
    values = from_item(item)
    closed = values.get("closed_at")
    return Dispute(
        id=str(values["dispute_id"]),
        account_id=str(values["account_id"]),
        charge_id=str(values["charge_id"]),
        status=cast(DisputeStatus, values["status"]),
        stripe_status=str(values["stripe_status"]),
        amount=int(values["amount"]),
        currency=str(values["currency"]),
        reason=values.get("reason"),
        opened_at=datetime.fromisoformat(str(values["opened_at"])),
        closed_at=datetime.fromisoformat(str(closed)) if closed else None,
    )


def dispute_item(dispute: Dispute) -> dict[str, Any]:
    return (
        keys.dispute(dispute.account_id, dispute.id)
        | keys.dispute_index(dispute.status, dispute.opened_at, dispute.id)
        | to_item(
            {
                "kind": DISPUTE_KIND,
                "dispute_id": dispute.id,
                "account_id": dispute.account_id,
                "charge_id": dispute.charge_id,
                "status": dispute.status,
                "stripe_status": dispute.stripe_status,
                "amount": dispute.amount,
                "currency": dispute.currency,
                "reason": dispute.reason,
                "opened_at": dispute.opened_at.isoformat(),
                "closed_at": dispute.closed_at.isoformat() if dispute.closed_at else None,
            }
        )
    )


class DynamoMirrorStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table
        self._accounts = DynamoAccountStore(table)
        self._members = DynamoMemberStore(table)
        self._subscriptions = DynamoSubscriptionStore(table)
        self._invoices = DynamoInvoiceStore(table)
        self._coupons = DynamoCouponStore(table)
        self._seller = DynamoSellerStore(table)

    # -- reading ---------------------------------------------------------------------------

    def account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def members(self, account_id: str) -> list[Member]:
        return self._members.members(account_id)

    def subscription(self, account_id: str, subscription_id: str) -> Subscription | None:
        item = self._table.get(keys.subscription(account_id, subscription_id))
        return subscription_of(item) if item else None

    def current_subscription(self, account_id: str) -> Subscription | None:
        return self._subscriptions.current(account_id)

    def invoice(self, invoice_id: str) -> Invoice | None:
        return self._invoices.get(invoice_id)

    def dispute(self, account_id: str, dispute_id: str) -> Dispute | None:
        item = self._table.get(keys.dispute(account_id, dispute_id))
        return dispute_of(item) if item else None

    def coupon(self, code: str) -> Coupon | None:
        stored = self._coupons.get(code)
        return stored.coupon if stored is not None else None

    def seller(self) -> SellerSettings:
        return self._seller.get() or default_seller_settings()

    # -- writing ---------------------------------------------------------------------------

    def _commit(self, transaction: Transaction) -> None:
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused

    def _follow(self, transaction: Transaction, follows: AccountFollows | None) -> None:
        if follows is not None:
            add_status_change(
                transaction, follows.account, follows.status, follows.reason, self._table.now().isoformat()
            )

    def save_subscription(
        self,
        before: Subscription | None,
        after: Subscription,
        action: str,
        *,
        current: bool,
        follows: AccountFollows | None,
        context: AuditContext,
    ) -> None:
        transaction = self._table.transaction(context)
        _put_as_read(
            transaction,
            subscription_item(after),
            subscription_fingerprint(before) if before is not None else None,
            "subscription",
        )
        if current:
            transaction.put(
                pointer_item(after),
                condition=POINTER_FREE,
                names={"#status": "status"},
                values={":id": after.id, ":canceled": "canceled", ":expired": "incomplete_expired"},
                label="current",
            )
            self._follow(transaction, follows)
        transaction.audit(
            action,
            "subscription",
            after.id,
            account_id=after.account_id,
            changes=_subscription_changes(before, after),
        )
        self._commit(transaction)

    def save_invoice(
        self, before: Invoice | None, after: Invoice, action: str, context: AuditContext
    ) -> None:
        transaction = self._table.transaction(context)
        _put_as_read(
            transaction,
            invoice_item(after),
            invoice_fingerprint(before) if before is not None else None,
            "invoice",
        )
        transaction.audit(
            action, "invoice", after.id, account_id=after.account_id, changes=_invoice_changes(before, after)
        )
        self._commit(transaction)

    def provision(self, provisioning: Provisioning, context: AuditContext) -> bool:
        p = provisioning
        at = self._table.now().isoformat()
        transaction = self._table.transaction(context)
        transaction.put(
            keys.checkout_provisioned(p.session_id)
            | to_item(
                {
                    "kind": "checkout_provisioned",
                    "account_id": p.account_id,
                    "checkout_kind": p.kind,
                    "subscription_id": p.subscription_id,
                    "at": at,
                }
            ),
            condition=NEW,
            label=CLAIM_LABEL,
        )
        transaction.audit(
            "checkout.completed",
            "checkout_session",
            p.session_id,
            account_id=p.account_id,
            changes={"kind": (None, p.kind), "subscription_id": (None, p.subscription_id)},
        )
        self._follow(transaction, p.activate)
        if p.owner is not None:
            add_member(transaction, p.owner)
        if p.redeemed is not None:
            self._redeemed(transaction, p)
        if p.order is not None:
            order = p.order
            _record_once(
                transaction,
                keys.order_payment(order.account_id, order.order_id),
                {
                    "kind": "order_payment",
                    "order_id": order.order_id,
                    "account_id": order.account_id,
                    "session_id": order.session_id,
                    "amount": order.amount,
                    "currency": order.currency,
                    "paid_at": order.paid_at.isoformat(),
                },
                label="order",
                audit=("order.paid", "order", order.order_id),
                account_id=order.account_id,
                audited={"amount": order.amount, "currency": order.currency},
            )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            if refused.refused(CLAIM_LABEL):
                return False
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused
        return True

    def _redeemed(self, transaction: Transaction, provisioning: Provisioning) -> None:
        """The redemption of a coupon Stripe applied already: counted without the limits a
        native redemption is conditional on (checkout checked them; the customer has the
        discount whatever happened since), recorded once (its id comes from the session)."""
        redeemed = provisioning.redeemed
        assert redeemed is not None
        transaction.update(
            keys.coupon(redeemed.code),
            "SET #redemptions = #redemptions + :one",
            condition=EXISTS,
            names={"#redemptions": "redemptions"},
            values={":one": 1},
            label="coupon",
        )
        transaction.update(
            keys.coupon_account(redeemed.code, redeemed.account_id),
            "SET #redemptions = if_not_exists(#redemptions, :zero) + :one, #account = :account",
            names={"#redemptions": "redemptions", "#account": "account_id"},
            values={":zero": 0, ":one": 1, ":account": redeemed.account_id},
        )
        _record_once(
            transaction,
            keys.redemption(redeemed.code, redeemed.id),
            {
                "kind": REDEMPTION_KIND,
                "id": redeemed.id,
                "code": redeemed.code,
                "account_id": redeemed.account_id,
                "applies_to": "subscription" if provisioning.kind == "subscription" else "invoice",
                "applies_to_id": redeemed.applies_to_id,
                "original": redeemed.original,
                "discount": redeemed.discount,
                "final": redeemed.final,
                "currency": redeemed.currency,
                "at": redeemed.at.isoformat(),
            },
            label="redemption",
            audit=("coupon.redeemed", "coupon", redeemed.code),
            account_id=redeemed.account_id,
            audited={
                "redemption_id": redeemed.id,
                "applies_to": redeemed.applies_to_id,
                "original": redeemed.original,
                "discount": redeemed.discount,
                "final": redeemed.final,
                "currency": redeemed.currency,
            },
        )

    def save_dispute(self, before: Dispute | None, after: Dispute, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        if before is None:
            transaction.put(dispute_item(after), condition=NEW, label="dispute")
        else:
            transaction.put(
                dispute_item(after),
                condition="#status = :status AND stripe_status = :stripe",
                names={"#status": "status"},
                values={":status": before.status, ":stripe": before.stripe_status},
                label="dispute",
            )
        action = "dispute.opened" if after.status == "open" else "dispute.closed"
        if before is not None and before.status == after.status:
            action = "dispute.updated"
        transaction.audit(
            action,
            "dispute",
            after.id,
            account_id=after.account_id,
            changes={
                "status": (before.status if before else None, after.status),
                "stripe_status": (before.stripe_status if before else None, after.stripe_status),
                "amount": (before.amount if before else None, after.amount),
            },
        )
        self._commit(transaction)


def _put_as_read(
    transaction: Transaction, item: dict[str, Any], before_fingerprint: str | None, label: str
) -> None:
    """`item` new (no fingerprint: none was read), or in place of exactly the version read: a
    concurrent write in between refuses the transaction under `label`."""
    if before_fingerprint is None:
        transaction.put(item, condition=NEW, label=label)
    else:
        transaction.put(
            item, condition="fingerprint = :before", values={":before": before_fingerprint}, label=label
        )


def _record_once(
    transaction: Transaction,
    key: keys.Key,
    record: dict[str, Any],
    *,
    label: str,
    audit: tuple[str, str, str],
    account_id: str,
    audited: dict[str, Any],
) -> None:
    """A record of what Stripe reported (`provider: stripe`), written once (a replay's put is
    refused under `label`), and its audit record (action, entity type, id) of `audited` values."""
    action, entity_type, entity_id = audit
    transaction.put(key | to_item(record | {"provider": "stripe"}), condition=NEW, label=label)
    transaction.audit(
        action,
        entity_type,
        entity_id,
        account_id=account_id,
        changes={field: (None, value) for field, value in audited.items()},
    )
