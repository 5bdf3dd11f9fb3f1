"""`StripeCheckout` over `stripe.StripeClient` (tally.payments.stripe_client.stripe_client()).

`stripe` is imported inside the calls, never at import time: a function imports this module for
its types at no cost. Recent API versions moved a subscription's period to its items and an
invoice line's proration flag to `parent.subscription_item_details`: both places are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tally.errors import Conflict, DomainError, InvalidInput, ServiceUnavailable
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

if TYPE_CHECKING:
    from stripe import StripeClient

RETRY_AFTER_SECONDS = 2
UNREACHABLE = "The payment provider cannot be reached right now: retry shortly"


def translate(exc: Exception) -> DomainError | None:
    """The domain's error for a Stripe error (None: not one of Stripe's, or Tally's own fault,
    such as a wrong secret key, which must surface as a failure, not as the caller's)."""
    import stripe

    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return ServiceUnavailable(UNREACHABLE, retry_after=RETRY_AFTER_SECONDS)
    if not isinstance(exc, stripe.StripeError):
        return None
    status = exc.http_status or 0
    if status >= 500 or isinstance(exc, stripe.APIError):
        return ServiceUnavailable(UNREACHABLE, retry_after=RETRY_AFTER_SECONDS)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return None
    words = exc.user_message or _message(exc)
    if isinstance(exc, stripe.IdempotencyError) or status in (404, 409):
        return Conflict(f"The payment provider refused this: {words}")
    return InvalidInput(f"The payment provider refused this: {words}")


def _message(exc: Any) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "message", None) or exc.user_message or "invalid request")


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        raise mapped from exc


def _exists(exc: BaseException) -> bool:
    import stripe

    return isinstance(exc, stripe.InvalidRequestError) and exc.code == "resource_already_exists"


def _at(seconds: Any) -> datetime | None:
    return datetime.fromtimestamp(int(seconds), UTC) if seconds else None


def _get(obj: Any, *path: str) -> Any:
    """obj[a][b]... of plain dicts, or None when any step is missing."""
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as plain dicts and lists (StripeObjects are not dicts: no `.get`)."""
    return dict(obj.to_dict()) if hasattr(obj, "to_dict") else dict(obj)


def _subscription(found: Any) -> StripeSubscription:
    obj = _plain(found)
    item = obj["items"]["data"][0]
    return StripeSubscription(
        id=str(obj["id"]),
        customer_id=str(obj["customer"] if isinstance(obj["customer"], str) else obj["customer"]["id"]),
        status=str(obj["status"]),
        item_id=str(item["id"]),
        price_id=str(item["price"]["id"]),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        current_period_start=_at(item.get("current_period_start") or obj.get("current_period_start")),
        current_period_end=_at(item.get("current_period_end") or obj.get("current_period_end")),
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
    )


class StripeGateway:
    def __init__(self, client: StripeClient | Callable[[], StripeClient]) -> None:
        """`client`: the client, or how to make it on first use (stripe_client)."""
        self._client = client

    @property
    def client(self) -> StripeClient:
        made = self._client() if callable(self._client) else self._client
        self._client = made
        return made

    def ensure_product(self, spec: ProductSpec) -> str:
        params: Any = {"id": spec.id, "name": spec.name, "metadata": dict(spec.metadata)}
        try:
            with _translated():
                self.client.v1.products.create(params, {"idempotency_key": f"tally-product-{spec.id}"})
        except InvalidInput as refused:
            if not _exists(refused.__cause__ or refused):
                raise
        return spec.id

    def ensure_price(self, spec: PriceSpec) -> str:
        with _translated():
            found = self.client.v1.prices.list({"lookup_keys": [spec.lookup_key], "limit": 1})
            if found.data:
                return str(found.data[0].id)
            params: Any = {
                "product": spec.product_id,
                "unit_amount": spec.amount,
                "currency": spec.currency.lower(),
                "recurring": {"interval": spec.interval, "interval_count": spec.interval_count},
                "lookup_key": spec.lookup_key,
                "nickname": spec.nickname,
                "metadata": dict(spec.metadata),
            }
            created = self.client.v1.prices.create(
                params, {"idempotency_key": f"tally-price-{spec.lookup_key}"}
            )
        return str(created.id)

    def ensure_coupon(self, spec: CouponSpec) -> str:
        params: dict[str, Any] = {
            "id": spec.id,
            "name": spec.name[:40],  # Stripe's limit on a coupon's name
            "duration": spec.duration,
            "metadata": dict(spec.metadata),
        }
        if spec.percent_off is not None:
            params["percent_off"] = str(spec.percent_off)
        else:
            params["amount_off"] = spec.amount_off
            params["currency"] = (spec.currency or "").lower()
        if spec.duration_in_months is not None:
            params["duration_in_months"] = spec.duration_in_months
        try:
            with _translated():
                self.client.v1.coupons.create(params, {"idempotency_key": f"tally-coupon-{spec.id}"})  # type: ignore[arg-type]
        except InvalidInput as refused:
            if not _exists(refused.__cause__ or refused):
                raise
        return spec.id

    def create_customer(self, account_id: str, name: str, email: str | None, *, idempotency_key: str) -> str:
        params: Any = {"name": name, "metadata": {"tally_account_id": account_id}}
        if email:
            params["email"] = email
        with _translated():
            created = self.client.v1.customers.create(params, {"idempotency_key": idempotency_key})
        return str(created.id)

    def create_checkout_session(self, spec: SessionSpec) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": spec.mode,
            "customer": spec.customer_id,
            "client_reference_id": spec.client_reference_id,
            "success_url": spec.success_url,
            "cancel_url": spec.cancel_url,
            "expires_at": int(spec.expires_at.timestamp()),
            "metadata": dict(spec.metadata),
        }
        if spec.coupon_id is not None:
            params["discounts"] = [{"coupon": spec.coupon_id}]
        if spec.mode == "subscription":
            params["line_items"] = [{"price": spec.price_id, "quantity": 1}]
            data: dict[str, Any] = {"metadata": dict(spec.metadata)}
            if spec.trial_days:
                data["trial_period_days"] = spec.trial_days
            params["subscription_data"] = data
            if not spec.card_required:
                params["payment_method_collection"] = "if_required"
        else:
            line = spec.one_off
            assert line is not None
            params["line_items"] = [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": line.currency.lower(),
                        "product": line.product_id,
                        "unit_amount": line.amount,
                    },
                }
            ]
            params["payment_intent_data"] = {"metadata": dict(spec.metadata), "description": line.description}
        with _translated():
            session = self.client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                {"idempotency_key": spec.idempotency_key},
            )
        expires = _at(session.expires_at) or spec.expires_at
        return CheckoutSession(id=str(session.id), url=str(session.url), expires_at=expires)

    def create_portal_session(self, customer_id: str, return_url: str) -> str:
        with _translated():
            session = self.client.v1.billing_portal.sessions.create(
                {"customer": customer_id, "return_url": return_url}
            )
        return str(session.url)

    def subscription(self, subscription_id: str) -> StripeSubscription:
        with _translated():
            return _subscription(self.client.v1.subscriptions.retrieve(subscription_id))

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, *, idempotency_key: str
    ) -> StripeSubscription:
        with _translated():
            updated = self.client.v1.subscriptions.update(
                subscription_id, {"cancel_at_period_end": cancel}, {"idempotency_key": idempotency_key}
            )
        return _subscription(updated)

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
        params: Any = {
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": "create_prorations",
            "proration_date": int(proration_date.timestamp()),
            "metadata": dict(metadata),
        }
        with _translated():
            updated = self.client.v1.subscriptions.update(
                subscription_id, params, {"idempotency_key": idempotency_key}
            )
        return _subscription(updated)

    def preview_change(
        self, customer_id: str, subscription_id: str, item_id: str, price_id: str, *, proration_date: datetime
    ) -> InvoicePreview:
        params: Any = {
            "customer": customer_id,
            "subscription": subscription_id,
            "subscription_details": {
                "items": [{"id": item_id, "price": price_id}],
                "proration_behavior": "create_prorations",
                "proration_date": int(proration_date.timestamp()),
            },
        }
        with _translated():
            invoice = _plain(self.client.v1.invoices.create_preview(params))
        lines = []
        for line in invoice["lines"]["data"]:
            proration = line.get("proration")
            if proration is None:
                proration = _get(line, "parent", "subscription_item_details", "proration")
            lines.append(
                PreviewLine(
                    description=str(line.get("description") or ""),
                    amount=int(line["amount"]),
                    period_start=_at(line["period"]["start"]) or proration_date,
                    period_end=_at(line["period"]["end"]) or proration_date,
                    proration=bool(proration),
                )
            )
        return InvoicePreview(
            currency=str(invoice["currency"]).upper(),
            total=int(invoice["total"]),
            lines=tuple(lines),
            next_payment_at=_at(_get(invoice, "next_payment_attempt") or _get(invoice, "period_end")),
        )
