"""`Billing`: the whole sandbox Stripe (every part, see `local.stripe.core`), with test clocks and what
runs when they move, billing portal sessions and customer deletion."""

from __future__ import annotations

from collections.abc import Callable

from local.stripe.checkout import Checkout
from local.stripe.core import LIVE_STATUSES, TRIAL_WILL_END, Obj
from local.stripe.errors import invalid, missing_param
from local.stripe.forms import integer
from local.stripe.money import DAY
from local.stripe.shapes import blank


class Billing(Checkout):
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
