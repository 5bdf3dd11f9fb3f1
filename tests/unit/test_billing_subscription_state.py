from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from pydantic import ValidationError

from tally.billing import subscription_state as machine
from tally.billing.periods import BillingAnchor, period_at
from tally.billing.subscription_state import (
    ALLOWED_FROM,
    PendingChange,
    Status,
    Subscription,
    TransitionName,
    TransitionRefused,
    account_status_for,
)

START = datetime(2025, 3, 1, 9, tzinfo=UTC)
ANCHOR = BillingAnchor(START, "Africa/Dakar")
FIRST = period_at(ANCHOR, "monthly", 0)
SECOND = period_at(ANCHOR, "monthly", 1)
LATER = START + timedelta(days=3)


def active() -> Subscription:
    return machine.start_active(
        id="sub_1",
        account_id="acc_1",
        plan_code="essential",
        plan_version=1,
        cycle="monthly",
        currency="XOF",
        time_zone="Africa/Dakar",
        period=FIRST,
        at=START,
        reason="Signed offline, paid by bank transfer",
    )


def in_status(status: Status) -> Subscription:
    return active().model_copy(update={"status": status})


def test_a_trial_without_a_card_starts_at_once_and_converts() -> None:
    trial_end = START + timedelta(days=14)
    trial = machine.start_trial(
        id="sub_1",
        account_id="acc_1",
        plan_code="essential",
        plan_version=1,
        cycle="monthly",
        currency="XOF",
        time_zone="Africa/Dakar",
        trial_end=trial_end,
        at=START,
    )
    assert (trial.status, trial.trial_end, trial.current_period_end) == ("trialing", trial_end, trial_end)
    paid = machine.activate(trial, period=period_at(BillingAnchor(trial_end, "Africa/Dakar"), "monthly", 0))
    assert (paid.status, paid.billing_anchor, paid.current_period_start) == ("active", trial_end, trial_end)


def test_without_a_trial_it_is_incomplete_until_its_first_invoice_is_paid() -> None:
    waiting = machine.start_incomplete(
        id="sub_1",
        account_id="acc_1",
        plan_code="bronze",
        plan_version=2,
        cycle="annual",
        currency="EUR",
        time_zone="Europe/Paris",
        period=FIRST,
        at=START,
    )
    assert waiting.status == "incomplete"
    assert machine.activate(waiting).status == "active"
    expired = machine.expire_incomplete(waiting, at=LATER)
    assert (expired.status, expired.ended_at) == ("incomplete_expired", LATER)
    with pytest.raises(TransitionRefused, match="first invoice was not paid in time"):
        machine.activate(expired)


def test_an_offline_deal_needs_a_reason() -> None:
    assert active().status == "active"
    with pytest.raises(TransitionRefused, match="needs a reason"):
        machine.start_active(
            id="s",
            account_id="a",
            plan_code="gold",
            plan_version=1,
            cycle="monthly",
            currency="EUR",
            time_zone="UTC",
            period=FIRST,
            at=START,
            reason=" ",
        )


def test_failed_payments_and_recovery() -> None:
    late = machine.payment_failed(active())
    assert late.status == "past_due"
    assert machine.payment_failed(late).status == "past_due"  # another retry failed
    unpaid = machine.mark_unpaid(late)
    assert unpaid.status == "unpaid"
    assert machine.payment_recovered(unpaid).status == "active"


def test_cancel_now() -> None:
    canceled = machine.cancel_now(active(), at=LATER, reason="Closing the business")
    assert (canceled.status, canceled.canceled_at, canceled.ended_at) == ("canceled", LATER, LATER)
    assert canceled.cancellation_reason == "Closing the business"


def test_a_canceled_subscription_cannot_be_resumed() -> None:
    canceled = machine.cancel_now(active(), at=LATER)
    with pytest.raises(TransitionRefused) as refused:
        machine.resume(canceled, at=LATER)
    assert (
        refused.value.message
        == "A canceled subscription cannot be resumed: it has ended; start a new subscription"
    )
    assert (refused.value.status_code, refused.value.code) == (409, "invalid_transition")


def test_cancel_at_period_end_runs_to_the_end_and_can_be_resumed_before() -> None:
    leaving = machine.cancel_at_period_end(active(), at=LATER, reason="Too expensive")
    assert (leaving.status, leaving.cancel_at_period_end, leaving.canceled_at) == ("active", True, LATER)
    with pytest.raises(TransitionRefused, match="set to cancel already"):
        machine.cancel_at_period_end(leaving, at=LATER)

    staying = machine.resume(leaving, at=LATER)
    assert (staying.cancel_at_period_end, staying.canceled_at, staying.cancellation_reason) == (
        False,
        None,
        None,
    )
    with pytest.raises(
        TransitionRefused, match="An active subscription cannot be resumed: it is not set to cancel"
    ):
        machine.resume(staying, at=LATER)
    with pytest.raises(TransitionRefused, match="its period has ended"):
        machine.resume(leaving, at=FIRST.end)

    ended = machine.period_end_reached(leaving, next_period=SECOND)
    assert (ended.status, ended.ended_at, ended.canceled_at) == ("canceled", FIRST.end, LATER)


def test_the_period_rolls_over() -> None:
    renewed = machine.period_end_reached(active(), next_period=SECOND)
    assert (renewed.status, renewed.current_period_start, renewed.current_period_end) == (
        "active",
        SECOND.start,
        SECOND.end,
    )
    with pytest.raises(TransitionRefused, match="must start when the current one ends"):
        machine.period_end_reached(active(), next_period=period_at(ANCHOR, "monthly", 2))


def test_a_downgrade_waits_for_the_period_end() -> None:
    change = PendingChange(plan_code="essential", plan_version=3, cycle="annual", effective_at=FIRST.end)
    pending = machine.schedule_change(active().model_copy(update={"plan_code": "professional"}), change)
    assert pending.pending_change == change
    assert machine.cancel_pending_change(pending).pending_change is None

    new_year = period_at(BillingAnchor(FIRST.end, "Africa/Dakar"), "annual", 0)
    changed = machine.period_end_reached(pending, next_period=new_year)
    assert (changed.plan_code, changed.plan_version, changed.cycle) == ("essential", 3, "annual")
    assert (changed.billing_anchor, changed.current_period_end, changed.pending_change) == (
        FIRST.end,
        new_year.end,
        None,
    )


def test_an_upgrade_applies_at_once() -> None:
    upgraded = machine.change_now(
        active(), plan_code="professional", plan_version=1, cycle="monthly", period=FIRST
    )
    assert (upgraded.plan_code, upgraded.billing_anchor) == ("professional", START)
    leaving = machine.cancel_at_period_end(active(), at=LATER)
    with pytest.raises(TransitionRefused, match="resume it first"):
        machine.change_now(leaving, plan_code="professional", plan_version=1, cycle="monthly", period=FIRST)


def test_pause_and_a_lapsed_trial() -> None:
    paused = machine.pause(active())
    assert paused.status == "paused"
    assert machine.unpause(paused, period=SECOND).current_period_start == SECOND.start
    trialing = in_status("trialing")
    assert machine.trial_lapsed(trialing).status == "paused"


SIMPLE: dict[TransitionName, Callable[[Subscription], Subscription]] = {
    "activate": machine.activate,
    "expire_incomplete": lambda s: machine.expire_incomplete(s, at=LATER),
    "trial_lapsed": machine.trial_lapsed,
    "payment_failed": machine.payment_failed,
    "mark_unpaid": machine.mark_unpaid,
    "payment_recovered": machine.payment_recovered,
    "pause": machine.pause,
    "unpause": machine.unpause,
    "cancel_now": lambda s: machine.cancel_now(s, at=LATER),
    "cancel_at_period_end": lambda s: machine.cancel_at_period_end(s, at=LATER),
}
STATUSES: tuple[Status, ...] = get_args(Status)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("name", list(SIMPLE))
def test_every_transition_follows_the_table(status: Status, name: TransitionName) -> None:
    subscription = in_status(status)
    if status in ALLOWED_FROM[name]:
        assert SIMPLE[name](subscription).id == subscription.id
    else:
        with pytest.raises(TransitionRefused) as refused:
            SIMPLE[name](subscription)
        words = refused.value.message
        assert words.startswith(("A ", "An "))
        assert " cannot " in words
        assert ": " in words


@pytest.mark.parametrize(
    ("status", "call", "words"),
    [
        (
            "incomplete",
            machine.payment_failed,
            "An incomplete subscription cannot record a failed payment: it has never been paid",
        ),
        ("canceled", machine.pause, "A canceled subscription cannot be paused: it has ended"),
        ("unpaid", lambda s: machine.cancel_at_period_end(s, at=LATER), "cancel it now instead"),
        (
            "active",
            machine.unpause,
            "An active subscription cannot be unpaused: only paused subscriptions can",
        ),
        ("active", machine.activate, "it is active already"),
    ],
)
def test_refusals_say_why(status: Status, call: Callable[[Subscription], Subscription], words: str) -> None:
    with pytest.raises(TransitionRefused, match=words):
        call(in_status(status))


def test_final_statuses_allow_nothing() -> None:
    for name, allowed in ALLOWED_FROM.items():
        assert not allowed & machine.FINAL, name


@pytest.mark.parametrize(
    ("status", "account"),
    [
        ("trialing", "active"),
        ("active", "active"),
        ("past_due", None),
        ("unpaid", "suspended"),
        ("paused", "suspended"),
        ("incomplete", "pending"),
        ("incomplete_expired", "expired"),
        ("canceled", "cancelled"),
    ],
)
def test_the_account_follows_its_subscription(status: Status, account: str | None) -> None:
    assert account_status_for(status) == account


def test_an_account_stays_active_until_a_cancellation_at_period_end_happens() -> None:
    leaving = machine.cancel_at_period_end(active(), at=LATER)
    assert account_status_for(leaving.status) == "active"
    assert account_status_for(machine.period_end_reached(leaving, next_period=SECOND).status) == "cancelled"


def test_subscriptions_read_back_from_storage_strings_in_utc() -> None:
    stored = active().model_dump(mode="json")
    assert stored["current_period_start"] == "2025-03-01T09:00:00Z"
    assert Subscription.model_validate(stored) == active()
    with pytest.raises(ValidationError, match="aware"):
        Subscription.model_validate({**stored, "created_at": "2025-03-01T09:00:00"})


def test_a_trial_must_end_after_it_starts() -> None:
    with pytest.raises(TransitionRefused, match="end after it starts"):
        machine.start_trial(
            id="s",
            account_id="a",
            plan_code="essential",
            plan_version=1,
            cycle="monthly",
            currency="XOF",
            time_zone="UTC",
            trial_end=START,
            at=START,
        )
