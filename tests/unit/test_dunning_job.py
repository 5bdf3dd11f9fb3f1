"""The dunning job over in-memory stores (tests/support/dunning.py): the default ladder day by
day, missed days, invoices leaving the ladder (paid, voided, credited to zero), Stripe-collected
subscriptions (decision 0013; past their suspension date too), a custom ladder, the seller's time
zone deciding the day, the exactly-once steps when runs overlap, and, for any sequence of run
days (and any ladder), each step at most once and the latest due one last."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tally.accounts.domain import Account
from tally.billing import invoices as machine
from tally.billing.credit_notes import CreditNoteIn
from tally.billing.invoices import Invoice, Payment
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.billing.subscription_state import Subscription
from tally.clock import FixedClock
from tally.dunning.job import DunningJob
from tally.dunning.ladder import DunningRecord
from tally.dunning.ports import StepTaken, StepWrite
from tally.invoices.notices import NoticeFailed
from tally.invoices.service import InvoiceService, SellerSettingsService
from tally.jobs.base import Worked, WorkItem
from tests.support.billing import CONTEXT, InMemoryAccounts, InMemorySubscriptionStore
from tests.support.dunning import FixedSettings, InMemoryDunningStore, RecordingDunningMail
from tests.support.invoices import (
    CUSTOMER,
    InMemoryCustomers,
    InMemoryInvoiceStore,
    InMemorySellerStore,
    line,
)

AT = datetime(2026, 4, 1, 9, tzinfo=UTC)  # finalised on 1 April: due 16 April (15 days' terms)
DUE = date(2026, 4, 16)
DEFAULT_STEPS = ("J-3", "J+1", "J+3", "J+7", "J+15", "J+30")
OFFSETS = {step: int(step[1:]) for step in DEFAULT_STEPS}


def morning(day: date) -> datetime:
    return datetime.combine(day, time(6), tzinfo=UTC)  # 08:00 in Paris


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class World:
    def __init__(self, *, collection: str = "invoice", seller: SellerSettings | None = None) -> None:
        self.accounts = InMemoryAccounts(
            Account("acc1", "Acme SARL", "billing@acme.example", "FR", "EUR", AT, status="active")
        )
        self.subscriptions = InMemorySubscriptionStore(self.accounts)
        subscription = Subscription.model_validate(
            {
                "id": "sub1",
                "account_id": "acc1",
                "plan_code": "starter",
                "plan_version": 1,
                "cycle": "monthly",
                "currency": "EUR",
                "status": "active",
                "collection": collection,
                "billing_anchor": AT,
                "time_zone": "Europe/Paris",
                "current_period_start": AT,
                "current_period_end": AT + timedelta(days=30),
                "created_at": AT,
            }
        )
        self.subscriptions.subscriptions["sub1"] = subscription
        self.subscriptions.pointers["acc1"] = "sub1"
        self.invoices = InMemoryInvoiceStore()
        self.invoices.subscriptions = self.subscriptions
        self.settings = FixedSettings(seller)
        self.service = InvoiceService(
            self.invoices,
            SellerSettingsService(InMemorySellerStore()),
            InMemoryCustomers(),
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=FixedClock(AT),
        )
        self.store = InMemoryDunningStore(self.invoices, self.subscriptions)
        self.mail = RecordingDunningMail()
        self.job = DunningJob(self.store, self.settings, self.mail)

    def invoice(self, *, subscription: bool = True, amount: int = 19900) -> Invoice:
        """An open invoice, finalised on AT under the settings as they are."""
        extra: dict[str, Any] = {}
        if subscription:
            extra = {"subscription_id": "sub1", "period_start": AT, "period_end": AT + timedelta(days=30)}
        number = len(self.invoices.invoices) + 1
        draft = machine.new_draft(
            id=f"inv_{number}",
            account_id="acc1",
            currency="EUR",
            lines=[line(amount)],
            settings=self.settings.settings,
            at=AT,
            **extra,
        )
        opened = machine.finalize(
            draft, number=f"F-{number}", at=AT, seller=self.settings.settings, customer=CUSTOMER
        )
        self.invoices.invoices[opened.id] = opened
        return opened

    def run(self, at: datetime | date) -> list[Worked]:
        instant = at if isinstance(at, datetime) else morning(at)
        return [self.job.work(item, instant) for item in list(self.job.plan(instant))]

    def record(self, invoice_id: str = "inv_1") -> tuple[tuple[str, ...], tuple[str, ...]]:
        record = self.store.record(invoice_id) or DunningRecord(invoice_id, "acc1")
        return record.done, record.skipped

    def stored(self, invoice_id: str = "inv_1") -> Invoice:
        invoice = self.invoices.get(invoice_id)
        assert invoice is not None
        return invoice

    def account(self) -> Account:
        account = self.accounts.get("acc1")
        assert account is not None
        return account

    def subscription_status(self) -> str:
        return self.subscriptions.subscriptions["sub1"].status

    def emails(self) -> list[tuple[str, str]]:
        return [(sent.template, sent.step) for sent in self.mail.sent]

    def pay(self, invoice_id: str = "inv_1") -> None:
        due = self.stored(invoice_id).amount_due
        payment = Payment(amount=due, method="bank_transfer", reference=f"VIR {invoice_id}", received_at=AT)
        self.service.record_payment(invoice_id, payment, CONTEXT)

    def walk_to_suspension(self) -> None:
        for day in days(DUE - timedelta(days=3), DUE + timedelta(days=30)):
            self.run(day)
        assert self.account().status == "suspended"


# -- the default ladder ---------------------------------------------------------------------


def test_the_default_ladder_day_by_day_runs_each_step_on_its_day_once() -> None:
    world = World()
    invoice = world.invoice()
    assert invoice.due_date == DUE
    assert invoice.dunning_on == DUE - timedelta(days=3)
    expected = {DUE + timedelta(days=days): step for step, days in OFFSETS.items()}
    for day in days(DUE - timedelta(days=5), DUE + timedelta(days=31)):
        items = list(world.job.plan(morning(day)))
        worked = [world.job.work(item, morning(day)) for item in items]
        if day in expected:
            assert [result.outcome for result in worked] == ["done"], (day, worked)
            assert world.record()[0][-1] == expected[day]
        else:
            assert worked == [], (day, worked)  # nothing planned: the index says when
        # A second run the same day plans nothing; the same items delivered again are skipped.
        assert world.run(day) == []
        again = [world.job.work(item, morning(day)) for item in items]
        assert all(result.outcome == "skipped" for result in again), (day, again)
        if day == DUE:
            assert world.stored().overdue_since is None
            assert world.subscription_status() == "active"
        if day == DUE + timedelta(days=1):
            assert world.stored().overdue_since == day
            assert world.subscription_status() == "past_due"
        if day == DUE + timedelta(days=29):
            assert world.account().status == "active"
        if day == DUE + timedelta(days=30):
            assert world.account().status == "suspended"
            assert world.account().status_reason == "unpaid_invoice"
            assert world.subscription_status() == "unpaid"
    assert world.record() == (DEFAULT_STEPS, ())
    assert world.emails() == [("dunning-reminder", step) for step in DEFAULT_STEPS[:-1]] + [
        ("account-suspended", "J+30")
    ]
    assert (
        world.store.actions
        == ["invoice.dunning_step", "invoice.marked_overdue"] + ["invoice.dunning_step"] * 4
    )
    assert world.subscriptions.actions == ["subscription.past_due", "subscription.unpaid"]
    # The reminders name the suspension date; the suspension notice does not.
    assert world.mail.sent[0].context["suspension_date"] == DUE + timedelta(days=30)
    assert "suspension_date" not in world.mail.sent[-1].context
    # After its last step the invoice has left the index.
    assert world.stored().dunning_on is None
    assert list(world.job.plan(morning(DUE + timedelta(days=90)))) == []


def test_a_missed_week_runs_only_the_latest_step_and_records_the_others_skipped() -> None:
    world = World()
    world.invoice()
    world.run(DUE - timedelta(days=3))
    assert [result.outcome for result in world.run(DUE + timedelta(days=8))] == ["done"]
    assert world.record() == (("J-3", "J+7"), ("J+1", "J+3"))
    assert world.emails() == [("dunning-reminder", "J-3"), ("dunning-reminder", "J+7")]
    # The passed-over overdue step still has its effect.
    assert world.stored().overdue_since == DUE + timedelta(days=8)
    assert world.subscription_status() == "past_due"
    assert world.stored().dunning_on == DUE + timedelta(days=15)


def test_missing_everything_up_to_the_suspension_suspends_with_one_email() -> None:
    world = World()
    world.invoice()
    world.run(DUE + timedelta(days=40))
    assert world.record() == (("J+30",), DEFAULT_STEPS[:-1])
    assert world.emails() == [("account-suspended", "J+30")]
    assert world.account().status == "suspended"
    assert world.subscription_status() == "unpaid"
    assert world.subscriptions.actions == ["subscription.unpaid"]  # through past_due, in one change


# -- leaving the ladder ---------------------------------------------------------------------


def _leave(world: World, how: str) -> None:
    if how == "pay":
        world.pay()
    elif how == "void":
        world.service.void("inv_1", "Issued by mistake", CONTEXT)
    else:
        due = world.stored().amount_due
        world.service.issue_credit_note("inv_1", CreditNoteIn(reason="Goodwill", amount=due), CONTEXT)


@pytest.mark.parametrize("how", ["pay", "void", "credit"])
def test_a_paid_voided_or_credited_invoice_leaves_the_ladder(how: str) -> None:
    world = World()
    world.invoice()
    world.run(DUE - timedelta(days=3))
    planned = list(world.job.plan(morning(DUE + timedelta(days=1))))
    assert len(planned) == 1
    _leave(world, how)
    assert world.stored().status == ("void" if how == "void" else "paid")
    # An item planned before the change is skipped by the worker; nothing is planned after it.
    assert world.job.work(planned[0], morning(DUE + timedelta(days=1))).outcome == "skipped"
    for day in days(DUE, DUE + timedelta(days=31)):
        assert world.run(day) == []
    assert world.record() == (("J-3",), ())
    assert world.emails() == [("dunning-reminder", "J-3")]
    assert world.account().status == "active"
    assert world.subscription_status() == "active"


@pytest.mark.parametrize("how", ["pay", "void", "credit"])
def test_settling_the_invoice_after_suspension_restores_the_account_and_subscription(how: str) -> None:
    world = World()
    world.invoice()
    world.walk_to_suspension()
    _leave(world, how)
    assert world.account().status == "active"
    assert world.subscription_status() == "active"
    assert world.subscriptions.actions[-1] == "subscription.payment_recovered"


def test_voiding_a_one_off_invoice_after_suspension_reactivates_the_account() -> None:
    world = World()
    world.invoice(subscription=False)
    world.walk_to_suspension()
    assert world.subscription_status() == "active"  # a one-off invoice leaves the subscription be
    world.service.void("inv_1", None, CONTEXT)
    assert world.account().status == "active"
    assert world.account().status_reason == "The overdue invoices are settled"


def test_marking_it_uncollectible_leaves_the_account_suspended() -> None:
    world = World()
    world.invoice()
    world.walk_to_suspension()
    world.service.mark_uncollectible("inv_1", "Written off", CONTEXT)
    assert world.account().status == "suspended"
    assert world.subscription_status() == "unpaid"
    assert world.run(DUE + timedelta(days=31)) == []  # out of the ladder all the same


def test_an_open_invoice_that_owes_nothing_leaves_the_index() -> None:
    world = World()
    invoice = world.invoice()
    world.invoices.invoices[invoice.id] = invoice.model_copy(update={"amount_due": 0})
    assert [result.outcome for result in world.run(DUE - timedelta(days=3))] == ["skipped"]
    assert world.stored().dunning_on is None
    assert world.store.actions == ["invoice.dunning_ended"]
    assert world.emails() == []


# -- Stripe collection (docs/decisions/0013-dunning-and-stripe-collection.md) --------------


def test_a_stripe_collected_subscription_gets_the_emails_but_is_never_suspended() -> None:
    world = World(collection="stripe")
    world.invoice()
    outcomes: dict[date, list[Worked]] = {}
    for day in days(DUE - timedelta(days=5), DUE + timedelta(days=31)):
        outcomes[day] = world.run(day)
    assert world.record() == (DEFAULT_STEPS[:-1], ("J+30",))
    assert world.emails() == [("dunning-reminder", step) for step in DEFAULT_STEPS[:-1]]
    [suspension] = outcomes[DUE + timedelta(days=30)]
    assert suspension.outcome == "skipped"
    assert "Stripe" in suspension.detail
    assert world.stored().overdue_since == DUE + timedelta(days=1)  # the overdue mark all the same
    assert world.account().status == "active"
    assert world.subscription_status() == "active"  # Stripe's webhooks move it
    assert world.subscriptions.actions == []
    assert world.stored().dunning_on is None


def test_a_stripe_collected_invoice_past_its_suspension_date_still_gets_the_latest_email() -> None:
    """The job missed the days up to the suspension: the latest step before it runs (one email),
    the suspension is recorded skipped with the others, in the same write."""
    world = World(collection="stripe")
    world.invoice()
    world.run(DUE - timedelta(days=3))
    [worked] = world.run(DUE + timedelta(days=31))
    assert worked.outcome == "done"
    assert world.record() == (("J-3", "J+15"), ("J+1", "J+3", "J+7", "J+30"))
    assert world.emails() == [("dunning-reminder", "J-3"), ("dunning-reminder", "J+15")]
    assert world.stored().overdue_since == DUE + timedelta(days=31)
    assert world.stored().dunning_on is None
    assert world.account().status == "active"
    assert world.subscriptions.actions == []
    assert world.run(DUE + timedelta(days=32)) == []


def test_a_stripe_collected_invoice_past_its_suspension_date_retries_a_failed_email() -> None:
    world = World(collection="stripe")
    world.invoice()
    [item] = list(world.job.plan(morning(DUE + timedelta(days=31))))
    world.mail.fail = True
    with pytest.raises(NoticeFailed):
        world.job.work(item, morning(DUE + timedelta(days=31)))
    world.mail.fail = False
    assert world.job.work(item, morning(DUE + timedelta(days=31))).outcome == "skipped"
    assert world.emails() == [("dunning-reminder", "J+15")]
    assert world.record() == (("J+15",), ("J-3", "J+1", "J+3", "J+7", "J+30"))


def test_a_stripe_collected_suspension_alone_marks_the_invoice_overdue() -> None:
    world = World(collection="stripe", seller=_custom_without_overdue())
    world.invoice()
    world.run(DUE + timedelta(days=20))
    assert world.record() == (("J+5",), ("J+10",))
    assert world.emails() == [("dunning-reminder", "J+5")]
    assert world.stored().overdue_since == DUE + timedelta(days=20)
    assert world.account().status == "active"


# -- a custom ladder ------------------------------------------------------------------------


def _custom() -> SellerSettings:
    return SellerSettings.model_validate(
        default_seller_settings().model_dump(mode="json")
        | {
            "dunning": {
                "steps": [
                    {"days": 2, "action": "overdue", "template": "dunning-reminder"},
                    {"days": 6, "action": "warn", "template": None},
                    {"days": 10, "action": "suspend", "template": "account-suspended"},
                ]
            }
        }
    )


def _custom_without_overdue() -> SellerSettings:
    return SellerSettings.model_validate(
        default_seller_settings().model_dump(mode="json")
        | {
            "dunning": {
                "steps": [
                    {"days": 5, "action": "remind", "template": "dunning-reminder"},
                    {"days": 10, "action": "suspend", "template": "account-suspended"},
                ]
            }
        }
    )


def test_a_custom_ladder_from_the_settings() -> None:
    world = World(seller=_custom())
    invoice = world.invoice()
    assert invoice.dunning_on == DUE + timedelta(days=2)
    done_on: dict[date, str] = {}
    for day in days(DUE - timedelta(days=5), DUE + timedelta(days=12)):
        if any(result.outcome == "done" for result in world.run(day)):
            done_on[day] = world.record()[0][-1]
    assert done_on == {
        DUE + timedelta(days=2): "J+2",
        DUE + timedelta(days=6): "J+6",
        DUE + timedelta(days=10): "J+10",
    }
    # The step without a template sends nothing.
    assert world.emails() == [("dunning-reminder", "J+2"), ("account-suspended", "J+10")]
    assert world.account().status == "suspended"


def test_a_ladder_changed_after_finalisation_moves_the_invoice_to_its_next_step() -> None:
    world = World()
    world.invoice()  # under the default ladder: first looked at on J-3
    world.settings.settings = _custom()
    assert [result.outcome for result in world.run(DUE - timedelta(days=3))] == ["skipped"]
    assert world.stored().dunning_on == DUE + timedelta(days=2)
    assert world.store.actions == ["invoice.dunning_rescheduled"]
    assert world.run(DUE + timedelta(days=1)) == []
    assert [result.outcome for result in world.run(DUE + timedelta(days=2))] == ["done"]


# -- the seller's time zone -----------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "Pacific/Honolulu"])
def test_the_sellers_time_zone_decides_the_day(zone: str) -> None:
    seller = default_seller_settings().model_copy(update={"time_zone": zone})
    world = World(seller=seller)
    due = world.invoice().due_date
    assert due is not None
    local = ZoneInfo(zone)
    world.run(datetime.combine(due - timedelta(days=3), time(12), tzinfo=local))
    overdue_day = due + timedelta(days=1)
    midnight = datetime.combine(overdue_day, time(0), tzinfo=local).astimezone(UTC)
    before = midnight - timedelta(minutes=1)
    # The UTC date and the seller's disagree on one side of the seller's midnight.
    assert before.date() == overdue_day or midnight.date() != overdue_day
    assert list(world.job.plan(before)) == []
    assert world.run(before) == []
    assert [result.outcome for result in world.run(midnight)] == ["done"]
    assert world.record() == (("J-3", "J+1"), ())
    assert world.stored().overdue_since == overdue_day


def test_an_invoice_due_on_a_day_that_is_still_the_previous_day_in_utc() -> None:
    seller = default_seller_settings().model_copy(update={"time_zone": "Pacific/Auckland"})
    world = World(seller=seller)
    world.invoice()
    # 20:00 UTC on 16 April is 08:00 on 17 April in Auckland: the J+1 step's day there.
    at = datetime(2026, 4, 16, 20, tzinfo=UTC)
    assert world.stored().due_date == date(2026, 4, 16)
    assert [result.outcome for result in world.run(at)] == ["done"]
    assert world.record() == (("J+1",), ("J-3",))
    assert world.stored().overdue_since == date(2026, 4, 17)


# -- exactly once ---------------------------------------------------------------------------


def _item(world: World, day: date) -> WorkItem:
    [item] = list(world.job.plan(morning(day)))
    return item


def test_a_run_overlapping_another_finds_the_step_taken_and_sends_nothing_more() -> None:
    world = World()
    world.invoice()
    item = _item(world, DUE - timedelta(days=3))
    inner: list[Worked] = []
    # Another worker runs the same item between this one's reads and its write.
    world.store.interfere = lambda: inner.append(world.job.work(item, morning(DUE - timedelta(days=3))))
    outer = world.job.work(item, morning(DUE - timedelta(days=3)))
    assert [result.outcome for result in inner] == ["done"]
    assert outer.outcome == "skipped"
    assert "run already" in outer.detail
    assert world.record() == (("J-3",), ())
    assert world.emails() == [("dunning-reminder", "J-3")]


def test_a_payment_landing_while_the_step_runs_wins() -> None:
    world = World()
    world.invoice()
    item = _item(world, DUE + timedelta(days=1))
    world.store.interfere = world.pay
    worked = world.job.work(item, morning(DUE + timedelta(days=1)))
    assert worked.outcome == "skipped"
    assert world.stored().status == "paid"
    assert world.stored().overdue_since is None
    assert world.record() == ((), ())
    assert world.emails() == []
    assert world.subscription_status() == "active"


def test_a_failed_email_is_sent_by_the_retry_without_running_the_step_again() -> None:
    world = World()
    world.invoice()
    item = _item(world, DUE + timedelta(days=1))
    world.mail.fail = True
    with pytest.raises(NoticeFailed):
        world.job.work(item, morning(DUE + timedelta(days=1)))
    assert world.record() == (("J+1",), ("J-3",))  # the step is committed
    world.mail.fail = False
    retried = world.job.work(item, morning(DUE + timedelta(days=1)))
    assert retried.outcome == "skipped"
    assert "its email sent now" in retried.detail
    assert world.emails() == [("dunning-reminder", "J+1")]
    assert world.store.actions == ["invoice.marked_overdue"]
    assert world.subscriptions.actions == ["subscription.past_due"]


# -- any sequence of run days ---------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=-8, max_value=40), min_size=1, max_size=12),
    redelivered=st.booleans(),
)
def test_any_sequence_of_run_days_runs_each_step_at_most_once_ending_on_the_latest_due(
    offsets: list[int], redelivered: bool
) -> None:
    world = World()
    world.invoice()
    done_outcomes = 0
    for offset in offsets:  # in any order: a late or repeated run too
        at = morning(DUE + timedelta(days=offset))
        items = list(world.job.plan(at)) * (2 if redelivered else 1)
        done_outcomes += sum(world.job.work(item, at).outcome == "done" for item in items)
    done, skipped = world.record()
    reached = [step for step in DEFAULT_STEPS if OFFSETS[step] <= max(offsets)]
    assert len(set(done)) == len(done)
    assert not set(done) & set(skipped)
    assert sorted((*done, *skipped), key=OFFSETS.__getitem__) == reached
    assert list(done) == sorted(done, key=OFFSETS.__getitem__)
    assert done_outcomes == len(done)
    if reached:
        assert done[-1] == reached[-1]
    # One email per step done, never twice.
    assert [step for _, step in world.emails()] == list(done)


def test_the_store_refuses_a_step_recorded_already_and_writes_nothing() -> None:
    """The record's condition on its own (the adapter's NOT_YET): the invoice unchanged since it
    was read, the step in the record already (done or skipped)."""
    world = World()
    invoice = world.invoice()
    world.store.records[invoice.id] = DunningRecord(invoice.id, "acc1", done=("J-3",), skipped=("J+1",))
    for step in ("J-3", "J+1"):
        write = StepWrite(
            before=invoice,
            after=invoice.model_copy(update={"dunning_on": DUE + timedelta(days=3)}),
            step=step,
            skipped=(),
            step_skipped=False,
            action="invoice.dunning_step",
            subscription=None,
            account=None,
        )
        with pytest.raises(StepTaken):
            world.store.run_step(write, CONTEXT)
    assert world.stored() == invoice
    assert world.record() == (("J-3",), ("J+1",))
    assert world.store.actions == []


@st.composite
def ladders(draw: st.DrawFn) -> SellerSettings:
    """A valid ladder: days strictly up, at most one overdue step (1 day or more), an optional
    suspend step last, some steps without an email."""
    chosen = sorted(draw(st.sets(st.integers(min_value=-10, max_value=40), min_size=1, max_size=7)))
    suspend = draw(st.booleans()) and chosen[-1] >= 1
    after_due = [day for day in (chosen[:-1] if suspend else chosen) if day >= 1]
    overdue = draw(st.sampled_from([None, *after_due]))
    steps: list[dict[str, Any]] = []
    for index, day in enumerate(chosen):
        if suspend and index == len(chosen) - 1:
            template = draw(st.sampled_from(["account-suspended", None]))
            steps.append({"days": day, "action": "suspend", "template": template})
            continue
        action = "overdue" if day == overdue else draw(st.sampled_from(["remind", "urgent", "warn"]))
        template = draw(st.sampled_from(["dunning-reminder", None]))
        steps.append({"days": day, "action": action, "template": template})
    return SellerSettings.model_validate(
        default_seller_settings().model_dump(mode="json") | {"dunning": {"steps": steps}}
    )


@settings(max_examples=150, deadline=None)
@given(
    seller=ladders(),
    offsets=st.lists(st.integers(min_value=-12, max_value=45), min_size=1, max_size=10),
    stripe=st.booleans(),
)
def test_any_ladder_and_run_days_keep_the_steps_once_and_stripe_never_suspends(
    seller: SellerSettings, offsets: list[int], stripe: bool
) -> None:
    world = World(seller=seller, collection="stripe" if stripe else "invoice")
    world.invoice()
    for offset in offsets:
        at = morning(DUE + timedelta(days=offset))
        for item in list(world.job.plan(at)) * 2:  # every item delivered twice
            world.job.work(item, at)
    ladder = seller.dunning.steps
    by_name = {step.name: step for step in ladder}
    done, skipped = world.record()
    reached = [step.name for step in ladder if step.days <= max(offsets)]
    assert len(set(done)) == len(done)
    assert sorted((*done, *skipped), key=lambda name: by_name[name].days) == reached
    suspend = next((step for step in ladder if step.action == "suspend"), None)
    suspended = suspend is not None and suspend.name in reached and not stripe
    assert (world.account().status == "suspended") == suspended
    if stripe:
        # Never suspended; the latest step Tally runs is done (an email's, when it has one).
        assert all(by_name[name].action != "suspend" for name in done)
        assert world.subscriptions.actions == []
        ran = [name for name in reached if by_name[name].action != "suspend"]
        if ran:
            assert done[-1] == ran[-1]
    elif reached:
        assert done[-1] == reached[-1]
    # One email per step done that has a template, never twice.
    assert [step for _, step in world.emails()] == [name for name in done if by_name[name].template]
    overdue = any(by_name[name].action in ("overdue", "suspend") for name in reached)
    assert (world.stored().overdue_since is not None) == overdue
    if reached == [step.name for step in ladder]:
        assert world.stored().dunning_on is None  # the ladder is over: out of the index
