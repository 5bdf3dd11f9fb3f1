"""What checkout keeps in the billing table (keys in tally.storage.keys, "issue 9, checkout"):

    STRIPE#{kind}#{tally key}  STRIPE           the Stripe id of a product, price or coupon made
                                                from the catalogue (later checkouts skip Stripe)
    ACCOUNT#{id}  STRIPE#CUSTOMER               the account's one Stripe customer
    ACCOUNT#{id}  CHECKOUT#{digest}             a checkout: what was asked (plan, kind, coupon,
                                                reservation), `until`, and once Stripe made it,
                                                the session's id and URL

Each write is a transaction with its audit record. A Stripe id or a customer is stored only if
none is (first writer wins); the loser reads the winner's, which Stripe made from the same
idempotency key, so it is the same object anyway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from tally.accounts.dynamo.table import NEW, BillingTable
from tally.audit.records import AuditContext
from tally.storage import keys
from tally.storage.items import from_item, to_item
from tally.storage.transaction import TransactionRefused


@dataclass(frozen=True)
class CheckoutRecord:
    id: str  # the digest of (account, Idempotency-Key, body)
    account_id: str
    kind: str  # subscription | order
    plan: str
    plan_version: int
    cycle: str
    currency: str
    amount: int
    until: datetime  # the session's expiry (and the reservation's)
    created_at: datetime
    coupon: str | None = None
    reservation_id: str | None = None
    order_id: str | None = None
    session_id: str | None = None
    url: str | None = None

    def values(self) -> dict[str, Any]:
        values = asdict(self)
        values["purchase"] = values.pop("kind")  # `kind` names what an item is, in the table
        values["until"] = self.until.isoformat()
        values["created_at"] = self.created_at.isoformat()
        return values

    @classmethod
    def of(cls, values: dict[str, Any]) -> CheckoutRecord:
        fields: dict[str, Any] = {name: values.get(name) for name in cls.__dataclass_fields__}
        fields["kind"] = values["purchase"]
        fields["until"] = datetime.fromisoformat(str(values["until"]))
        fields["created_at"] = datetime.fromisoformat(str(values["created_at"]))
        fields["plan_version"] = int(values["plan_version"])
        fields["amount"] = int(values["amount"])
        return cls(**fields)


class DynamoCheckoutStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    # -- Stripe ids of catalogue objects ----------------------------------------------------

    def stripe_id(self, kind: str, tally_key: str) -> str | None:
        item = self._table.get(keys.stripe_object(kind, tally_key))
        return str(from_item(item)["stripe_id"]) if item else None

    def remember(self, kind: str, tally_key: str, stripe_id: str, context: AuditContext) -> str:
        transaction = self._table.transaction(context)
        item = {"kind": f"stripe_{kind}", "tally_key": tally_key, "stripe_id": stripe_id}
        transaction.put(keys.stripe_object(kind, tally_key) | to_item(item), condition=NEW, label="id")
        transaction.audit(
            f"stripe.{kind}_linked",
            f"stripe_{kind}",
            tally_key,
            account_id=None,
            changes={"stripe_id": (None, stripe_id)},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused:
            return self.stripe_id(kind, tally_key) or stripe_id
        return stripe_id

    # -- the account's customer ------------------------------------------------------------

    def customer(self, account_id: str) -> str | None:
        item = self._table.get(keys.stripe_customer(account_id))
        return str(from_item(item)["stripe_id"]) if item else None

    def link_customer(self, account_id: str, customer_id: str, context: AuditContext) -> str:
        """The customer stored for the account: this one, or the one stored meanwhile."""
        transaction = self._table.transaction(context)
        item = {"kind": "stripe_customer", "account_id": account_id, "stripe_id": customer_id}
        transaction.put(keys.stripe_customer(account_id) | to_item(item), condition=NEW, label="customer")
        transaction.audit(
            "account.stripe_customer_linked",
            "account",
            account_id,
            account_id=account_id,
            changes={"stripe_customer_id": (None, customer_id)},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused:
            return self.customer(account_id) or customer_id
        return customer_id

    # -- checkouts -------------------------------------------------------------------------

    def checkout(self, account_id: str, checkout_id: str) -> CheckoutRecord | None:
        item = self._table.get(keys.account_checkout(account_id, checkout_id))
        return CheckoutRecord.of(from_item(item)) if item else None

    def start(self, record: CheckoutRecord, context: AuditContext) -> CheckoutRecord:
        """The checkout as first asked: this one, or the one a retry finds."""
        transaction = self._table.transaction(context)
        item = keys.account_checkout(record.account_id, record.id) | to_item(
            {**record.values(), "kind": "checkout"}
        )
        transaction.put(item, condition=NEW, label="checkout")
        transaction.audit(
            "checkout.started",
            "checkout",
            record.id,
            account_id=record.account_id,
            changes={
                name: (None, value)
                for name, value in record.values().items()
                if name not in ("id", "account_id", "created_at") and value is not None
            },
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused:
            return self.checkout(record.account_id, record.id) or record
        return record

    def opened(
        self, record: CheckoutRecord, session_id: str, url: str, context: AuditContext
    ) -> CheckoutRecord:
        """The Stripe session made for the checkout, recorded once."""
        transaction = self._table.transaction(context)
        transaction.update(
            keys.account_checkout(record.account_id, record.id),
            "SET session_id = :session, #url = :url",
            condition="attribute_not_exists(session_id)",
            names={"#url": "url"},
            values={":session": session_id, ":url": url},
            label="checkout",
        )
        transaction.audit(
            "checkout.session_created",
            "checkout",
            record.id,
            account_id=record.account_id,
            changes={"session_id": (None, session_id)},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused:
            return self.checkout(record.account_id, record.id) or record
        return CheckoutRecord(**{**asdict(record), "session_id": session_id, "url": url})
