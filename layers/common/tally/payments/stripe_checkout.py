"""What checkout and self-service ask of Stripe: the port, in Tally's words.

`StripeCheckout` is implemented over `stripe.StripeClient` (tally.payments.stripe_gateway) and
in memory for tests (tests/support/stripe_fake.py). Every create names its idempotency key,
derived from Tally's ids, so a retry after a timeout makes nothing twice. Failures are the
domain's: Stripe unreachable, answering 5xx or rate-limiting is ServiceUnavailable (503 with
Retry-After); a refused request is InvalidInput (422) or Conflict (409), in words.

Metadata Tally puts on Stripe objects is the contract with the webhook applier
(docs/billing.md "Checkout"; the issue's shared contracts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

Interval = Literal["month", "year"]
Mode = Literal["subscription", "payment"]
CouponDuration = Literal["once", "repeating", "forever"]


@dataclass(frozen=True)
class ProductSpec:
    id: str  # Tally chooses it (`tally_<plan>`): creating it twice finds the first
    name: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class PriceSpec:
    lookup_key: str  # tally:{plan}:{version}:{cycle}:{currency}
    product_id: str
    amount: int  # minor units
    currency: str  # ISO 4217, any case (Stripe wants lower case)
    interval: Interval
    interval_count: int
    nickname: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class CouponSpec:
    id: str  # Tally chooses it, from the coupon's code and terms: new terms, a new Stripe coupon
    name: str
    percent_off: Decimal | None
    amount_off: int | None
    currency: str | None
    duration: CouponDuration
    duration_in_months: int | None
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class OneOffLine:
    """A payment-mode line: a price made inline for this session (an order is not recurring)."""

    product_id: str
    amount: int
    currency: str
    description: str


@dataclass(frozen=True)
class SessionSpec:
    mode: Mode
    customer_id: str
    client_reference_id: str  # the account
    success_url: str
    cancel_url: str
    expires_at: datetime
    metadata: Mapping[str, str]
    idempotency_key: str
    price_id: str | None = None  # subscription mode
    one_off: OneOffLine | None = None  # payment mode
    trial_days: int | None = None
    card_required: bool = True
    coupon_id: str | None = None


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class StripeSubscription:
    id: str
    customer_id: str
    status: str
    item_id: str
    price_id: str
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: int  # minor units; a credit is negative
    period_start: datetime
    period_end: datetime
    proration: bool


@dataclass(frozen=True)
class InvoicePreview:
    currency: str
    total: int
    lines: tuple[PreviewLine, ...]
    next_payment_at: datetime | None


class StripeCheckout(Protocol):
    def ensure_product(self, spec: ProductSpec) -> str:
        """The product's id, created on first use (the same id when it exists already)."""
        ...

    def ensure_price(self, spec: PriceSpec) -> str:
        """The price with this lookup_key, created on first use."""
        ...

    def ensure_coupon(self, spec: CouponSpec) -> str:
        """The coupon's id, created on first use."""
        ...

    def create_customer(self, account_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        """A customer with metadata.tally_account_id; the same key answers the same customer."""
        ...

    def create_checkout_session(self, spec: SessionSpec) -> CheckoutSession: ...

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        """The billing portal session's URL."""
        ...

    def subscription(self, subscription_id: str) -> StripeSubscription: ...

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> StripeSubscription: ...

    def change_price(
        self,
        subscription_id: str,
        item_id: str,
        price_id: str,
        metadata: Mapping[str, str],
        *,
        proration_date: datetime,
        idempotency_key: str,
    ) -> StripeSubscription:
        """The item moved to the new price, prorated to `proration_date` (the preview's)."""
        ...

    def preview_change(
        self, customer_id: str, subscription_id: str, item_id: str, price_id: str, *, proration_date: datetime
    ) -> InvoicePreview:
        """The next invoice if the item moved to `price_id` at `proration_date`
        (invoices.create_preview)."""
        ...
