"""The payment retries job over in-memory stores and a fake card charger: attempts spaced by the
seller's settings, at most three retries, stopping on success or when the invoice is settled
elsewhere, each attempt made once under reruns and concurrent workers."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tally.billing.invoices import Invoice, Payment, finalize
from tally.billing.seller import SellerSettings, default_seller_settings
from tally.clock import Clock, FixedClock
from tally.invoices.service import InvoiceService, SellerSettingsService
from tally.jobs.base import WorkItem
from tally.jobs.planner import run_planner
from tally.jobs.worker import JobWorker
from tally.retries.job import ChargeNotRecorded, PaymentRetries
from tally.retries.ports import NO_SAVED_CARD, ChargeResult
from tally.retries.schedule import idempotency_key
from tally.retries.stripe_charger import stripe_amount
from tests.support.billing import CONTEXT
from tests.support.invoices import CUSTOMER, SELLER, InMemoryCustomers, InMemorySellerStore, draft, line
from tests.support.jobs import InMemoryQueue, InMemoryRunStore, work_all
from tests.support.retries import FakeCardCharger, InMemoryRetryStore, LockedInvoiceStore

DAY0 = datetime(2026, 4, 11, 3, tzinfo=UTC)  # attempt 0: when recurring invoicing finalised it
DAY = timedelta(days=1)


class World:
    def __init__(self, *outcomes: str, retry_days: list[int] | None = None) -> None:
        self.invoices = LockedInvoiceStore()
        self.seller = InMemorySellerStore()
        if retry_days is not None:
            self.seller.settings = default_seller_settings().model_copy(
                update={"payment_retry_days": retry_days}
            )
        self.settings = SellerSettingsService(self.seller)
        self.store = InMemoryRetryStore()
        self.charger = FakeCardCharger(list(outcomes))
        self.job = PaymentRetries(self.store, self.charger, self._service, self.settings)
        self.queue = InMemoryQueue()
        self.runs = InMemoryRunStore()
        self.invoice = finalize(
            draft(line(120000)),
            number="INV-1",
            at=DAY0 - timedelta(minutes=1),
            seller=SELLER,
            customer=CUSTOMER,
        )
        self.invoices.invoices[self.invoice.id] = self.invoice
        assert self.store.schedule(self.invoice, DAY0)

    def _service(self, clock: Clock) -> InvoiceService:
        return InvoiceService(self.invoices, self.settings, InMemoryCustomers(), clock=clock)

    def run(self, as_of: datetime) -> list[str]:
        worker = JobWorker(lambda _name: self.job, self.runs, now=lambda: as_of)
        run_planner(self.job, as_of, self.queue, self.runs, now=lambda: as_of)
        return work_all(worker, self.queue.take())

    def days(self, first: int, last: int) -> None:
        for day in range(first, last + 1):
            assert self.run(DAY0 + day * DAY) == []

    def stored(self) -> Invoice:
        return self.invoices.invoices[self.invoice.id]

    def attempts(self) -> list[tuple[int, datetime, str]]:
        record = self.store.record(self.invoice.id)
        assert record is not None
        return [(a.n, a.at, a.outcome) for a in record.attempts]

    def item(self) -> WorkItem:
        return WorkItem("payment-retries", f"{self.invoice.id}#x", {"invoice_id": self.invoice.id})


def test_three_retries_spaced_1_3_7_days_after_the_first_failure_then_dunning() -> None:
    world = World("generic_decline", "insufficient_funds", "generic_decline", "expired_card")
    world.days(0, 12)
    assert world.attempts() == [
        (0, DAY0, "failed"),
        (1, DAY0 + DAY, "failed"),
        (2, DAY0 + 3 * DAY, "failed"),
        (3, DAY0 + 7 * DAY, "failed"),
    ]
    assert [key for _, _, key in world.charger.calls] == [
        idempotency_key(world.invoice.id, n) for n in range(4)
    ]
    record = world.store.record(world.invoice.id)
    assert record is not None
    assert record.due_at is None  # out of the DueIndex: dunning chases it
    assert [a.decline_code for a in record.attempts] == [
        "generic_decline",
        "insufficient_funds",
        "generic_decline",
        "expired_card",
    ]
    assert world.stored().status == "open"
    assert world.stored().dunning_on is not None  # on the ladder since its finalisation
    reads = world.store.reads
    world.days(13, 20)
    assert world.store.reads == reads  # nothing planned any more


def test_the_spacing_comes_from_the_sellers_settings() -> None:
    world = World("a", "b", "c", retry_days=[2, 5])
    world.days(0, 9)
    assert [(n, at) for n, at, _ in world.attempts()] == [(0, DAY0), (1, DAY0 + 2 * DAY), (2, DAY0 + 5 * DAY)]


def test_a_retry_that_succeeds_pays_the_invoice_with_a_card_payment_and_stops() -> None:
    world = World("generic_decline", "ok")
    world.days(0, 10)
    assert world.attempts() == [(0, DAY0, "failed"), (1, DAY0 + DAY, "succeeded")]
    paid = world.stored()
    assert paid.status == "paid"
    assert [(p.method, p.reference, p.amount) for p in paid.payments] == [
        ("card", "pi_2", world.invoice.amount_due)
    ]
    assert len(world.charger.made) == 2


@pytest.mark.parametrize("how", ["paid", "voided"])
def test_an_invoice_settled_elsewhere_leaves_the_retries_without_a_charge(how: str) -> None:
    world = World("generic_decline")
    world.days(0, 0)
    service = world._service(FixedClock(DAY0 + DAY / 2))
    if how == "paid":
        transfer = Payment(
            amount=world.invoice.amount_due, method="bank_transfer", reference="VIR 1", received_at=DAY0
        )
        service.record_payment(world.invoice.id, transfer, CONTEXT)
    else:
        service.void(world.invoice.id, "wrong account", CONTEXT)
    world.days(1, 10)
    assert world.attempts() == [(0, DAY0, "failed")]
    assert len(world.charger.calls) == 1
    record = world.store.record(world.invoice.id)
    assert record is not None
    assert record.due_at is None


def test_no_saved_card_makes_no_attempt_and_ends_the_retries() -> None:
    world = World(NO_SAVED_CARD)
    world.days(0, 8)
    assert world.attempts() == [(0, DAY0, "no_card")]
    assert world.charger.made == [idempotency_key(world.invoice.id, 0)]
    assert world.stored().status == "open"


def test_reruns_the_same_day_and_redelivered_items_make_each_attempt_once() -> None:
    world = World("generic_decline", "generic_decline")
    for _ in range(3):
        world.days(0, 1)
    assert world.attempts() == [(0, DAY0, "failed"), (1, DAY0 + DAY, "failed")]
    for _ in range(3):  # the same message again, and again
        assert world.job.work(world.item(), DAY0 + DAY).outcome == "skipped"
    assert len(world.charger.calls) == 2


@pytest.mark.parametrize("outcome", ["ok", "generic_decline"])
def test_concurrent_workers_make_one_attempt_and_one_payment(outcome: str) -> None:
    world = World(outcome)
    barrier = threading.Barrier(8)
    answers: list[str] = []

    def work() -> None:
        barrier.wait()
        answers.append(world.job.work(world.item(), DAY0).outcome)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count("done") == 1
    assert answers.count("skipped") == 7
    assert len(world.attempts()) == 1
    assert world.charger.made == [idempotency_key(world.invoice.id, 0)]  # one charge
    payments = world.stored().payments
    assert len(payments) == (1 if outcome == "ok" else 0)


def test_a_success_whose_payment_was_not_recorded_is_recorded_by_the_retry_once() -> None:
    world = World("ok")
    original = world.invoices.save
    calls = 0

    def crash_once(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the worker died")
        original(*args, **kwargs)

    world.invoices.save = crash_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        world.job.work(world.item(), DAY0)
    assert world.attempts() == [(0, DAY0, "succeeded")]
    assert world.stored().status == "open"
    assert world.job.work(world.item(), DAY0).outcome == "done"  # SQS redelivers it
    assert world.job.work(world.item(), DAY0).outcome == "skipped"
    assert [p.reference for p in world.stored().payments] == ["pi_1"]
    assert len(world.charger.calls) == 1


def test_the_retry_days_are_validated() -> None:
    base = default_seller_settings().model_dump(mode="json")
    assert default_seller_settings().payment_retry_days == [1, 3, 7]
    assert SellerSettings.model_validate(base | {"payment_retry_days": []}).payment_retry_days == []
    for wrong in ([3, 1], [1, 1], [0, 2], [2, 8], [1, 2, 3, 4]):
        with pytest.raises(ValueError, match="payment_retry_days"):
            SellerSettings.model_validate(base | {"payment_retry_days": wrong})


def test_amounts_are_sent_in_stripes_units() -> None:
    assert stripe_amount(1999, "EUR") == 1999
    assert stripe_amount(5000, "XOF") == 5000  # zero-decimal in both
    assert stripe_amount(1500, "KWD") == 1500  # three-decimal in both
    assert stripe_amount(1200, "ISK") == 120000  # Stripe takes ISK in hundredths
    assert stripe_amount(150000, "MGA") == 1500  # zero-decimal in Stripe
    with pytest.raises(ValueError, match="whole units"):
        stripe_amount(150050, "MGA")


def test_recurring_invoicing_schedules_attempt_0_once_for_an_account_with_a_stripe_customer() -> None:
    from tests.support.billing import CONTEXT as CTX
    from tests.unit.test_jobs import EARLY, MAY
    from tests.unit.test_jobs import World as JobsWorld

    jobs = JobsWorld()
    retries = InMemoryRetryStore(customers={"acc1"})
    jobs.deps = replace(jobs.deps, payment_retries=retries)
    jobs.service.start("acc1", "essential", "monthly", "XOF", CTX, active_reason="Deal")
    assert jobs.run("recurring-invoicing", MAY - EARLY) == []
    assert jobs.run("recurring-invoicing", MAY) == []
    [invoice] = jobs.invoices.invoices.values()
    record = retries.record(invoice.id)
    assert record is not None
    assert (record.account_id, record.attempts, record.due_at) == ("acc1", (), MAY)
    assert len(retries.records) == 1

    without = JobsWorld()
    none = InMemoryRetryStore(customers=set())
    without.deps = replace(without.deps, payment_retries=none)
    without.service.start("acc1", "essential", "monthly", "XOF", CTX, active_reason="Deal")
    assert without.run("recurring-invoicing", MAY - EARLY) == []
    assert none.records == {}


def test_a_card_charged_for_an_invoice_paid_meanwhile_is_raised_for_staff() -> None:
    world = World("ok")
    charge = world.charger.charge

    def paid_by_transfer_meanwhile(invoice: Invoice, attempt: int, *, idempotency_key: str) -> ChargeResult:
        transfer = Payment(
            amount=invoice.amount_due, method="bank_transfer", reference="VIR 2", received_at=DAY0
        )
        world._service(FixedClock(DAY0)).record_payment(invoice.id, transfer, CONTEXT)
        return charge(invoice, attempt, idempotency_key=idempotency_key)

    world.charger.charge = paid_by_transfer_meanwhile  # type: ignore[method-assign]
    with pytest.raises(ChargeNotRecorded, match="refund"):
        world.job.work(world.item(), DAY0)
    assert world.attempts() == [(0, DAY0, "succeeded")]  # the charge stays on record
