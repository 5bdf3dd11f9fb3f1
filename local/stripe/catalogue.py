"""Products, prices, coupons, promotion codes, and the discounts they give."""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from local.stripe.core import Obj, metadata_update
from local.stripe.customers import Customers
from local.stripe.errors import invalid, missing_param
from local.stripe.forms import as_list, flag, integer
from local.stripe.money import months_later, percent_of
from local.stripe.shapes import blank
from local.stripe.store import new_id


class Catalogue(Customers):
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
            metadata=metadata_update({}, p.get("metadata")),
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
        product["metadata"] = metadata_update(product["metadata"], p.get("metadata"))
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
            metadata=metadata_update({}, p.get("metadata")),
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
        price["metadata"] = metadata_update(price["metadata"], p.get("metadata"))
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
            metadata=metadata_update({}, p.get("metadata")),
            name=p.get("name") or None,
            percent_off=percent,
            redeem_by=integer(p["redeem_by"], "redeem_by") if p.get("redeem_by") else None,
            times_redeemed=0,
            valid=True,
        )
        self.store.add(coupon)
        self.event("coupon.created", coupon, at)
        return coupon

    def update_coupon(self, ident: str, p: Obj) -> Obj:
        coupon = self.store.get("coupon", ident)
        before = self.store.render(coupon)
        if "name" in p:
            coupon["name"] = p["name"] or None
        coupon["metadata"] = metadata_update(coupon["metadata"], p.get("metadata"))
        self.updated("coupon.updated", coupon, before, self.time(None))
        return coupon

    def delete_coupon(self, ident: str) -> Obj:
        """Gone for new redemptions; discounts already given keep running, as at Stripe."""
        coupon = self.store.get("coupon", ident)
        del self.store.kinds["coupon"][ident]
        self.event("coupon.deleted", coupon, self.time(None))
        return {"deleted": True, "id": ident, "object": "coupon"}

    def coupon_of(self, ident: str) -> Obj:
        """A coupon given earlier, even deleted since (what it gave runs on)."""
        coupon = self.store.find(ident)
        assert coupon is not None
        assert coupon["object"] == "coupon"
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
            metadata=metadata_update({}, p.get("metadata")),
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
        promo["metadata"] = metadata_update(promo["metadata"], p.get("metadata"))
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
