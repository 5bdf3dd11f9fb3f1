"""A stand-in for Stripe's HTTP API under the real `stripe` SDK: the SDK's own `HTTPClient`
interface, answering the few endpoints checkout calls with objects shaped like Stripe's, and
recording each request (method, path, form fields, Idempotency-Key). Enough to hold
tally.payments.stripe_gateway to the requests it makes; the local Stripe sandbox (local/stripe)
is the full one. `fail_with` makes the next request answer a status (500, 429) or fail to connect.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import stripe


@dataclass
class Request:
    method: str
    path: str
    form: dict[str, str]
    idempotency_key: str | None


def _error(
    status: int, code: str, message: str, kind: str = "invalid_request_error"
) -> tuple[str, int, dict[str, str]]:
    return json.dumps({"error": {"type": kind, "code": code, "message": message}}), status, {}


@dataclass
class StubStripeHttp(stripe.HTTPClient):
    name: ClassVar[str] = "stub"
    requests: list[Request] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)  # statuses to answer next; 0: cannot connect
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        super().__init__()

    def fail_with(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        text = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        form = dict(parse_qsl(text or "", keep_blank_values=True))
        key = (headers or {}).get("Idempotency-Key")
        self.requests.append(Request(method.upper(), parts.path, form, key))
        if self.failures:
            status = self.failures.pop(0)
            if status == 0:
                raise stripe.APIConnectionError("Could not connect to Stripe (stub)")  # type: ignore[no-untyped-call]
            return _error(status, "stub_failure", "The stub fails", "api_error")
        body, status = self._answer(method.upper(), parts.path, form)
        return json.dumps(body), status, {}

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - unused
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _new(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def _answer(self, method: str, path: str, form: dict[str, str]) -> tuple[Any, int]:
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        if (method, path) == ("POST", "/v1/products"):
            if form["id"] in self.objects:
                body, status, _ = _error(400, "resource_already_exists", "Product already exists.")
                return json.loads(body), status
            self.objects[form["id"]] = {
                "id": form["id"],
                "object": "product",
                "name": form["name"],
                "metadata": metadata,
            }
            return self.objects[form["id"]], 200
        if (method, path) == ("GET", "/v1/prices"):
            wanted = form.get("lookup_keys[0]")
            data = [
                o
                for o in self.objects.values()
                if o.get("object") == "price" and o.get("lookup_key") == wanted
            ]
            return {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}, 200
        if (method, path) in (("POST", "/v1/prices"), ("POST", "/v1/coupons"), ("POST", "/v1/customers")):
            kind = path.rsplit("/", 1)[1][:-1]
            made_id = form.get("id") or self._new({"price": "price", "coupon": "co", "customer": "cus"}[kind])
            if made_id in self.objects:
                body, status, _ = _error(400, "resource_already_exists", "Coupon already exists.")
                return json.loads(body), status
            self.objects[made_id] = {
                "id": made_id,
                "object": kind,
                "metadata": metadata,
                "form": form,
                **({"lookup_key": form["lookup_key"]} if "lookup_key" in form else {}),
            }
            return self.objects[made_id], 200
        if (method, path) == ("POST", "/v1/checkout/sessions"):
            made_id = self._new("cs_test")
            return {
                "id": made_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.test/{made_id}",
                "expires_at": int(form["expires_at"]),
                "metadata": metadata,
            }, 200
        if (method, path) == ("POST", "/v1/billing_portal/sessions"):
            return {
                "id": self._new("bps"),
                "object": "billing_portal.session",
                "url": "https://billing.stripe.test/p",
            }, 200
        if path.startswith("/v1/subscriptions/"):
            subscription_id = path.rsplit("/", 1)[1]
            return {
                "id": subscription_id,
                "object": "subscription",
                "customer": "cus_1",
                "status": "active",
                "cancel_at_period_end": form.get("cancel_at_period_end") == "true",
                "metadata": metadata,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": "si_1",
                            "object": "subscription_item",
                            "price": {"id": form.get("items[0][price]", "price_old"), "object": "price"},
                            "current_period_start": 1_780_000_000,
                            "current_period_end": 1_782_592_000,
                        }
                    ],
                },
            }, 200
        if (method, path) == ("POST", "/v1/invoices/create_preview"):
            line = {
                "object": "line_item",
                "amount": -1000,
                "description": "Unused time",
                "period": {"start": 1_780_000_000, "end": 1_782_592_000},
                "parent": {"subscription_item_details": {"proration": True}},
            }
            plan = {
                **line,
                "amount": 7900,
                "description": "Silver",
                "parent": {"subscription_item_details": {"proration": False}},
            }
            return {
                "object": "invoice",
                "currency": "eur",
                "total": 6900,
                "next_payment_attempt": 1_782_592_000,
                "lines": {"object": "list", "data": [line, plan], "has_more": False},
            }, 200
        body, status, _ = _error(404, "resource_missing", f"No such route {method} {path}")
        return json.loads(body), status


def stub_client(http: StubStripeHttp) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_stub", http_client=http, max_network_retries=0)
