"""Invoices: building (lines, discounts), finalizing, collecting by card, paying, voiding."""

from __future__ import annotations

from local.stripe.catalogue import Catalogue
from local.stripe.core import DECLINE_MESSAGES, RETRY_DAYS, Obj
from local.stripe.errors import card_declined, invalid
from local.stripe.forms import flag
from local.stripe.money import DAY
from local.stripe.shapes import blank, fill
from local.stripe.store import new_id


class Invoicing(Catalogue):
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
        coupons = [(d["id"], self.coupon_of(d["source"]["coupon"])) for d in discounts]
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
                if self.coupon_of(discount["source"]["coupon"])["duration"] == "once":
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
        # Stripe retries on a schedule, but not without a payment method to retry with.
        retries = pm is not None and attempt <= len(RETRY_DAYS)
        invoice["next_payment_attempt"] = at + RETRY_DAYS[attempt - 1] * DAY if retries else None
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
