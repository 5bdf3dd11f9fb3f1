"""Joining a listed company by its SIREN or SIRET.

Knowing a public number proves nothing, so a join is a request: approved at once only when the
user's confirmed email is the account's contact email or belongs to its verified email domain;
otherwise its owners and admins are emailed, and one of them (or a platform admin) approves or
rejects it, and the requester is told by email.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from tally import clock
from tally.accounts.domain import Account, JoinRequest, Member
from tally.accounts.emails import Notifier
from tally.accounts.errors import AlreadyMember, UnknownCompany
from tally.accounts.ports import AccountStore, CompanyNumber, JoinRequestStore, MemberStore
from tally.audit.records import AuditContext
from tally.errors import Conflict, NotFound
from tally.identity.policy import Access
from tally.identity.principal import Principal
from tally.identity.roles import Role

ALREADY_ASKED = (
    "You already asked to join this account: its owners and admins will answer (you will get an email)"
)
BY_CONTACT_EMAIL = "Approved at once: the requester's confirmed email is the account's contact email"
BY_DOMAIN = "Approved at once: the requester's confirmed email is at the account's verified domain"
DECIDERS = frozenset({Role.OWNER, Role.ADMIN})


def new_request_id() -> str:
    return f"jr_{uuid.uuid4().hex}"


def proof_of(email: str | None, verified: bool | None, account: Account) -> str | None:
    """Why the user may join at once, or None when someone must decide. `verified` is the token's
    email_verified claim: only an explicit false refuses, as signing in needs a confirmed address."""
    if not email or verified is False:
        return None
    email = email.lower()
    if email == account.email.lower():
        return BY_CONTACT_EMAIL
    domain = email.rpartition("@")[2]
    if account.email_domain and domain == account.email_domain.lower():
        return BY_DOMAIN
    return None


class JoinService:
    def __init__(
        self,
        accounts: AccountStore,
        requests: JoinRequestStore,
        members: MemberStore,
        notifier: Notifier,
        forget: Callable[[str], None],
        id_factory: Callable[[], str] = new_request_id,
    ) -> None:
        self._accounts = accounts
        self._requests = requests
        self._members = members
        self._notifier = notifier
        self._forget = forget
        self._new_id = id_factory

    def join(
        self,
        principal: Principal,
        email_verified: bool | None,
        kind: CompanyNumber,
        number: str,
        context: AuditContext,
    ) -> JoinRequest:
        account_id = self._accounts.holder(kind, number)
        account = self._accounts.get(account_id) if account_id else None
        if account is None:
            raise UnknownCompany(kind)
        if self._members.member(account.id, principal.subject) is not None:
            raise AlreadyMember("You are already a member of this account")
        if self._requests.pending(principal.subject, account.id):
            raise Conflict(ALREADY_ASKED)
        now = clock.now()
        email = (principal.email or "").lower()
        request = JoinRequest(self._new_id(), account.id, principal.subject, email, "pending", now)
        proof = proof_of(email, email_verified, account)
        if proof is None:
            self._requests.create(request, None, context)
            deciders = [member for member in self._members.members(account.id) if member.role in DECIDERS]
            self._notifier.join_request_received(request, account, deciders)
            return request
        approved = replace(request, status="approved", decided_at=now, decided_by="auto")
        member = Member(account.id, principal.subject, email, Role.MEMBER, now)
        self._requests.create(approved, member, replace(context, reason=proof))
        self._forget(principal.subject)
        return approved

    def requests(self, account_id: str) -> list[JoinRequest]:
        return self._requests.requests(account_id)

    def _pending(self, account_id: str, request_id: str) -> JoinRequest:
        request = self._requests.request(account_id, request_id)
        if request is None:
            raise NotFound("No join request with this id in this account", field="request_id")
        if request.status != "pending":
            raise Conflict(f"This request was already {request.status}")
        return request

    def approve(self, access: Access, request_id: str, context: AuditContext) -> JoinRequest:
        request = self._pending(access.account_id, request_id)
        member = Member(request.account_id, request.user_id, request.email, Role.MEMBER, clock.now())
        decided = self._requests.approve(request, member, context)
        self._forget(request.user_id)
        self._tell(decided)
        return decided

    def reject(self, access: Access, request_id: str, context: AuditContext) -> JoinRequest:
        request = self._pending(access.account_id, request_id)
        decided = self._requests.reject(request, access.principal.subject, context)
        self._tell(decided)
        return decided

    def _tell(self, decided: JoinRequest) -> None:
        account = self._accounts.get(decided.account_id)
        if account is not None:
            self._notifier.join_request_decided(decided, account)
