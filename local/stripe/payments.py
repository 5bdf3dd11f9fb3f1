"""Cards, PaymentIntents and their charges, refunds and disputes."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from local.stripe.core import CARDS, DECLINE_MESSAGES, TEST_TOKENS, Core, Obj, metadata_update
from local.stripe.errors import card_declined, invalid, missing_param
from local.stripe.forms import flag, integer
from local.stripe.money import DAY
from local.stripe.shapes import blank, fill
from local.stripe.store import new_id


class Payments(Core):
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
            metadata_update({}, p.get("metadata")),
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
            metadata=metadata_update({}, p.get("metadata")),
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
