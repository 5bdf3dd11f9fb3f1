"""The sandbox's Stripe: every operation Tally calls, on dicts in Stripe's shape, with Stripe's rules.

No HTTP here (local.stripe.server routes to it). Every state change records an event in Stripe's
shape and hands it to `publish` (delivery). All methods run under `lock`: the server takes it per
request, the clock and the control endpoints too, so state moves one step at a time.

Times follow the sandbox's clock: the test clock an object's customer is attached to, else `now`.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from stripe._api_version import _ApiVersion

from local.stripe.errors import card_declined, invalid, missing_param
from local.stripe.forms import as_list, flag, integer
from local.stripe.money import DAY, add_interval, display, months_later, percent_of, prorated
from local.stripe.shapes import blank, fill
from local.stripe.store import Store, expand_params, new_id

Obj = dict[str, Any]

API_VERSION = _ApiVersion.CURRENT
LIVE_STATUSES = frozenset({"active", "trialing", "past_due", "unpaid"})
RETRY_DAYS = (3, 5, 7)  # Stripe's retries after a failed renewal: 4 attempts in all, then it stops
TRIAL_WILL_END = 3 * DAY

# Stripe's test cards, by what a charge does: None succeeds, "later" succeeds the first time
# (checkout) and declines every later charge (renewals, off-session), else the decline code.
CARDS: dict[str, str | None] = {
    "4242424242424242": None,
    "5555555555554444": None,
    "4000000000000341": "later",
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
}
# The SDK's test payment method tokens.
TEST_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}


def _metadata(current: Obj | None, given: Any, param: str = "metadata") -> Obj:
    """Stripe's metadata update: keys merge, an empty value removes its key, `metadata=` clears all."""
    result = dict(current or {})
    if given is None:
        return result
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise invalid("Invalid object", param=param)
    for key, value in given.items():
        if value == "":
            result.pop(key, None)
        else:
            result[str(key)] = str(value)
    return result


def _changes(before: Obj, after: Obj) -> Obj:
    """`data.previous_attributes`: the earlier value of every top-level field that changed."""
    return {key: value for key, value in before.items() if after.get(key) != value}


class Billing:
    def __init__(
        self,
        *,
        base_url: str,
        now: Callable[[], datetime],
        publish: Callable[[Obj], None],
        has_endpoint: Callable[[], bool],
    ) -> None:
        self.base_url = base_url
        self.now = now
        self.publish = publish
        self.has_endpoint = has_endpoint
        self.store = Store()
        self.lock = threading.RLock()
        self.request: Obj = {"id": None, "idempotency_key": None}  # the API request under way

    # -- clock and events ----------------------------------------------------------------------

    def time(self, clock: str | None) -> int:
        if clock:
            frozen = self.store.get("test_helpers.test_clock", clock)["frozen_time"]
            return int(frozen)
        return int(self.now().timestamp())

    def event(self, type_: str, obj: Obj, at: int, previous: Obj | None = None) -> Obj:
        data: Obj = {"object": self.store.render(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = blank(
            "event",
            api_version=API_VERSION,
            created=at,
            data=data,
            id=self.store.new_id("event"),
            livemode=False,
            pending_webhooks=1 if self.has_endpoint() else 0,
            request=dict(self.request),
            type=type_,
        )
        self.store.add(event)
        self.publish(self.store.render(event))
        return event

    def updated(self, type_: str, obj: Obj, before: Obj, at: int) -> None:
        """An `….updated` event when `obj` changed since `before` (a render), none otherwise."""
        changes = _changes(before, self.store.render(obj))
        if changes:
            self.event(type_, obj, at, changes)

    # -- customers -------------------------------------------------------------------------------

    def create_customer(self, p: Obj) -> Obj:
        clock = p.get("test_clock") or None
        if clock:
            self.store.get("test_helpers.test_clock", clock, param="test_clock", status=400)
        at = self.time(clock)
        customer = blank(
            "customer",
            address=None,
            balance=0,
            created=at,
            currency=None,
            default_source=None,
            delinquent=False,
            description=p.get("description") or None,
            discount=None,
            email=p.get("email") or None,
            id=self.store.new_id("customer"),
            invoice_prefix=secrets.token_hex(4).upper(),
            invoice_settings={
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            livemode=False,
            metadata=_metadata({}, p.get("metadata")),
            name=p.get("name") or None,
            next_invoice_sequence=1,
            phone=p.get("phone") or None,
            preferred_locales=as_list(p.get("preferred_locales")),
            shipping=None,
            tax_exempt="none",
            test_clock=clock,
        )
        customer["_clock"] = clock
        self.store.add(customer)
        if p.get("payment_method"):
            self._attach(self.payment_method(str(p["payment_method"]), param="payment_method"), customer)
        default = (p.get("invoice_settings") or {}).get("default_payment_method")
        if default:
            pm = self.payment_method(str(default), param="invoice_settings[default_payment_method]")
            self._attach(pm, customer)
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
        self.event("customer.created", customer, at)
        return customer

    def update_customer(self, ident: str, p: Obj) -> Obj:
        customer = self.store.get("customer", ident)
        before = self.store.render(customer)
        for key in ("email", "name", "description", "phone"):
            if key in p:
                customer[key] = p[key] or None
        customer["metadata"] = _metadata(customer["metadata"], p.get("metadata"))
        default = (p.get("invoice_settings") or {}).get("default_payment_method")
        if default:
            pm = self.payment_method(str(default), param="invoice_settings[default_payment_method]")
            self._attach(pm, customer)
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
        self.updated("customer.updated", customer, before, self.time(customer["_clock"]))
        return customer

    def delete_customer(self, ident: str) -> Obj:
        """Stripe's delete: its live subscriptions end, and the id answers `{"deleted": true}` since."""
        customer = self.store.get("customer", ident)
        at = self.time(customer["_clock"])
        for sub in self.store.all("subscription"):
            if sub["customer"] == ident and sub["status"] not in {"canceled", "incomplete_expired"}:
                self._end(sub, at, reason="cancellation_requested")
        for invoice in self.store.all("invoice"):
            if invoice["customer"] == ident and invoice["status"] == "open":
                invoice["next_payment_attempt"] = None  # no more retries: there is no one to charge
        self.event("customer.deleted", customer, at)
        del self.store.kinds["customer"][ident]
        deleted = {"deleted": True, "id": ident, "object": "customer"}
        self.store.objects[ident] = {**deleted, "_deleted": True}
        return deleted

    def customer(self, ident: str) -> Obj:
        """A customer, or the stub Stripe answers for a deleted one."""
        found = self.store.find(ident)
        if found is not None and found.get("_deleted"):
            return found
        return self.store.get("customer", ident)

    def list_customers(self, p: Obj) -> Obj:
        email, clock = p.get("email"), p.get("test_clock")
        return self.store.page(
            self.store.all("customer"),
            p,
            "/v1/customers",
            keep=lambda c: (not email or c["email"] == email) and (not clock or c["test_clock"] == clock),
        )

    def search_customers(self, p: Obj) -> Obj:
        """`metadata['key']:'value'` and `email:'…'` clauses joined by AND: what Tally searches by."""
        query = str(p.get("query") or "")
        if not query:
            raise missing_param("query")
        clauses: list[tuple[str, str]] = []
        for clause in query.split(" AND "):
            field, _, value = clause.strip().partition(":")
            if not value:
                raise invalid(f"Invalid search query: {query}", param="query")
            clauses.append((field.strip(), value.strip().strip("'\"")))

        def matches(customer: Obj) -> bool:
            for field, value in clauses:
                if field.startswith("metadata["):
                    key = field[len("metadata[") : -1].strip("'\"")
                    if customer["metadata"].get(key) != value:
                        return False
                elif str(customer.get(field)) != value:
                    return False
            return True

        found = [c for c in reversed(self.store.all("customer")) if matches(c)]
        limit = integer(p.get("limit", 10), "limit")
        return {
            "object": "search_result",
            "data": [self.store.render(c, expand_params(p)) for c in found[:limit]],
            "has_more": len(found) > limit,
            "next_page": None,
            "url": "/v1/customers/search",
        }

    # -- payment methods and charges -------------------------------------------------------------

    def card_payment_method(self, number: str, customer: Obj | None, at: int) -> Obj:
        number = number.replace(" ", "")
        if not number.isdigit() or not 12 <= len(number) <= 19:
            raise card_declined("invalid_number", "Your card number is invalid.")
        details = fill(
            "payment_method",
            "card",
            brand="visa" if number.startswith("4") else "mastercard",
            country="US",
            display_brand="visa" if number.startswith("4") else "mastercard",
            exp_month=12,
            exp_year=datetime.fromtimestamp(at, UTC).year + 3,
            fingerprint=number[-8:] + "LocalFp0",
            funding="credit",
            generated_from=None,
            last4=number[-4:],
            networks={"available": ["visa"], "preferred": None},
            three_d_secure_usage={"supported": True},
            wallet=None,
            regulated_status="unregulated",
        )
        pm = blank(
            "payment_method",
            allow_redisplay="unspecified",
            billing_details=fill("payment_method", "billing_details", address=None),
            card=details,
            created=at,
            customer=customer["id"] if customer else None,
            id=self.store.new_id("payment_method"),
            livemode=False,
            metadata={},
            type="card",
            customer_account=None,
        )
        pm["_card"] = number
        return self.store.add(pm)

    def payment_method(self, ident: str, *, param: str) -> Obj:
        if ident in TEST_TOKENS:
            return self.card_payment_method(TEST_TOKENS[ident], None, int(self.now().timestamp()))
        return self.store.get("payment_method", ident, param=param, status=400)

    def _attach(self, pm: Obj, customer: Obj) -> None:
        pm["customer"] = customer["id"]

    @staticmethod
    def decline_code(pm: Obj | None, *, first: bool) -> str | None:
        if pm is None:
            return "payment_method_missing"
        behaviour = CARDS.get(pm["_card"])
        if behaviour == "later":
            return None if first else "generic_decline"
        return behaviour

    def charge_card(
        self,
        *,
        amount: int,
        currency: str,
        customer: Obj | None,
        pm: Obj,
        at: int,
        description: str | None,
        first: bool,
        metadata: Obj | None = None,
        force_decline: bool = False,
        pi: Obj | None = None,
    ) -> tuple[Obj, Obj, str | None]:
        """A PaymentIntent (new, or `pi`) confirmed with `pm`: its charge, and the decline code if any."""
        decline = "generic_decline" if force_decline else self.decline_code(pm, first=first)
        if pi is None:
            pi = self._payment_intent(amount, currency, customer, pm, at, description, metadata or {})
        charge_id = self.store.new_id("charge")
        card = pm["card"]
        charge = blank(
            "charge",
            amount=amount,
            amount_captured=0 if decline else amount,
            amount_refunded=0,
            application=None,
            application_fee=None,
            application_fee_amount=None,
            balance_transaction=None if decline else new_id("txn"),
            billing_details=fill("charge", "billing_details", address=None),
            calculated_statement_descriptor="TALLY LOCAL",
            captured=not decline,
            created=at,
            currency=currency,
            customer=customer["id"] if customer else None,
            description=description,
            disputed=False,
            failure_balance_transaction=None,
            failure_code="card_declined" if decline else None,
            failure_message=DECLINE_MESSAGES.get(decline or "", "Your card was declined.")
            if decline
            else None,
            fraud_details={},
            id=charge_id,
            livemode=False,
            metadata=dict(metadata or {}),
            on_behalf_of=None,
            outcome=fill(
                "charge",
                "outcome",
                network_status="declined_by_network" if decline else "approved_by_network",
                reason=decline,
                seller_message="The bank declined the payment." if decline else "Payment complete.",
                type="issuer_declined" if decline else "authorized",
            ),
            paid=not decline,
            payment_intent=pi["id"],
            payment_method=pm["id"],
            payment_method_details={
                "card": fill(
                    "charge",
                    "payment_method_details.card",
                    brand=card["brand"],
                    country=card["country"],
                    exp_month=card["exp_month"],
                    exp_year=card["exp_year"],
                    fingerprint=card["fingerprint"],
                    funding=card["funding"],
                    last4=card["last4"],
                    network=card["brand"],
                    wallet=None,
                ),
                "type": "card",
            },
            receipt_email=None,
            receipt_number=None,
            receipt_url=f"{self.base_url}/receipts/{charge_id}",
            refunded=False,
            refunds={
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/charges/{charge_id}/refunds",
            },
            review=None,
            shipping=None,
            source_transfer=None,
            statement_descriptor=None,
            statement_descriptor_suffix=None,
            status="failed" if decline else "succeeded",
            transfer_data=None,
            transfer_group=None,
            source=None,
        )
        self.store.add(charge)
        pi["latest_charge"] = charge_id
        pi["payment_method"] = pm["id"]
        if decline:
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline,
                "message": charge["failure_message"],
                "charge": charge_id,
                "payment_method": self.store.render(pm),
            }
            self.event("charge.failed", charge, at)
            self.event("payment_intent.payment_failed", pi, at)
        else:
            pi["status"] = "succeeded"
            pi["amount_received"] = amount
            pi["last_payment_error"] = None
            self.event("charge.succeeded", charge, at)
            self.event("payment_intent.succeeded", pi, at)
        return pi, charge, decline

    def _payment_intent(
        self,
        amount: int,
        currency: str,
        customer: Obj | None,
        pm: Obj | None,
        at: int,
        description: str | None,
        metadata: Obj,
    ) -> Obj:
        ident = self.store.new_id("payment_intent")
        pi = blank(
            "payment_intent",
            amount=amount,
            amount_capturable=0,
            amount_details={"tip": {}},
            amount_received=0,
            application=None,
            application_fee_amount=None,
            automatic_payment_methods=None,
            canceled_at=None,
            cancellation_reason=None,
            capture_method="automatic",
            client_secret=f"{ident}_secret_{secrets.token_hex(12)}",
            confirmation_method="automatic",
            created=at,
            currency=currency,
            customer=customer["id"] if customer else None,
            description=description,
            id=ident,
            last_payment_error=None,
            latest_charge=None,
            livemode=False,
            metadata=dict(metadata),
            next_action=None,
            on_behalf_of=None,
            payment_method=pm["id"] if pm else None,
            payment_method_configuration_details=None,
            payment_method_options={},
            payment_method_types=["card"],
            processing=None,
            receipt_email=None,
            review=None,
            setup_future_usage=None,
            shipping=None,
            statement_descriptor=None,
            statement_descriptor_suffix=None,
            status="requires_confirmation" if pm else "requires_payment_method",
            transfer_data=None,
            transfer_group=None,
            source=None,
            excluded_payment_method_types=None,
            customer_account=None,
            managed_payments=None,
        )
        pi["_clock"] = customer["_clock"] if customer else None
        self.store.add(pi)
        self.event("payment_intent.created", pi, at)
        return pi

    # -- payment intents (API) ---------------------------------------------------------------------

    def create_payment_intent(self, p: Obj) -> Obj:
        if "amount" not in p:
            raise missing_param("amount")
        if "currency" not in p:
            raise missing_param("currency")
        amount = integer(p["amount"], "amount")
        if amount < 1:
            raise invalid("Amount must be at least 1", param="amount", code="amount_too_small")
        customer = (
            self.store.get("customer", p["customer"], param="customer", status=400)
            if p.get("customer")
            else None
        )
        pm = (
            self.payment_method(str(p["payment_method"]), param="payment_method")
            if p.get("payment_method")
            else None
        )
        at = self.time(customer["_clock"] if customer else None)
        pi = self._payment_intent(
            amount,
            str(p["currency"]).lower(),
            customer,
            pm,
            at,
            p.get("description") or None,
            _metadata({}, p.get("metadata")),
        )
        if flag(p.get("confirm", False), "confirm"):
            return self.confirm_payment_intent(pi["id"], {"off_session": p.get("off_session", False)})
        return pi

    def confirm_payment_intent(self, ident: str, p: Obj) -> Obj:
        pi = self.store.get("payment_intent", ident)
        if pi["status"] == "succeeded":
            raise invalid(
                "This PaymentIntent's status is succeeded, so it cannot be confirmed.",
                code="payment_intent_unexpected_state",
            )
        if p.get("payment_method"):
            pi["payment_method"] = self.payment_method(str(p["payment_method"]), param="payment_method")["id"]
        if not pi["payment_method"]:
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        pm = self.store.get("payment_method", pi["payment_method"])
        customer = self.store.get("customer", pi["customer"]) if pi["customer"] else None
        # A card that fails "later" fails every charge once attached to a customer, and off-session.
        first = pm["customer"] is None and not flag(p.get("off_session", False), "off_session")
        if customer and pm["customer"] is None:
            self._attach(pm, customer)
        at = self.time(pi["_clock"])
        _, _, decline = self.charge_card(
            amount=pi["amount"],
            currency=pi["currency"],
            customer=customer,
            pm=pm,
            at=at,
            description=pi["description"],
            first=first,
            pi=pi,
        )
        if decline:
            raise card_declined(
                decline,
                DECLINE_MESSAGES.get(decline, "Your card was declined."),
                {"payment_intent": self.store.render(pi), "charge": pi["latest_charge"]},
            )
        return pi

    def cancel_payment_intent(self, ident: str, p: Obj) -> Obj:
        pi = self.store.get("payment_intent", ident)
        if pi["status"] == "succeeded":
            raise invalid(
                "You cannot cancel this PaymentIntent because it has a status of succeeded.",
                code="payment_intent_unexpected_state",
            )
        at = self.time(pi["_clock"])
        pi.update(status="canceled", canceled_at=at, cancellation_reason=p.get("cancellation_reason") or None)
        self.event("payment_intent.canceled", pi, at)
        return pi

    # -- refunds and disputes --------------------------------------------------------------------

    def create_refund(self, p: Obj) -> Obj:
        if p.get("charge"):
            charge = self.store.get("charge", p["charge"], param="charge", status=400)
        elif p.get("payment_intent"):
            pi = self.store.get("payment_intent", p["payment_intent"], param="payment_intent", status=400)
            if not pi["latest_charge"] or pi["status"] != "succeeded":
                raise invalid(
                    "This PaymentIntent does not have a successful charge to refund.", param="payment_intent"
                )
            charge = self.store.get("charge", pi["latest_charge"])
        else:
            raise missing_param("charge")
        if charge["status"] != "succeeded":
            raise invalid(f"Charge {charge['id']} has no successful payment to refund.", param="charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = integer(p["amount"], "amount") if "amount" in p else remaining
        if amount < 1 or amount > remaining:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
                code="amount_too_large" if amount > remaining else "amount_too_small",
            )
        clock = self.store.get("customer", charge["customer"])["_clock"] if charge["customer"] else None
        at = self.time(clock)
        refund = blank(
            "refund",
            amount=amount,
            balance_transaction=new_id("txn"),
            charge=charge["id"],
            created=at,
            currency=charge["currency"],
            destination_details={
                "card": fill("refund", "destination_details.card", type="refund"),
                "type": "card",
            },
            id=self.store.new_id("refund"),
            metadata=_metadata({}, p.get("metadata")),
            payment_intent=charge["payment_intent"],
            reason=p.get("reason") or None,
            receipt_number=None,
            source_transfer_reversal=None,
            status="succeeded",
            transfer_reversal=None,
            customer=charge["customer"],
            customer_account=None,
            payment_method=charge["payment_method"],
        )
        self.store.add(refund)
        before = self.store.render(charge)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, self.store.render(refund))
        self.event("refund.created", refund, at)
        self.updated("charge.refunded", charge, before, at)
        return refund

    def open_dispute(self, charge_id: str, p: Obj) -> Obj:
        charge = self.store.get("charge", charge_id)
        if charge["status"] != "succeeded":
            raise invalid("Only a successful charge can be disputed.", param="charge")
        clock = self.store.get("customer", charge["customer"])["_clock"] if charge["customer"] else None
        at = self.time(clock)
        card = charge["payment_method_details"]["card"]
        dispute = blank(
            "dispute",
            amount=int(p.get("amount") or charge["amount"]),
            balance_transactions=[],
            charge=charge["id"],
            created=at,
            currency=charge["currency"],
            evidence=fill("dispute", "evidence", enhanced_evidence={}),
            evidence_details=fill(
                "dispute",
                "evidence_details",
                due_by=at + 7 * DAY,
                has_evidence=False,
                past_due=False,
                submission_count=0,
                enhanced_eligibility={},
            ),
            id=self.store.new_id("dispute"),
            is_charge_refundable=False,
            livemode=False,
            metadata={},
            payment_intent=charge["payment_intent"],
            payment_method_details={
                "card": {
                    "brand": card["brand"],
                    "case_type": "chargeback",
                    "network_reason_code": "10.4",
                    "network": card["network"],
                },
                "type": "card",
            },
            reason=str(p.get("reason") or "fraudulent"),
            status="needs_response",
            enhanced_eligibility_types=[],
        )
        self.store.add(dispute)
        charge["disputed"] = True
        self.event("charge.dispute.created", dispute, at)
        return dispute

    def close_dispute(self, ident: str, p: Obj) -> Obj:
        dispute = self.store.get("dispute", ident)
        status = str(p.get("status") or "lost")
        if status not in {"won", "lost"}:
            raise invalid("status must be won or lost", param="status")
        if dispute["status"] in {"won", "lost"}:
            raise invalid("This dispute is already closed.", param="status")
        charge = self.store.get("charge", dispute["charge"])
        clock = self.store.get("customer", charge["customer"])["_clock"] if charge["customer"] else None
        at = self.time(clock)
        dispute["status"] = status
        self.event("charge.dispute.closed", dispute, at)
        return dispute

    # -- catalogue ---------------------------------------------------------------------------------

    def create_product(self, p: Obj) -> Obj:
        if not p.get("name"):
            raise missing_param("name")
        ident = str(p.get("id") or self.store.new_id("product"))
        if self.store.find(ident):
            raise invalid(f"Product already exists: {ident}", param="id", code="resource_already_exists")
        at = self.time(None)
        product = blank(
            "product",
            active=flag(p.get("active", True), "active"),
            created=at,
            default_price=None,
            description=p.get("description") or None,
            id=ident,
            images=[],
            livemode=False,
            marketing_features=[],
            metadata=_metadata({}, p.get("metadata")),
            name=str(p["name"]),
            package_dimensions=None,
            shippable=None,
            statement_descriptor=None,
            tax_code=None,
            unit_label=None,
            updated=at,
            url=None,
            type="service",
        )
        self.store.add(product)
        self.event("product.created", product, at)
        return product

    def update_product(self, ident: str, p: Obj) -> Obj:
        product = self.store.get("product", ident)
        before = self.store.render(product)
        for key in ("name", "description"):
            if key in p:
                product[key] = p[key] or None
        if "active" in p:
            product["active"] = flag(p["active"], "active")
        if p.get("default_price"):
            product["default_price"] = self.store.get(
                "price", p["default_price"], param="default_price", status=400
            )["id"]
        product["metadata"] = _metadata(product["metadata"], p.get("metadata"))
        product["updated"] = self.time(None)
        self.updated("product.updated", product, before, product["updated"])
        return product

    def create_price(self, p: Obj) -> Obj:
        if p.get("product_data"):
            product = self.create_product(dict(p["product_data"]))
        elif p.get("product"):
            product = self.store.get("product", p["product"], param="product", status=400)
        else:
            raise missing_param("product")
        if not p.get("currency"):
            raise missing_param("currency")
        if "unit_amount" not in p and "unit_amount_decimal" not in p:
            raise missing_param("unit_amount")
        amount = integer(p.get("unit_amount", str(p.get("unit_amount_decimal")).split(".")[0]), "unit_amount")
        if amount < 0:
            raise invalid("Invalid unit_amount", param="unit_amount")
        recurring = None
        if p.get("recurring"):
            spec = p["recurring"]
            interval = spec.get("interval")
            if interval not in {"day", "week", "month", "year"}:
                raise invalid("Invalid recurring[interval]", param="recurring[interval]")
            recurring = {
                "interval": interval,
                "interval_count": integer(spec.get("interval_count", 1), "recurring[interval_count]"),
                "meter": None,
                "usage_type": spec.get("usage_type") or "licensed",
                "trial_period_days": None,
            }
        lookup_key = p.get("lookup_key") or None
        if lookup_key:
            self._claim_lookup_key(
                str(lookup_key), flag(p.get("transfer_lookup_key", False), "transfer_lookup_key")
            )
        at = self.time(None)
        price = blank(
            "price",
            active=flag(p.get("active", True), "active"),
            billing_scheme="per_unit",
            created=at,
            currency=str(p["currency"]).lower(),
            custom_unit_amount=None,
            id=self.store.new_id("price"),
            livemode=False,
            lookup_key=lookup_key,
            metadata=_metadata({}, p.get("metadata")),
            nickname=p.get("nickname") or None,
            product=product["id"],
            recurring=recurring,
            tax_behavior=p.get("tax_behavior") or "unspecified",
            tiers_mode=None,
            transform_quantity=None,
            type="recurring" if recurring else "one_time",
            unit_amount=amount,
            unit_amount_decimal=str(amount),
        )
        self.store.add(price)
        self.event("price.created", price, at)
        return price

    def _claim_lookup_key(self, key: str, transfer: bool) -> None:
        for other in self.store.all("price"):
            if other["lookup_key"] == key:
                if not transfer:
                    raise invalid(
                        f"A price ({other['id']}) already uses that lookup key.", param="lookup_key"
                    )
                other["lookup_key"] = None

    def update_price(self, ident: str, p: Obj) -> Obj:
        price = self.store.get("price", ident)
        before = self.store.render(price)
        if "active" in p:
            price["active"] = flag(p["active"], "active")
        if "nickname" in p:
            price["nickname"] = p["nickname"] or None
        if "lookup_key" in p:
            if p["lookup_key"]:
                self._claim_lookup_key(str(p["lookup_key"]), flag(p.get("transfer_lookup_key", False), "x"))
            price["lookup_key"] = p["lookup_key"] or None
        price["metadata"] = _metadata(price["metadata"], p.get("metadata"))
        self.updated("price.updated", price, before, self.time(None))
        return price

    def list_prices(self, p: Obj) -> Obj:
        keys = {str(k) for k in as_list(p.get("lookup_keys"))}
        product, currency, kind = p.get("product"), p.get("currency"), p.get("type")
        active = flag(p["active"], "active") if "active" in p else None
        return self.store.page(
            self.store.all("price"),
            p,
            "/v1/prices",
            keep=lambda price: (
                (not keys or price["lookup_key"] in keys)
                and (not product or price["product"] == product)
                and (not currency or price["currency"] == str(currency).lower())
                and (not kind or price["type"] == kind)
                and (active is None or price["active"] == active)
            ),
        )

    def create_coupon(self, p: Obj) -> Obj:
        duration = str(p.get("duration") or "once")
        if duration not in {"once", "repeating", "forever"}:
            raise invalid("Invalid duration", param="duration")
        months = (
            integer(p["duration_in_months"], "duration_in_months") if p.get("duration_in_months") else None
        )
        if duration == "repeating" and not months:
            raise missing_param("duration_in_months")
        percent: float | None = None
        amount_off: int | None = None
        currency: str | None = None
        if p.get("percent_off"):
            try:
                value = Decimal(str(p["percent_off"]))
            except InvalidOperation:
                raise invalid("Invalid decimal", param="percent_off") from None
            if not Decimal(0) < value <= Decimal(100):
                raise invalid("percent_off must be between 0 and 100", param="percent_off")
            percent = float(value)  # Stripe's JSON carries it as a number
        elif p.get("amount_off"):
            amount_off = integer(p["amount_off"], "amount_off")
            if not p.get("currency"):
                raise missing_param("currency")
            currency = str(p["currency"]).lower()
        else:
            raise invalid("You must pass either percent_off or amount_off.", param="percent_off")
        ident = str(p.get("id") or new_id("", 8)[1:].upper())
        if ident in self.store.kinds["coupon"]:
            raise invalid("Coupon already exists.", param="id", code="resource_already_exists")
        at = self.time(None)
        coupon = blank(
            "coupon",
            amount_off=amount_off,
            created=at,
            currency=currency,
            duration=duration,
            duration_in_months=months if duration == "repeating" else None,
            id=ident,
            livemode=False,
            max_redemptions=integer(p["max_redemptions"], "max_redemptions")
            if p.get("max_redemptions")
            else None,
            metadata=_metadata({}, p.get("metadata")),
            name=p.get("name") or None,
            percent_off=percent,
            redeem_by=integer(p["redeem_by"], "redeem_by") if p.get("redeem_by") else None,
            times_redeemed=0,
            valid=True,
        )
        self.store.add(coupon)
        self.event("coupon.created", coupon, at)
        return coupon

    def _usable_coupon(self, ident: Any, param: str, at: int) -> Obj:
        coupon = self.store.get("coupon", ident, param=param, status=400)
        spent = (
            coupon["max_redemptions"] is not None and coupon["times_redeemed"] >= coupon["max_redemptions"]
        )
        expired = coupon["redeem_by"] is not None and coupon["redeem_by"] <= at
        if spent or expired:
            coupon["valid"] = False
            raise invalid(f"Coupon is not valid: {coupon['id']}", param=param, code="coupon_expired")
        return coupon

    def create_promotion_code(self, p: Obj) -> Obj:
        promotion = p.get("promotion") or {}
        coupon_id = promotion.get("coupon") if isinstance(promotion, dict) else None
        coupon_id = coupon_id or p.get("coupon")
        if not coupon_id:
            raise missing_param("promotion[coupon]")
        coupon = self.store.get("coupon", coupon_id, param="promotion[coupon]", status=400)
        code = str(p.get("code") or secrets.token_hex(4).upper())
        if any(
            other["code"].lower() == code.lower() and other["active"]
            for other in self.store.all("promotion_code")
        ):
            raise invalid("An active promotion code with this code already exists.", param="code")
        at = self.time(None)
        restrictions = p.get("restrictions") or {}
        promo = blank(
            "promotion_code",
            active=flag(p.get("active", True), "active"),
            code=code,
            created=at,
            customer=p.get("customer") or None,
            expires_at=integer(p["expires_at"], "expires_at") if p.get("expires_at") else None,
            id=self.store.new_id("promotion_code"),
            livemode=False,
            max_redemptions=integer(p["max_redemptions"], "max_redemptions")
            if p.get("max_redemptions")
            else None,
            metadata=_metadata({}, p.get("metadata")),
            restrictions={
                "first_time_transaction": flag(
                    restrictions.get("first_time_transaction", False), "restrictions"
                ),
                "minimum_amount": integer(restrictions["minimum_amount"], "restrictions[minimum_amount]")
                if restrictions.get("minimum_amount")
                else None,
                "minimum_amount_currency": restrictions.get("minimum_amount_currency") or None,
            },
            times_redeemed=0,
            promotion={"coupon": coupon["id"], "type": "coupon"},
            customer_account=None,
        )
        self.store.add(promo)
        self.event("promotion_code.created", promo, at)
        return promo

    def update_promotion_code(self, ident: str, p: Obj) -> Obj:
        promo = self.store.get("promotion_code", ident)
        before = self.store.render(promo)
        if "active" in p:
            promo["active"] = flag(p["active"], "active")
        promo["metadata"] = _metadata(promo["metadata"], p.get("metadata"))
        self.updated("promotion_code.updated", promo, before, self.time(None))
        return promo

    def list_promotion_codes(self, p: Obj) -> Obj:
        code, coupon, customer = p.get("code"), p.get("coupon"), p.get("customer")
        active = flag(p["active"], "active") if "active" in p else None
        return self.store.page(
            self.store.all("promotion_code"),
            p,
            "/v1/promotion_codes",
            keep=lambda promo: (
                (not code or promo["code"].lower() == str(code).lower())
                and (not coupon or promo["promotion"]["coupon"] == coupon)
                and (not customer or promo["customer"] == customer)
                and (active is None or promo["active"] == active)
            ),
        )

    def _usable_promotion(self, ident: Any, param: str, at: int, customer: Obj | None) -> tuple[Obj, Obj]:
        promo = self.store.get("promotion_code", ident, param=param, status=400)
        spent = promo["max_redemptions"] is not None and promo["times_redeemed"] >= promo["max_redemptions"]
        expired = promo["expires_at"] is not None and promo["expires_at"] <= at
        wrong_customer = promo["customer"] is not None and (
            customer is None or customer["id"] != promo["customer"]
        )
        if not promo["active"] or spent or expired or wrong_customer:
            raise invalid(f"This promotion code cannot be redeemed: {promo['code']}", param=param)
        return promo, self._usable_coupon(promo["promotion"]["coupon"], param, at)

    # -- discounts and amounts -----------------------------------------------------------------

    def _discount(
        self,
        coupon: Obj,
        promo: Obj | None,
        customer: Obj,
        at: int,
        *,
        subscription: str | None,
        session: str | None,
    ) -> Obj:
        end = months_later(at, coupon["duration_in_months"]) if coupon["duration"] == "repeating" else None
        discount = blank(
            "discount",
            checkout_session=session,
            customer=customer["id"],
            end=end,
            id=self.store.new_id("discount"),
            invoice=None,
            invoice_item=None,
            promotion_code=promo["id"] if promo else None,
            start=at,
            subscription=subscription,
            subscription_item=None,
            source={"coupon": coupon["id"], "type": "coupon"},
            customer_account=None,
        )
        coupon["times_redeemed"] += 1
        if promo:
            promo["times_redeemed"] += 1
        return self.store.add(discount)

    def _discount_amounts(
        self, coupons: list[tuple[str | None, Obj]], subtotal: int, currency: str
    ) -> list[Obj]:
        """`[{amount, discount}]` for each coupon, on the positive subtotal, never below zero."""
        left = max(0, subtotal)
        amounts: list[Obj] = []
        for discount_id, coupon in coupons:
            if coupon["percent_off"] is not None:
                amount = percent_of(left, Decimal(str(coupon["percent_off"])))
            elif coupon["currency"] == currency:
                amount = min(int(coupon["amount_off"]), left)
            else:
                amount = 0  # an amount_off coupon in another currency does not apply
            left -= amount
            amounts.append({"amount": amount, "discount": discount_id})
        return amounts

    # -- invoices ------------------------------------------------------------------------------------

    def _line(
        self,
        *,
        amount: int,
        currency: str,
        description: str,
        period: tuple[int, int],
        quantity: int,
        price: Obj | None,
        subscription: str | None,
        item: str | None,
        proration: bool,
    ) -> Obj:
        return blank(
            "line_item",
            amount=amount,
            currency=currency,
            description=description,
            discount_amounts=[],
            discountable=True,
            discounts=[],
            id=self.store.new_id("line_item"),
            invoice=None,
            livemode=False,
            metadata={},
            period={"end": period[1], "start": period[0]},
            quantity=quantity,
            subscription=subscription,
            pretax_credit_amounts=[],
            taxes=[],
            parent={
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": proration,
                    "proration_details": {"credited_items": None},
                    "subscription": subscription,
                    "subscription_item": item,
                },
                "type": "subscription_item_details",
            }
            if subscription
            else {
                "invoice_item_details": {
                    "invoice_item": new_id("ii"),
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": None,
                },
                "subscription_item_details": None,
                "type": "invoice_item_details",
            },
            pricing={
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"] if price else str(amount),
                # Stripe's line items name their price here (the published example leaves it out).
                "price_details": {"price": price["id"], "product": price["product"]} if price else None,
            },
            subtotal=amount,
            quantity_decimal=str(quantity),
        )

    def build_invoice(
        self,
        customer: Obj,
        sub: Obj | None,
        lines: list[Obj],
        *,
        reason: str,
        at: int,
        period: tuple[int, int],
        discounts: list[Obj],
        ident: str | None = None,
    ) -> Obj:
        """An invoice in `draft`, not stored: the preview uses it as it is."""
        currency = lines[0]["currency"] if lines else (sub["currency"] if sub else "usd")
        ident = ident or self.store.new_id("invoice")
        subtotal = sum(line["amount"] for line in lines)
        coupons = [(d["id"], self.store.get("coupon", d["source"]["coupon"])) for d in discounts]
        totals = self._discount_amounts(coupons, subtotal, currency)
        discount_total = sum(entry["amount"] for entry in totals)
        positive = [line for line in lines if line["amount"] > 0]
        for entry in totals:  # each discount spread over the positive lines, the rest on the last one
            left = entry["amount"]
            for index, line in enumerate(positive):
                share = (
                    left
                    if index == len(positive) - 1
                    else entry["amount"] * line["amount"] // max(1, subtotal)
                )
                share = min(share, left)
                left -= share
                line["discount_amounts"].append({"amount": share, "discount": entry["discount"]})
        for line in lines:
            line["invoice"] = ident
            line["discounts"] = [entry["discount"] for entry in line["discount_amounts"]]
        total = subtotal - discount_total
        due = max(0, total)
        invoice = blank(
            "invoice",
            account_country="US",
            account_name="Tally (local Stripe)",
            account_tax_ids=None,
            amount_due=due,
            amount_paid=0,
            amount_remaining=due,
            amount_shipping=0,
            application=None,
            attempt_count=0,
            attempted=False,
            auto_advance=True,
            automatic_tax=fill("invoice", "automatic_tax", liability=None),
            billing_reason=reason,
            collection_method="charge_automatically",
            created=at,
            currency=currency,
            custom_fields=None,
            customer=customer["id"],
            customer_address=None,
            customer_email=customer["email"],
            customer_name=customer["name"],
            customer_phone=customer["phone"],
            customer_shipping=None,
            customer_tax_exempt="none",
            customer_tax_ids=[],
            default_payment_method=None,
            default_source=None,
            default_tax_rates=[],
            description=None,
            discounts=[d["id"] for d in discounts],
            due_date=None,
            effective_at=None,
            ending_balance=None,
            footer=None,
            from_invoice=None,
            hosted_invoice_url=None,
            id=ident,
            invoice_pdf=None,
            issuer={"type": "self"},
            last_finalization_error=None,
            latest_revision=None,
            lines={"data": lines, "has_more": False, "object": "list", "url": f"/v1/invoices/{ident}/lines"},
            livemode=False,
            metadata={},
            next_payment_attempt=None,
            number=None,
            on_behalf_of=None,
            payment_settings={
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            period_end=period[1],
            period_start=period[0],
            post_payment_credit_notes_amount=0,
            pre_payment_credit_notes_amount=0,
            receipt_number=None,
            rendering=None,
            shipping_cost=None,
            shipping_details=None,
            starting_balance=0,
            statement_descriptor=None,
            status="draft",
            status_transitions=fill("invoice", "status_transitions"),
            subscription=sub["id"] if sub else None,
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal,
            test_clock=customer["test_clock"],
            total=total,
            total_discount_amounts=totals,
            total_excluding_tax=total,
            webhooks_delivered_at=None,
            automatically_finalizes_at=None,
            total_pretax_credit_amounts=[],
            total_taxes=[],
            amount_overpaid=0,
            parent={
                "quote_details": None,
                "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
                "type": "subscription_details",
            }
            if sub
            else None,
            customer_account=None,
        )
        invoice["_clock"] = customer["_clock"]
        return invoice

    def new_invoice(
        self,
        customer: Obj,
        sub: Obj | None,
        lines: list[Obj],
        *,
        reason: str,
        at: int,
        period: tuple[int, int],
    ) -> Obj:
        discounts = self._active_discounts(sub, at) if sub else []
        invoice = self.store.add(
            self.build_invoice(customer, sub, lines, reason=reason, at=at, period=period, discounts=discounts)
        )
        if sub:
            sub["latest_invoice"] = invoice["id"]
            for discount in discounts:  # a `once` coupon is spent by its first invoice
                if self.store.get("coupon", discount["source"]["coupon"])["duration"] == "once":
                    sub["discounts"].remove(discount["id"])
                    discount["end"] = at
        self.event("invoice.created", invoice, at)
        return invoice

    def _active_discounts(self, sub: Obj, at: int) -> list[Obj]:
        active = []
        for ident in list(sub["discounts"]):
            discount = self.store.get("discount", ident)
            if discount["end"] is not None and discount["end"] <= at:
                sub["discounts"].remove(ident)
                continue
            active.append(discount)
        return active

    def finalize(self, invoice: Obj, at: int) -> Obj:
        if invoice["status"] != "draft":
            raise invalid("This invoice is already finalized.", code="invoice_not_editable")
        customer = self.store.get("customer", invoice["customer"])
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        invoice.update(
            status="open",
            number=number,
            effective_at=at,
            hosted_invoice_url=f"{self.base_url}/invoices/{invoice['id']}",
            invoice_pdf=f"{self.base_url}/invoices/{invoice['id']}/pdf",
        )
        invoice["status_transitions"]["finalized_at"] = at
        self.event("invoice.finalized", invoice, at)
        return invoice

    def _default_payment_method(self, invoice: Obj) -> Obj | None:
        sub = self.store.find(invoice["subscription"]) if invoice["subscription"] else None
        customer = self.store.get("customer", invoice["customer"])
        ident = (sub or {}).get("default_payment_method") or customer["invoice_settings"][
            "default_payment_method"
        ]
        return self.store.get("payment_method", ident) if ident else None

    def collect(
        self,
        invoice: Obj,
        at: int,
        *,
        pm: Obj | None = None,
        first: bool = False,
        force_decline: bool = False,
    ) -> str | None:
        """One payment attempt on an open invoice; the decline code when it failed."""
        if invoice["amount_due"] == 0:
            self._paid(invoice, at)
            return None
        pm = pm or self._default_payment_method(invoice)
        customer = self.store.get("customer", invoice["customer"])
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        decline: str | None
        if pm is None:
            decline = "payment_method_missing"
        else:
            pi, _, decline = self.charge_card(
                amount=invoice["amount_remaining"],
                currency=invoice["currency"],
                customer=customer,
                pm=pm,
                at=at,
                description="Subscription creation"
                if invoice["billing_reason"] == "subscription_create"
                else "Subscription update",
                first=first,
                force_decline=force_decline,
            )
            self._invoice_payment(invoice, pi, at, paid=decline is None)
        if decline is None:
            self._paid(invoice, at)
            return None
        attempt = invoice["attempt_count"]
        invoice["next_payment_attempt"] = (
            at + RETRY_DAYS[attempt - 1] * DAY if attempt <= len(RETRY_DAYS) else None
        )
        self.event("invoice.payment_failed", invoice, at)
        sub = self.store.find(invoice["subscription"]) if invoice["subscription"] else None
        if sub and sub["status"] in {"active", "trialing"}:
            before = self.store.render(sub)
            sub["status"] = "past_due"
            self.updated("customer.subscription.updated", sub, before, at)
        return decline

    def _invoice_payment(self, invoice: Obj, pi: Obj, at: int, *, paid: bool) -> None:
        record = blank(
            "invoice_payment",
            amount_paid=pi["amount"] if paid else None,
            amount_requested=pi["amount"],
            created=at,
            currency=pi["currency"],
            id=self.store.new_id("invoice_payment"),
            invoice=invoice["id"],
            is_default=True,
            livemode=False,
            payment={"type": "payment_intent", "payment_intent": pi["id"]},
            status="paid" if paid else "open",
            status_transitions={"canceled_at": None, "paid_at": at if paid else None},
        )
        self.store.add(record)

    def _paid(self, invoice: Obj, at: int, *, out_of_band: bool = False) -> None:
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
            attempted=True,
        )
        invoice["status_transitions"]["paid_at"] = at
        if out_of_band:
            invoice["attempted"] = invoice["attempt_count"] > 0
        self.event("invoice.paid", invoice, at)
        self.event("invoice.payment_succeeded", invoice, at)
        sub = self.store.find(invoice["subscription"]) if invoice["subscription"] else None
        if sub and sub["status"] in {"past_due", "unpaid", "incomplete"} and not self._open_invoices(sub):
            before = self.store.render(sub)
            sub["status"] = "active"
            self.updated("customer.subscription.updated", sub, before, at)

    def _open_invoices(self, sub: Obj) -> list[Obj]:
        return [
            i for i in self.store.all("invoice") if i["subscription"] == sub["id"] and i["status"] == "open"
        ]

    def list_invoices(self, p: Obj) -> Obj:
        customer, sub, status = p.get("customer"), p.get("subscription"), p.get("status")
        return self.store.page(
            self.store.all("invoice"),
            p,
            "/v1/invoices",
            keep=lambda i: (
                (not customer or i["customer"] == customer)
                and (not sub or i["subscription"] == sub)
                and (not status or i["status"] == status)
            ),
        )

    def pay_invoice(self, ident: str, p: Obj) -> Obj:
        invoice = self.store.get("invoice", ident)
        at = self.time(invoice["_clock"])
        if invoice["status"] == "draft":
            self.finalize(invoice, at)
        if invoice["status"] == "paid":
            raise invalid("Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise invalid(
                f"You cannot pay an invoice with status {invoice['status']}.", code="invoice_not_payable"
            )
        if flag(p.get("paid_out_of_band", False), "paid_out_of_band"):
            self._paid(invoice, at, out_of_band=True)
            return invoice
        pm = (
            self.payment_method(str(p["payment_method"]), param="payment_method")
            if p.get("payment_method")
            else None
        )
        decline = self.collect(invoice, at, pm=pm)
        if decline:
            raise card_declined(decline, DECLINE_MESSAGES.get(decline, "Your card was declined."))
        return invoice

    def void_invoice(self, ident: str) -> Obj:
        invoice = self.store.get("invoice", ident)
        if invoice["status"] != "open":
            raise invalid(
                f"You can only void an open invoice (this one is {invoice['status']}).",
                code="invoice_not_editable",
            )
        at = self.time(invoice["_clock"])
        invoice.update(status="void", next_payment_attempt=None)
        invoice["status_transitions"]["voided_at"] = at
        self.event("invoice.voided", invoice, at)
        return invoice

    def mark_uncollectible(self, ident: str) -> Obj:
        invoice = self.store.get("invoice", ident)
        if invoice["status"] != "open":
            raise invalid("You can only mark an open invoice uncollectible.", code="invoice_not_editable")
        at = self.time(invoice["_clock"])
        invoice.update(status="uncollectible", next_payment_attempt=None)
        invoice["status_transitions"]["marked_uncollectible_at"] = at
        self.event("invoice.marked_uncollectible", invoice, at)
        return invoice

    def control_pay_invoice(self, ident: str, body: Obj) -> Obj:
        """The customer pays: with `card` (made the customer's default), else the card on file."""
        invoice = self.store.get("invoice", ident)
        at = self.time(invoice["_clock"])
        if invoice["status"] == "draft":
            self.finalize(invoice, at)
        if invoice["status"] != "open":
            raise invalid(
                f"You cannot pay an invoice with status {invoice['status']}.", code="invoice_not_payable"
            )
        pm = None
        if body.get("card"):
            customer = self.store.get("customer", invoice["customer"])
            pm = self.card_payment_method(str(body["card"]), customer, at)
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
            sub = self.store.find(invoice["subscription"]) if invoice["subscription"] else None
            if sub:
                sub["default_payment_method"] = pm["id"]
        # Paying by hand is a new, customer-present payment: a "later" card fails it too.
        decline = self.collect(invoice, at, pm=pm, first=pm is not None)
        if decline:
            raise card_declined(decline, DECLINE_MESSAGES.get(decline, "Your card was declined."))
        return invoice

    def control_fail_invoice(self, ident: str) -> Obj:
        invoice = self.store.get("invoice", ident)
        at = self.time(invoice["_clock"])
        if invoice["status"] == "draft":
            self.finalize(invoice, at)
        if invoice["status"] != "open":
            raise invalid(f"Only an open invoice can fail (this one is {invoice['status']}).")
        self.collect(invoice, at, force_decline=True)
        return invoice

    # -- subscriptions ------------------------------------------------------------------------------

    def _plan(self, price: Obj) -> Obj:
        recurring = price["recurring"] or {}
        return fill(
            "subscription_item",
            "plan",
            active=price["active"],
            amount=price["unit_amount"],
            amount_decimal=price["unit_amount_decimal"],
            billing_scheme="per_unit",
            created=price["created"],
            currency=price["currency"],
            id=price["id"],
            interval=recurring.get("interval"),
            interval_count=recurring.get("interval_count"),
            livemode=False,
            metadata=dict(price["metadata"]),
            nickname=price["nickname"],
            product=price["product"],
            transform_usage=None,
            usage_type="licensed",
        )

    def _item(self, sub_id: str, price: Obj, quantity: int, at: int, period: tuple[int, int]) -> Obj:
        return blank(
            "subscription_item",
            created=at,
            discounts=[],
            id=self.store.new_id("subscription_item"),
            metadata={},
            price=self.store.render(price),
            quantity=quantity,
            subscription=sub_id,
            tax_rates=[],
            plan=self._plan(price),
            current_period_end=period[1],
            current_period_start=period[0],
            billing_thresholds=None,
        )

    @staticmethod
    def period(sub: Obj) -> tuple[int, int]:
        item = sub["items"]["data"][0]
        return int(item["current_period_start"]), int(item["current_period_end"])

    def _next_end(self, sub: Obj, start: int) -> int:
        recurring = sub["items"]["data"][0]["price"]["recurring"]
        anchor_day = datetime.fromtimestamp(sub["billing_cycle_anchor"], UTC).day
        return add_interval(start, recurring["interval"], recurring["interval_count"], anchor_day)

    def _product_name(self, price: Obj) -> str:
        product = self.store.find(price["product"])
        return str(product["name"]) if product else str(price["id"])

    def create_subscription(
        self,
        customer: Obj,
        items: list[tuple[Obj, int]],
        *,
        at: int,
        trial_days: int,
        metadata: Obj,
        discounts: list[tuple[Obj, Obj | None]],
        pm: Obj | None,
        session: str | None,
        trial_end_behavior: str = "create_invoice",
    ) -> Obj:
        sub_id = self.store.new_id("subscription")
        first_price = items[0][0]
        recurring = first_price["recurring"]
        if trial_days:
            period = (at, at + trial_days * DAY)
        else:
            period = (at, add_interval(at, recurring["interval"], recurring["interval_count"]))
        sub = blank(
            "subscription",
            application=None,
            application_fee_percent=None,
            automatic_tax=fill("subscription", "automatic_tax", liability=None),
            billing_cycle_anchor=period[1] if trial_days else at,
            billing_cycle_anchor_config=None,
            cancel_at=None,
            canceled_at=None,
            cancellation_details={"comment": None, "feedback": None, "reason": None},
            collection_method="charge_automatically",
            created=at,
            currency=first_price["currency"],
            customer=customer["id"],
            days_until_due=None,
            default_payment_method=pm["id"] if pm else None,
            default_source=None,
            default_tax_rates=[],
            description=None,
            discounts=[],
            ended_at=None,
            id=sub_id,
            invoice_settings=fill("subscription", "invoice_settings"),
            items={
                "data": [self._item(sub_id, price, qty, at, period) for price, qty in items],
                "has_more": False,
                "object": "list",
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            latest_invoice=None,
            livemode=False,
            metadata=dict(metadata),
            next_pending_invoice_item_invoice=None,
            on_behalf_of=None,
            pause_collection=None,
            payment_settings={
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            pending_invoice_item_interval=None,
            pending_setup_intent=None,
            pending_update=None,
            schedule=None,
            start_date=at,
            status="trialing" if trial_days else "active",
            test_clock=customer["test_clock"],
            transfer_data=None,
            trial_end=period[1] if trial_days else None,
            trial_settings={"end_behavior": {"missing_payment_method": trial_end_behavior}},
            trial_start=at if trial_days else None,
            cancel_at_period_end=False,
            billing_thresholds=None,
            billing_mode={"type": "classic", "flexible": None},
            customer_account=None,
            managed_payments=None,
            billing_schedules=[],
        )
        sub["_clock"] = customer["_clock"]
        sub["_pending"] = []
        sub["_trial_will_end_sent"] = False
        for coupon, promo in discounts:
            sub["discounts"].append(
                self._discount(coupon, promo, customer, at, subscription=sub_id, session=session)["id"]
            )
        self.store.add(sub)
        self.event("customer.subscription.created", sub, at)
        lines = [
            self._line(
                amount=0 if trial_days else price["unit_amount"] * qty,
                currency=price["currency"],
                description=f"Trial period for {self._product_name(price)}"
                if trial_days
                else f"{qty} x {self._product_name(price)}",
                period=period,
                quantity=qty,
                price=price,
                subscription=sub_id,
                item=item["id"],
                proration=False,
            )
            for (price, qty), item in zip(items, sub["items"]["data"], strict=True)
        ]
        invoice = self.new_invoice(customer, sub, lines, reason="subscription_create", at=at, period=period)
        self.finalize(invoice, at)
        self.collect(invoice, at, first=True)
        return sub

    def list_subscriptions(self, p: Obj) -> Obj:
        customer, price, status = p.get("customer"), p.get("price"), p.get("status")

        def keep(sub: Obj) -> bool:
            if customer and sub["customer"] != customer:
                return False
            if price and all(item["price"]["id"] != price for item in sub["items"]["data"]):
                return False
            if status == "all":
                return True
            if status:
                return bool(sub["status"] == status)
            return sub["status"] not in {"canceled", "incomplete_expired"}

        return self.store.page(self.store.all("subscription"), p, "/v1/subscriptions", keep=keep)

    def _change_lines(self, sub: Obj, items_p: list[Any], proration_date: int) -> tuple[list[Obj], bool]:
        """Apply `items` to `sub` (a copy, for a preview): the proration lines; did the interval change?"""
        start, end = self.period(sub)
        remaining, total = end - proration_date, end - start
        when = datetime.fromtimestamp(proration_date, UTC).strftime("%d %b %Y")
        lines: list[Obj] = []
        interval_changed = False
        trialing = sub["status"] == "trialing"

        def line(amount: int, text: str, price: Obj, qty: int, item: str) -> None:
            if trialing or amount == 0:
                return
            lines.append(
                self._line(
                    amount=amount,
                    currency=price["currency"],
                    description=text,
                    period=(proration_date, end),
                    quantity=qty,
                    price=price,
                    subscription=sub["id"],
                    item=item,
                    proration=True,
                )
            )

        for index, spec in enumerate(items_p):
            if not isinstance(spec, dict):
                raise invalid("Invalid items", param=f"items[{index}]")
            items = sub["items"]["data"]
            item = next((i for i in items if i["id"] == spec.get("id")), None) if spec.get("id") else None
            if spec.get("id") and item is None:
                raise invalid(f"Invalid subscription item: {spec['id']}", param=f"items[{index}][id]")
            if item is not None:
                old_price, old_qty = item["price"], int(item["quantity"])
                old_amount = old_price["unit_amount"] * old_qty
                if flag(spec.get("deleted", False), "deleted"):
                    line(
                        -prorated(old_amount, remaining, total),
                        f"Unused time on {self._product_name(old_price)} after {when}",
                        old_price,
                        old_qty,
                        item["id"],
                    )
                    items.remove(item)
                    continue
                new_price = (
                    self.store.get("price", spec["price"], param=f"items[{index}][price]", status=400)
                    if spec.get("price")
                    else self.store.get("price", old_price["id"])
                )
                qty = integer(spec.get("quantity", old_qty), f"items[{index}][quantity]")
                if new_price["id"] == old_price["id"] and qty == old_qty:
                    continue
                if new_price["currency"] != sub["currency"]:
                    raise invalid(
                        "The price's currency must match the subscription's currency.",
                        param=f"items[{index}][price]",
                    )
                if (new_price["recurring"] or {}).get("interval") != old_price["recurring"]["interval"] or (
                    new_price["recurring"] or {}
                ).get("interval_count") != old_price["recurring"]["interval_count"]:
                    interval_changed = True
                line(
                    -prorated(old_amount, remaining, total),
                    f"Unused time on {old_qty} x {self._product_name(old_price)} after {when}",
                    old_price,
                    old_qty,
                    item["id"],
                )
                if not interval_changed:
                    line(
                        prorated(new_price["unit_amount"] * qty, remaining, total),
                        f"Remaining time on {qty} x {self._product_name(new_price)} after {when}",
                        new_price,
                        qty,
                        item["id"],
                    )
                item.update(price=self.store.render(new_price), plan=self._plan(new_price), quantity=qty)
            else:
                if not spec.get("price"):
                    raise missing_param(f"items[{index}][price]")
                new_price = self.store.get("price", spec["price"], param=f"items[{index}][price]", status=400)
                qty = integer(spec.get("quantity", 1), f"items[{index}][quantity]")
                new_item = self._item(sub["id"], new_price, qty, proration_date, (start, end))
                items.append(new_item)
                line(
                    prorated(new_price["unit_amount"] * qty, remaining, total),
                    f"Remaining time on {qty} x {self._product_name(new_price)} after {when}",
                    new_price,
                    qty,
                    new_item["id"],
                )
        if not sub["items"]["data"]:
            raise invalid("A subscription must have at least one item.", param="items")
        return lines, interval_changed

    def _cycle_lines(self, sub: Obj, period: tuple[int, int]) -> list[Obj]:
        return [
            self._line(
                amount=item["price"]["unit_amount"] * item["quantity"],
                currency=item["price"]["currency"],
                description=f"{item['quantity']} x {self._product_name(item['price'])}",
                period=period,
                quantity=int(item["quantity"]),
                price=item["price"],
                subscription=sub["id"],
                item=item["id"],
                proration=False,
            )
            for item in sub["items"]["data"]
        ]

    def _set_period(self, sub: Obj, period: tuple[int, int]) -> None:
        for item in sub["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = period

    def update_subscription(self, ident: str, p: Obj) -> Obj:
        sub = self.store.get("subscription", ident)
        at = self.time(sub["_clock"])
        before = self.store.render(sub)
        if sub["status"] in {"canceled", "incomplete_expired"} and set(p) - {
            "metadata",
            "cancellation_details",
            "expand",
        }:
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        sub["metadata"] = _metadata(sub["metadata"], p.get("metadata"))
        if "description" in p:
            sub["description"] = p["description"] or None
        if p.get("default_payment_method"):
            pm = self.payment_method(str(p["default_payment_method"]), param="default_payment_method")
            sub["default_payment_method"] = pm["id"]
        if "cancel_at_period_end" in p:
            ending = flag(p["cancel_at_period_end"], "cancel_at_period_end")
            sub["cancel_at_period_end"] = ending
            sub["cancel_at"] = self.period(sub)[1] if ending else None
            sub["canceled_at"] = at if ending else None
            sub["cancellation_details"]["reason"] = "cancellation_requested" if ending else None
        if "cancel_at" in p:
            sub["cancel_at"] = integer(p["cancel_at"], "cancel_at") if p["cancel_at"] else None
            sub["canceled_at"] = at if sub["cancel_at"] else None
        details = p.get("cancellation_details")
        if isinstance(details, dict):
            for key in ("comment", "feedback"):
                if key in details:
                    sub["cancellation_details"][key] = details[key] or None
        invoice: Obj | None = None
        if p.get("items"):
            behaviour = str(p.get("proration_behavior") or "create_prorations")
            if behaviour not in {"create_prorations", "none", "always_invoice"}:
                raise invalid("Invalid proration_behavior", param="proration_behavior")
            proration_date = integer(p.get("proration_date", at), "proration_date")
            lines, interval_changed = self._change_lines(sub, as_list(p["items"]), proration_date)
            customer = self.store.get("customer", sub["customer"])
            if interval_changed:  # a new interval starts a new period now, invoiced at once
                sub["billing_cycle_anchor"] = at
                period = (at, self._next_end(sub, at))
                self._set_period(sub, period)
                lines = ([] if behaviour == "none" else lines) + self._cycle_lines(sub, period)
                invoice = self.new_invoice(
                    customer, sub, lines, reason="subscription_update", at=at, period=period
                )
            elif behaviour == "always_invoice" and lines:
                invoice = self.new_invoice(
                    customer,
                    sub,
                    lines,
                    reason="subscription_update",
                    at=at,
                    period=(proration_date, self.period(sub)[1]),
                )
            elif behaviour == "create_prorations":
                sub["_pending"].extend(lines)
        self.updated("customer.subscription.updated", sub, before, at)
        if invoice is not None:
            self.finalize(invoice, at)
            self.collect(invoice, at)
        return sub

    def cancel_subscription(self, ident: str, p: Obj) -> Obj:
        sub = self.store.get("subscription", ident)
        if sub["status"] == "canceled":
            raise invalid(f"No such subscription: '{ident}'. It has been canceled.", code="resource_missing")
        at = self.time(sub["_clock"])
        self._end(sub, at, reason="cancellation_requested")
        return sub

    def _end(self, sub: Obj, at: int, *, reason: str) -> None:
        before = self.store.render(sub)
        sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at)
        sub["cancellation_details"]["reason"] = sub["cancellation_details"]["reason"] or reason
        sub["_pending"] = []
        self.event("customer.subscription.deleted", sub, at, _changes(before, self.store.render(sub)))

    def _renew(self, sub: Obj, at: int) -> None:
        """The period ended at `at`: cancel if asked, else a new period and its invoice, paid by card."""
        if sub["cancel_at"] is not None and sub["cancel_at"] <= at:
            self._end(sub, at, reason="cancellation_requested")
            return
        if sub["status"] == "trialing" and not self._has_payment_method(sub):
            behaviour = sub["trial_settings"]["end_behavior"]["missing_payment_method"]
            if behaviour == "cancel":
                self._end(sub, at, reason="payment_disabled")
                return
            if behaviour == "pause":
                before = self.store.render(sub)
                sub["status"] = "paused"
                self.updated("customer.subscription.updated", sub, before, at)
                self.event("customer.subscription.paused", sub, at)
                return
        before = self.store.render(sub)
        if sub["status"] == "trialing":
            sub["status"] = "active"
        period = (at, self._next_end(sub, at))
        self._set_period(sub, period)
        pending, sub["_pending"] = sub["_pending"], []
        customer = self.store.get("customer", sub["customer"])
        invoice = self.new_invoice(
            customer,
            sub,
            pending + self._cycle_lines(sub, period),
            reason="subscription_cycle",
            at=at,
            period=period,
        )
        self.updated("customer.subscription.updated", sub, before, at)
        self.finalize(invoice, at)
        self.collect(invoice, at)

    def _has_payment_method(self, sub: Obj) -> bool:
        customer = self.store.get("customer", sub["customer"])
        return bool(sub["default_payment_method"] or customer["invoice_settings"]["default_payment_method"])

    def resume_subscription(self, ident: str, p: Obj) -> Obj:
        """A paused subscription starts a new period now, invoiced and charged at once."""
        sub = self.store.get("subscription", ident)
        if sub["status"] != "paused":
            raise invalid("Only a paused subscription can be resumed.", code="subscription_not_paused")
        at = self.time(sub["_clock"])
        before = self.store.render(sub)
        sub["status"] = "active"
        sub["billing_cycle_anchor"] = at
        period = (at, self._next_end(sub, at))
        self._set_period(sub, period)
        customer = self.store.get("customer", sub["customer"])
        invoice = self.new_invoice(
            customer, sub, self._cycle_lines(sub, period), reason="subscription_cycle", at=at, period=period
        )
        self.updated("customer.subscription.updated", sub, before, at)
        self.event("customer.subscription.resumed", sub, at)
        self.finalize(invoice, at)
        self.collect(invoice, at)
        return sub

    def preview_invoice(self, p: Obj) -> Obj:
        if not p.get("subscription"):
            raise missing_param("subscription")
        sub = copy.deepcopy(
            self.store.get("subscription", p["subscription"], param="subscription", status=400)
        )
        customer = self.store.get("customer", sub["customer"])
        if p.get("customer") and p["customer"] != customer["id"]:
            raise invalid("The subscription does not belong to this customer.", param="customer")
        at = self.time(sub["_clock"])
        details = p.get("subscription_details") or {}
        behaviour = str(details.get("proration_behavior") or "create_prorations")
        proration_date = integer(details.get("proration_date", at), "subscription_details[proration_date]")
        lines: list[Obj] = []
        interval_changed = False
        if details.get("items"):
            lines, interval_changed = self._change_lines(sub, as_list(details["items"]), proration_date)
        if behaviour == "none":
            lines = []
        end = self.period(sub)[1]
        if interval_changed:
            period = (at, self._next_end(sub, at))
            lines = lines + self._cycle_lines(sub, period)
        elif behaviour == "always_invoice":
            period = (proration_date, end)
        else:
            period = (end, self._next_end(sub, end))
            lines = [copy.deepcopy(line) for line in sub["_pending"]] + lines + self._cycle_lines(sub, period)
        discounts = [self.store.get("discount", ident) for ident in sub["discounts"]]
        discounts = [d for d in discounts if d["end"] is None or d["end"] > period[0]]
        invoice = self.build_invoice(
            customer,
            sub,
            lines,
            reason="upcoming"
            if not interval_changed and behaviour != "always_invoice"
            else "subscription_update",
            at=at,
            period=period,
            discounts=discounts,
            ident=f"upcoming_{new_id('in')}",
        )
        invoice["next_payment_attempt"] = period[0] if behaviour != "always_invoice" else at
        return invoice

    # -- checkout ------------------------------------------------------------------------------------

    def create_checkout_session(self, p: Obj) -> Obj:
        mode = p.get("mode")
        if mode not in {"subscription", "payment"}:
            raise (
                invalid("Invalid mode: must be one of payment or subscription", param="mode")
                if mode
                else missing_param("mode")
            )
        if not p.get("success_url"):
            raise missing_param("success_url")
        customer = (
            self.store.get("customer", p["customer"], param="customer", status=400)
            if p.get("customer")
            else None
        )
        at = self.time(customer["_clock"] if customer else None)
        items: list[tuple[Obj, int]] = []
        for index, spec in enumerate(as_list(p.get("line_items"))):
            if not isinstance(spec, dict):
                raise invalid("Invalid line_items", param=f"line_items[{index}]")
            if spec.get("price_data"):
                data = dict(spec["price_data"])
                price = self.create_price({**data, "active": "false"})
            elif spec.get("price"):
                price = self.store.get(
                    "price", spec["price"], param=f"line_items[{index}][price]", status=400
                )
            else:
                raise missing_param(f"line_items[{index}][price]")
            items.append((price, integer(spec.get("quantity", 1), f"line_items[{index}][quantity]")))
        if not items:
            raise missing_param("line_items")
        recurring = [price for price, _ in items if price["recurring"]]
        if mode == "subscription" and not recurring:
            raise invalid(
                "You must provide at least one recurring price in `subscription` mode when using prices.",
                param="line_items",
            )
        if mode == "payment" and recurring:
            raise invalid(
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
                param="line_items",
            )
        currency = items[0][0]["currency"]
        if any(price["currency"] != currency for price, _ in items):
            raise invalid("All prices must use the same currency.", param="line_items")
        discounts_p = as_list(p.get("discounts"))
        if discounts_p and p.get("allow_promotion_codes"):
            raise invalid(
                "You may only specify one of these parameters: allow_promotion_codes, discounts.",
                param="discounts",
            )
        if len(discounts_p) > 1:
            raise invalid("You may only specify one discount.", param="discounts")
        coupon: Obj | None = None
        promo: Obj | None = None
        session_discounts: list[Obj] = []
        for spec in discounts_p:
            if spec.get("promotion_code"):
                promo, coupon = self._usable_promotion(
                    spec["promotion_code"], "discounts[0][promotion_code]", at, customer
                )
            elif spec.get("coupon"):
                coupon = self._usable_coupon(spec["coupon"], "discounts[0][coupon]", at)
            session_discounts.append(
                {
                    "coupon": coupon["id"] if coupon and not promo else None,
                    "promotion_code": promo["id"] if promo else None,
                }
            )
        sub_data = p.get("subscription_data") or {}
        if sub_data and mode != "subscription":
            raise invalid(
                "subscription_data can only be used in subscription mode.", param="subscription_data"
            )
        trial_days = (
            integer(sub_data["trial_period_days"], "subscription_data[trial_period_days]")
            if sub_data.get("trial_period_days")
            else 0
        )
        end_behavior = ((sub_data.get("trial_settings") or {}).get("end_behavior") or {}).get(
            "missing_payment_method"
        ) or "create_invoice"
        if end_behavior not in {"create_invoice", "pause", "cancel"}:
            raise invalid(
                "Invalid missing_payment_method",
                param="subscription_data[trial_settings][end_behavior][missing_payment_method]",
            )
        if trial_days < 0 or trial_days > 730:
            raise invalid(
                "trial_period_days must be between 1 and 730", param="subscription_data[trial_period_days]"
            )
        expires_at = integer(p["expires_at"], "expires_at") if p.get("expires_at") else at + DAY
        if not at + 1800 <= expires_at <= at + DAY:
            raise invalid(
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
                param="expires_at",
            )
        collection = p.get("payment_method_collection") or ("always" if mode == "subscription" else None)
        if collection not in {None, "always", "if_required"}:
            raise invalid("Invalid payment_method_collection", param="payment_method_collection")
        subtotal = sum(price["unit_amount"] * qty for price, qty in items)
        due_now = 0 if trial_days else subtotal
        discount = (
            sum(e["amount"] for e in self._discount_amounts([(None, coupon)], due_now, currency))
            if coupon
            else 0
        )
        ident = self.store.new_id("checkout.session")
        session = blank(
            "checkout.session",
            after_expiration=None,
            allow_promotion_codes=flag(p["allow_promotion_codes"], "x")
            if p.get("allow_promotion_codes")
            else None,
            amount_subtotal=due_now,
            amount_total=due_now - discount,
            automatic_tax=fill("checkout.session", "automatic_tax", liability=None),
            billing_address_collection=p.get("billing_address_collection") or None,
            cancel_url=p.get("cancel_url") or None,
            client_reference_id=p.get("client_reference_id") or None,
            client_secret=None,
            consent=None,
            consent_collection=None,
            created=at,
            currency=currency,
            custom_fields=[],
            custom_text=fill(
                "checkout.session",
                "custom_text",
                after_submit=None,
                shipping_address=None,
                submit=None,
                terms_of_service_acceptance=None,
            ),
            customer=customer["id"] if customer else None,
            customer_creation=None if customer else ("always" if mode == "subscription" else "if_required"),
            customer_details=None,
            customer_email=None if customer else (p.get("customer_email") or None),
            expires_at=expires_at,
            id=ident,
            invoice=None,
            invoice_creation=None
            if mode == "subscription"
            else {
                "enabled": flag((p.get("invoice_creation") or {}).get("enabled", False), "invoice_creation"),
                "invoice_data": fill(
                    "checkout.session",
                    "invoice_creation.invoice_data",
                    issuer=None,
                    rendering_options=None,
                    metadata={},
                ),
            },
            livemode=False,
            locale=p.get("locale") or None,
            metadata=_metadata({}, p.get("metadata")),
            mode=mode,
            payment_intent=None,
            payment_link=None,
            payment_method_collection=collection,
            payment_method_configuration_details=None,
            payment_method_options={},
            payment_method_types=["card"],
            payment_status="unpaid",
            phone_number_collection={"enabled": False},
            recovered_from=None,
            saved_payment_method_options=None,
            setup_intent=None,
            shipping_address_collection=None,
            shipping_cost=None,
            shipping_options=[],
            status="open",
            submit_type=None,
            subscription=None,
            success_url=p["success_url"],
            total_details={"amount_discount": discount, "amount_shipping": 0, "amount_tax": 0},
            ui_mode="hosted",
            url=f"{self.base_url}/checkout/{ident}",
            adaptive_pricing=None,
            discounts=session_discounts,
            collected_information=None,
            permissions=None,
            wallet_options=None,
            origin_context=None,
            currency_conversion=None,
            customer_account=None,
            integration_identifier=None,
            managed_payments=None,
        )
        session["_clock"] = customer["_clock"] if customer else None
        session["_items"] = [(price["id"], qty) for price, qty in items]
        session["_coupon"] = coupon["id"] if coupon else None
        session["_promo"] = promo["id"] if promo else None
        session["_trial_days"] = trial_days
        session["_subscription_metadata"] = _metadata({}, sub_data.get("metadata"))
        session["_trial_end_behavior"] = end_behavior
        return self.store.add(session)

    def list_checkout_sessions(self, p: Obj) -> Obj:
        filters = {key: p.get(key) for key in ("customer", "subscription", "payment_intent", "status")}
        return self.store.page(
            self.store.all("checkout.session"),
            p,
            "/v1/checkout/sessions",
            keep=lambda s: all(not value or s[key] == value for key, value in filters.items()),
        )

    def expire_checkout_session(self, ident: str) -> Obj:
        session = self.store.get("checkout.session", ident)
        if session["status"] != "open":
            raise invalid(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
                f'Session has a status of "{session["status"]}".',
                code="checkout_session_not_open",
            )
        self._expire(session, self.time(session["_clock"]))
        return session

    def _expire(self, session: Obj, at: int) -> None:
        session["status"] = "expired"
        self.event("checkout.session.expired", session, at)

    def complete_checkout_session(self, ident: str, body: Obj) -> Obj:
        """The customer pays on the hosted page: `card` (a test card number), optional `email`, `name`."""
        session = self.store.get("checkout.session", ident)
        at = self.time(session["_clock"])
        if session["status"] == "open" and session["expires_at"] <= at:
            self._expire(session, at)
        if session["status"] != "open":
            raise invalid(
                f"This Checkout Session is no longer open (status {session['status']}).",
                code="checkout_session_not_open",
            )
        card = str(body.get("card") or "").replace(" ", "")
        needs_card = session["amount_total"] > 0 or session["payment_method_collection"] != "if_required"
        if not card and needs_card:
            raise missing_param("card")
        if card:
            decline = CARDS.get(card)
            if decline not in {None, "later"}:  # declined on the page: the session stays open
                raise card_declined(
                    decline or "generic_decline", DECLINE_MESSAGES.get(decline or "", "Declined.")
                )
        customer = self.store.find(session["customer"]) if session["customer"] else None
        if customer is None:
            email = body.get("email") or session["customer_email"] or "customer@example.com"
            customer = self.create_customer({"email": email, "name": body.get("name") or ""})
        pm = None
        if card:
            pm = self.card_payment_method(card, customer, at)
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
        session["customer"] = customer["id"]
        session["customer_details"] = fill(
            "checkout.session",
            "customer_details",
            address=None,
            email=customer["email"],
            name=customer["name"],
            tax_exempt="none",
            tax_ids=[],
        )
        items = [(self.store.get("price", price), qty) for price, qty in session["_items"]]
        coupon = self.store.get("coupon", session["_coupon"]) if session["_coupon"] else None
        promo = self.store.get("promotion_code", session["_promo"]) if session["_promo"] else None
        if session["mode"] == "subscription":
            sub = self.create_subscription(
                customer,
                items,
                at=at,
                trial_days=session["_trial_days"],
                metadata=session["_subscription_metadata"],
                discounts=[(coupon, promo)] if coupon else [],
                pm=pm,
                session=session["id"],
                trial_end_behavior=session["_trial_end_behavior"],
            )
            session["subscription"] = sub["id"]
            session["invoice"] = sub["latest_invoice"]
        else:
            if coupon:
                self._discount(coupon, promo, customer, at, subscription=None, session=session["id"])
            if pm is not None and session["amount_total"] > 0:
                pi, _, _ = self.charge_card(
                    amount=session["amount_total"],
                    currency=session["currency"],
                    customer=customer,
                    pm=pm,
                    at=at,
                    description=None,
                    first=True,
                    metadata=session["metadata"],
                )
                session["payment_intent"] = pi["id"]
            if session["invoice_creation"]["enabled"]:
                lines = [
                    self._line(
                        amount=price["unit_amount"] * qty,
                        currency=price["currency"],
                        description=f"{qty} x {self._product_name(price)}",
                        period=(at, at),
                        quantity=qty,
                        price=price,
                        subscription=None,
                        item=None,
                        proration=False,
                    )
                    for price, qty in items
                ]
                discounts = [d for d in self.store.all("discount") if d["checkout_session"] == session["id"]]
                invoice = self.store.add(
                    self.build_invoice(
                        customer, None, lines, reason="manual", at=at, period=(at, at), discounts=discounts
                    )
                )
                self.event("invoice.created", invoice, at)
                self.finalize(invoice, at)
                self._paid(invoice, at, out_of_band=True)
                session["invoice"] = invoice["id"]
        session["status"] = "complete"
        session["payment_status"] = "paid" if session["amount_total"] > 0 else "no_payment_required"
        self.event("checkout.session.completed", session, at)
        return session

    # -- billing portal, test clocks, events -------------------------------------------------------

    def create_portal_session(self, p: Obj) -> Obj:
        if not p.get("customer"):
            raise missing_param("customer")
        customer = self.store.get("customer", p["customer"], param="customer", status=400)
        ident = self.store.new_id("billing_portal.session")
        portal = blank(
            "billing_portal.session",
            configuration="bpc_local",
            created=self.time(customer["_clock"]),
            customer=customer["id"],
            flow=None,
            id=ident,
            livemode=False,
            locale=p.get("locale") or None,
            on_behalf_of=None,
            return_url=p.get("return_url") or None,
            url=f"{self.base_url}/billing_portal/{ident}",
            customer_account=None,
        )
        return self.store.add(portal)

    def create_test_clock(self, p: Obj) -> Obj:
        if "frozen_time" not in p:
            raise missing_param("frozen_time")
        frozen = integer(p["frozen_time"], "frozen_time")
        created = int(self.now().timestamp())
        clock = blank(
            "test_helpers.test_clock",
            created=created,
            deletes_after=created + 30 * DAY,
            frozen_time=frozen,
            id=self.store.new_id("test_helpers.test_clock"),
            livemode=False,
            name=p.get("name") or None,
            status="ready",
            status_details={},
        )
        self.store.add(clock)
        self.event("test_helpers.test_clock.created", clock, created)
        return clock

    def advance_test_clock(self, ident: str, frozen_time: int) -> Obj:
        clock = self.store.get("test_helpers.test_clock", ident)
        if frozen_time <= clock["frozen_time"]:
            raise invalid(
                "The frozen_time must be after the test clock's current frozen_time.", param="frozen_time"
            )
        self.run_due(ident, frozen_time)
        clock["frozen_time"] = frozen_time
        clock["status"] = "ready"
        self.event("test_helpers.test_clock.ready", clock, int(self.now().timestamp()))
        return clock

    def clock_for_customer(self, customer: Obj) -> Obj:
        """The customer's test clock; one made for it (at its current time) when it has none."""
        if customer["_clock"]:
            return self.store.get("test_helpers.test_clock", customer["_clock"])
        clock = self.create_test_clock({"frozen_time": self.time(None), "name": f"for {customer['id']}"})
        for kind in ("customer", "subscription", "invoice", "checkout.session", "payment_intent"):
            for obj in self.store.all(kind):
                if obj.get("customer", obj.get("id")) == customer["id"] or obj is customer:
                    obj["_clock"] = clock["id"]
                    if "test_clock" in obj:
                        obj["test_clock"] = clock["id"]
        return clock

    def run_due(self, clock: str | None, until: int) -> int:
        """Everything due on `clock` (None: objects on the sandbox's own time) up to `until`, in order."""
        done = 0
        for _ in range(10_000):
            due = self._next_due(clock, until)
            if due is None:
                break
            at, action, obj = due
            if clock:
                self.store.get("test_helpers.test_clock", clock)["frozen_time"] = at
            action(obj, at)
            done += 1
        return done

    def _next_due(self, clock: str | None, until: int) -> tuple[int, Callable[[Obj, int], None], Obj] | None:
        best: tuple[int, Callable[[Obj, int], None], Obj] | None = None

        def offer(at: int, action: Callable[[Obj, int], None], obj: Obj) -> None:
            nonlocal best
            if at <= until and (best is None or at < best[0]):
                best = (at, action, obj)

        for sub in self.store.all("subscription"):
            if sub["_clock"] != clock or sub["status"] not in LIVE_STATUSES:
                continue
            if sub["status"] == "trialing" and not sub["_trial_will_end_sent"] and sub["trial_end"]:
                offer(max(sub["trial_end"] - TRIAL_WILL_END, sub["created"]), self._trial_will_end, sub)
            end = self.period(sub)[1]
            offer(min(end, sub["cancel_at"]) if sub["cancel_at"] else end, self._renew, sub)
        for invoice in self.store.all("invoice"):
            if invoice["_clock"] == clock and invoice["status"] == "open" and invoice["next_payment_attempt"]:
                offer(invoice["next_payment_attempt"], self._retry, invoice)
        for session in self.store.all("checkout.session"):
            if session["_clock"] == clock and session["status"] == "open":
                offer(session["expires_at"], self._expire, session)
        return best

    def _trial_will_end(self, sub: Obj, at: int) -> None:
        sub["_trial_will_end_sent"] = True
        self.event("customer.subscription.trial_will_end", sub, at)

    def _retry(self, invoice: Obj, at: int) -> None:
        self.collect(invoice, at)

    def tick(self) -> int:
        """What is due on the sandbox's own clock (renewals, retries, expiries) up to now."""
        with self.lock:
            return self.run_due(None, int(self.now().timestamp()))

    def list_events(self, p: Obj) -> Obj:
        types = {str(t) for t in as_list(p.get("types"))} | ({str(p["type"])} if p.get("type") else set())

        def keep(event: Obj) -> bool:
            if not types:
                return True
            return any(
                event["type"] == t or (t.endswith("*") and event["type"].startswith(t[:-1])) for t in types
            )

        return self.store.page(self.store.all("event"), p, "/v1/events", keep=keep)

    def simple_list(self, kind: str, url: str, p: Obj, *filters: str) -> Obj:
        wanted = {key: p[key] for key in filters if p.get(key)}
        return self.store.page(
            self.store.all(kind), p, url, keep=lambda obj: all(obj.get(k) == v for k, v in wanted.items())
        )

    def invoice_amount_text(self, invoice: Obj) -> str:
        return display(int(invoice["amount_due"]), str(invoice["currency"]))
