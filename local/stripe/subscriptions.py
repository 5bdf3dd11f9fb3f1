"""Subscriptions: creation, changes with prorations, renewal, cancellation, pause, the preview."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from local.stripe.core import Obj, metadata_update
from local.stripe.errors import StripeError, invalid, missing_param
from local.stripe.forms import as_list, flag, integer
from local.stripe.invoicing import Invoicing
from local.stripe.money import DAY, add_interval, prorated
from local.stripe.shapes import blank, fill
from local.stripe.store import new_id


class Subscriptions(Invoicing):
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
        invoice = self.new_invoice(customer, sub, lines, reason="subscription_create", at=at, period=(at, at))
        self.finalize(invoice, at)
        # As Stripe's: the subscription's first event names its first invoice.
        self.event("customer.subscription.created", sub, at)
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
        """All or nothing, as Stripe's: a refused parameter leaves the subscription as it was."""
        sub = self.store.get("subscription", ident)
        saved = copy.deepcopy(sub)
        try:
            return self._update_subscription(sub, p)
        except StripeError:
            sub.clear()
            sub.update(saved)
            raise

    def _update_subscription(self, sub: Obj, p: Obj) -> Obj:
        at = self.time(sub["_clock"])
        before = self.store.render(sub)
        if sub["status"] in {"canceled", "incomplete_expired"} and set(p) - {
            "metadata",
            "cancellation_details",
            "expand",
        }:
            raise invalid("A canceled subscription can only update its cancellation_details and metadata.")
        sub["metadata"] = metadata_update(sub["metadata"], p.get("metadata"))
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
                    customer, sub, lines, reason="subscription_update", at=at, period=(at, at)
                )
            elif behaviour == "always_invoice" and lines:
                invoice = self.new_invoice(
                    customer,
                    sub,
                    lines,
                    reason="subscription_update",
                    at=at,
                    period=(at, at),
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
        sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at)
        sub["cancellation_details"]["reason"] = sub["cancellation_details"]["reason"] or reason
        sub["_pending"] = []
        self.event("customer.subscription.deleted", sub, at)

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
        ended = self.period(sub)
        period = (at, self._next_end(sub, at))
        self._set_period(sub, period)
        pending, sub["_pending"] = sub["_pending"], []
        customer = self.store.get("customer", sub["customer"])
        # As Stripe's: a renewal invoice's own period is the one that ended; its lines bill the next.
        invoice = self.new_invoice(
            customer,
            sub,
            pending + self._cycle_lines(sub, period),
            reason="subscription_cycle",
            at=at,
            period=ended,
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
            customer, sub, self._cycle_lines(sub, period), reason="subscription_cycle", at=at, period=(at, at)
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
        start, end = self.period(sub)
        if interval_changed:  # invoiced now: prorations and the first period at the new interval
            sub["billing_cycle_anchor"] = at
            billed, own, due = (at, self._next_end(sub, at)), (at, at), at
            lines = lines + self._cycle_lines(sub, billed)
        elif behaviour == "always_invoice":  # invoiced now: the prorations alone
            billed, own, due = (proration_date, end), (at, at), at
        else:  # the next renewal's invoice: pending prorations, these, and the next period
            billed, own, due = (end, self._next_end(sub, end)), (start, end), end
            lines = [copy.deepcopy(line) for line in sub["_pending"]] + lines + self._cycle_lines(sub, billed)
        discounts = [self.store.get("discount", ident) for ident in sub["discounts"]]
        discounts = [d for d in discounts if d["end"] is None or d["end"] > billed[0]]
        invoice = self.build_invoice(
            customer,
            sub,
            lines,
            reason="subscription_update" if due == at else "upcoming",
            at=at,
            period=own,
            discounts=discounts,
            ident=f"upcoming_{new_id('in')}",
        )
        invoice["next_payment_attempt"] = due
        return invoice
