"""What the Stripe event applier needs around it: storage (the billing table), the placement
seats, emails and alarm metrics. DynamoDB, SES and Powertools in AWS; in memory in unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from tally.accounts.domain import Account, Member
from tally.audit.records import AuditContext
from tally.billing.coupons import Coupon
from tally.billing.invoices import Invoice
from tally.billing.seller import SellerSettings
from tally.billing.subscription_state import Subscription
from tally.notifications.ledger import LedgerKey, SendOutcome
from tally.placements.ports import PlacementSeats as PlacementSeats  # the applier's seats port
from tally.subscriptions.ports import AccountFollows

DisputeStatus = Literal["open", "closed"]


class Notifier(Protocol):
    def send(
        self, template: str, locale: str, to: str, key: LedgerKey, context: Mapping[str, Any]
    ) -> SendOutcome:
        """Render `template` and send it once per `key` (tally.notifications.ledger); raises
        when it could not be sent (the event is retried, the ledger keeps it once)."""
        ...


class Alerts(Protocol):
    def count(self, name: str) -> None:
        """One occurrence of an alarm metric (StripePaymentFailed, StripeDisputeOpened)."""
        ...


@dataclass(frozen=True)
class Redeemed:
    """A coupon Stripe applied at checkout, recorded as a redemption of Tally's coupon."""

    id: str  # derived from the session: recording it twice is refused
    code: str
    account_id: str
    applies_to_id: str  # the subscription (or order) it was redeemed with
    original: int
    discount: int
    final: int
    currency: str
    at: datetime


@dataclass(frozen=True)
class OrderPaid:
    """A one-off purchase paid through checkout (payment mode), recorded on its account."""

    order_id: str
    account_id: str
    session_id: str
    amount: int
    currency: str
    paid_at: datetime


@dataclass(frozen=True)
class Provisioning:
    """What a completed checkout session does once (keyed by the session id), in one transaction."""

    session_id: str
    account_id: str
    kind: Literal["subscription", "order"]
    activate: AccountFollows | None  # the account made active, when it is not
    owner: Member | None  # the buyer made an owner, when they are not a member
    redeemed: Redeemed | None
    order: OrderPaid | None
    subscription_id: str | None


@dataclass(frozen=True)
class Dispute:
    id: str
    account_id: str
    charge_id: str
    status: DisputeStatus
    stripe_status: str
    amount: int
    currency: str
    reason: str | None
    opened_at: datetime
    closed_at: datetime | None = None


class MirrorStore(Protocol):
    """The billing table as the applier reads and writes it. Every write is one transaction with
    its audit records, conditional on what was read (ChangedMeanwhile otherwise: read again)."""

    def account(self, account_id: str) -> Account | None: ...

    def members(self, account_id: str) -> list[Member]: ...

    def subscription(self, account_id: str, subscription_id: str) -> Subscription | None: ...

    def current_subscription(self, account_id: str) -> Subscription | None: ...

    def invoice(self, invoice_id: str) -> Invoice | None: ...

    def dispute(self, account_id: str, dispute_id: str) -> Dispute | None: ...

    def coupon(self, code: str) -> Coupon | None:
        """Tally's coupon of this code (upper-case), if it exists."""
        ...

    def seller(self) -> SellerSettings:
        """The seller's settings (the shipped defaults until a platform admin saves some): the
        grace of a failed payment, the dunning ladder, the time zone."""
        ...

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
        """`after` in place of `before` (or new, when None: conditional on its absence). With
        `current`, the account's SUBSCRIPTION#CURRENT names it (conditional on it naming it
        already, or naming none or an ended one), and the account follows (`follows`)."""
        ...

    def save_invoice(
        self, before: Invoice | None, after: Invoice, action: str, context: AuditContext
    ) -> None:
        """`after` in place of `before` (conditional on its fingerprint), or new when None."""
        ...

    def provision(self, provisioning: Provisioning, context: AuditContext) -> bool:
        """The claim CHECKOUT#{session}, the account's activation, the owner, the coupon's
        redemption and the order, in one transaction. False when the session was provisioned
        already (nothing written)."""
        ...

    def save_dispute(self, before: Dispute | None, after: Dispute, context: AuditContext) -> None:
        """The dispute's item (conditional on what was read), audited."""
        ...
