"""The sandbox's HTTP face: Stripe's /v1 API (form-encoded, bearer key, idempotency keys, Stripe's
errors), the control endpoints under /_control/ (JSON) and the pages a customer would see.

`App.handle` turns one request into one answer and is what the tests of routing call; `SandboxServer`
serves it on a loopback socket, one thread per connection.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.stripe import pages
from local.stripe.billing import Billing
from local.stripe.core import API_VERSION
from local.stripe.delivery import Deliverer
from local.stripe.errors import StripeError, invalid
from local.stripe.forms import parse_form
from local.stripe.money import DAY, iso_or_unix
from local.stripe.store import expand_params, new_id

log = logging.getLogger("local.stripe")

Obj = dict[str, Any]
Handler = Callable[[Billing, list[str], Obj], Obj]

_IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters they were first used with. "
    "Try using a key other than '{key}' if you meant to execute a different request."
)

_IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters they were first used with. "
    "Try using a key other than '{key}' if you meant to execute a different request."
)


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, value: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(value, indent=2).encode(), headers=headers or {})


def _api_routes() -> list[tuple[str, re.Pattern[str], Handler]]:
    """(method, path pattern, handler(billing, path ids, params)): every /v1 endpoint the sandbox serves."""
    b = Billing
    table: list[tuple[str, str, Handler]] = [
        ("POST", "/v1/customers", lambda s, ids, p: b.create_customer(s, p)),
        ("GET", "/v1/customers", lambda s, ids, p: b.list_customers(s, p)),
        ("GET", "/v1/customers/search", lambda s, ids, p: s.search("customer", "/v1/customers/search", p)),
        ("GET", "/v1/customers/{id}", lambda s, ids, p: b.customer(s, ids[0])),
        ("DELETE", "/v1/customers/{id}", lambda s, ids, p: b.delete_customer(s, ids[0])),
        ("POST", "/v1/customers/{id}", lambda s, ids, p: b.update_customer(s, ids[0], p)),
        ("POST", "/v1/products", lambda s, ids, p: b.create_product(s, p)),
        ("GET", "/v1/products", lambda s, ids, p: s.simple_list("product", "/v1/products", p)),
        ("GET", "/v1/products/search", lambda s, ids, p: s.search("product", "/v1/products/search", p)),
        ("GET", "/v1/products/{id}", lambda s, ids, p: s.store.get("product", ids[0])),
        ("POST", "/v1/products/{id}", lambda s, ids, p: b.update_product(s, ids[0], p)),
        ("POST", "/v1/prices", lambda s, ids, p: b.create_price(s, p)),
        ("GET", "/v1/prices", lambda s, ids, p: b.list_prices(s, p)),
        ("GET", "/v1/prices/search", lambda s, ids, p: s.search("price", "/v1/prices/search", p)),
        ("GET", "/v1/prices/{id}", lambda s, ids, p: s.store.get("price", ids[0])),
        ("POST", "/v1/prices/{id}", lambda s, ids, p: b.update_price(s, ids[0], p)),
        ("POST", "/v1/coupons", lambda s, ids, p: b.create_coupon(s, p)),
        ("GET", "/v1/coupons", lambda s, ids, p: s.simple_list("coupon", "/v1/coupons", p)),
        ("GET", "/v1/coupons/{id}", lambda s, ids, p: s.store.get("coupon", ids[0])),
        ("POST", "/v1/coupons/{id}", lambda s, ids, p: b.update_coupon(s, ids[0], p)),
        ("DELETE", "/v1/coupons/{id}", lambda s, ids, p: b.delete_coupon(s, ids[0])),
        ("POST", "/v1/promotion_codes", lambda s, ids, p: b.create_promotion_code(s, p)),
        ("GET", "/v1/promotion_codes", lambda s, ids, p: b.list_promotion_codes(s, p)),
        ("GET", "/v1/promotion_codes/{id}", lambda s, ids, p: s.store.get("promotion_code", ids[0])),
        ("POST", "/v1/promotion_codes/{id}", lambda s, ids, p: b.update_promotion_code(s, ids[0], p)),
        ("POST", "/v1/checkout/sessions", lambda s, ids, p: b.create_checkout_session(s, p)),
        ("GET", "/v1/checkout/sessions", lambda s, ids, p: b.list_checkout_sessions(s, p)),
        ("GET", "/v1/checkout/sessions/{id}", lambda s, ids, p: s.store.get("checkout.session", ids[0])),
        ("POST", "/v1/checkout/sessions/{id}/expire", lambda s, ids, p: b.expire_checkout_session(s, ids[0])),
        ("GET", "/v1/subscriptions", lambda s, ids, p: b.list_subscriptions(s, p)),
        (
            "GET",
            "/v1/subscriptions/search",
            lambda s, ids, p: s.search("subscription", "/v1/subscriptions/search", p),
        ),
        ("GET", "/v1/subscriptions/{id}", lambda s, ids, p: s.store.get("subscription", ids[0])),
        ("POST", "/v1/subscriptions/{id}", lambda s, ids, p: b.update_subscription(s, ids[0], p)),
        ("DELETE", "/v1/subscriptions/{id}", lambda s, ids, p: b.cancel_subscription(s, ids[0], p)),
        ("POST", "/v1/subscriptions/{id}/resume", lambda s, ids, p: b.resume_subscription(s, ids[0], p)),
        ("GET", "/v1/invoices", lambda s, ids, p: b.list_invoices(s, p)),
        ("POST", "/v1/invoices/create_preview", lambda s, ids, p: b.preview_invoice(s, p)),
        ("GET", "/v1/invoices/search", lambda s, ids, p: s.search("invoice", "/v1/invoices/search", p)),
        ("GET", "/v1/invoices/{id}", lambda s, ids, p: s.store.get("invoice", ids[0])),
        ("GET", "/v1/invoices/{id}/lines", _invoice_lines),
        ("POST", "/v1/invoices/{id}/pay", lambda s, ids, p: b.pay_invoice(s, ids[0], p)),
        ("POST", "/v1/invoices/{id}/void", lambda s, ids, p: b.void_invoice(s, ids[0])),
        ("POST", "/v1/invoices/{id}/mark_uncollectible", lambda s, ids, p: b.mark_uncollectible(s, ids[0])),
        ("POST", "/v1/invoices/{id}/finalize", _finalize_invoice),
        (
            "GET",
            "/v1/invoice_payments",
            lambda s, ids, p: s.simple_list("invoice_payment", "/v1/invoice_payments", p, "invoice"),
        ),
        ("GET", "/v1/invoice_payments/{id}", lambda s, ids, p: s.store.get("invoice_payment", ids[0])),
        ("POST", "/v1/payment_intents", lambda s, ids, p: b.create_payment_intent(s, p)),
        (
            "GET",
            "/v1/payment_intents",
            lambda s, ids, p: s.simple_list("payment_intent", "/v1/payment_intents", p, "customer"),
        ),
        ("GET", "/v1/payment_intents/{id}", lambda s, ids, p: s.store.get("payment_intent", ids[0])),
        (
            "POST",
            "/v1/payment_intents/{id}/confirm",
            lambda s, ids, p: b.confirm_payment_intent(s, ids[0], p),
        ),
        ("POST", "/v1/payment_intents/{id}/cancel", lambda s, ids, p: b.cancel_payment_intent(s, ids[0], p)),
        (
            "GET",
            "/v1/payment_methods",
            lambda s, ids, p: s.simple_list("payment_method", "/v1/payment_methods", p, "customer", "type"),
        ),
        ("GET", "/v1/payment_methods/{id}", lambda s, ids, p: s.store.get("payment_method", ids[0])),
        ("POST", "/v1/refunds", lambda s, ids, p: b.create_refund(s, p)),
        (
            "GET",
            "/v1/refunds",
            lambda s, ids, p: s.simple_list("refund", "/v1/refunds", p, "charge", "payment_intent"),
        ),
        ("GET", "/v1/refunds/{id}", lambda s, ids, p: s.store.get("refund", ids[0])),
        (
            "GET",
            "/v1/charges",
            lambda s, ids, p: s.simple_list("charge", "/v1/charges", p, "customer", "payment_intent"),
        ),
        ("GET", "/v1/charges/{id}", lambda s, ids, p: s.store.get("charge", ids[0])),
        ("GET", "/v1/disputes/{id}", lambda s, ids, p: s.store.get("dispute", ids[0])),
        ("POST", "/v1/billing_portal/sessions", lambda s, ids, p: b.create_portal_session(s, p)),
        ("POST", "/v1/test_helpers/test_clocks", lambda s, ids, p: b.create_test_clock(s, p)),
        (
            "GET",
            "/v1/test_helpers/test_clocks",
            lambda s, ids, p: s.simple_list("test_helpers.test_clock", "/v1/test_helpers/test_clocks", p),
        ),
        (
            "GET",
            "/v1/test_helpers/test_clocks/{id}",
            lambda s, ids, p: s.store.get("test_helpers.test_clock", ids[0]),
        ),
        ("POST", "/v1/test_helpers/test_clocks/{id}/advance", _advance_clock_api),
        ("GET", "/v1/events", lambda s, ids, p: b.list_events(s, p)),
        ("GET", "/v1/events/{id}", lambda s, ids, p: s.store.get("event", ids[0])),
    ]
    return [(method, _pattern(path), handler) for method, path, handler in table]


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(path).replace(re.escape("{id}"), "([^/]+)") + "$")


def _invoice_lines(s: Billing, ids: list[str], p: Obj) -> Obj:
    invoice = s.store.get("invoice", ids[0])
    return s.store.page(list(reversed(invoice["lines"]["data"])), p, f"/v1/invoices/{ids[0]}/lines")


def _finalize_invoice(s: Billing, ids: list[str], p: Obj) -> Obj:
    invoice = s.store.get("invoice", ids[0])
    return s.finalize(invoice, s.time(invoice["_clock"]))


def _advance_clock_api(s: Billing, ids: list[str], p: Obj) -> Obj:
    if "frozen_time" not in p:
        raise invalid("Missing required param: frozen_time.", param="frozen_time", code="parameter_missing")
    return s.advance_test_clock(ids[0], int(p["frozen_time"]))


# -- control endpoints (JSON in, JSON out) -----------------------------------------------------------


def _target_time(s: Billing, clock: Obj, body: Obj, sub: Obj | None = None) -> int:
    """`frozen_time` (unix or ISO 8601), `days` from the clock's time, or `"period_end"` of `sub`."""
    if body.get("frozen_time") == "period_end" and sub is not None:
        return s.period(sub)[1] + 1
    if body.get("frozen_time") is not None:
        try:
            return iso_or_unix(body["frozen_time"])
        except ValueError:
            raise invalid("frozen_time: unix seconds or an ISO 8601 instant", param="frozen_time") from None
    if body.get("days") is not None:
        return int(clock["frozen_time"]) + int(float(body["days"]) * DAY)
    raise invalid('Give frozen_time (unix, ISO 8601 or "period_end") or days.', param="frozen_time")


def _control_advance_clock(s: Billing, ids: list[str], body: Obj) -> Obj:
    clock = s.store.get("test_helpers.test_clock", ids[0])
    return s.advance_test_clock(clock["id"], _target_time(s, clock, body))


def _control_advance_customer(s: Billing, ids: list[str], body: Obj) -> Obj:
    clock = s.clock_for_customer(s.store.get("customer", ids[0]))
    return s.advance_test_clock(clock["id"], _target_time(s, clock, body))


def _control_advance_subscription(s: Billing, ids: list[str], body: Obj) -> Obj:
    sub = s.store.get("subscription", ids[0])
    clock = s.clock_for_customer(s.store.get("customer", sub["customer"]))
    s.advance_test_clock(clock["id"], _target_time(s, clock, body, sub))
    return sub


def _control_routes() -> list[tuple[str, re.Pattern[str], Handler]]:
    b = Billing
    table: list[tuple[str, str, Handler]] = [
        (
            "POST",
            "/_control/checkout/sessions/{id}/complete",
            lambda s, ids, p: b.complete_checkout_session(s, ids[0], p),
        ),
        (
            "POST",
            "/_control/checkout/sessions/{id}/expire",
            lambda s, ids, p: b.expire_checkout_session(s, ids[0]),
        ),
        ("POST", "/_control/invoices/{id}/pay", lambda s, ids, p: b.control_pay_invoice(s, ids[0], p)),
        ("POST", "/_control/invoices/{id}/fail", lambda s, ids, p: b.control_fail_invoice(s, ids[0])),
        ("POST", "/_control/test_clocks/{id}/advance", _control_advance_clock),
        ("POST", "/_control/customers/{id}/advance", _control_advance_customer),
        ("POST", "/_control/subscriptions/{id}/advance", _control_advance_subscription),
        ("POST", "/_control/charges/{id}/dispute", lambda s, ids, p: b.open_dispute(s, ids[0], p)),
        ("POST", "/_control/disputes/{id}/close", lambda s, ids, p: b.close_dispute(s, ids[0], p)),
        (
            "POST",
            "/_control/tick",
            lambda s, ids, p: {"object": "tick", "done": s.run_due(None, s.time(None))},
        ),
    ]
    return [(method, _pattern(path), handler) for method, path, handler in table]


class App:
    def __init__(self, billing: Billing, deliverer: Deliverer, *, secret_key: str | None = None) -> None:
        self.billing = billing
        self.deliverer = deliverer
        self.secret_key = secret_key
        self.api = _api_routes()
        self.control = _control_routes()
        # Idempotency-Key -> (what was asked, the answer): the same key answers the same thing again.
        self.idempotent: dict[str, tuple[str, Answer]] = {}

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        path, query = parts.path.rstrip("/") or "/", parts.query
        try:
            if path.startswith("/v1/"):
                return self._api(method, path, query, headers, body)
            if path.startswith("/_control/"):
                return self._control(method, path, query, headers, body)
            return self._page(method, path, headers, body)
        except StripeError as exc:
            return _json(exc.status, exc.body())

    # -- /v1 ------------------------------------------------------------------------------------------

    def _authorised(self, headers: dict[str, str]) -> str | None:
        value = headers.get("authorization", "")
        scheme, _, credential = value.partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential).decode().partition(":")[0]
            except ValueError:
                return None
        elif scheme.lower() != "bearer":
            return None
        credential = credential.strip()
        if not credential.startswith("sk_test_"):
            return None
        if self.secret_key and credential != self.secret_key:
            return None
        return credential

    def _api(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
        request_id = new_id("req", 14)
        base = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        key = self._authorised(headers)
        if key is None:
            shown = headers.get("authorization", "")[-4:]
            return _json(
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": None,
                        "param": None,
                        "message": f"Invalid API Key provided: sk_test_****{shown}"
                        if shown
                        else "You did not provide an API key (Authorization: Bearer sk_test_…).",
                    }
                },
                base,
            )
        params = parse_form(query) if method in {"GET", "DELETE"} else {}
        if method == "POST":
            params = parse_form(body.decode())
        if method == "DELETE" and body:
            params.update(parse_form(body.decode()))
        idempotency_key = headers.get("idempotency-key") if method == "POST" else None
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        if idempotency_key:
            base["Idempotency-Key"] = idempotency_key
        for route_method, pattern, handler in self.api:
            match = pattern.match(path)
            if match is None or route_method != method:
                continue
            with self.billing.lock:
                if idempotency_key:
                    seen = self.idempotent.get(f"{key}:{idempotency_key}")
                    if seen is not None:
                        if seen[0] != fingerprint:
                            return _json(
                                400,
                                {
                                    "error": {
                                        "type": "idempotency_error",
                                        "code": None,
                                        "param": None,
                                        "message": _IDEMPOTENCY_MISMATCH.format(key=idempotency_key),
                                    }
                                },
                                base,
                            )
                        replay = seen[1]
                        return Answer(
                            replay.status,
                            replay.body,
                            headers={**replay.headers, "Idempotent-Replayed": "true"},
                        )
                self.billing.request = {"id": request_id, "idempotency_key": idempotency_key}
                try:
                    answer = self._call(handler, list(match.groups()), params, base)
                finally:
                    self.billing.request = {"id": None, "idempotency_key": None}
                # Stripe keeps the answer to every request that ran, card declines included, not to
                # one refused before it started (a bad parameter).
                if idempotency_key and (answer.status < 400 or answer.status == 402):
                    self.idempotent[f"{key}:{idempotency_key}"] = (fingerprint, answer)
                return answer
        known = any(pattern.match(path) for _, pattern, _ in self.api)
        return _json(
            404 if not known else 405,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": None,
                    "param": None,
                    "message": f"Unrecognized request URL ({method}: {path}).",
                }
            },
            base,
        )

    def _call(self, handler: Handler, ids: list[str], params: Obj, headers: dict[str, str]) -> Answer:
        try:
            result = handler(self.billing, ids, params)
        except StripeError as exc:
            return _json(exc.status, exc.body(), headers)
        if result.get("object") in {"list", "search_result"}:
            return _json(200, result, headers)
        expand = expand_params(params)
        included = [path for path in expand if path == "payments" or path.startswith("payments.")]
        if included and result.get("object") != "invoice":
            return _json(
                400, invalid("This property cannot be expanded (payments).", param="expand").body(), headers
            )
        try:
            rendered = self.billing.store.render(result, [path for path in expand if path not in included])
        except StripeError as exc:
            return _json(exc.status, exc.body(), headers)
        if included:  # an invoice's payments: Stripe's includable list, not a field holding an id
            rendered["payments"] = self.billing.simple_list(
                "invoice_payment",
                f"/v1/invoices/{result['id']}/payments",
                {
                    "invoice": result["id"],
                    "limit": 100,
                    "expand": [f"data.{p[9:]}" for p in included if p[9:]],
                },
                "invoice",
            )
        return _json(200, rendered, headers)

    # -- /_control ------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer:
        if method == "GET" and path == "/_control/events":
            return _json(200, self.events(dict(parse_qsl(query))))
        if method == "GET" and path == "/_control/health":
            return _json(200, {"ok": True})
        data: Obj = {}
        if body.strip():
            # curl's -d sends JSON as a form unless told otherwise: a body that looks like JSON is JSON.
            if "json" in headers.get("content-type", "json") or body.lstrip().startswith(b"{"):
                try:
                    loaded = json.loads(body)
                except ValueError:
                    return _json(400, invalid("The body must be a JSON object.").body())
                if not isinstance(loaded, dict):
                    return _json(400, invalid("The body must be a JSON object.").body())
                data = loaded
            else:
                data = parse_form(body.decode())
        for route_method, pattern, handler in self.control:
            match = pattern.match(path)
            if match is not None and route_method == method:
                with self.billing.lock:
                    try:
                        result = handler(self.billing, list(match.groups()), data)
                    except StripeError as exc:
                        return _json(exc.status, exc.body())
                    return _json(200, self.billing.store.render(result))
        return _json(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": None,
                    "param": None,
                    "message": f"Unrecognized control URL ({method}: {path}).",
                }
            },
        )

    def events(self, query: dict[str, str]) -> Obj:
        """Every event, newest first, with its deliveries: each attempt's time, status and answer."""
        deliveries: dict[str, Obj] = {d["event"]: d for d in self.deliverer.summaries()}
        with self.billing.lock:
            events = list(reversed(self.billing.store.all("event")))
        wanted = query.get("type")
        return {
            "object": "list",
            "endpoint": self.deliverer.url,
            "data": [
                {
                    "id": event["id"],
                    "type": event["type"],
                    "created": event["created"],
                    "object": event["data"]["object"].get("id"),
                    "delivery": deliveries.get(event["id"]),
                }
                for event in events
                if not wanted or event["type"] == wanted
            ],
        }

    # -- pages ----------------------------------------------------------------------------------------

    def _page(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = path.strip("/").split("/")
        store = self.billing.store
        with self.billing.lock:
            if len(parts) == 2 and parts[0] == "checkout":
                session = store.get("checkout.session", parts[1])
                items = [(store.get("price", price), qty) for price, qty in session["_items"]]
                if method == "POST":
                    form = parse_form(body.decode())
                    try:
                        self.billing.complete_checkout_session(session["id"], form)
                    except StripeError as exc:
                        return Answer(
                            exc.status, pages.checkout_page(session, items, exc.message), "text/html"
                        )
                    target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
                    return Answer(303, b"", "text/html", {"Location": target})
                return Answer(200, pages.checkout_page(session, items), "text/html")
            if len(parts) == 2 and parts[0] == "billing_portal":
                portal = store.get("billing_portal.session", parts[1])
                subs = [sub for sub in store.all("subscription") if sub["customer"] == portal["customer"]]
                return Answer(200, pages.portal_page(portal, subs), "text/html")
            if len(parts) >= 2 and parts[0] == "invoices":
                invoice = store.get("invoice", parts[1])
                if len(parts) == 3 and parts[2] == "pdf":
                    return Answer(200, pages.invoice_pdf(invoice), "application/pdf")
                return Answer(200, pages.invoice_page(invoice), "text/html")
            if len(parts) == 2 and parts[0] == "receipts":
                return Answer(200, pages.receipt_page(store.get("charge", parts[1])), "text/html")
        return Answer(404, b"Not found", "text/plain")


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("stripe sandbox: " + format, *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.app.handle(self.command, self.path, headers, body)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - http.server's naming


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _RequestHandler)
        self._app: App | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError("the Stripe sandbox is not ready")
        return self._app

    @app.setter
    def app(self, app: App) -> None:
        self._app = app

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        log.exception("the Stripe sandbox failed serving %s", client_address)
