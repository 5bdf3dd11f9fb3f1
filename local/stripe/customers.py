"""Customers: create, update, list, search."""

from __future__ import annotations

import secrets

from local.stripe.core import Obj, metadata_update
from local.stripe.forms import as_list
from local.stripe.payments import Payments
from local.stripe.shapes import blank


class Customers(Payments):
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
            metadata=metadata_update({}, p.get("metadata")),
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
        customer["metadata"] = metadata_update(customer["metadata"], p.get("metadata"))
        default = (p.get("invoice_settings") or {}).get("default_payment_method")
        if default:
            pm = self.payment_method(str(default), param="invoice_settings[default_payment_method]")
            self._attach(pm, customer)
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
        self.updated("customer.updated", customer, before, self.time(customer["_clock"]))
        return customer

    def list_customers(self, p: Obj) -> Obj:
        email, clock = p.get("email"), p.get("test_clock")
        return self.store.page(
            self.store.all("customer"),
            p,
            "/v1/customers",
            keep=lambda c: (not email or c["email"] == email) and (not clock or c["test_clock"] == clock),
        )
