"""The Stripe event applier over moto with its real DynamoDB adapters (DynamoMirrorStore, the
invoice store, the email ledger, the placement seats): a completed checkout and an
invoice.paid land as they should, redelivered they change nothing, and threads applying the
same completed checkout at once provision it exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tally.accounts.domain import Account, Member
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.members import DynamoMemberStore
from tally.accounts.dynamo.table import BillingTable
from tally.accounts.errors import ChangedMeanwhile
from tally.billing.coupons import Coupon
from tally.clock import FixedClock
from tally.coupons.dynamo import DynamoCouponStore
from tally.errors import ServiceUnavailable
from tally.identity.roles import Role
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.ports import Listing
from tally.invoices.service import AccountCustomers, DraftIn, InvoiceService, SellerSettingsService
from tally.notifications.email import Email
from tally.notifications.ledger import EmailLedger
from tally.payments.stripe_events.applier import StripeEventApplier, redemption_id
from tally.payments.stripe_events.dynamo import DynamoMirrorStore
from tally.payments.stripe_events.notify import LedgerNotifier
from tally.placements.seats import DynamoPlacementSeats
from tally.storage import clients, keys
from tally.storage.items import from_item
from tests.support.billing import CONTEXT
from tests.support.stack import Stack
from tests.support.stripe_events import (
    ACCOUNT,
    END,
    NEXT_END,
    NOW,
    SESSION,
    START,
    SUBSCRIPTION,
    FakeAlerts,
    FakeStripe,
    charge_object,
    dispute_object,
    invoice_object,
    session_object,
    stripe_event,
    subscription_object,
)


class CountingMailer:
    def __init__(self) -> None:
        self.sent: list[Email] = []
        self._lock = threading.Lock()

    def send(self, email: Email) -> str:
        with self._lock:
            self.sent.append(email)
            return f"msg-{len(self.sent)}"


class World:
    def __init__(self, stack: Stack) -> None:
        self.clock = FixedClock(NOW)
        self.name = stack.ref("BillingTable")
        self.table = BillingTable(clients.dynamodb(), self.name, self.clock)
        self.stripe = FakeStripe()
        self.mailer = CountingMailer()
        self.alerts = FakeAlerts()
        self.invoices = InvoiceService(
            DynamoInvoiceStore(self.table),
            SellerSettingsService(DynamoSellerStore(self.table)),
            AccountCustomers(DynamoAccountStore(self.table)),
            clock=self.clock,
        )
        self.applier = StripeEventApplier(
            self.stripe,
            DynamoMirrorStore(self.table),
            self.invoices,
            DynamoPlacementSeats(clients.dynamodb(), self.name),
            LedgerNotifier(lambda: EmailLedger(clients.dynamodb(), self.name, self.mailer, clock=self.clock)),
            self.alerts,
            app_url="https://app.example",
            clock=self.clock,
        )
        account = Account(
            id=ACCOUNT,
            name="Acme SARL",
            email="billing@acme.example",
            country="FR",
            currency="EUR",
            created_at=START,
            owner_count=1,
            created_by="user_owner",
        )
        owner = Member(ACCOUNT, "user_owner", "owner@acme.example", Role.OWNER, START)
        DynamoAccountStore(self.table).create(account, owner, CONTEXT)
        coupon = Coupon(code="WELCOME10", name="Welcome", percent_off=Decimal(10), duration="once")
        DynamoCouponStore(self.table).create(coupon, CONTEXT)
        DynamoPlacementSeats(clients.dynamodb(), self.name).reserve(
            "dakar",
            "plumbers",
            ACCOUNT,
            until=START + timedelta(minutes=31),
            capacity=5,
            at=START,
            reservation_id="res_1",
            context=CONTEXT,
        )
        self.stripe.put(
            subscription_object(reservation="res_1", coupon="WELCOME10"),
            session_object(coupon="WELCOME10", reservation="res_1", user_id="user_buyer", discount=180),
            invoice_object(id="in_1", status="paid"),
        )

    def item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self.table.get(key)
        return from_item(found) if found else None

    def audit_actions(self, entity_type: str, entity_id: str) -> list[str]:
        answer = self.table.client.query(
            TableName=self.name,
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.audit_entity_pk(entity_type, entity_id)}},
        )
        return sorted(str(from_item(item)["action"]) for item in answer["Items"])

    def snapshot(self) -> dict[str, Any]:
        scan = self.table.client.scan(TableName=self.name, ConsistentRead=True)
        items = sorted(
            (item for item in scan["Items"] if not item["PK"]["S"].startswith("EMAIL#")),
            key=lambda item: (item["PK"]["S"], item["SK"]["S"]),
        )
        return {"items": items, "emails": len(self.mailer.sent)}


def test_a_completed_checkout_and_its_paid_invoice_land_once(stack: Stack) -> None:
    world = World(stack)
    checkout = stripe_event("checkout.session.completed", {"id": SESSION})
    paid = stripe_event("invoice.paid", {"id": "in_1"})
    assert world.applier.apply(checkout).outcome == "applied"
    assert world.applier.apply(paid).outcome == "applied"
    once = world.snapshot()
    for _ in range(4):
        assert world.applier.apply(checkout).outcome == "unchanged"
        assert world.applier.apply(paid).outcome == "unchanged"
    assert world.snapshot() == once

    account = DynamoAccountStore(world.table).get(ACCOUNT)
    assert account is not None
    assert account.status == "active"
    assert account.owner_count == 2
    members = {member.user_id: member.role for member in DynamoMemberStore(world.table).members(ACCOUNT)}
    assert members == {"user_owner": Role.OWNER, "user_buyer": Role.OWNER}
    subscription = DynamoMirrorStore(world.table).current_subscription(ACCOUNT)
    assert subscription is not None
    assert (subscription.id, subscription.status, subscription.collection) == (
        SUBSCRIPTION,
        "active",
        "stripe",
    )
    assert (subscription.current_period_start, subscription.current_period_end) == (START, END)
    assert subscription.coupon is not None
    assert subscription.coupon.redemption_id == redemption_id(SUBSCRIPTION)
    coupon = DynamoCouponStore(world.table).get("WELCOME10")
    assert coupon is not None
    assert coupon.redemptions == 1
    assert world.item(keys.redemption("WELCOME10", redemption_id(SUBSCRIPTION))) is not None
    assert world.item(keys.checkout_provisioned(SESSION)) is not None
    seat = world.item(keys.reservation("res_1"))
    assert seat is not None
    assert seat["state"] == "active"
    assert [email.template for email in world.mailer.sent] == ["welcome"]
    assert world.audit_actions("checkout_session", SESSION) == ["checkout.completed"]
    assert world.audit_actions("subscription", SUBSCRIPTION) == ["subscription.created"]
    assert world.audit_actions("invoice", "in_1") == ["invoice.mirrored"]

    # The account's invoices list Stripe's beside the native ones.
    world.invoices.create_draft(
        DraftIn.model_validate(
            {
                "account_id": ACCOUNT,
                "currency": "EUR",
                "lines": [{"description": "Setup", "unit_amount": 5000}],
            }
        ),
        CONTEXT,
    )
    listed = world.invoices.page(Listing(account_id=ACCOUNT))
    assert sorted(invoice.source for invoice in listed.invoices) == ["stripe", "tally"]
    mirrored = next(invoice for invoice in listed.invoices if invoice.source == "stripe")
    assert (mirrored.id, mirrored.number, mirrored.status, mirrored.total) == (
        "in_1",
        "ABCD-0001",
        "paid",
        1800,
    )
    assert mirrored.invoice_pdf == "https://pay.stripe.com/invoice/in_1/pdf"
    assert world.item(keys.sequence("INV#2026-05")) is None  # Stripe's number: no draw from Tally's counter


def test_threads_applying_the_same_checkout_provision_it_exactly_once(stack: Stack) -> None:
    world = World(stack)
    checkout = stripe_event("checkout.session.completed", {"id": SESSION})
    barrier = threading.Barrier(8)

    def deliver(_: int) -> str:
        barrier.wait()
        try:
            return world.applier.apply(checkout).outcome
        except (ChangedMeanwhile, ServiceUnavailable):
            return "retry"  # the worker would retry it

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(deliver, range(8)))
    while world.applier.apply(checkout).outcome != "unchanged":  # the retries, until settled
        pass

    assert outcomes.count("applied") >= 1, outcomes
    assert world.audit_actions("checkout_session", SESSION) == ["checkout.completed"]
    assert world.audit_actions("subscription", SUBSCRIPTION) == ["subscription.created"]
    coupon = DynamoCouponStore(world.table).get("WELCOME10")
    assert coupon is not None
    assert coupon.redemptions == 1
    members = DynamoMemberStore(world.table).members(ACCOUNT)
    assert sorted(member.user_id for member in members) == ["user_buyer", "user_owner"]
    account = DynamoAccountStore(world.table).get(ACCOUNT)
    assert account is not None
    assert (account.status, account.owner_count) == ("active", 2)
    assert [email.template for email in world.mailer.sent] == ["welcome"]


def test_a_whole_life_cycle_over_dynamodb_and_every_event_redelivered_changes_nothing(stack: Stack) -> None:
    world = World(stack)
    events = []

    def deliver(type: str, obj_id: str, event_id: str) -> None:
        event = stripe_event(type, {"id": obj_id}, id=event_id)
        events.append(event)
        world.applier.apply(event)

    deliver("checkout.session.completed", SESSION, "evt_1")
    deliver("invoice.paid", "in_1", "evt_2")
    world.stripe.put(
        subscription_object(
            status="past_due", start=END, end=NEXT_END, reservation="res_1", coupon="WELCOME10"
        ),
        invoice_object(id="in_2", status="open", start=END, end=NEXT_END, number="ABCD-0002"),
    )
    deliver("invoice.payment_failed", "in_2", "evt_3")
    store = DynamoMirrorStore(world.table)
    failed = store.current_subscription(ACCOUNT)
    assert failed is not None
    assert (failed.status, failed.grace_until) == ("past_due", NOW + timedelta(days=14))
    failed_to = sorted(email.to for email in world.mailer.sent if email.template == "payment-failed")
    assert failed_to == ["buyer@example.com", "owner@acme.example"]  # the owners (the buyer is one)
    assert world.alerts.counted == ["StripePaymentFailed"]

    world.stripe.put(
        subscription_object(
            status="active", start=END, end=NEXT_END, reservation="res_1", coupon="WELCOME10"
        ),
        invoice_object(
            id="in_2", status="paid", start=END, end=NEXT_END, number="ABCD-0002", attempt_count=2
        ),
        charge_object(invoice="in_2", refunds=[("re_1", 600)]),
        dispute_object(),
    )
    deliver("invoice.paid", "in_2", "evt_4")
    deliver("charge.refunded", "ch_1", "evt_5")
    deliver("charge.dispute.created", "dp_1", "evt_6")
    world.stripe.put(
        subscription_object(
            status="canceled",
            start=END,
            end=NEXT_END,
            reservation="res_1",
            coupon="WELCOME10",
            cancel_at_period_end=True,
            canceled_at=END,
            ended_at=NEXT_END,
        ),
        dispute_object(status="won"),
    )
    deliver("charge.dispute.closed", "dp_1", "evt_7")
    deliver("customer.subscription.deleted", SUBSCRIPTION, "evt_8")

    once = world.snapshot()
    for event in events:
        assert world.applier.apply(event).outcome in ("unchanged", "ignored"), event.type
    assert world.snapshot() == once

    ended = store.current_subscription(ACCOUNT)
    assert ended is not None
    assert (ended.status, ended.ended_at, ended.grace_until) == ("canceled", NEXT_END, None)
    account = DynamoAccountStore(world.table).get(ACCOUNT)
    assert account is not None
    assert account.status == "cancelled"
    seat = world.item(keys.reservation("res_1"))
    assert seat is not None
    assert seat["state"] == "released"
    refunded = store.invoice("in_2")
    assert refunded is not None
    assert (refunded.status, refunded.credited_total, refunded.refund_due) == ("paid", 600, 600)
    notes = DynamoInvoiceStore(world.table).credit_notes("in_2")
    assert [(note.id, note.total, note.invoice_number) for note in notes] == [("cn_re_1", 600, "ABCD-0002")]
    dispute = store.dispute(ACCOUNT, "dp_1")
    assert dispute is not None
    assert dispute.status == "closed"
    assert world.alerts.counted == ["StripePaymentFailed", "StripeDisputeOpened"]
    assert world.audit_actions("subscription", SUBSCRIPTION) == [
        "subscription.canceled",
        "subscription.created",
        "subscription.payment_failed",
        "subscription.payment_recovered",
    ]
    assert world.audit_actions("dispute", "dp_1") == ["dispute.closed", "dispute.opened"]
    open_disputes = world.table.client.query(
        TableName=world.name,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "DISPUTES#open"}},
    )
    assert open_disputes["Items"] == []
