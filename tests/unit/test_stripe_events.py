"""The Stripe event applier over in-memory fakes: what each event does, that a redelivered event
changes nothing more (issue 9, "Reliability tests"), and that every ordering of a subscription's
life-cycle events ends in the same state."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tally.accounts.errors import ChangedMeanwhile
from tally.billing.coupons import Coupon
from tally.notifications.ledger import LedgerKey
from tally.payments.events import ProviderEvent
from tally.payments.stripe_events.applier import HANDLED, redemption_id, refund_note_id
from tests.support.billing import CONTEXT
from tests.support.stripe_events import (
    ACCOUNT,
    END,
    NEXT_END,
    NOW,
    SESSION,
    START,
    SUBSCRIPTION,
    World,
    charge_object,
    dispute_object,
    invoice_object,
    session_object,
    stripe_event,
    subscription_object,
)

WELCOME = Coupon(code="WELCOME10", name="Welcome", percent_off=Decimal(10), duration="once")

# --- what each event does -------------------------------------------------------------------


def test_a_completed_checkout_provisions_the_account_subscription_coupon_seat_and_welcome() -> None:
    world = World()
    world.coupon_store.create(WELCOME, CONTEXT)
    world.stripe.put(
        subscription_object(reservation="res_1", coupon="welcome10"),
        session_object(coupon="welcome10", reservation="res_1", user_id="user_buyer", discount=180),
    )
    applied = world.applier.apply(stripe_event("checkout.session.completed", {"id": SESSION}))

    assert applied.outcome == "applied"
    assert world.store.accounts[ACCOUNT].status == "active"
    subscription = world.store.current_subscription(ACCOUNT)
    assert subscription is not None
    assert (subscription.id, subscription.status, subscription.collection) == (
        SUBSCRIPTION,
        "active",
        "stripe",
    )
    assert (subscription.stripe_subscription_id, subscription.stripe_customer_id) == (SUBSCRIPTION, "cus_1")
    assert (subscription.plan_code, subscription.plan_version, subscription.cycle) == (
        "essential",
        1,
        "monthly",
    )
    assert (subscription.current_period_start, subscription.current_period_end) == (START, END)
    assert subscription.coupon is not None
    assert subscription.coupon.code == "WELCOME10"
    assert subscription.coupon.redemption_id == redemption_id(SUBSCRIPTION)
    assert world.coupon_store.coupons["WELCOME10"].redemptions == 1
    assert world.store.redemption_ids == {redemption_id(SUBSCRIPTION)}
    assert [m.user_id for m in world.store.member_list[ACCOUNT]][-1] == "user_buyer"
    assert world.store.member_list[ACCOUNT][-1].email == "buyer@example.com"
    assert world.seats.status == {"res_1": "active"}
    assert list(world.notifier.sent) == [LedgerKey("welcome", ACCOUNT)]


def test_a_completed_order_checkout_records_the_payment_on_the_account_once() -> None:
    world = World()
    world.stripe.put(session_object(mode="payment", order_id="ord_1"))
    event = stripe_event("checkout.session.completed", {"id": SESSION})
    assert world.applier.apply(event).outcome == "applied"
    assert world.applier.apply(event).outcome == "unchanged"
    assert world.store.orders == {(ACCOUNT, "ord_1"): 1800}
    assert world.store.accounts[ACCOUNT].status == "active"
    assert world.store.current_subscription(ACCOUNT) is None


def test_a_session_whose_payment_is_on_its_way_activates_nothing_yet() -> None:
    world = World()
    pending = session_object()
    pending["payment_status"] = "unpaid"
    world.stripe.put(subscription_object(status="incomplete"), pending)
    world.applier.apply(stripe_event("checkout.session.completed", {"id": SESSION}))
    assert world.store.accounts[ACCOUNT].status == "pending"
    assert set(world.store.claims) == {SESSION}


def test_an_open_session_is_not_provisioned() -> None:
    world = World()
    world.stripe.put(session_object(status="open"))
    assert (
        world.applier.apply(stripe_event("checkout.session.completed", {"id": SESSION})).outcome
        == "unchanged"
    )
    assert world.store.claims == {}


def test_an_expired_session_releases_its_seat_and_nothing_else() -> None:
    world = World()
    world.applier.apply(
        stripe_event("checkout.session.expired", session_object(status="expired", reservation="res_9"))
    )
    assert world.seats.status == {"res_9": "released"}
    assert world.store.actions == []


def test_a_failed_payment_makes_it_past_due_with_grace_and_tells_owners_and_admins_once() -> None:
    world = World()
    world.stripe.put(subscription_object(), invoice_object(id="in_1"))
    world.applier.apply(stripe_event("invoice.paid", {"id": "in_1"}))
    world.stripe.put(
        subscription_object(status="past_due", start=END, end=NEXT_END),
        invoice_object(id="in_2", status="open", start=END, end=NEXT_END, attempt_count=1),
    )
    event = stripe_event("invoice.payment_failed", {"id": "in_2"})
    assert world.applier.apply(event).outcome == "applied"

    subscription = world.store.current_subscription(ACCOUNT)
    assert subscription is not None
    assert subscription.status == "past_due"
    assert subscription.grace_until == NOW + timedelta(days=14)
    assert world.store.accounts[ACCOUNT].status == "active"  # no loss of access during the grace
    assert sorted(key.step or "" for key in world.notifier.sent if key.template == "payment-failed") == [
        "attempt-1:user_admin",
        "attempt-1:user_owner",
    ]
    assert world.alerts.counted == ["StripePaymentFailed"]
    invoice = world.invoice_store.invoices["in_2"]
    assert (invoice.source, invoice.status, invoice.number) == ("stripe", "open", "ABCD-0001")
    assert invoice.hosted_invoice_url == "https://invoice.stripe.com/i/in_2"

    # The next attempt fails too: told again, once.
    world.stripe.put(invoice_object(id="in_2", status="open", start=END, end=NEXT_END, attempt_count=2))
    world.applier.apply(stripe_event("invoice.payment_failed", {"id": "in_2"}, id="evt_2"))
    assert len([key for key in world.notifier.sent if key.template == "payment-failed"]) == 4
    assert world.alerts.counted == ["StripePaymentFailed"] * 2
    again = world.store.current_subscription(ACCOUNT)
    assert again is not None
    assert again.grace_until == NOW + timedelta(days=14)  # the grace runs from the first failure

    # Paid: active again, the grace gone.
    world.stripe.put(
        subscription_object(status="active", start=END, end=NEXT_END),
        invoice_object(id="in_2", status="paid", start=END, end=NEXT_END, attempt_count=3),
    )
    world.applier.apply(stripe_event("invoice.paid", {"id": "in_2"}))
    recovered = world.store.current_subscription(ACCOUNT)
    assert recovered is not None
    assert (recovered.status, recovered.grace_until) == ("active", None)
    assert "subscription.payment_recovered" in world.store.actions


def test_a_late_payment_failed_after_paid_changes_nothing() -> None:
    world = World()
    world.stripe.put(subscription_object(), invoice_object(id="in_1", status="paid"))
    world.applier.apply(stripe_event("invoice.paid", {"id": "in_1"}))
    before = world.state()
    stale = invoice_object(id="in_1", status="open")  # the payload says open; Stripe says paid
    assert world.applier.apply(stripe_event("invoice.payment_failed", stale)).outcome == "unchanged"
    assert world.state() == before


def test_a_deletion_at_the_period_end_cancels_ends_at_the_period_end_and_frees_the_seat() -> None:
    world = World()
    world.stripe.put(subscription_object(reservation="res_1", cancel_at_period_end=True, canceled_at=START))
    world.applier.apply(stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION}))
    scheduled = world.store.current_subscription(ACCOUNT)
    assert scheduled is not None
    assert (scheduled.status, scheduled.cancel_at_period_end) == ("active", True)
    assert world.store.accounts[ACCOUNT].status == "active"

    world.stripe.put(
        subscription_object(
            status="canceled", reservation="res_1", cancel_at_period_end=True, canceled_at=START, ended_at=END
        )
    )
    world.applier.apply(stripe_event("customer.subscription.deleted", {"id": SUBSCRIPTION}))
    ended = world.store.current_subscription(ACCOUNT)
    assert ended is not None
    assert (ended.status, ended.canceled_at, ended.ended_at) == ("canceled", START, END)
    assert world.store.accounts[ACCOUNT].status == "cancelled"
    assert world.seats.status == {"res_1": "released"}


def test_a_canceled_mirror_is_final_whatever_a_late_read_says() -> None:
    world = World()
    world.stripe.put(subscription_object(status="canceled", canceled_at=START, ended_at=START))
    world.applier.apply(stripe_event("customer.subscription.deleted", {"id": SUBSCRIPTION}))
    world.stripe.put(subscription_object(status="active"))
    assert world.applier.apply(
        stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION})
    ).outcome == ("unchanged")
    stored = world.store.current_subscription(ACCOUNT)
    assert stored is not None
    assert stored.status == "canceled"


def test_an_older_period_never_replaces_a_newer_one() -> None:
    world = World()
    world.stripe.put(subscription_object(start=END, end=NEXT_END))
    world.applier.apply(stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION}))
    world.stripe.put(subscription_object(start=START, end=END, status="past_due"))  # a stale read
    assert world.applier.apply(
        stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION})
    ).outcome == ("unchanged")
    stored = world.store.current_subscription(ACCOUNT)
    assert stored is not None
    assert (stored.current_period_start, stored.status) == (END, "active")


def test_a_trial_lapsing_into_past_due_goes_through_the_machine() -> None:
    world = World()
    world.stripe.put(subscription_object(status="trialing", trial_end=END))
    world.applier.apply(stripe_event("customer.subscription.created", {"id": SUBSCRIPTION}))
    world.stripe.put(subscription_object(status="past_due", start=END, end=NEXT_END, trial_end=END))
    world.applier.apply(stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION}))
    stored = world.store.current_subscription(ACCOUNT)
    assert stored is not None
    assert stored.status == "past_due"
    assert world.store.actions[-1] == "subscription.payment_failed"


def test_trial_will_end_tells_owners_and_admins_once() -> None:
    world = World()
    world.stripe.put(subscription_object(status="trialing", trial_end=END))
    event = stripe_event("customer.subscription.trial_will_end", {"id": SUBSCRIPTION})
    world.applier.apply(event)
    world.applier.apply(event)
    keys = sorted(key.step or "" for key in world.notifier.sent if key.template == "trial-ending")
    assert keys == ["2026-06-01:user_admin", "2026-06-01:user_owner"]


def test_a_refund_is_a_credit_note_on_the_mirrored_invoice_once_per_refund() -> None:
    world = World()
    world.stripe.put(subscription_object(), invoice_object(id="in_1"), charge_object(refunds=[("re_1", 500)]))
    world.applier.apply(stripe_event("invoice.paid", {"id": "in_1"}))
    event = stripe_event("charge.refunded", {"id": "ch_1"})
    assert world.applier.apply(event).outcome == "applied"
    assert world.applier.apply(event).outcome == "unchanged"
    notes = world.invoice_store.notes["in_1"]
    assert [(note.id, note.total, note.refund) for note in notes] == [(refund_note_id("re_1"), 500, True)]
    assert notes[0].number.startswith("CN-")  # Tally's own credit-note sequence
    assert world.invoice_store.invoices["in_1"].credited_total == 500

    world.stripe.put(charge_object(refunds=[("re_1", 500), ("re_2", 1300)]))
    world.applier.apply(stripe_event("charge.refunded", {"id": "ch_1"}, id="evt_again"))
    assert [note.total for note in world.invoice_store.notes["in_1"]] == [500, 1300]
    # A later invoice event keeps the credit notes on the mirror.
    world.applier.apply(stripe_event("invoice.payment_succeeded", {"id": "in_1"}))
    assert world.invoice_store.invoices["in_1"].credited_total == 1800


def test_a_dispute_flags_the_account_with_an_alarm_and_its_close_clears_it() -> None:
    world = World()
    world.stripe.put(charge_object(), dispute_object())
    world.applier.apply(stripe_event("charge.dispute.created", {"id": "dp_1"}))
    assert world.store.disputes[(ACCOUNT, "dp_1")].status == "open"
    assert world.alerts.counted == ["StripeDisputeOpened"]
    world.stripe.put(dispute_object(status="won"))
    world.applier.apply(stripe_event("charge.dispute.closed", {"id": "dp_1"}))
    assert world.store.disputes[(ACCOUNT, "dp_1")].status == "closed"
    assert world.alerts.counted == ["StripeDisputeOpened"]


def test_a_close_delivered_before_the_open_flags_nothing() -> None:
    world = World()
    world.stripe.put(charge_object(), dispute_object(status="lost"))
    world.applier.apply(stripe_event("charge.dispute.closed", {"id": "dp_1"}))
    world.applier.apply(stripe_event("charge.dispute.created", {"id": "dp_1"}))
    assert world.store.disputes[(ACCOUNT, "dp_1")].status == "closed"
    assert world.alerts.counted == []


def test_other_types_and_foreign_objects_are_ignored() -> None:
    world = World()
    assert world.applier.apply(stripe_event("customer.created", {"id": "cus_1"})).outcome == "ignored"
    foreign = subscription_object(id="sub_x", account_id="")
    foreign["items"]["data"][0]["price"]["metadata"] = {}
    foreign["metadata"] = {}
    world.stripe.put(foreign)
    world.stripe.customers.clear()
    assert world.applier.apply(stripe_event("customer.subscription.updated", foreign)).outcome == "ignored"
    assert world.state()["actions"] == []


def test_a_concurrent_change_is_read_again_and_applied() -> None:
    world = World()
    world.stripe.put(subscription_object())
    world.applier.apply(stripe_event("customer.subscription.created", {"id": SUBSCRIPTION}))
    stored = world.store.current_subscription(ACCOUNT)
    assert stored is not None

    def meanwhile() -> None:  # another event's write lands between this one's read and write
        world.store.subscriptions[(ACCOUNT, SUBSCRIPTION)] = stored.model_copy(
            update={"cancellation_reason": "x"}
        )

    world.store.interfere.append(meanwhile)
    world.stripe.put(subscription_object(status="past_due"))
    assert world.applier.apply(
        stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION})
    ).outcome == ("applied")
    after = world.store.current_subscription(ACCOUNT)
    assert after is not None
    assert after.status == "past_due"


def test_changes_that_keep_colliding_raise_for_the_workers_retry() -> None:
    world = World()
    world.stripe.put(subscription_object())

    def collide() -> None:
        raise ChangedMeanwhile("again")

    world.store.interfere.extend([collide] * 3)
    with pytest.raises(ChangedMeanwhile):
        world.applier.apply(stripe_event("customer.subscription.created", {"id": SUBSCRIPTION}))


def test_an_email_that_fails_is_sent_by_the_retry() -> None:
    world = World()
    world.stripe.put(subscription_object(), session_object())
    world.notifier.fail_next = 1
    event = stripe_event("checkout.session.completed", {"id": SESSION})
    with pytest.raises(RuntimeError):
        world.applier.apply(event)
    world.applier.apply(event)  # the provisioning is done already; the welcome goes now
    assert list(world.notifier.sent) == [LedgerKey("welcome", ACCOUNT)]
    assert world.store.actions.count("checkout.completed") == 1


# --- every handled event delivered 5 times: exactly one state change -----------------------------

Scenario = Callable[[World], ProviderEvent]


def _subscription(status: str, **extra: object) -> Scenario:
    def build(world: World) -> ProviderEvent:
        world.stripe.put(subscription_object(status=status, **extra))  # type: ignore[arg-type]
        return stripe_event(f"customer.subscription.{_TYPE[status]}", {"id": SUBSCRIPTION})

    return build


_TYPE = {"active": "created", "paused": "paused", "canceled": "deleted", "trialing": "trial_will_end"}


def _after(first: Scenario, then: Callable[[World], None], event_type: str, obj_id: str) -> Scenario:
    def build(world: World) -> ProviderEvent:
        world.applier.apply(first(world))
        then(world)
        return stripe_event(event_type, {"id": obj_id})

    return build


def _invoice(event_type: str, status: str, attempt_count: int = 1) -> Scenario:
    def build(world: World) -> ProviderEvent:
        world.stripe.put(
            subscription_object(status="past_due" if event_type.endswith("failed") else "active"),
            invoice_object(status=status, attempt_count=attempt_count),
        )
        return stripe_event(event_type, {"id": "in_1"})

    return build


def _refund(world: World) -> ProviderEvent:
    world.stripe.put(subscription_object(), invoice_object(), charge_object(refunds=[("re_1", 700)]))
    world.applier.apply(stripe_event("invoice.paid", {"id": "in_1"}))
    return stripe_event("charge.refunded", {"id": "ch_1"})


def _dispute(status: str) -> Scenario:
    def build(world: World) -> ProviderEvent:
        world.stripe.put(charge_object(), dispute_object(status=status))
        return stripe_event(
            "charge.dispute.created" if status != "won" else "charge.dispute.closed", {"id": "dp_1"}
        )

    return build


def _checkout(world: World) -> ProviderEvent:
    world.coupon_store.create(WELCOME, CONTEXT)
    world.stripe.put(
        subscription_object(reservation="res_1", coupon="welcome10"),
        session_object(coupon="WELCOME10", reservation="res_1", user_id="user_buyer", discount=180),
    )
    return stripe_event("checkout.session.completed", {"id": SESSION})


def _expired(world: World) -> ProviderEvent:
    return stripe_event("checkout.session.expired", session_object(status="expired", reservation="res_2"))


def _set(world: World, *objects: dict[str, object]) -> None:
    world.stripe.put(*objects)


SCENARIOS: dict[str, Scenario] = {
    "checkout.session.completed": _checkout,
    "checkout.session.expired": _expired,
    "customer.subscription.created": _subscription("active"),
    "customer.subscription.updated": _after(
        _subscription("active"),
        lambda world: _set(world, subscription_object(start=END, end=NEXT_END)),
        "customer.subscription.updated",
        SUBSCRIPTION,
    ),
    "customer.subscription.deleted": _after(
        _subscription("active"),
        lambda world: _set(world, subscription_object(status="canceled", canceled_at=NOW, ended_at=NOW)),
        "customer.subscription.deleted",
        SUBSCRIPTION,
    ),
    "customer.subscription.trial_will_end": _subscription("trialing", trial_end=END),
    "customer.subscription.paused": _after(
        _subscription("active"),
        lambda world: _set(world, subscription_object(status="paused")),
        "customer.subscription.paused",
        SUBSCRIPTION,
    ),
    "customer.subscription.resumed": _after(
        _subscription("paused"),
        lambda world: _set(world, subscription_object(status="active", start=END, end=NEXT_END)),
        "customer.subscription.resumed",
        SUBSCRIPTION,
    ),
    "invoice.finalized": _invoice("invoice.finalized", "open", attempt_count=0),
    "invoice.paid": _invoice("invoice.paid", "paid"),
    "invoice.payment_succeeded": _invoice("invoice.payment_succeeded", "paid"),
    "invoice.payment_failed": _invoice("invoice.payment_failed", "open"),
    "invoice.voided": _invoice("invoice.voided", "void", attempt_count=0),
    "invoice.marked_uncollectible": _invoice("invoice.marked_uncollectible", "uncollectible"),
    "charge.refunded": _refund,
    "charge.dispute.created": _dispute("needs_response"),
    "charge.dispute.closed": _dispute("won"),
}


def test_every_handled_type_has_its_scenario() -> None:
    assert set(SCENARIOS) == HANDLED


@pytest.mark.parametrize("event_type", sorted(SCENARIOS))
def test_an_event_delivered_five_times_changes_state_exactly_once(event_type: str) -> None:
    world = World()
    event = SCENARIOS[event_type](world)
    assert event.type == event_type
    before = world.state()
    first = world.applier.apply(event)
    once = world.state()
    assert once != before, f"{event_type} changed nothing"
    assert first.outcome == "applied"
    for _ in range(4):
        again = world.applier.apply(event)
        assert again.outcome in (
            "unchanged",
            "applied" if event_type == "checkout.session.expired" else "unchanged",
        )
    assert world.state() == once


# --- every ordering of one subscription's life-cycle events: the same final state ----------------


def _life_cycle() -> list[ProviderEvent]:
    return [
        stripe_event("customer.subscription.created", {"id": SUBSCRIPTION}, id="evt_created"),
        stripe_event("invoice.paid", {"id": "in_1"}, id="evt_paid_1"),
        stripe_event("customer.subscription.updated", {"id": SUBSCRIPTION}, id="evt_updated"),
        stripe_event("invoice.payment_failed", {"id": "in_2"}, id="evt_failed_2"),
        stripe_event("invoice.paid", {"id": "in_2"}, id="evt_paid_2"),
        stripe_event("customer.subscription.deleted", {"id": SUBSCRIPTION}, id="evt_deleted"),
    ]


def _stripe_at_the_end(world: World) -> None:
    """What Stripe answers once the life cycle is over, whatever order its events arrive in."""
    world.stripe.put(
        subscription_object(
            status="canceled", start=END, end=NEXT_END, canceled_at=NOW, ended_at=NOW, reservation="res_1"
        ),
        invoice_object(id="in_1", status="paid", start=START, end=END, attempt_count=1),
        invoice_object(
            id="in_2", status="paid", start=END, end=NEXT_END, attempt_count=2, number="ABCD-0002"
        ),
    )


def test_every_ordering_of_the_life_cycle_ends_in_the_same_state() -> None:
    reference = None
    orderings = 0
    for order in itertools.permutations(_life_cycle()):
        world = World()
        _stripe_at_the_end(world)
        for event in order:
            world.applier.apply(event)
        final = world.final()
        if reference is None:
            reference = final
        assert final == reference, [event.id for event in order]
        orderings += 1
    assert orderings == 720
    assert reference is not None
    subscription = reference["subscriptions"][(ACCOUNT, SUBSCRIPTION)]
    assert (subscription.status, subscription.ended_at, subscription.grace_until) == ("canceled", NOW, None)
    assert reference["accounts"][ACCOUNT].status == "cancelled"
    assert {invoice.status for invoice in reference["invoices"].values()} == {"paid"}


# --- the fields issue 9 added keep what was stored before readable and changeable ---------------


def test_an_invoice_stored_before_the_stripe_fields_keeps_its_fingerprint() -> None:
    import hashlib

    from tally.billing.invoices import STRIPE_FIELDS, finalize
    from tally.invoices.dynamo import fingerprint
    from tests.support.invoices import CUSTOMER, SELLER, draft

    invoice = finalize(draft(), number="INV-1", at=NOW, seller=SELLER, customer=CUSTOMER)
    # As it was stored before issue 9 (and before the dunning ladder and the grace days).
    stored = invoice.model_copy(update={"dunning_on": None})
    leave_out: dict[str, Any] = {
        **dict.fromkeys((*STRIPE_FIELDS, "dunning_on", "overdue_since"), True),
        "seller": {
            "dunning",
            "payment_grace_days",
            "allowed_redirect_origins",
            "payment_retry_days",
            "renewal_anchor",
            "trial_grace_days",
        },
    }
    old = stored.model_dump_json(exclude=leave_out)
    assert fingerprint(stored) == hashlib.sha256(old.encode()).hexdigest()[:32]
    mirrored = invoice.model_copy(update={"source": "stripe", "stripe_invoice_id": "in_1"})
    assert fingerprint(mirrored) != fingerprint(invoice)
    graced = invoice.model_copy(update={"seller": SELLER.model_copy(update={"payment_grace_days": 21})})
    assert fingerprint(graced) != fingerprint(invoice)


def test_seller_settings_stored_before_the_grace_days_keep_their_fingerprint() -> None:
    from tally.billing.seller import default_seller_settings, stable_json

    settings = default_seller_settings()
    assert settings.payment_grace_days == 14
    unset = {
        "payment_grace_days",
        "dunning",
        "allowed_redirect_origins",
        "payment_retry_days",
        "renewal_anchor",
        "trial_grace_days",
    }
    assert stable_json(settings) == settings.model_dump_json(exclude=unset)
    longer = settings.model_copy(update={"payment_grace_days": 21})
    assert "payment_grace_days" in stable_json(longer)
    listed = settings.model_copy(update={"allowed_redirect_origins": ["https://shop.example.org"]})
    assert "allowed_redirect_origins" in stable_json(listed)


def test_a_mirrored_invoice_enters_the_dunning_ladder_once_a_payment_failed() -> None:
    from datetime import date

    from tally.invoices.dynamo import invoice_item

    world = World()
    world.stripe.put(subscription_object(), invoice_object(id="in_1", status="open", attempt_count=0))
    world.applier.apply(stripe_event("invoice.finalized", {"id": "in_1"}))
    charging = world.invoice_store.invoices["in_1"]
    assert (charging.due_date, charging.dunning_on) == (date(2026, 5, 1), None)  # due when finalised
    assert "DUEPK" not in invoice_item(charging)

    world.stripe.put(subscription_object(status="past_due"), invoice_object(id="in_1", status="open"))
    world.applier.apply(stripe_event("invoice.payment_failed", {"id": "in_1"}))
    declined = world.invoice_store.invoices["in_1"]
    assert declined.dunning_on == date(2026, 4, 28)  # the ladder's first step: J-3
    assert invoice_item(declined)["DUESK"] == {"S": "2026-04-28#in_1"}

    # The dunning job moved it on; the mirror keeps its progress, and paid, it leaves the ladder.
    moved = declined.model_copy(update={"dunning_on": date(2026, 5, 4), "overdue_since": date(2026, 5, 2)})
    world.invoice_store.invoices["in_1"] = moved
    world.stripe.put(invoice_object(id="in_1", status="open", attempt_count=2))
    world.applier.apply(stripe_event("invoice.payment_failed", {"id": "in_1"}, id="evt_again"))
    kept = world.invoice_store.invoices["in_1"]
    assert (kept.dunning_on, kept.overdue_since) == (date(2026, 5, 4), date(2026, 5, 2))
    world.stripe.put(invoice_object(id="in_1", status="paid", attempt_count=3))
    world.applier.apply(stripe_event("invoice.paid", {"id": "in_1"}))
    paid = world.invoice_store.invoices["in_1"]
    assert (paid.status, paid.dunning_on) == ("paid", None)
    assert "DUEPK" not in invoice_item(paid)


def test_a_stripe_subscription_replaces_a_live_native_one() -> None:
    from tally.billing import subscription_state as machine
    from tally.billing.periods import Period

    world = World()
    native = machine.start_incomplete(
        id="sub_native",
        account_id=ACCOUNT,
        plan_code="essential",
        plan_version=1,
        cycle="monthly",
        currency="EUR",
        time_zone="Europe/Paris",
        period=Period(0, START, END),
        at=START,
    )
    world.store.subscriptions[(ACCOUNT, native.id)] = native
    world.store.pointers[ACCOUNT] = native.id
    world.stripe.put(subscription_object())
    world.applier.apply(stripe_event("customer.subscription.created", {"id": SUBSCRIPTION}))
    replaced = world.store.subscriptions[(ACCOUNT, "sub_native")]
    assert replaced.status == "canceled"
    assert replaced.cancellation_reason == f"Replaced by Stripe subscription {SUBSCRIPTION}"
    current = world.store.current_subscription(ACCOUNT)
    assert current is not None
    assert current.id == SUBSCRIPTION
    assert world.store.accounts[ACCOUNT].status == "active"


def test_a_second_live_stripe_subscription_waits_for_the_first_to_end() -> None:
    world = World()
    world.stripe.put(subscription_object(), subscription_object(id="sub_2"))
    world.applier.apply(stripe_event("customer.subscription.created", {"id": SUBSCRIPTION}))
    world.applier.apply(stripe_event("customer.subscription.created", {"id": "sub_2"}))
    assert world.store.pointers[ACCOUNT] == SUBSCRIPTION
    assert (ACCOUNT, "sub_2") in world.store.subscriptions
    world.stripe.put(subscription_object(status="canceled", canceled_at=NOW, ended_at=NOW))
    world.applier.apply(stripe_event("customer.subscription.deleted", {"id": SUBSCRIPTION}))
    world.stripe.put(subscription_object(id="sub_2", start=END, end=NEXT_END))
    world.applier.apply(stripe_event("customer.subscription.updated", {"id": "sub_2"}))
    assert world.store.pointers[ACCOUNT] == "sub_2"
    assert world.store.accounts[ACCOUNT].status == "active"
