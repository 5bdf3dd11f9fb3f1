"""Starting a Stripe checkout for an account: a subscription to a plan, or a one-off order.

A checkout is recorded before Stripe is called (`CheckoutRecord`, keyed by a digest of the
account, the client's Idempotency-Key and the body), with the instant its session expires. A
retry after any failure finds that record and redoes only what is missing, with the same ids
and the same Stripe idempotency keys: the same customer (`tally-customer-<account>`), the same
placement reservation (whose expiry is the session's), the same session
(`tally-checkout-<checkout id>`). A Stripe failure leaves the reservation held for the retry; it
frees its seat when it expires, like any reservation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from tally import clock as clocks
from tally.audit.records import AuditContext
from tally.billing.catalogue import PublishedVersion
from tally.billing.subscription_state import FINAL
from tally.checkout.dynamo import CheckoutRecord
from tally.checkout.models import CheckoutIn, CheckoutOut
from tally.checkout.stripe_objects import StripeIds, StripeObjects
from tally.checkout.urls import check_return_url
from tally.clock import Clock
from tally.coupons.ports import Subscriptions
from tally.coupons.service import CouponService
from tally.errors import Conflict, InvalidInput, NotFound
from tally.payments.stripe_checkout import OneOffLine, SessionSpec, StripeCheckout
from tally.placements.models import CAPACITY_FEATURE, DEFAULT_CAPACITY
from tally.placements.ports import CheckoutSeats
from tally.plans.service import CatalogueService
from tally.subscriptions.choices import choosable
from tally.subscriptions.ports import Accounts

# Stripe takes a session's expiry 30 minutes to 24 hours ahead: 30 minutes and the request's time.
SESSION_HOLD = timedelta(minutes=31)
STRIPE_LEAST_HOLD = timedelta(minutes=30, seconds=5)


class CheckoutStore(StripeIds, Protocol):
    def checkout(self, account_id: str, checkout_id: str) -> CheckoutRecord | None: ...

    def start(self, record: CheckoutRecord, context: AuditContext) -> CheckoutRecord: ...

    def opened(
        self, record: CheckoutRecord, session_id: str, url: str, context: AuditContext
    ) -> CheckoutRecord: ...


def checkout_id(account_id: str, idempotency_key: str, body: dict[str, Any]) -> str:
    text = json.dumps([account_id, idempotency_key, body], sort_keys=True, separators=(",", ":"))
    return f"chk_{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def capacity_of(version: PublishedVersion) -> int:
    """A placement plan's seats per (location, category): its `placement_capacity` feature."""
    value = version.version.features.get(CAPACITY_FEATURE)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else DEFAULT_CAPACITY
    )


class CheckoutService:
    def __init__(
        self,
        *,
        catalogue: CatalogueService,
        coupons: CouponService,
        accounts: Accounts,
        subscriptions: Subscriptions,
        store: CheckoutStore,
        seats: CheckoutSeats,
        stripe: StripeCheckout,
        allowed_origins: Callable[[], frozenset[str]],
        clock: Clock | None = None,
        hold: timedelta = SESSION_HOLD,
    ) -> None:
        self._catalogue = catalogue
        self._coupons = coupons
        self._accounts = accounts
        self._subscriptions = subscriptions
        self._store = store
        self._seats = seats
        self._stripe = stripe
        self._objects = StripeObjects(store, stripe)
        self._allowed = allowed_origins
        self._clock = clock
        self._hold = hold

    def _now(self) -> datetime:
        return (self._clock or clocks.get_clock()).now()

    def checkout(
        self, account_id: str, request: CheckoutIn, idempotency_key: str, context: AuditContext
    ) -> CheckoutOut:
        allowed = self._allowed()
        check_return_url(request.success_url, "success_url", allowed)
        check_return_url(request.cancel_url, "cancel_url", allowed)
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound(f"No account '{account_id}'", field="account_id")
        stored, version = choosable(self._catalogue, request.plan)
        amount = self._amount(version, request)
        if request.kind == "subscription":
            existing = self._subscriptions.current(account_id)
            if existing is not None and existing.status not in FINAL:
                raise Conflict(
                    f"This account already has a {existing.status} subscription ({existing.id}): change "
                    "it instead (POST /v1/billing/subscription/change)",
                    field="plan",
                )
        coupon = None
        if request.coupon is not None:
            coupon = self._coupons.check(
                request.coupon, account_id, request.plan, request.currency, amount, field="coupon"
            ).coupon
        body = request.model_dump(mode="json")
        digest = checkout_id(account_id, idempotency_key, body)
        now = self._now()
        until = now + self._hold
        reservation_id = f"rsv_{digest[4:24]}" if request.placement is not None else None
        if request.placement is not None and reservation_id is not None:
            # First, so that a full placement leaves nothing behind; a retry finds its seat.
            until = self._seats.reserve(
                request.placement.location_id,
                request.placement.category_id,
                account_id,
                until=until,
                capacity=capacity_of(version),
                at=now,
                reservation_id=reservation_id,
                context=context,
            ).until
        record = self._store.start(
            CheckoutRecord(
                id=digest,
                account_id=account_id,
                kind=request.kind,
                plan=stored.plan.code,
                plan_version=version.number,
                cycle=request.cycle,
                currency=request.currency,
                amount=amount,
                until=until,
                created_at=now,
                coupon=coupon.code if coupon is not None else None,
                reservation_id=reservation_id,
                order_id=f"ord_{digest[4:24]}" if request.kind == "order" else None,
            ),
            context,
        )
        if record.session_id is not None and record.url is not None:
            return _out(record)
        if record.until - now < STRIPE_LEAST_HOLD:
            # Stripe makes no session expiring sooner, and a retry must ask for the same expiry.
            raise Conflict(
                "This checkout can no longer be completed: start a new one (with a new Idempotency-Key)"
            )
        customer = self._objects.customer(account, context)
        metadata = {
            "tally_account_id": account_id,
            "tally_kind": request.kind,
            "tally_plan": stored.plan.code,
            "tally_plan_version": str(version.number),
            "tally_cycle": request.cycle,
            "tally_currency": request.currency,
        }
        if coupon is not None:
            metadata["tally_coupon"] = coupon.code
        if record.reservation_id is not None:
            metadata["tally_reservation_id"] = record.reservation_id
        if record.order_id is not None:
            metadata["tally_order_id"] = record.order_id
        coupon_id = (
            self._objects.coupon(coupon, request.cycle, request.currency, context)
            if coupon is not None
            else None
        )
        common = {
            "customer_id": customer,
            "client_reference_id": account_id,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "expires_at": record.until,
            "metadata": metadata,
            "idempotency_key": f"tally-checkout-{record.id}",
            "coupon_id": coupon_id,
        }
        if request.kind == "subscription":
            trial = version.version.trial
            spec = SessionSpec(
                mode="subscription",
                price_id=self._objects.price(
                    stored.plan, version, request.cycle, request.currency, amount, context
                ),
                trial_days=trial.days if trial is not None else None,
                card_required=trial.card_required if trial is not None else True,
                **common,  # type: ignore[arg-type]
            )
        else:
            line = OneOffLine(
                product_id=self._objects.product(stored.plan, context),
                amount=amount,
                currency=request.currency,
                description=f"{stored.plan.name} ({request.cycle})",
            )
            spec = SessionSpec(mode="payment", one_off=line, **common)  # type: ignore[arg-type]
        session = self._stripe.create_checkout_session(spec)
        return _out(self._store.opened(record, session.id, session.url, context))

    @staticmethod
    def _amount(version: PublishedVersion, request: CheckoutIn) -> int:
        price = version.version.price(request.cycle, request.currency)
        if price is None:
            offered = ", ".join(f"{p.cycle} {p.currency}" for p in version.version.prices)
            wrong = "currency" if any(p.cycle == request.cycle for p in version.version.prices) else "cycle"
            raise InvalidInput(
                f"Plan '{request.plan}' has no {request.cycle} price in {request.currency}: "
                f"it is priced {offered}",
                field=wrong,
            )
        if price.amount is None:
            raise Conflict(
                f"Plan '{request.plan}' is sold on quote in {request.currency}: a platform admin sets it up",
                field="plan",
            )
        return price.amount


def _out(record: CheckoutRecord) -> CheckoutOut:
    assert record.session_id is not None
    assert record.url is not None
    return CheckoutOut(
        checkout_url=record.url,
        session_id=record.session_id,
        expires_at=record.until,
        reservation_id=record.reservation_id,
    )
