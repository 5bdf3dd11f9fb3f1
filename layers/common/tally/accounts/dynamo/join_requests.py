"""Requests to join an account: the request in the account's partition and, while pending, its
mirror in the user's (one pending request per user and account)."""

from __future__ import annotations

from dataclasses import replace

from tally.accounts.domain import JoinRequest, Member
from tally.accounts.dynamo.items import join_items, join_request_of
from tally.accounts.dynamo.members import add_member, raise_member_refusal
from tally.accounts.dynamo.table import NEW, BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.storage import keys
from tally.storage.transaction import Transaction, TransactionRefused

ALREADY_ASKED = (
    "You already asked to join this account: its owners and admins will answer (you will get an email)"
)
DECIDED = "This request was decided meanwhile: read the requests again"


class DynamoJoinRequestStore:
    def __init__(self, table: BillingTable) -> None:
        self._table = table

    def create(self, request: JoinRequest, member: Member | None, context: AuditContext) -> None:
        item, mirror = join_items(request)
        transaction = self._table.transaction(context)
        transaction.put(item, condition=NEW)
        if member is None:
            transaction.put(mirror, condition=NEW, label="pending")
        else:
            add_member(transaction, member)
        transaction.audit(
            "join_request.created",
            "join_request",
            request.id,
            account_id=request.account_id,
            changes={"status": (None, request.status), "email": (None, request.email)},
        )
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise_member_refusal(refused)
            raise ChangedMeanwhile(ALREADY_ASKED) from refused

    def pending(self, user_id: str, account_id: str) -> bool:
        return self._table.get(keys.user_join_request(user_id, account_id)) is not None

    def requests(self, account_id: str) -> list[JoinRequest]:
        found = self._table.query(keys.account_pk(account_id), keys.JOIN_PREFIX)
        return sorted(map(join_request_of, found), key=lambda request: request.created_at, reverse=True)

    def request(self, account_id: str, request_id: str) -> JoinRequest | None:
        raw = self._table.get(keys.join_request(account_id, request_id))
        return join_request_of(raw) if raw else None

    def _decide(self, transaction: Transaction, request: JoinRequest, decided: JoinRequest) -> None:
        transaction.update(
            keys.join_request(request.account_id, request.id),
            "SET #status = :status, decided_at = :at, decided_by = :by",
            condition="#status = :pending",
            names={"#status": "status"},
            values={
                ":status": decided.status,
                ":pending": "pending",
                ":at": decided.decided_at.isoformat() if decided.decided_at else None,
                ":by": decided.decided_by,
            },
            label="request",
        )
        transaction.delete(keys.user_join_request(request.user_id, request.account_id))
        transaction.audit(
            f"join_request.{decided.status}",
            "join_request",
            request.id,
            account_id=request.account_id,
            changes={"status": (request.status, decided.status)},
        )

    def approve(self, request: JoinRequest, member: Member, context: AuditContext) -> JoinRequest:
        decided = replace(
            request, status="approved", decided_at=self._table.now(), decided_by=context.actor.id
        )
        transaction = self._table.transaction(context)
        self._decide(transaction, request, decided)
        add_member(transaction, member)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            if refused.refused("request") is None:
                raise_member_refusal(refused)
            raise ChangedMeanwhile(DECIDED) from refused
        return decided

    def reject(self, request: JoinRequest, decided_by: str, context: AuditContext) -> JoinRequest:
        decided = replace(request, status="rejected", decided_at=self._table.now(), decided_by=decided_by)
        transaction = self._table.transaction(context)
        self._decide(transaction, request, decided)
        try:
            self._table.commit(transaction)
        except TransactionRefused as refused:
            raise ChangedMeanwhile(DECIDED) from refused
        return decided
