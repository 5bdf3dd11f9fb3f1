"""An in-memory `StripeCheckout` (tally.payments.stripe_checkout): records every call, honours
idempotency keys as Stripe does (the same key answers the same object), and fails on request the
way the gateway turns Stripe's failures into the domain's (503 ServiceUnavailable)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tally.errors import ServiceUnavailable
from tally.payments.stripe_checkout import (
    CheckoutSession,
    CouponSpec,
    InvoicePreview,
    PreviewLine,
    PriceSpec,
    ProductSpec,
    SessionSpec,
    StripeSubscription,
)
from tally.payments.stripe_gateway import RETRY_AFTER_SECONDS, UNREACHABLE


@dataclass
class FakeStripe:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    products: dict[str, ProductSpec] = field(default_factory=dict)
    prices: dict[str, tuple[str, PriceSpec]] = field(default_factory=dict)  # lookup_key -> (id, spec)
    coupons: dict[str, CouponSpec] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, tuple[CheckoutSession, SessionSpec]] = field(default_factory=dict)
    subscriptions: dict[str, StripeSubscription] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # idempotency key -> object id
    failures: dict[str, int] = field(default_factory=dict)  # method -> failures left
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- test controls ---------------------------------------------------------------------

    def fail(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` find Stripe unreachable (a 503)."""
        self.failures[method] = times

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    def add_subscription(self, customer_id: str, price_id: str, **values: Any) -> StripeSubscription:
        made = StripeSubscription(
            id=f"sub_{next(self._ids)}",
            customer_id=customer_id,
            status=values.get("status", "active"),
            item_id=f"si_{next(self._ids)}",
            price_id=price_id,
            cancel_at_period_end=False,
            current_period_start=values.get("start"),
            current_period_end=values.get("end"),
            metadata=values.get("metadata", {}),
        )
        self.subscriptions[made.id] = made
        return made

    def _enter(self, method: str, argument: Any) -> None:
        with self._lock:
            self.calls.append((method, argument))
            left = self.failures.get(method, 0)
            if left:
                self.failures[method] = left - 1
        if left:
            raise ServiceUnavailable(UNREACHABLE, retry_after=RETRY_AFTER_SECONDS)

    def _new(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_{next(self._ids)}"

    # -- the port --------------------------------------------------------------------------

    def ensure_product(self, spec: ProductSpec) -> str:
        self._enter("ensure_product", spec)
        self.products.setdefault(spec.id, spec)
        return spec.id

    def ensure_price(self, spec: PriceSpec) -> str:
        self._enter("ensure_price", spec)
        with self._lock:
            if spec.lookup_key not in self.prices:
                self.prices[spec.lookup_key] = (f"price_{next(self._ids)}", spec)
            return self.prices[spec.lookup_key][0]

    def ensure_coupon(self, spec: CouponSpec) -> str:
        self._enter("ensure_coupon", spec)
        self.coupons.setdefault(spec.id, spec)
        return spec.id

    def create_customer(self, account_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        self._enter("create_customer", account_id)
        with self._lock:
            if idempotency_key not in self.keys:
                made = f"cus_{next(self._ids)}"
                self.customers[made] = {
                    "name": name,
                    "email": email,
                    "metadata": {"tally_account_id": account_id},
                }
                self.keys[idempotency_key] = made
            return self.keys[idempotency_key]

    def create_checkout_session(self, spec: SessionSpec) -> CheckoutSession:
        self._enter("create_checkout_session", spec)
        with self._lock:
            known = self.keys.get(spec.idempotency_key)
            if known is not None:
                return self.sessions[known][0]
            made = f"cs_test_{next(self._ids)}"
            session = CheckoutSession(made, f"https://checkout.stripe.test/c/pay/{made}", spec.expires_at)
            self.sessions[made] = (session, spec)
            self.keys[spec.idempotency_key] = made
            return session

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        self._enter("create_portal_session", (customer_id, return_url))
        return f"https://billing.stripe.test/p/session/{self._new('bps')}"

    def subscription(self, subscription_id: str) -> StripeSubscription:
        self._enter("subscription", subscription_id)
        return self.subscriptions[subscription_id]

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> StripeSubscription:
        self._enter("set_cancel_at_period_end", (subscription_id, cancel))
        changed = replace(self.subscriptions[subscription_id], cancel_at_period_end=cancel)
        self.subscriptions[subscription_id] = changed
        return changed

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
        self._enter("change_price", (subscription_id, price_id, dict(metadata)))
        changed = replace(self.subscriptions[subscription_id], price_id=price_id, metadata=dict(metadata))
        self.subscriptions[subscription_id] = changed
        return changed

    def preview_change(
        self, customer_id: str, subscription_id: str, item_id: str, price_id: str, *, proration_date: datetime
    ) -> InvoicePreview:
        self._enter("preview_change", (subscription_id, price_id))
        old = self.subscriptions[subscription_id]
        new_amount = next(spec.amount for key, (pid, spec) in self.prices.items() if pid == price_id)
        old_spec = next((spec for pid, spec in self.prices.values() if pid == old.price_id), None)
        old_amount = old_spec.amount if old_spec is not None else 0
        end = old.current_period_end or proration_date + timedelta(days=30)
        start = old.current_period_start or proration_date - timedelta(days=1)
        share = (end - proration_date) / (end - start)
        credit = -round(old_amount * share)
        charge = round(new_amount * share)
        lines = (
            PreviewLine("Unused time on the old plan", credit, proration_date, end, proration=True),
            PreviewLine("Remaining time on the new plan", charge, proration_date, end, proration=True),
            PreviewLine("The new plan, next period", new_amount, end, end + (end - start), proration=False),
        )
        currency = next(spec.currency for pid, spec in self.prices.values() if pid == price_id)
        return InvoicePreview(
            currency=currency, total=sum(line.amount for line in lines), lines=lines, next_payment_at=end
        )
