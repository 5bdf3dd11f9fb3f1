"""Fakes and builders for the Stripe event applier (tally.payments.stripe_events).

`FakeStripe` answers the current state of Stripe's objects, shaped like Stripe's published
examples (../shared/stripe/fixtures3.json: the fields the applier reads, with the same names and
nesting); a test sets what Stripe "has now" and delivers events in any order. The in-memory
stores keep the DynamoDB adapters' conditions (a write conditional on what was read, a claim
written once), and count every audited write, email, alarm and seat move, so a test can see that
a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tally.accounts.domain import Account, Member
from tally.accounts.errors import ChangedMeanwhile
from tally.audit.records import AuditContext
from tally.billing.coupons import Coupon
from tally.billing.invoices import Invoice
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.billing.subscription_state import FINAL, Subscription
from tally.clock import FixedClock
from tally.identity.roles import Role
from tally.invoices.service import InvoiceService, SellerSettingsService
from tally.notifications.ledger import LedgerKey, SendOutcome
from tally.notifications.render import render
from tally.payments.events import ProviderEvent
from tally.payments.stripe_events.applier import StripeEventApplier
from tally.payments.stripe_events.ports import Dispute, Provisioning
from tally.subscriptions.ports import AccountFollows
from tests.support.coupons import InMemoryCouponStore
from tests.support.invoices import InMemoryCustomers, InMemoryInvoiceStore, InMemorySellerStore

NOW = datetime(2026, 5, 2, 9, tzinfo=UTC)
START = datetime(2026, 5, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)
NEXT_END = datetime(2026, 7, 1, tzinfo=UTC)
ACCOUNT = "acc_1"
CUSTOMER = "cus_1"
SUBSCRIPTION = "sub_1"
SESSION = "cs_test_1"


def unix(at: datetime) -> int:
    return int(at.timestamp())


# --- Stripe's objects ---------------------------------------------------------------------------


def subscription_object(
    *,
    id: str = SUBSCRIPTION,
    status: str = "active",
    start: datetime = START,
    end: datetime = END,
    trial_end: datetime | None = None,
    cancel_at_period_end: bool = False,
    canceled_at: datetime | None = None,
    ended_at: datetime | None = None,
    plan: str = "essential",
    version: int = 1,
    cycle: str = "monthly",
    currency: str = "eur",
    account_id: str = ACCOUNT,
    reservation: str | None = None,
    coupon: str | None = None,
) -> dict[str, Any]:
    meta = {
        "tally_account_id": account_id,
        "tally_kind": "subscription",
        "tally_plan": plan,
        "tally_plan_version": str(version),
        "tally_cycle": cycle,
        "tally_currency": currency.upper(),
    }
    if reservation:
        meta["tally_reservation_id"] = reservation
    if coupon:
        meta["tally_coupon"] = coupon
    price = {
        "id": f"price_{plan}_{version}_{cycle}",
        "object": "price",
        "currency": currency,
        "lookup_key": f"tally:{plan}:{version}:{cycle}:{currency.upper()}",
        "metadata": {"tally_plan": plan, "tally_plan_version": str(version), "tally_cycle": cycle},
        "recurring": {"interval": "month", "interval_count": 1},
        "unit_amount": 1500,
    }
    return {
        "id": id,
        "object": "subscription",
        "status": status,
        "customer": CUSTOMER,
        "currency": currency,
        "created": unix(START - timedelta(hours=1)),
        "start_date": unix(START - timedelta(hours=1)),
        "billing_cycle_anchor": unix(START),
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": unix(end) if cancel_at_period_end else None,
        "canceled_at": unix(canceled_at) if canceled_at else None,
        "ended_at": unix(ended_at) if ended_at else None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "trial_start": unix(START) if trial_end else None,
        "trial_end": unix(trial_end) if trial_end else None,
        "discounts": [],
        "metadata": meta,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{id}",
                    "object": "subscription_item",
                    "current_period_start": unix(start),
                    "current_period_end": unix(end),
                    "price": price,
                    "quantity": 1,
                    "metadata": {},
                }
            ],
        },
    }


def invoice_object(
    *,
    id: str = "in_1",
    status: str = "paid",
    subscription: str | None = SUBSCRIPTION,
    amount: int = 1500,
    tax: int = 300,
    attempt_count: int = 1,
    number: str | None = "ABCD-0001",
    start: datetime = START,
    end: datetime = END,
    account_id: str = ACCOUNT,
) -> dict[str, Any]:
    total = amount + tax
    paid = status == "paid"
    return {
        "id": id,
        "object": "invoice",
        "status": status,
        "number": number if status != "draft" else None,
        "customer": CUSTOMER,
        "currency": "eur",
        "created": unix(start),
        "period_start": unix(start),
        "period_end": unix(start),
        "subtotal": amount,
        "total": total,
        "total_excluding_tax": amount,
        "total_discount_amounts": [],
        "amount_due": total,
        "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid or status == "void" else total,
        "attempt_count": attempt_count,
        "due_date": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{id}/pdf",
        "last_finalization_error": None,
        "metadata": {},
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "subscription": subscription,
                "metadata": {"tally_account_id": account_id} if subscription else None,
            },
        }
        if subscription
        else None,
        "status_transitions": {
            "finalized_at": unix(start) if status != "draft" else None,
            "paid_at": unix(start + timedelta(minutes=5)) if paid else None,
            "voided_at": unix(start + timedelta(days=1)) if status == "void" else None,
            "marked_uncollectible_at": unix(start + timedelta(days=1)) if status == "uncollectible" else None,
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_{id}",
                    "object": "line_item",
                    "amount": amount,
                    "currency": "eur",
                    "description": "1 x Essential (at EUR 15.00 / month)",
                    "discount_amounts": [],
                    "quantity": 1,
                    "period": {"start": unix(start), "end": unix(end)},
                    "taxes": [{"amount": tax, "tax_behavior": "exclusive", "type": "tax_rate_details"}],
                    "metadata": {},
                }
            ],
        },
    }


def session_object(
    *,
    id: str = SESSION,
    status: str = "complete",
    mode: str = "subscription",
    subscription: str | None = SUBSCRIPTION,
    coupon: str | None = None,
    reservation: str | None = None,
    user_id: str | None = None,
    order_id: str | None = None,
    subtotal: int = 1800,
    discount: int = 0,
) -> dict[str, Any]:
    meta = {
        "tally_account_id": ACCOUNT,
        "tally_kind": "subscription" if mode == "subscription" else "order",
        "tally_plan": "essential",
        "tally_plan_version": "1",
        "tally_cycle": "monthly",
        "tally_currency": "EUR",
    }
    for name, value in (
        ("tally_coupon", coupon),
        ("tally_reservation_id", reservation),
        ("tally_user_id", user_id),
        ("tally_order_id", order_id),
    ):
        if value:
            meta[name] = value
    return {
        "id": id,
        "object": "checkout.session",
        "status": status,
        "mode": mode,
        "payment_status": "paid" if status == "complete" else "unpaid",
        "client_reference_id": ACCOUNT,
        "customer": CUSTOMER,
        "customer_details": {"email": "Buyer@Example.com", "name": "Ada"},
        "subscription": subscription if mode == "subscription" else None,
        "currency": "eur",
        "amount_subtotal": subtotal,
        "amount_total": subtotal - discount,
        "total_details": {"amount_discount": discount, "amount_shipping": 0, "amount_tax": 0},
        "metadata": meta,
        "expires_at": unix(NOW + timedelta(minutes=30)),
    }


def charge_object(
    *,
    id: str = "ch_1",
    invoice: str | None = "in_1",
    refunds: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "charge",
        "amount": 1800,
        "amount_refunded": sum(amount for _, amount in refunds),
        "currency": "eur",
        "customer": CUSTOMER,
        "payment_intent": f"pi_{id}",
        "refunded": bool(refunds),
        "metadata": {},
        "refunds": {
            "object": "list",
            "data": [
                {
                    "id": refund_id,
                    "object": "refund",
                    "amount": amount,
                    "charge": id,
                    "currency": "eur",
                    "created": unix(NOW) + index,
                    "status": "succeeded",
                }
                for index, (refund_id, amount) in enumerate(refunds)
            ],
        },
        "_invoice": invoice,  # read by FakeStripe.invoice_of_charge only
    }


def dispute_object(
    *, id: str = "dp_1", charge: str = "ch_1", status: str = "needs_response"
) -> dict[str, Any]:
    return {
        "id": id,
        "object": "dispute",
        "amount": 1800,
        "charge": charge,
        "currency": "eur",
        "created": unix(NOW),
        "reason": "fraudulent",
        "status": status,
        "metadata": {},
    }


def stripe_event(type: str, obj: Mapping[str, Any], *, id: str | None = None) -> ProviderEvent:
    """A verified event as the worker hands it over: Stripe's event, its object in `data`."""
    event_id = id or f"evt_{type.replace('.', '_')}_{obj['id']}"
    payload = {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": unix(NOW),
        "data": {"object": dict(obj)},
    }
    return ProviderEvent("stripe", event_id, type, NOW, payload)


class FakeStripe:
    """The StripeReader port: what Stripe has now, set by the test."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, str] = {CUSTOMER: ACCOUNT}
        self.reads = 0

    def put(self, *objects: dict[str, Any]) -> None:
        where = {
            "subscription": self.subscriptions,
            "invoice": self.invoices,
            "checkout.session": self.sessions,
            "charge": self.charges,
            "dispute": self.disputes,
        }
        for obj in objects:
            where[str(obj["object"])][str(obj["id"])] = obj

    def _read(self, found: dict[str, Any]) -> dict[str, Any]:
        self.reads += 1
        return {name: value for name, value in found.items() if not name.startswith("_")}

    def subscription(self, subscription_id: str) -> Mapping[str, Any]:
        return self._read(self.subscriptions[subscription_id])

    def invoice(self, invoice_id: str) -> Mapping[str, Any]:
        return self._read(self.invoices[invoice_id])

    def checkout_session(self, session_id: str) -> Mapping[str, Any]:
        return self._read(self.sessions[session_id])

    def charge(self, charge_id: str) -> Mapping[str, Any]:
        return self._read(self.charges[charge_id])

    def dispute(self, dispute_id: str) -> Mapping[str, Any]:
        return self._read(self.disputes[dispute_id])

    def customer_account(self, customer_id: str) -> str | None:
        return self.customers.get(customer_id)

    def invoice_of_charge(self, charge: Mapping[str, Any]) -> str | None:
        found = self.charges.get(str(charge["id"]), {}).get("_invoice")
        return str(found) if found else None


# --- Tally's side -------------------------------------------------------------------------------


class InMemoryMirrorStore:
    """The MirrorStore port over dicts, with the DynamoDB adapter's conditions. Invoices live in
    the InvoiceStore fake's dict (the credit notes of refunds go through it)."""

    def __init__(self, invoices: InMemoryInvoiceStore, coupons: InMemoryCouponStore) -> None:
        self.accounts: dict[str, Account] = {}
        self.member_list: dict[str, list[Member]] = {}
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.pointers: dict[str, str] = {}
        self.invoice_store = invoices
        self.coupons = coupons
        self.disputes: dict[tuple[str, str], Dispute] = {}
        self.claims: dict[str, Provisioning] = {}
        self.orders: dict[tuple[str, str], int] = {}
        self.redemption_ids: set[str] = set()
        self.actions: list[str] = []
        self.settings = default_seller_settings()
        self.interfere: list[Any] = []  # callables run before the next write (a concurrent change)

    def _interfering(self) -> None:
        while self.interfere:
            self.interfere.pop(0)()

    # reads
    def account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def members(self, account_id: str) -> list[Member]:
        return list(self.member_list.get(account_id, []))

    def subscription(self, account_id: str, subscription_id: str) -> Subscription | None:
        return self.subscriptions.get((account_id, subscription_id))

    def current_subscription(self, account_id: str) -> Subscription | None:
        pointer = self.pointers.get(account_id)
        return self.subscriptions.get((account_id, pointer)) if pointer else None

    def invoice(self, invoice_id: str) -> Invoice | None:
        return self.invoice_store.invoices.get(invoice_id)

    def dispute(self, account_id: str, dispute_id: str) -> Dispute | None:
        return self.disputes.get((account_id, dispute_id))

    def coupon(self, code: str) -> Coupon | None:
        stored = self.coupons.get(code)
        return stored.coupon if stored is not None else None

    def seller(self) -> SellerSettings:
        return self.settings

    # writes
    def _check_follows(self, follows: AccountFollows | None) -> None:
        if follows is not None and self.accounts[follows.account.id].status != follows.account.status:
            raise ChangedMeanwhile("account changed")

    def _apply_follows(self, follows: AccountFollows | None) -> None:
        if follows is not None:
            stored = self.accounts[follows.account.id]
            self.accounts[stored.id] = replace(stored, status=follows.status, status_reason=follows.reason)
            self.actions.append("account.status_changed")

    def save_subscription(
        self,
        before: Subscription | None,
        after: Subscription,
        action: str,
        *,
        current: bool,
        follows: AccountFollows | None,
        context: AuditContext,
    ) -> None:
        self._interfering()
        key = (after.account_id, after.id)
        if self.subscriptions.get(key) != before:
            raise ChangedMeanwhile("subscription changed")
        if current:
            pointed = self.current_subscription(after.account_id)
            if pointed is not None and pointed.id != after.id and pointed.status not in FINAL:
                raise ChangedMeanwhile("pointer names another live subscription")
            self._check_follows(follows)
        self.subscriptions[key] = after
        if current:
            self.pointers[after.account_id] = after.id
            self._apply_follows(follows)
        self.actions.append(action)

    def save_invoice(
        self, before: Invoice | None, after: Invoice, action: str, context: AuditContext
    ) -> None:
        self._interfering()
        if self.invoice_store.invoices.get(after.id) != before:
            raise ChangedMeanwhile("invoice changed")
        self.invoice_store.invoices[after.id] = after
        self.actions.append(action)

    def provision(self, provisioning: Provisioning, context: AuditContext) -> bool:
        self._interfering()
        p = provisioning
        if p.session_id in self.claims:
            return False
        self._check_follows(p.activate)
        if p.owner is not None and any(m.user_id == p.owner.user_id for m in self.members(p.account_id)):
            raise ChangedMeanwhile("member added meanwhile")
        if p.redeemed is not None and (
            p.redeemed.id in self.redemption_ids or self.coupons.get(p.redeemed.code) is None
        ):
            raise ChangedMeanwhile("redemption refused")
        self.claims[p.session_id] = p
        self.actions.append("checkout.completed")
        self._apply_follows(p.activate)
        if p.owner is not None:
            self.member_list.setdefault(p.account_id, []).append(p.owner)
            account = self.accounts[p.account_id]
            self.accounts[p.account_id] = replace(account, owner_count=account.owner_count + 1)
            self.actions.append("member.added")
        if p.redeemed is not None:
            stored = self.coupons.coupons[p.redeemed.code]
            self.coupons.coupons[p.redeemed.code] = replace(stored, redemptions=stored.redemptions + 1)
            per = (p.redeemed.code, p.account_id)
            self.coupons.per_account[per] = self.coupons.per_account.get(per, 0) + 1
            self.redemption_ids.add(p.redeemed.id)
            self.actions.append("coupon.redeemed")
        if p.order is not None:
            self.orders[(p.account_id, p.order.order_id)] = p.order.amount
            self.actions.append("order.paid")
        return True

    def save_dispute(self, before: Dispute | None, after: Dispute, context: AuditContext) -> None:
        self._interfering()
        if self.disputes.get((after.account_id, after.id)) != before:
            raise ChangedMeanwhile("dispute changed")
        self.disputes[(after.account_id, after.id)] = after
        self.actions.append(f"dispute.{after.status}")


class FakeSeats:
    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.moves: list[tuple[str, str]] = []

    def _move(self, reservation_id: str, status: str, allowed: tuple[str, ...]) -> None:
        if self.status.get(reservation_id, "reserved") in allowed:
            self.status[reservation_id] = status
            self.moves.append((reservation_id, status))

    def confirm(self, reservation_id: str, *, at: datetime) -> None:
        self._move(reservation_id, "active", ("reserved",))

    def release(self, reservation_id: str, *, at: datetime) -> None:
        self._move(reservation_id, "released", ("reserved", "active"))


class FakeNotifier:
    """The email ledger in memory; every email is rendered from the real templates (a missing
    variable fails the test), and sent once per key."""

    def __init__(self) -> None:
        self.sent: dict[LedgerKey, tuple[str, str]] = {}  # key -> (to, subject)
        self.fail_next = 0

    def send(
        self, template: str, locale: str, to: str, key: LedgerKey, context: Mapping[str, Any]
    ) -> SendOutcome:
        if key in self.sent:
            return SendOutcome.ALREADY_SENT
        email = render(template, locale, to=to, entity_id=key.entity_id, **context)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("SES is down")
        self.sent[key] = (email.to, email.subject)
        return SendOutcome.SENT


@dataclass
class FakeAlerts:
    counted: list[str] = field(default_factory=list)

    def count(self, name: str) -> None:
        self.counted.append(name)


class World:
    """An applier over fakes, with an account (pending), its owner, an admin and a member."""

    def __init__(self) -> None:
        self.clock = FixedClock(NOW)
        self.stripe = FakeStripe()
        self.invoice_store = InMemoryInvoiceStore()
        self.coupon_store = InMemoryCouponStore()
        self.store = InMemoryMirrorStore(self.invoice_store, self.coupon_store)
        self.seller = InMemorySellerStore()
        self.invoices = InvoiceService(
            self.invoice_store, SellerSettingsService(self.seller), InMemoryCustomers(), clock=self.clock
        )
        self.seats = FakeSeats()
        self.notifier = FakeNotifier()
        self.alerts = FakeAlerts()
        self.applier = StripeEventApplier(
            self.stripe,
            self.store,
            self.invoices,
            self.seats,
            self.notifier,
            self.alerts,
            app_url="https://app.example",
            clock=self.clock,
            plan_names=lambda code: code.title(),
        )
        self.store.accounts[ACCOUNT] = Account(
            id=ACCOUNT,
            name="Acme SARL",
            email="billing@acme.example",
            country="FR",
            currency="EUR",
            created_at=START - timedelta(days=3),
            owner_count=1,
            created_by="user_owner",
        )
        joined = START - timedelta(days=3)
        self.store.member_list[ACCOUNT] = [
            Member(ACCOUNT, "user_owner", "owner@acme.example", Role.OWNER, joined),
            Member(ACCOUNT, "user_admin", "admin@acme.example", Role.ADMIN, joined),
            Member(ACCOUNT, "user_member", "member@acme.example", Role.MEMBER, joined),
        ]

    def state(self) -> dict[str, Any]:
        """Everything an event may change: stored state, audited writes, emails, alarms, seats."""
        return {
            "accounts": dict(self.store.accounts),
            "members": {k: list(v) for k, v in self.store.member_list.items()},
            "subscriptions": dict(self.store.subscriptions),
            "pointers": dict(self.store.pointers),
            "invoices": dict(self.invoice_store.invoices),
            "credit_notes": {k: list(v) for k, v in self.invoice_store.notes.items()},
            "disputes": dict(self.store.disputes),
            "claims": set(self.store.claims),
            "orders": dict(self.store.orders),
            "coupons": dict(self.coupon_store.coupons),
            "actions": [*self.store.actions, *self.invoice_store.actions],
            "emails": dict(self.notifier.sent),
            "alerts": list(self.alerts.counted),
            "seats": list(self.seats.moves),
        }

    def final(self) -> dict[str, Any]:
        """The stored state alone (what every ordering of the same events must agree on)."""
        state = self.state()
        return {name: state[name] for name in ("accounts", "subscriptions", "pointers", "invoices")}
