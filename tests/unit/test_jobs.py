"""The scheduled jobs over in-memory stores: what each plans (only what is due that day), what
each item does, and that running a job twice, or working an item twice, changes nothing more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tally.accounts.domain import Account
from tally.billing.catalogue_files import load_shipped_catalogues
from tally.billing.invoices import Customer
from tally.clock import Clock, FixedClock
from tally.invoices.notices import InvoiceNotices
from tally.invoices.service import InvoiceService, SellerSettingsService
from tally.invoices.subscription import SubscriptionInvoicing
from tally.jobs.base import Job, JobName, Worked, WorkItem
from tally.jobs.calendar import day_end, days_until, local_day
from tally.jobs.deps import JobDeps
from tally.jobs.messages import JobMessage, parse_as_of
from tally.jobs.planner import run_planner
from tally.jobs.registry import UnknownJob, job_for
from tally.jobs.worker import JobWorker
from tally.notifications.ledger import LedgerKey
from tally.plans.service import CatalogueService
from tally.subscriptions.due import due_entry
from tally.subscriptions.service import SubscriptionService
from tally.usage.dynamo import Managers
from tests.support.billing import CONTEXT, InMemoryAccounts, InMemoryPlanStore, InMemorySubscriptionStore
from tests.support.documents import InMemoryDocumentStore, InMemoryEmailLedger
from tests.support.invoices import SELLER, InMemoryCustomers, InMemoryInvoiceStore, InMemorySellerStore
from tests.support.jobs import InMemoryDueIndex, InMemoryQueue, InMemoryRunStore, sqs_event, work_all

ZONE = "Africa/Dakar"  # UTC all year
AT = datetime(2026, 4, 11, 10, tzinfo=UTC)
MAY = datetime(2026, 5, 11, 10, tzinfo=UTC)
EARLY = timedelta(hours=8)  # the schedules run at 02:00, before the periods end (10:00)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(AT)
        self.catalogue = CatalogueService(InMemoryPlanStore(), self.clock)
        for catalogue in load_shipped_catalogues():
            self.catalogue.import_catalogue(catalogue, CONTEXT)
        self.accounts = InMemoryAccounts(
            Account("acc1", "Acme", "a@example.com", "SN", "XOF", AT, status="active")
        )
        self.subscriptions = InMemorySubscriptionStore(self.accounts)
        self.service = SubscriptionService(
            self.subscriptions, self.catalogue, self.accounts, time_zone=ZONE, clock=self.clock
        )
        self.invoices = InMemoryInvoiceStore()
        self.invoices.subscriptions = self.subscriptions
        seller = InMemorySellerStore()
        seller.settings = SELLER.model_copy(update={"time_zone": ZONE})
        self.settings = SellerSettingsService(seller)
        self.seller = seller
        self.customers = InMemoryCustomers(
            Customer(account_id="acc1", name="Acme", country="SN", email="billing@acme.sn")
        )
        self.ledger = InMemoryEmailLedger()
        self.documents = InMemoryDocumentStore()
        self.due = InMemoryDueIndex(self.subscriptions)
        self.queue = InMemoryQueue()
        self.runs = InMemoryRunStore()
        self.deps = JobDeps(
            due=self.due,
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            settings=self.settings,
            catalogue=self.catalogue,
            invoicing=self._invoicing,
            invoices=self._invoices,
            notices=InvoiceNotices(
                self.documents, self.ledger, "https://app.example", render_pdf=lambda _document: b"%PDF"
            ),
            managers=lambda _account: Managers("Acme", [("owner@acme.sn", "fr"), ("admin@acme.sn", None)]),
            ledger=lambda: self.ledger,
            app_url="https://app.example",
        )
        self.worker = JobWorker(self.job, self.runs, now=self.clock.now)

    def _invoicing(self, clock: Clock) -> SubscriptionInvoicing:
        return SubscriptionInvoicing(
            self.subscriptions,
            self.invoices,
            self.settings,
            self.catalogue,
            _NoUsage(),
            self.accounts,
            clock=clock,
        )

    def _invoices(self, clock: Clock) -> InvoiceService:
        return InvoiceService(
            self.invoices,
            self.settings,
            self.customers,
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=clock,
        )

    def job(self, name: JobName) -> Job:
        return job_for(name, self.deps)

    def run(self, name: JobName, as_of: datetime) -> list[str]:
        """Plan as of `as_of` and work every item: the bodies that failed."""
        self.clock.at = as_of
        run_planner(self.job(name), as_of, self.queue, self.runs, now=self.clock.now)
        return work_all(self.worker, self.queue.take())

    def stored(self) -> Any:
        subscription = self.subscriptions.current("acc1")
        assert subscription is not None
        return subscription

    def emails(self, template: str) -> list[LedgerKey]:
        return [key for key in self.ledger.sent if key.template == template]


class _NoUsage:
    def aggregates(self, account_id: str, period: str) -> dict[str, Any]:
        return {}

    def metrics(self, codes: set[str]) -> dict[str, Any]:
        return {}


@pytest.fixture
def world() -> World:
    return World()


# --- recurring invoicing ---------------------------------------------------------------------


def test_a_period_ending_today_is_invoiced_finalised_emailed_and_rolled_over_once(world: World) -> None:
    started = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    assert due_entry(started) == ("RENEWALS_DUE", MAY)

    assert world.run("recurring-invoicing", MAY - timedelta(days=1)) == []
    assert world.invoices.invoices == {}  # the day before: nothing due

    assert world.run("recurring-invoicing", MAY - EARLY) == []
    [invoice] = world.invoices.invoices.values()
    assert (invoice.period_start, invoice.period_end) == (MAY, datetime(2026, 6, 11, 10, tzinfo=UTC))
    assert invoice.status == "open"
    assert invoice.number is not None
    assert invoice.created_at == MAY  # dated when its period begins
    rolled = world.stored()
    assert rolled.current_period_start == MAY
    assert due_entry(rolled) == ("RENEWALS_DUE", datetime(2026, 6, 11, 10, tzinfo=UTC))
    assert world.emails("invoice-issued") == [LedgerKey("invoice-issued", invoice.id)]
    first, run = sorted(world.runs.runs.values(), key=lambda run: run.run_id)
    assert first.planned == 0
    assert (run.planned, run.done, run.skipped, run.failed) == (1, 1, 0, 0)

    # The same day again: nothing is due any more; the same message again: nothing changes.
    before = (dict(world.invoices.invoices), dict(world.ledger.sent), world.stored())
    assert world.run("recurring-invoicing", MAY) == []
    item = WorkItem(
        "recurring-invoicing",
        f"{started.id}#x",
        {"account_id": "acc1", "subscription_id": started.id, "period_end": MAY.isoformat()},
    )
    assert world.job("recurring-invoicing").work(item, MAY - EARLY).outcome == "skipped"
    assert (dict(world.invoices.invoices), dict(world.ledger.sent), world.stored()) == before


def test_a_year_of_monthly_renewals_gives_twelve_invoices_numbered_in_sequence(world: World) -> None:
    world.seller.settings = type(SELLER).model_validate(
        SELLER.model_dump()
        | {"time_zone": ZONE, "invoice_numbering": {"format": "INV-{NNNNN}", "reset": "never"}}
    )
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    day = AT
    for _ in range(366):
        day += timedelta(days=1)
        assert world.run("recurring-invoicing", day.replace(hour=2)) == []
    invoices = sorted(world.invoices.invoices.values(), key=lambda invoice: invoice.period_start or AT)
    assert len(invoices) == 12
    assert [invoice.number for invoice in invoices] == [f"INV-{n:05d}" for n in range(1, 13)]
    assert all(invoice.total == 15000 + 2700 for invoice in invoices)  # 18 % VAT
    assert len(world.emails("invoice-issued")) == 12
    assert world.stored().current_period_start == datetime(2027, 4, 11, 10, tzinfo=UTC)


def test_a_stripe_collected_or_replaced_subscription_is_not_invoiced(world: World) -> None:
    started = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    world.subscriptions.subscriptions[started.id] = started.model_copy(update={"collection": "stripe"})
    assert due_entry(world.stored()) is None
    assert world.run("recurring-invoicing", MAY) == []
    item = WorkItem(
        "recurring-invoicing",
        "k",
        {"account_id": "acc1", "subscription_id": "sub_other", "period_end": MAY.isoformat()},
    )
    assert world.job("recurring-invoicing").work(item, MAY).outcome == "skipped"
    assert world.invoices.invoices == {}


# --- trials ----------------------------------------------------------------------------------


def test_a_trial_gets_three_reminders_then_ends_incomplete_with_its_first_invoice(world: World) -> None:
    trial = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    assert trial.status == "trialing"
    assert trial.trial_end == AT + timedelta(days=14)
    end = AT + timedelta(days=14)
    assert due_entry(trial) == ("TRIALS_DUE", end)

    planned_days = []
    for offset in range(1, 15):
        day = (AT + timedelta(days=offset)).replace(hour=2)
        sent_before = len(world.emails("trial-ending"))
        for _ in range(2):  # twice the same day: the second run sends nothing
            assert world.run("trials", day) == []
        if len(world.emails("trial-ending")) > sent_before:
            planned_days.append(days_until(day, end, ZONE))
    assert planned_days == [7, 3, 1]
    steps = sorted({key.step.split(":")[0] for key in world.emails("trial-ending") if key.step})
    assert steps == ["D-1", "D-3", "D-7"]
    assert len(world.emails("trial-ending")) == 6  # two managers, three days

    ended = world.stored()
    assert ended.status == "incomplete"
    assert (ended.current_period_start, ended.current_period_end) == (
        end,
        datetime(2026, 5, 25, 10, tzinfo=UTC),
    )
    [invoice] = world.invoices.invoices.values()
    assert invoice.period_start == end
    assert invoice.status == "open"
    assert len(world.emails("invoice-issued")) == 1
    assert due_entry(ended) == ("TRIAL_GRACE_DUE", end)
    assert world.subscriptions.actions.count("subscription.trial_ended") == 1


def test_a_trial_left_unpaid_is_canceled_after_the_grace_period(world: World) -> None:
    world.seller.settings = SELLER.model_copy(update={"time_zone": ZONE, "trial_grace_days": 3})
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    end = AT + timedelta(days=14)
    assert world.run("trials", end) == []
    assert world.stored().status == "incomplete"
    assert world.run("trials", end + timedelta(days=2)) == []
    assert world.stored().status == "incomplete"  # in its grace period
    assert world.run("trials", end + timedelta(days=3)) == []
    assert world.stored().status == "canceled"
    assert world.accounts.accounts["acc1"].status == "cancelled"
    assert world.run("trials", end + timedelta(days=4)) == []


def test_a_retried_trial_end_finishes_the_first_invoice(world: World) -> None:
    trial = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    end = AT + timedelta(days=14)
    item = WorkItem(
        "trials",
        f"{trial.id}#end",
        {"account_id": "acc1", "subscription_id": trial.id, "trial_end": end.isoformat(), "step": "end"},
    )
    world.ledger.fail_sends.append(RuntimeError("SES is down"))
    with pytest.raises(Exception, match="not done"):
        world.job("trials").work(item, end)
    assert world.stored().status == "incomplete"  # the change stands, the email did not go
    assert world.job("trials").work(item, end).outcome == "skipped"  # the retry sends it
    assert len(world.invoices.invoices) == 1
    assert len(world.emails("invoice-issued")) == 1


# --- expiry ----------------------------------------------------------------------------------


def test_a_subscription_set_to_cancel_gets_reminders_then_ends_and_its_account_is_cancelled(
    world: World,
) -> None:
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    world.clock.at = AT + timedelta(days=2)
    flagged = world.service.cancel("acc1", True, "Too expensive", CONTEXT)
    assert due_entry(flagged) == ("EXPIRIES_DUE", MAY)
    for offset in range(3, 31):
        day = (AT + timedelta(days=offset)).replace(hour=2)
        assert world.run("expiry", day) == []
        assert world.run("expiry", day) == []
    assert len(world.emails("expiry-reminder")) == 6
    ended = world.stored()
    assert ended.status == "canceled"
    assert ended.ended_at == MAY
    assert world.accounts.accounts["acc1"].status == "cancelled"
    assert world.invoices.invoices == {}  # and the renewal job has nothing to do
    assert due_entry(ended) is None


# --- the framework ---------------------------------------------------------------------------


class _Counting:
    name: JobName = "trials"

    def __init__(self, count: int, failing: set[str] | None = None) -> None:
        self.count = count
        self.failing = failing or set()
        self.worked: list[str] = []

    def plan(self, as_of: datetime) -> Any:
        for n in range(self.count):
            yield WorkItem(self.name, f"k{n}", {"n": str(n)})

    def work(self, item: WorkItem, as_of: datetime) -> Worked:
        if item.key in self.failing:
            raise RuntimeError(f"{item.key} is broken")
        self.worked.append(item.key)
        return Worked("skipped" if item.key == "k0" else "done")


def test_the_planner_sends_batches_of_ten_and_records_the_run() -> None:
    queue, runs = InMemoryQueue(), InMemoryRunStore()
    run = run_planner(_Counting(25), MAY, queue, runs, now=lambda: AT)
    assert [len(batch) for batch in queue.batches] == [10, 10, 5]
    assert run.planned == 25
    assert run.ended_at == AT
    assert run.run_id.startswith("20260411T100000")
    message = JobMessage.parse(queue.batches[0][0])
    assert (message.item.key, message.item.data, message.as_of, message.run_id) == (
        "k0",
        {"n": "0"},
        MAY,
        run.run_id,
    )
    assert json.loads(queue.batches[0][0])["job"] == "trials"


def test_the_worker_reports_only_the_failed_items_and_keeps_their_reason() -> None:
    job = _Counting(3, failing={"k1"})
    queue, runs = InMemoryQueue(), InMemoryRunStore()
    run = run_planner(job, MAY, queue, runs, now=lambda: AT)
    worker = JobWorker(lambda _name: job, runs, now=lambda: MAY)
    bodies = queue.take()
    answer = worker.handle(sqs_event(bodies), None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert job.worked == ["k0", "k2"]
    failure = runs.failed[("trials", "k1")]
    assert failure.error == "RuntimeError: k1 is broken"
    assert failure.attempts == 1
    recorded = runs.runs[("trials", run.run_id)]
    assert (recorded.done, recorded.skipped, recorded.failed) == (2, 1, 0)
    # Its third receive fails too: it goes to the dead-letter queue, counted as failed once.
    worker.handle(sqs_event([bodies[1]], receive_count=2), None)
    worker.handle(sqs_event([bodies[1]], receive_count=3), None)
    assert runs.runs[("trials", run.run_id)].failed == 1
    assert runs.failed[("trials", "k1")].attempts == 3


def test_a_malformed_message_fails_alone() -> None:
    job = _Counting(1)
    runs = InMemoryRunStore()
    run_planner(job, MAY, InMemoryQueue(), runs)
    worker = JobWorker(lambda _name: job, runs)
    answer = worker.handle(sqs_event(["not json"]), None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}


def test_as_of_comes_from_the_event_or_the_clock() -> None:
    assert parse_as_of({"job": "trials"}, AT) == AT
    assert parse_as_of({"as_of": "2026-05-11T02:00:00+02:00"}, AT) == datetime(2026, 5, 11, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="offset"):
        parse_as_of({"as_of": "2026-05-11T02:00:00"}, AT)
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_as_of({"as_of": "tomorrow"}, AT)


def test_the_calendar_follows_the_sellers_time_zone() -> None:
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)  # already 1 April in Paris
    assert local_day(late, "Europe/Paris").isoformat() == "2026-04-01"
    assert day_end(late, "Europe/Paris") == datetime(2026, 4, 1, 22, tzinfo=UTC)
    assert day_end(late, "Africa/Dakar") == datetime(2026, 4, 1, tzinfo=UTC)


def test_the_registry_names_every_job_it_runs(world: World) -> None:
    assert {job_for(name, world.deps).name for name in ("recurring-invoicing", "trials", "expiry")} == {
        "recurring-invoicing",
        "trials",
        "expiry",
    }
    with pytest.raises(
        UnknownJob, match="the jobs are dunning, expiry, payment-retries, recurring-invoicing, trials"
    ):
        job_for("nope", world.deps)


# --- renewal anchors -------------------------------------------------------------------------


def test_first_of_month_renewals_start_with_a_prorated_period(world: World) -> None:
    world.seller.settings = SELLER.model_copy(update={"time_zone": ZONE, "renewal_anchor": "first_of_month"})
    service = SubscriptionService(
        world.subscriptions,
        world.catalogue,
        world.accounts,
        time_zone=ZONE,
        clock=world.clock,
        renewal_anchor=lambda: world.settings.current().renewal_anchor,
    )
    started = service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    may_first = datetime(2026, 5, 1, tzinfo=UTC)
    assert started.billing_anchor == datetime(2026, 4, 1, tzinfo=UTC)
    assert (started.current_period_start, started.current_period_end) == (AT, may_first)
    first, _ = world._invoicing(world.clock).invoice("acc1", CONTEXT)
    # 19 days and 14 hours of April's 30 days: 15000 x 470 / 720, half-up.
    assert first.lines[0].unit_amount == 9792
    assert world.run("recurring-invoicing", may_first) == []
    renewed = max(world.invoices.invoices.values(), key=lambda invoice: invoice.period_start or AT)
    assert (renewed.period_start, renewed.period_end) == (may_first, datetime(2026, 6, 1, tzinfo=UTC))
    assert renewed.lines[0].unit_amount == 15000


def test_a_trial_ending_mid_month_renews_on_the_first_when_the_seller_says_so(world: World) -> None:
    world.seller.settings = SELLER.model_copy(update={"time_zone": ZONE, "renewal_anchor": "first_of_month"})
    world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT)
    end = AT + timedelta(days=14)
    assert world.run("trials", end) == []
    ended = world.stored()
    assert (ended.current_period_start, ended.current_period_end) == (end, datetime(2026, 5, 1, tzinfo=UTC))
    [invoice] = world.invoices.invoices.values()
    assert invoice.lines[0].unit_amount == 2792  # 5 days 14 hours of 30 days: 15000 x 134 / 720, half-up
