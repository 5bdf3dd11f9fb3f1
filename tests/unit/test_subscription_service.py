"""The subscription service over in-memory stores: starts, changes, cancellation, the account following."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tally.accounts.domain import Account
from tally.billing.catalogue_files import load_shipped_catalogues
from tally.billing.subscription_state import TransitionRefused
from tally.clock import FixedClock
from tally.errors import Conflict, InvalidInput, NotFound
from tally.plans.service import CatalogueService
from tally.subscriptions.service import SubscriptionService
from tests.support.billing import CONTEXT, InMemoryAccounts, InMemoryPlanStore, InMemorySubscriptionStore

AT = datetime(2026, 4, 11, 10, tzinfo=UTC)


class World:
    def __init__(self, status: str = "pending") -> None:
        self.clock = FixedClock(AT)
        plans = InMemoryPlanStore()
        self.catalogue = CatalogueService(plans, self.clock)
        for catalogue in load_shipped_catalogues():
            self.catalogue.import_catalogue(catalogue, CONTEXT)
        account = Account("acc1", "Acme", "a@example.com", "SN", "XOF", AT, status=status)  # type: ignore[arg-type]
        self.accounts = InMemoryAccounts(account)
        self.store = InMemorySubscriptionStore(self.accounts)
        self.service = SubscriptionService(
            self.store, self.catalogue, self.accounts, time_zone="Africa/Dakar", clock=self.clock
        )

    def account_status(self) -> str:
        return self.accounts.accounts["acc1"].status


def test_a_trial_without_a_card_starts_trialing_and_the_account_follows() -> None:
    world = World()
    started = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    assert started.status == "trialing"
    assert started.trial_end == AT + timedelta(days=14)
    assert world.account_status() == "active"
    with pytest.raises(Conflict, match="already has a trialing subscription"):
        world.service.start("acc1", "professional", "monthly", "XOF", CONTEXT)


def test_a_plan_with_a_card_trial_starts_incomplete() -> None:
    world = World()
    started = world.service.start("acc1", "bronze", "monthly", "EUR", CONTEXT)
    assert started.status == "incomplete"
    assert world.account_status() == "pending"


def test_admins_start_active_with_a_reason_even_on_quote() -> None:
    world = World()
    started = world.service.start("acc1", "enterprise", "annual", "XOF", CONTEXT, active_reason="Signed deal")
    assert started.status == "active"
    assert world.account_status() == "active"


def test_unpriced_currency_and_quote_are_refused_in_words() -> None:
    world = World()
    with pytest.raises(InvalidInput, match="no monthly price in EUR"):
        world.service.start("acc1", "essential", "monthly", "EUR", CONTEXT)
    with pytest.raises(Conflict, match="on quote"):
        world.service.start("acc1", "enterprise", "monthly", "XOF", CONTEXT)


def test_an_upgrade_applies_at_once_with_proration() -> None:
    world = World()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="deal")
    # 10 days in (of 30: 11 April to 11 May), the upgrade to Professional.
    world.clock.at = AT + timedelta(days=10)
    preview = world.service.preview("acc1", "professional", None, CONTEXT)
    assert preview.change.kind == "upgrade"
    assert preview.change.proration is not None
    assert [line.amount for line in preview.change.proration.lines] == [-10000, 30000]
    after, planned = world.service.change("acc1", "professional", None, None, CONTEXT)
    assert (after.plan_code, after.status) == ("professional", "active")
    assert planned.change.proration == preview.change.proration
    # The proration waits on the subscription for its next invoice (stored with the change).
    assert [line.amount for line in after.pending_lines] == [-10000, 30000]
    assert world.store.current("acc1") == after


def test_a_downgrade_waits_for_the_period_end() -> None:
    world = World()
    world.service.start("acc1", "professional", "monthly", "XOF", CONTEXT, active_reason="deal")
    after, planned = world.service.change("acc1", "essential", None, None, CONTEXT)
    assert after.plan_code == "professional"
    assert after.pending_change is not None
    assert after.pending_change.plan_code == "essential"
    assert planned.change.effective_at == after.current_period_end


def test_trial_changes_apply_at_once_without_proration() -> None:
    world = World()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    after, planned = world.service.change("acc1", "professional", None, None, CONTEXT)
    assert (after.plan_code, after.status, planned.change.proration) == ("professional", "trialing", None)
    assert after.pending_lines == ()
    assert planned.change.next_invoice_total == 45000


def test_cancel_at_period_end_then_resume_then_impossible_transitions() -> None:
    world = World()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    cancelling = world.service.cancel("acc1", True, "too dear", CONTEXT)
    assert cancelling.cancel_at_period_end
    assert cancelling.status == "trialing"
    assert world.account_status() == "active"
    with pytest.raises(TransitionRefused, match="set to cancel already"):
        world.service.cancel("acc1", True, None, CONTEXT)
    resumed = world.service.resume("acc1", CONTEXT)
    assert not resumed.cancel_at_period_end
    with pytest.raises(TransitionRefused, match="not set to cancel"):
        world.service.resume("acc1", CONTEXT)
    canceled = world.service.cancel("acc1", False, "closing", CONTEXT)
    assert canceled.status == "canceled"
    assert world.account_status() == "cancelled"
    with pytest.raises(TransitionRefused, match="canceled subscription cannot be resumed"):
        world.service.resume("acc1", CONTEXT)
    # Ended: a new subscription may start, and the returning customer's account is active again.
    assert world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT).status == "trialing"
    assert world.account_status() == "active"


def test_an_incomplete_subscription_canceled_now_cancels_the_pending_account() -> None:
    world = World()
    world.service.start("acc1", "bronze", "monthly", "EUR", CONTEXT)
    world.service.cancel("acc1", False, None, CONTEXT)
    assert world.account_status() == "cancelled"


def test_a_suspended_account_cannot_lift_its_suspension_by_starting_a_subscription() -> None:
    world = World(status="suspended")
    with pytest.raises(Conflict, match="The account is suspended"):
        world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    assert world.account_status() == "suspended"
    assert world.store.actions == []


def test_at_the_period_end_a_subscription_set_to_cancel_ends_before_anyone_reads_it_live() -> None:
    world = World()
    started = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    world.service.cancel("acc1", True, "too dear", CONTEXT)
    world.clock.advance(timedelta(days=13, hours=23))
    assert world.service.current("acc1", CONTEXT).status == "trialing"  # not yet
    assert world.account_status() == "active"
    world.clock.at = started.current_period_end
    ended = world.service.current("acc1", CONTEXT)
    assert (ended.status, ended.ended_at, ended.cancel_at_period_end) == (
        "canceled",
        started.current_period_end,
        False,
    )
    assert world.account_status() == "cancelled"
    assert world.store.actions[-1] == "subscription.canceled"
    # Settled once: reading again writes nothing more.
    world.service.current("acc1", CONTEXT)
    assert world.store.actions.count("subscription.canceled") == 1
    with pytest.raises(TransitionRefused, match="canceled subscription cannot be resumed"):
        world.service.resume("acc1", CONTEXT)
    # A new subscription may start at once: the old one ended.
    assert world.service.start("acc1", "professional", "monthly", "XOF", CONTEXT).status == "trialing"
    assert world.account_status() == "active"


def test_a_subscription_not_set_to_cancel_is_not_touched_at_its_period_end() -> None:
    world = World()
    started = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    world.clock.at = started.current_period_end + timedelta(days=3)
    assert world.service.current("acc1", CONTEXT) == started  # the trial job's to end, not a read's
    assert world.store.actions == ["subscription.created"]


def test_a_preview_is_refused_exactly_when_the_change_would_be() -> None:
    world = World()
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    world.service.cancel("acc1", True, None, CONTEXT)
    for attempt in (
        lambda: world.service.preview("acc1", "professional", None, CONTEXT),
        lambda: world.service.change("acc1", "professional", None, None, CONTEXT),
    ):
        with pytest.raises(TransitionRefused, match="set to cancel; resume it first"):
            attempt()


def test_the_refusals_name_the_field_the_caller_sent() -> None:
    world = World()
    with pytest.raises(NotFound) as unknown:
        world.service.start("acc1", "platinum", "monthly", "XOF", CONTEXT)
    assert unknown.value.field == "plan"
    with pytest.raises(InvalidInput) as no_such_cycle:
        world.service.start("acc1", "essential", "quarterly", "XOF", CONTEXT)
    assert no_such_cycle.value.field == "cycle"
    with pytest.raises(InvalidInput) as no_such_currency:
        world.service.start("acc1", "essential", "monthly", "EUR", CONTEXT)
    assert no_such_currency.value.field == "currency"
