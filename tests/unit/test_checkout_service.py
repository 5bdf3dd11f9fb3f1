"""CheckoutService with Stripe in memory (tests/support/stripe_fake) and in-memory stores: what a
checkout asks of Stripe, and what a retry after a failure reuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tally.accounts.domain import Account
from tally.billing.catalogue_files import load_shipped_catalogues
from tally.billing.coupons import Coupon
from tally.checkout.models import CheckoutIn
from tally.checkout.service import CheckoutService
from tally.checkout.urls import allowed_origins
from tally.clock import FixedClock
from tally.coupons.ports import CouponRefused
from tally.coupons.service import CouponService
from tally.errors import Conflict, InvalidInput, ServiceUnavailable
from tally.placements.models import PlacementFull
from tally.plans.service import CatalogueService
from tests.support.billing import CONTEXT, InMemoryAccounts, InMemoryPlanStore, InMemorySubscriptionStore
from tests.support.checkout import InMemoryCheckoutStore, InMemorySeats
from tests.support.coupons import InMemoryCouponStore
from tests.support.stripe_fake import FakeStripe

AT = datetime(2026, 6, 1, 10, tzinfo=UTC)
URLS = {"success_url": "https://app.example.com/ok", "cancel_url": "https://app.example.com/ko"}


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(AT)
        self.catalogue = CatalogueService(InMemoryPlanStore(), self.clock)
        for catalogue in load_shipped_catalogues():
            self.catalogue.import_catalogue(catalogue, CONTEXT)
        self.accounts = InMemoryAccounts(Account("acc1", "Acme", "a@example.com", "FR", "EUR", AT))
        self.coupon_store = InMemoryCouponStore()
        self.subscriptions = InMemorySubscriptionStore(self.accounts, self.coupon_store)
        self.coupons = CouponService(self.coupon_store, self.catalogue, self.subscriptions, self.clock)
        self.store = InMemoryCheckoutStore()
        self.seats = InMemorySeats()
        self.stripe = FakeStripe()
        self.service = CheckoutService(
            catalogue=self.catalogue,
            coupons=self.coupons,
            accounts=self.accounts,
            subscriptions=self.subscriptions,
            store=self.store,
            seats=self.seats,
            stripe=self.stripe,
            allowed_origins=lambda: allowed_origins([], "https://app.example.com"),
            clock=self.clock,
        )

    def checkout(self, key: str = "k1", **body: Any) -> Any:
        asked = CheckoutIn.model_validate(
            {"plan": "bronze", "cycle": "monthly", "currency": "EUR", **URLS, **body}
        )
        return self.service.checkout("acc1", asked, key, CONTEXT)


@pytest.fixture
def world() -> World:
    return World()


def test_a_checkout_asks_stripe_for_each_thing_once(world: World) -> None:
    made = world.checkout()
    assert made.expires_at == AT + timedelta(minutes=31)
    assert world.checkout() == made  # the same request: the recorded session, Stripe not asked
    assert world.stripe.count("create_checkout_session") == 1
    world.checkout("k2", cycle="annual")
    assert [world.stripe.count(m) for m in ("create_customer", "ensure_product", "ensure_price")] == [1, 1, 2]
    assert world.store.actions.count("checkout.started") == 2


def test_a_retry_after_stripe_failed_reuses_what_was_made(world: World) -> None:
    world.stripe.fail("create_checkout_session")
    with pytest.raises(ServiceUnavailable):
        world.checkout(placement={"location_id": "dakar", "category_id": "bakers"})
    world.clock.advance(timedelta(seconds=20))
    made = world.checkout(placement={"location_id": "dakar", "category_id": "bakers"})
    assert world.stripe.count("create_customer") == 1
    assert len(world.stripe.customers) == 1
    assert len(world.seats.reservations) == 1  # the same seat, held for the retry
    assert made.expires_at == AT + timedelta(minutes=31)  # the reservation's, from the first try
    # Too late for Stripe to make a session with the same expiry: a new checkout is needed.
    world.stripe.fail("create_checkout_session")
    with pytest.raises(ServiceUnavailable):
        world.checkout("k3")
    world.clock.advance(timedelta(minutes=2))
    with pytest.raises(Conflict, match="start a new one"):
        world.checkout("k3")


def test_a_full_placement_leaves_nothing_behind(world: World) -> None:
    placement = {"location_id": "dakar", "category_id": "bakers"}
    for index in range(5):
        world.checkout(f"k{index}", placement=placement)
    sessions = world.stripe.count("create_checkout_session")
    with pytest.raises(PlacementFull) as full:
        world.checkout("k5", placement=placement)
    assert full.value.next_free_at == AT + timedelta(minutes=31)
    assert world.stripe.count("create_checkout_session") == sessions
    assert len(world.store.checkouts) == 5
    world.clock.advance(timedelta(minutes=31))
    assert world.checkout("k5", placement=placement).reservation_id is not None


def test_refusals_come_before_stripe(world: World) -> None:
    with pytest.raises(InvalidInput) as wrong:
        world.checkout(currency="XOF")
    assert wrong.value.field == "currency"
    with pytest.raises(Conflict):
        world.checkout(plan="enterprise", currency="XOF")  # sold on quote
    world.coupon_store.create(
        Coupon.model_validate(
            {
                "code": "big",
                "name": "Big",
                "percent_off": "10",
                "minimum": {"amount": 10000, "currency": "EUR"},
            }
        ),
        CONTEXT,
    )
    with pytest.raises(CouponRefused) as refused:
        world.checkout(coupon="big")
    assert (refused.value.code, refused.value.field) == ("coupon_below_minimum", "coupon")
    with pytest.raises(InvalidInput) as redirect:
        world.checkout(success_url="https://evil.example.net/")
    assert redirect.value.field == "success_url"
    assert world.stripe.calls == []
