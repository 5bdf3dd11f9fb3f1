"""Coupons in the billing table (docs/billing.md "Coupons"):

    COUPON#{CODE}  COUPON            terms (the Coupon's JSON), active and max_redemptions (flat,
                                     for the conditions), redemptions (the counter), revision;
                                     GSI1PK=COUPONS, GSI1SK={CODE} (the listing)
    COUPON#{CODE}  ACCOUNT#{id}      redemptions: the account's count of this coupon
    COUPON#{CODE}  REDEMPTION#{id}   one redemption: account, applies_to(_id), original, discount,
                                     final, currency, at

A redemption is one transaction: the coupon's counter +1 on condition that the terms are the ones
read (revision), that it is active and that `redemptions < max_redemptions`; the account's counter
+1 on condition that it is below `max_per_account`; the redemption record; the audit record (and,
when it comes with a subscription, the subscription's items). Concurrent redemptions past a
limit fail their condition: exactly `max_redemptions` succeed.
"""

from __future__ import annotations

from typing import Any

from tally.accounts.dynamo.table import EXISTS, NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.coupons import Coupon
from tally.coupons.ports import CouponRefused, PendingRedemption, StoredCoupon
from tally.errors import Conflict, DomainError, NotFound
from tally.storage import keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item
from tally.storage.transaction import Transaction, TransactionRefused

COUPON_KIND = "coupon"
REDEMPTION_KIND = "coupon_redemption"
CHANGED_MEANWHILE = "The coupon changed while this request was made: read it again, then retry"
USED = "This coupon has been redeemed: it cannot be deleted, deactivate it instead"
COUPON_LABEL = "coupon"
ACCOUNT_LABEL = "coupon_account"
# Every attribute an expression names, through names (DynamoDB reserves many plain words).
NAMES = {
    "#redemptions": "redemptions",
    "#revision": "revision",
    "#active": "active",
    "#max": "max_redemptions",
}


def _flat(coupon: Coupon) -> dict[str, Any]:
    return {
        "terms": coupon.model_dump_json(),
        "active": coupon.active,
        "max_redemptions": coupon.max_redemptions,
    }


def stored_coupon_of(item: dict[str, Any]) -> StoredCoupon:
    values = from_item(item)
    return StoredCoupon(
        Coupon.model_validate_json(str(values["terms"])),
        int(values.get("redemptions", 0)),
        int(values["revision"]),
    )


def add_redemption(transaction: Transaction, pending: PendingRedemption) -> None:
    """The redemption's writes (counters, record, audit) into `transaction`; labels COUPON_LABEL
    and ACCOUNT_LABEL name the limits for `redemption_refusal`."""
    redemption, coupon = pending.redemption, pending.read.coupon
    transaction.update(
        keys.coupon(coupon.code),
        "SET #redemptions = #redemptions + :one",
        condition="#revision = :revision AND #active = :yes AND "
        "(attribute_not_exists(#max) OR #redemptions < #max)",
        names=NAMES,
        values={":one": 1, ":revision": pending.read.revision, ":yes": True},
        label=COUPON_LABEL,
    )
    condition, most = None, {}
    if coupon.max_per_account is not None:
        condition = "attribute_not_exists(#redemptions) OR #redemptions < :most"
        most = {":most": coupon.max_per_account}
    transaction.update(
        keys.coupon_account(coupon.code, redemption.account_id),
        "SET #redemptions = if_not_exists(#redemptions, :zero) + :one, #account = :account",
        condition=condition,
        names={"#redemptions": "redemptions", "#account": "account_id"},
        values={":zero": 0, ":one": 1, ":account": redemption.account_id, **most},
        label=ACCOUNT_LABEL,
    )
    transaction.put(
        keys.redemption(coupon.code, redemption.id)
        | to_item(
            {
                "kind": REDEMPTION_KIND,
                "id": redemption.id,
                "code": coupon.code,
                "account_id": redemption.account_id,
                "applies_to": redemption.applies_to,
                "applies_to_id": redemption.applies_to_id,
                "original": redemption.original,
                "discount": redemption.discount,
                "final": redemption.final,
                "currency": redemption.currency,
                "at": redemption.at.isoformat(),
            }
        ),
        condition=NEW,
        label="redemption",
    )
    transaction.audit(
        "coupon.redeemed",
        "coupon",
        coupon.code,
        account_id=redemption.account_id,
        changes={
            "redemption_id": (None, redemption.id),
            "applies_to": (None, f"{redemption.applies_to}:{redemption.applies_to_id}"),
            "original": (None, redemption.original),
            "discount": (None, redemption.discount),
            "final": (None, redemption.final),
            "currency": (None, redemption.currency),
        },
    )


def redemption_refusal(refused: TransactionRefused, pending: PendingRedemption) -> DomainError | None:
    """What a refused transaction holding a redemption means, in words; None if neither of its
    limits refused it."""
    if refusal := refused.refused(COUPON_LABEL):
        old = refusal.old
        if old is None:
            return NotFound(f"No coupon '{pending.read.coupon.code}'", field="code")
        if int(old.get("revision", 0)) != pending.read.revision:
            return ChangedMeanwhile(CHANGED_MEANWHILE, field="code")
        if not old.get("active", False):
            return CouponRefused("inactive")
        return CouponRefused("used_up")
    if refused.refused(ACCOUNT_LABEL):
        return CouponRefused("already_used")
    return None


class DynamoCouponStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def get(self, code: str) -> StoredCoupon | None:
        item = self._table.get(keys.coupon(code))
        return stored_coupon_of(item) if item else None

    def account_redemptions(self, code: str, account_id: str) -> int:
        item = self._table.get(keys.coupon_account(code, account_id))
        return int(from_item(item).get("redemptions", 0)) if item else 0

    def listed(self) -> list[StoredCoupon]:
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.COUPONS_INDEX_PK}},
        }
        found: list[StoredCoupon] = []
        while True:
            with transient_as_unavailable():
                page = self._table.client.query(**params)
            found.extend(stored_coupon_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def create(self, coupon: Coupon, context: AuditContext) -> None:
        now = self._table.now().isoformat()
        transaction = self._table.transaction(context)
        transaction.put(
            keys.coupon(coupon.code)
            | {"GSI1PK": {"S": keys.COUPONS_INDEX_PK}, "GSI1SK": {"S": coupon.code}}
            | to_item(
                {
                    "kind": COUPON_KIND,
                    "code": coupon.code,
                    **_flat(coupon),
                    "redemptions": 0,
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            ),
            condition=NEW,
            label=COUPON_LABEL,
        )
        transaction.audit(
            "coupon.created",
            "coupon",
            coupon.code,
            account_id=None,
            changes={field: (None, value) for field, value in coupon.model_dump(mode="json").items()},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise Conflict(f"Coupon '{coupon.code}' exists already", field="code") from refused

    def change(self, stored: StoredCoupon, coupon: Coupon, action: str, context: AuditContext) -> None:
        values: dict[str, Any] = {
            ":terms": coupon.model_dump_json(),
            ":active": coupon.active,
            ":next": stored.revision + 1,
            ":at": self._table.now().isoformat(),
            ":revision": stored.revision,
        }
        expression = "SET #terms = :terms, #active = :active, #revision = :next, #updated = :at"
        if coupon.max_redemptions is None:
            expression += " REMOVE #max"
        else:
            expression += ", #max = :max"
            values[":max"] = coupon.max_redemptions
        transaction = self._table.transaction(context)
        transaction.update(
            keys.coupon(coupon.code),
            expression,
            condition=f"{EXISTS} AND #revision = :revision",
            names={
                "#terms": "terms",
                "#active": "active",
                "#revision": "revision",
                "#updated": "updated_at",
                "#max": "max_redemptions",
            },
            values=values,
            label=COUPON_LABEL,
        )
        before = stored.coupon.model_dump(mode="json")
        after = coupon.model_dump(mode="json")
        transaction.audit(
            action,
            "coupon",
            coupon.code,
            account_id=None,
            changes={
                field: (before.get(field), value)
                for field, value in after.items()
                if before.get(field) != value
            },
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE, field="code") from refused

    def delete(self, stored: StoredCoupon, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        transaction.delete(
            keys.coupon(stored.coupon.code),
            condition=f"{EXISTS} AND #redemptions = :zero",
            names={"#redemptions": "redemptions"},
            values={":zero": 0},
            label=COUPON_LABEL,
        )
        transaction.audit("coupon.deleted", "coupon", stored.coupon.code, account_id=None)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            refusal = refused.refused(COUPON_LABEL)
            if refusal is not None and refusal.old is None:
                raise NotFound(f"No coupon '{stored.coupon.code}'", field="code") from refused
            raise Conflict(USED, field="code") from refused

    def redeem(self, pending: PendingRedemption, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        add_redemption(transaction, pending)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise (redemption_refusal(refused, pending) or ChangedMeanwhile(CHANGED_MEANWHILE)) from refused
