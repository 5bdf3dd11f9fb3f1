"""Checkout Sessions: creation with Stripe's checks, completion by the customer, expiry."""

from __future__ import annotations

from local.stripe.core import CARDS, DECLINE_MESSAGES, Obj, metadata_update
from local.stripe.errors import card_declined, invalid, missing_param
from local.stripe.forms import as_list, flag, integer
from local.stripe.money import DAY
from local.stripe.shapes import blank, fill
from local.stripe.subscriptions import Subscriptions

EXPIRY_GRACE = 60  # seconds


class Checkout(Subscriptions):
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
        # A caller's "30 minutes from now" reaches us a moment later: a minute of grace for it.
        if not at + 1800 - EXPIRY_GRACE <= expires_at <= at + DAY:
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
            metadata=metadata_update({}, p.get("metadata")),
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
        session["_subscription_metadata"] = metadata_update({}, sub_data.get("metadata"))
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
            if not card.isdigit() or not 12 <= len(card) <= 19:
                raise card_declined("invalid_number", "Your card number is invalid.")
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
        coupon = self.coupon_of(session["_coupon"]) if session["_coupon"] else None
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
            pi = None
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
                if pi is not None:
                    self._invoice_payment(invoice, pi, at, paid=True)
                self._paid(invoice, at, out_of_band=pi is None)
                session["invoice"] = invoice["id"]
        session["status"] = "complete"
        session["payment_status"] = "paid" if session["amount_total"] > 0 else "no_payment_required"
        self.event("checkout.session.completed", session, at)
        return session
