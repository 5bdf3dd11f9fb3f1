"""The coupon service over in-memory stores: admin lifecycle, validation, redemption, and the
subscription start that redeems one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tally.accounts.domain import Account
from tally.billing.catalogue_files import load_shipped_catalogues
from tally.billing.coupons import Coupon
from tally.clock import FixedClock
from tally.coupons.ports import CouponRefused
from tally.coupons.service import CouponService
from tally.errors import Conflict, InvalidInput, NotFound
from tally.plans.service import CatalogueService
from tally.subscriptions.service import SubscriptionService
from tests.support.billing import CONTEXT, InMemoryAccounts, InMemoryPlanStore, InMemorySubscriptionStore
from tests.support.coupons import InMemoryCouponStore

AT = datetime(2026, 4, 11, 10, tzinfo=UTC)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(AT)
        self.catalogue = CatalogueService(InMemoryPlanStore(), self.clock)
        for catalogue in load_shipped_catalogues():
            self.catalogue.import_catalogue(catalogue, CONTEXT)
        self.accounts = InMemoryAccounts(
            *(Account(a, a, f"{a}@example.com", "SN", "XOF", AT) for a in ("acc1", "acc2"))
        )
        self.store = InMemoryCouponStore()
        self.subscription_store = InMemorySubscriptionStore(self.accounts, self.store)
        self.coupons = CouponService(self.store, self.catalogue, self.subscription_store, self.clock)
        self.subscriptions = SubscriptionService(
            self.subscription_store,
            self.catalogue,
            self.accounts,
            time_zone="Africa/Dakar",
            clock=self.clock,
            coupons=self.coupons,
        )

    def redeem(self, account_id: str, invoice_id: str) -> None:
        """What a one-off invoice with the coupon does: checked, then written by the store."""
        pending = self.coupons.prepare(
            "welcome", account_id, "essential", "monthly", "XOF", 15000, ("invoice", invoice_id), AT
        )
        self.store.redeem(pending, CONTEXT)

    def coupon(self, **terms: Any) -> Coupon:
        coupon = Coupon.model_validate({"code": "welcome", "name": "Welcome", "percent_off": "10"} | terms)
        self.coupons.create(coupon, CONTEXT)
        return coupon


def refusal(error: pytest.ExceptionInfo[CouponRefused]) -> tuple[str, str]:
    return error.value.code, error.value.message


def test_create_is_case_insensitive_and_refuses_a_taken_code() -> None:
    world = World()
    world.coupon()
    assert world.coupons.get("Welcome").coupon.code == "WELCOME"
    with pytest.raises(Conflict, match="exists already"):
        world.coupon(code="WELCOME")


def test_update_keeps_the_code_and_checks_the_terms() -> None:
    world = World()
    world.coupon()
    changed = world.coupons.update("welcome", {"max_redemptions": 5, "name": "Hello"}, CONTEXT)
    assert (changed.coupon.max_redemptions, changed.coupon.name, changed.revision) == (5, "Hello", 2)
    with pytest.raises(InvalidInput, match="cannot change"):
        world.coupons.update("welcome", {"code": "OTHER"}, CONTEXT)
    with pytest.raises(InvalidInput, match="exactly one of"):
        world.coupons.update("welcome", {"amount_off": 100, "currency": "XOF"}, CONTEXT)
    same = world.coupons.update("welcome", {"name": "Hello"}, CONTEXT)
    assert same.revision == 2  # nothing changed, nothing written


def test_validate_previews_the_discount_on_the_plan_price() -> None:
    world = World()
    world.coupon(duration="repeating", duration_months=3)
    shown = world.coupons.validate("WELCOME", "acc1", "essential", "monthly", "XOF")
    assert (shown.original, shown.discount, shown.final, shown.currency) == (15000, 1500, 13500, "XOF")
    assert (shown.duration, shown.periods) == ("repeating", 3)
    with pytest.raises(NotFound):
        world.coupons.validate("NOPE", "acc1", "essential", "monthly", "XOF")


def test_validate_refuses_in_words_with_a_stable_code() -> None:
    world = World()
    world.coupon(plans=["professional"])
    with pytest.raises(CouponRefused) as refused:
        world.coupons.validate("welcome", "acc1", "essential", "monthly", "XOF")
    assert refusal(refused) == ("coupon_not_for_plan", "This coupon is not for this plan")


def test_new_customers_are_accounts_that_never_had_a_subscription() -> None:
    world = World()
    world.coupon(eligibility="new_customers")
    world.coupon(code="loyal", eligibility="existing_customers")
    assert world.coupons.new_customer("acc1")
    with pytest.raises(CouponRefused) as refused:
        world.coupons.validate("loyal", "acc1", "essential", "monthly", "XOF")
    assert refusal(refused)[0] == "coupon_existing_customers_only"
    world.subscriptions.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    assert not world.coupons.new_customer("acc1")
    with pytest.raises(CouponRefused) as refused:
        world.coupons.validate("welcome", "acc1", "essential", "monthly", "XOF")
    assert refusal(refused)[0] == "coupon_new_customers_only"
    world.coupons.validate("loyal", "acc1", "essential", "monthly", "XOF")


def test_redemptions_stop_at_the_limits() -> None:
    world = World()
    world.coupon(max_redemptions=2, max_per_account=1)
    world.redeem("acc1", "inv_1")
    with pytest.raises(CouponRefused) as refused:
        world.redeem("acc1", "inv_2")
    assert refusal(refused)[0] == "coupon_already_used"
    world.redeem("acc2", "inv_3")
    with pytest.raises(CouponRefused) as refused:
        world.coupons.validate("welcome", "acc2", "essential", "monthly", "XOF")
    assert refusal(refused) == ("coupon_used_up", "This coupon is used up")
    [first, second] = world.store.redemptions
    assert (first.original, first.discount, first.final, first.applies_to_id) == (15000, 1500, 13500, "inv_1")
    assert second.account_id == "acc2"
    assert [stored.redemptions for stored in world.coupons.listed()] == [2]


def test_a_redeemed_coupon_is_deactivated_not_deleted() -> None:
    world = World()
    world.coupon()
    world.coupon(code="unused")
    world.coupons.delete("unused", CONTEXT)
    with pytest.raises(NotFound):
        world.coupons.get("unused")
    world.redeem("acc1", "i")
    with pytest.raises(Conflict, match="deactivate it instead"):
        world.coupons.delete("welcome", CONTEXT)
    assert not world.coupons.deactivate("welcome", CONTEXT).coupon.active
    assert world.coupons.deactivate("welcome", CONTEXT).revision == 2  # idempotent
    with pytest.raises(CouponRefused) as refused:
        world.coupons.validate("welcome", "acc1", "essential", "monthly", "XOF")
    assert refusal(refused)[0] == "coupon_inactive"


def test_a_subscription_started_with_a_coupon_remembers_it_from_its_first_paid_period() -> None:
    world = World()
    world.coupon(percent_off=None, free_months=2)
    started = world.subscriptions.start("acc1", "essential", "monthly", "XOF", CONTEXT, coupon="Welcome")
    assert started.coupon is not None
    assert (started.coupon.code, started.coupon.free_months, started.coupon.periods) == ("WELCOME", 2, 2)
    assert started.coupon.starts_at == started.trial_end  # the trial is free anyway
    [redemption] = world.store.redemptions
    assert (redemption.applies_to, redemption.applies_to_id) == ("subscription", started.id)
    assert (redemption.original, redemption.discount, redemption.final) == (15000, 15000, 0)
    assert started.coupon.redemption_id == redemption.id


def test_a_refused_coupon_starts_no_subscription() -> None:
    world = World()
    world.coupon(currency="EUR", percent_off=None, amount_off=500)
    with pytest.raises(CouponRefused) as refused:
        world.subscriptions.start("acc1", "essential", "monthly", "XOF", CONTEXT, coupon="welcome")
    assert refusal(refused)[0] == "coupon_currency_mismatch"
    assert refused.value.field == "coupon"
    assert world.subscription_store.current("acc1") is None
    assert world.store.redemptions == []
