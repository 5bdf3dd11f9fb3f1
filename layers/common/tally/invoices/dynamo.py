"""Invoices, credit notes, sequences and seller settings in the billing table (keys: the
"invoices" block of tally.storage.keys; docs/billing.md "Invoices").

Every write is one transaction with its audit record. An invoice's change is conditional on its
`fingerprint` (the hash of what was read), so two concurrent changes cannot both apply. Drawing
a number updates the sequence's counter conditionally on the value read, in the same
transaction as the numbered document: a lost race writes nothing and is retried by the service,
so numbers are gapless and unique.
"""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from typing import Any

from tally.accounts.dynamo.accounts import add_status_change
from tally.accounts.dynamo.table import NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.credit_notes import CreditNote
from tally.billing.invoices import STRIPE_FIELDS, Invoice, InvoiceStatus
from tally.billing.seller import SellerSettings, added_fields_at_default, parse_seller_settings, stable_json
from tally.coupons.dynamo import add_redemption, redemption_refusal
from tally.coupons.ports import PendingRedemption
from tally.errors import InvalidInput
from tally.invoices.ports import Follows, Listing, Page, PaymentFollows, SequenceMoved
from tally.storage import cursors, keys
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item
from tally.storage.transaction import Transaction, TransactionRefused
from tally.subscriptions.dynamo import add_subscription_change

INVOICE_KIND = "invoice"
CREDIT_NOTE_KIND = "credit_note"
STATUSES: tuple[InvoiceStatus, ...] = ("draft", "open", "paid", "uncollectible", "void")
CHANGED_MEANWHILE = "The invoice changed while this request was made: read it again, then retry"
SUBSCRIPTION_CHANGED = "The subscription changed while its invoice was made: retry"
MAX_PAGE = 100


def fingerprint(invoice: Invoice) -> str:
    """The hash a change is conditional on. Fields added since invoices were first stored are left
    out while they hold their default (the dunning fields, the Stripe fields, the seller's shipped
    ladder and grace days), so an invoice stored before them keeps its fingerprint."""
    leave_out: dict[str, Any] = {
        name: True for name in ("dunning_on", "overdue_since") if getattr(invoice, name) is None
    }
    # And issue 9's Stripe fields while they hold theirs.
    leave_out |= {name: True for name, default in STRIPE_FIELDS.items() if getattr(invoice, name) == default}
    if invoice.seller is not None and (unset := added_fields_at_default(invoice.seller)):
        leave_out["seller"] = unset
    return hashlib.sha256(invoice.model_dump_json(exclude=leave_out or None).encode()).hexdigest()[:32]


def invoice_item(invoice: Invoice) -> dict[str, Any]:
    """The invoice as JSON in `body` (read back exactly), with the fields listings filter on."""
    return (
        keys.invoice(invoice.id)
        | keys.invoice_index(
            invoice.account_id, invoice.status, invoice.created_at, invoice.id, invoice.dunning_on
        )
        | to_item(
            {
                "kind": INVOICE_KIND,
                "account_id": invoice.account_id,
                "status": invoice.status,
                "number": invoice.number,
                "body": invoice.model_dump_json(),
                "fingerprint": fingerprint(invoice),
            }
            # Top level, for the filter that finds an account's overdue invoices.
            | ({"overdue_since": invoice.overdue_since.isoformat()} if invoice.overdue_since else {})
        )
    )


def invoice_of(item: dict[str, Any]) -> Invoice:
    return Invoice.model_validate_json(str(item["body"]["S"]))


def _changes(before: Invoice | None, after: Invoice) -> dict[str, tuple[Any, Any]]:
    """Audited fields: what a reader of the trail needs (the lines' detail is in the invoice)."""
    fields = ("status", "number", "total", "amount_due", "amount_paid", "credited_total", "memo", "due_date")
    old = before.model_dump(mode="json", include=set(fields)) if before is not None else {}
    new = after.model_dump(mode="json", include=set(fields))
    return {name: (old.get(name), new.get(name)) for name in fields if old.get(name) != new.get(name)}


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode().rstrip("=")


def _decode(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("This cursor is not one a listing answered", field="cursor") from None
    if not isinstance(state, dict) or not all(
        status in STATUSES and (position is None or isinstance(position, str))
        for status, position in state.items()
    ):
        raise InvalidInput("This cursor is not one a listing answered", field="cursor")
    return state


class DynamoInvoiceStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    # -- reading ---------------------------------------------------------------------------

    def get(self, invoice_id: str) -> Invoice | None:
        item = self._table.get(keys.invoice(invoice_id))
        return invoice_of(item) if item else None

    def sequence_value(self, sequence_key: str) -> int:
        item = self._table.get(keys.sequence(sequence_key))
        return int(from_item(item)["value"]) if item else 0

    def credit_notes(self, invoice_id: str) -> list[CreditNote]:
        return [
            CreditNote.model_validate_json(str(item["body"]["S"]))
            for item in self._table.query(keys.invoice_pk(invoice_id), keys.CREDIT_NOTE_PREFIX)
        ]

    def overdue(self, account_id: str) -> list[Invoice]:
        """Every page of one Query of GSI1 (the account's invoices), filtered to the open ones
        marked overdue: read only when a payment may reactivate the account."""
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "FilterExpression": "#status = :open AND attribute_exists(overdue_since)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": {"S": f"{keys.INVOICES_OF_ACCOUNT}{account_id}"},
                ":open": {"S": "open"},
            },
        }
        found: list[Invoice] = []
        while True:
            with transient_as_unavailable():
                page = self._table.client.query(**params)
            found.extend(invoice_of(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- drafts ----------------------------------------------------------------------------

    def create(
        self,
        invoice: Invoice,
        context: AuditContext,
        follows: Follows | None = None,
        redemption: PendingRedemption | None = None,
    ) -> Invoice:
        transaction = self._table.transaction(context)
        claim = None
        if invoice.subscription_id is not None and invoice.period_start is not None:
            claim = keys.subscription_invoice_claim(invoice.subscription_id, invoice.period_start)
            transaction.put(
                claim | to_item({"kind": "invoice_claim", "invoice_id": invoice.id}),
                condition=NEW,
                label="claim",
            )
        transaction.put(invoice_item(invoice), condition=NEW, label="invoice")
        self._follow(transaction, follows)
        transaction.audit(
            "invoice.created",
            "invoice",
            invoice.id,
            account_id=invoice.account_id,
            changes=_changes(None, invoice),
        )
        if redemption is not None:  # the coupon is redeemed with the invoice, or neither
            add_redemption(transaction, redemption)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            if redemption is not None and (problem := redemption_refusal(refused, redemption)):
                raise problem from refused
            # The claim first: the period has its invoice (whether or not the subscription
            # changed too, nothing was written).
            held = refused.refused("claim")
            if held is not None and held.old is not None:
                first = self.get(str(held.old["invoice_id"]))
                if first is not None:
                    return first
            if refused.refused("subscription") or refused.refused("current"):
                raise ChangedMeanwhile(SUBSCRIPTION_CHANGED) from refused
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused
        return invoice

    def _replace(self, transaction: Transaction, before: Invoice, after: Invoice) -> None:
        transaction.put(
            invoice_item(after),
            condition="fingerprint = :before",
            values={":before": fingerprint(before)},
            label="invoice",
        )

    def _follow(self, transaction: Transaction, follows: Follows | None) -> None:
        at = self._table.now().isoformat()
        if isinstance(follows, PaymentFollows):
            for index, other in enumerate(follows.unchanged):
                transaction.check(
                    keys.invoice(other.id),
                    "fingerprint = :seen",
                    values={":seen": fingerprint(other)},
                    label=f"overdue:{index}",
                )
            if follows.account is not None and follows.subscription is None:
                moved = follows.account
                add_status_change(transaction, moved.account, moved.status, moved.reason, at)
            follows = follows.subscription
        if follows is not None:
            add_subscription_change(
                transaction, follows.before, follows.after, follows.action, follows.account, at
            )

    def save(
        self,
        before: Invoice,
        after: Invoice,
        action: str,
        context: AuditContext,
        follows: Follows | None = None,
    ) -> None:
        transaction = self._table.transaction(context)
        self._replace(transaction, before, after)
        self._follow(transaction, follows)
        transaction.audit(
            action, "invoice", after.id, account_id=after.account_id, changes=_changes(before, after)
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused

    # -- numbered documents ----------------------------------------------------------------

    def _draw(self, transaction: Transaction, sequence_key: str, drawn: int) -> None:
        """The counter moves from drawn - 1 to drawn, or the transaction fails."""
        expected = drawn - 1
        condition = "attribute_not_exists(PK)" if expected == 0 else "#value = :expected"
        transaction.update(
            keys.sequence(sequence_key),
            "SET #value = :drawn, kind = :kind",
            condition=condition,
            names={"#value": "value"},
            values={":drawn": drawn, ":kind": "sequence"} | ({":expected": expected} if expected else {}),
            label="sequence",
        )

    def _commit_numbered(self, transaction: Transaction) -> None:
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            moved = refused.refused("sequence")
            if moved is not None:
                current = int(moved.old["value"]) if moved.old and "value" in moved.old else 0
                raise SequenceMoved(current) from refused
            raise ChangedMeanwhile(CHANGED_MEANWHILE) from refused

    def finalize(
        self, before: Invoice, after: Invoice, sequence_key: str, drawn: int, context: AuditContext
    ) -> None:
        transaction = self._table.transaction(context)
        self._draw(transaction, sequence_key, drawn)
        self._replace(transaction, before, after)
        transaction.audit(
            "invoice.finalized",
            "invoice",
            after.id,
            account_id=after.account_id,
            changes=_changes(before, after),
        )
        self._commit_numbered(transaction)

    def add_credit_note(
        self,
        before: Invoice,
        after: Invoice,
        note: CreditNote,
        sequence_key: str,
        drawn: int,
        context: AuditContext,
        follows: Follows | None = None,
    ) -> None:
        transaction = self._table.transaction(context)
        self._draw(transaction, sequence_key, drawn)
        self._follow(transaction, follows)
        transaction.put(
            keys.credit_note(note.invoice_id, note.id)
            | to_item(
                {
                    "kind": CREDIT_NOTE_KIND,
                    "number": note.number,
                    "account_id": note.account_id,
                    "body": note.model_dump_json(),
                }
            ),
            condition=NEW,
            label="credit_note",
        )
        self._replace(transaction, before, after)
        transaction.audit(
            "credit_note.issued",
            "credit_note",
            note.id,
            account_id=note.account_id,
            changes={
                "number": (None, note.number),
                "total": (None, note.total),
                "invoice": (None, note.invoice_id),
            },
        )
        transaction.audit(
            "invoice.credited",
            "invoice",
            after.id,
            account_id=after.account_id,
            changes=_changes(before, after),
        )
        self._commit_numbered(transaction)

    # -- listing ---------------------------------------------------------------------------

    def page(self, listing: Listing) -> Page:
        """An account's invoices: one Query of GSI1 (a status is a filter). The platform's: one
        Query of GSI2 per status asked (at most five), merged newest first."""
        limit = max(1, min(listing.limit, MAX_PAGE))
        low = keys.invoice_index_sk(listing.start, "") if listing.start else "0"
        high = keys.invoice_index_sk(listing.end, "") if listing.end else "9"
        if listing.account_id is not None:
            return self._list_account(listing, low, high, limit)
        state = _decode(listing.cursor) if listing.cursor else {}
        statuses: list[str] = [listing.status] if listing.status else list(STATUSES)
        fetched: dict[str, tuple[list[dict[str, Any]], bool]] = {}
        for status in statuses:
            position = state.get(status, "")
            if position is None:
                continue  # this status is exhausted
            partition = f"{keys.INVOICES_IN_STATUS}{status}"
            start = _after(partition, position) if position else None
            items, last = self._query("GSI2", partition, low, high, limit, start, None)
            fetched[status] = (items, last is not None)
        merged = sorted(
            ((item["GSI2SK"]["S"], status, item) for status, (items, _) in fetched.items() for item in items),
            key=lambda entry: entry[0],
            reverse=True,
        )[:limit]
        taken: dict[str, list[dict[str, Any]]] = {}
        for _, status, item in merged:
            taken.setdefault(status, []).append(item)
        after: dict[str, Any] = {}
        for status in statuses:
            if status not in fetched:
                after[status] = None
                continue
            items, more = fetched[status]
            used = taken.get(status, [])
            if used:
                last = used[-1]
                done = len(used) == len(items) and not more
                after[status] = None if done else f"{last['GSI2SK']['S']}"
            else:
                after[status] = state.get(status, "") if items or more else None
        cursor = _encode(after) if any(value is not None for value in after.values()) else None
        return Page([invoice_of(item) for _, _, item in merged], cursor)

    def _list_account(self, listing: Listing, low: str, high: str, limit: int) -> Page:
        """One Query of GSI1; a status filters that page (which may come back short, or empty
        with a cursor: the shared codec's cursor is the Query's LastEvaluatedKey)."""
        assert listing.account_id is not None
        partition = f"{keys.INVOICES_OF_ACCOUNT}{listing.account_id}"
        start = None
        if listing.cursor:
            start = cursors.decode(
                listing.cursor,
                partition_name="GSI1PK",
                partition=partition,
                sort_name="GSI1SK",
                pk_prefix=keys.INVOICE_PREFIX,
            )
        items, last = self._query("GSI1", partition, low, high, limit, start, listing.status)
        return Page([invoice_of(item) for item in items], cursors.encode(last) if last else None)

    def _query(
        self,
        index: str,
        partition: str,
        low: str,
        high: str,
        limit: int,
        start: dict[str, Any] | None,
        status: str | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Query of `index`, newest first, from `start`: (items, LastEvaluatedKey or None)."""
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": index,
            "KeyConditionExpression": f"{index}PK = :pk AND {index}SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": partition},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start:
            params["ExclusiveStartKey"] = start
        if status is not None:
            params["FilterExpression"] = "#status = :status"
            params["ExpressionAttributeNames"] = {"#status": "status"}
            params["ExpressionAttributeValues"][":status"] = {"S": status}
        with transient_as_unavailable():
            page = self._table.client.query(**params)
        return list(page.get("Items", [])), page.get("LastEvaluatedKey")


def _after(partition: str, sort: str) -> dict[str, Any]:
    """The GSI2 start key just past the invoice whose index sort key is `sort` (`{at}#{id}`);
    rebuilt from the status's own partition, so a cursor cannot widen what is read."""
    if "#" not in sort:
        raise InvalidInput("This cursor is not one a listing answered", field="cursor")
    return keys.invoice(sort.rsplit("#", 1)[1]) | {"GSI2PK": {"S": partition}, "GSI2SK": {"S": sort}}


class DynamoSellerStore:
    """SETTINGS#BILLING / SETTINGS: `settings` (the JSON), `fingerprint` (what a change is
    conditional on). Absent until a platform admin saves settings: the defaults apply."""

    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def get(self) -> SellerSettings | None:
        item = self._table.get(keys.seller_settings())
        if item is None:
            return None
        return parse_seller_settings(json.loads(str(item["settings"]["S"]), parse_float=Decimal))

    def put(self, before: SellerSettings | None, after: SellerSettings, context: AuditContext) -> None:
        transaction = self._table.transaction(context)
        body = after.model_dump_json()
        item = keys.seller_settings() | to_item(
            {"kind": "seller_settings", "settings": body, "fingerprint": _hash(stable_json(after))}
        )
        if before is None:
            transaction.put(item, condition=NEW, label="settings")
        else:
            transaction.put(
                item,
                condition="fingerprint = :before",
                values={":before": _hash(stable_json(before))},
                label="settings",
            )
        old = before.model_dump(mode="json") if before is not None else {}
        new = after.model_dump(mode="json")
        transaction.audit(
            "settings.billing_updated",
            "settings",
            "billing",
            account_id=None,
            changes={name: (old.get(name), value) for name, value in new.items() if old.get(name) != value},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(
                "The billing settings changed while this request was made: read them again, then retry"
            ) from refused


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
