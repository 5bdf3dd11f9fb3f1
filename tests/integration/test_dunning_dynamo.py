"""The dunning job against moto: an unpaid invoice walking J-3 to J+30 (every day twice, and
concurrently), the invoices that leave the ladder (paid, voided, credited to zero), paying after
suspension, voiding after suspension (restores, as paying does; uncollectible does not), a custom
ladder, a Stripe-collected subscription, and the planner reading only what is due."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from tally.accounts.domain import Account
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.billing.credit_notes import CreditNoteIn
from tally.billing.invoices import Invoice, Payment
from tally.billing.subscription_state import Subscription
from tally.clock import FixedClock
from tally.documents.store import DocumentStore
from tally.dunning.dynamo import DynamoDunningStore
from tally.dunning.job import DunningJob
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.notices import InvoiceNotices
from tally.invoices.service import AccountCustomers, DraftIn, InvoiceService, SellerSettingsService
from tally.jobs.base import Worked
from tally.notifications.ledger import EmailLedger
from tally.storage import clients, keys
from tally.storage.items import from_item
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tests.support.auth import RecordingMailer
from tests.support.billing import CONTEXT
from tests.support.stack import Stack

AT = datetime(2026, 4, 1, 9, tzinfo=UTC)  # finalised on 1 April: due 16 April (15 days' terms)
DUE = date(2026, 4, 16)


def morning(day: date) -> datetime:
    return datetime.combine(day, time(6), tzinfo=UTC)  # 08:00 in Paris


class World:
    def __init__(self, stack: Stack, *, collection: str = "invoice") -> None:
        self.clock = FixedClock(AT)
        self.table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"), self.clock)
        self.accounts = DynamoAccountStore(self.table)
        self.accounts.create(
            Account("acc1", "Acme SARL", "billing@acme.example", "FR", "EUR", AT, status="active"),
            None,
            CONTEXT,
        )
        self.subscriptions = DynamoSubscriptionStore(self.table)
        self.subscription = Subscription.model_validate(
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
        self.subscriptions.create(self.subscription, None, None, CONTEXT)
        self.settings = SellerSettingsService(DynamoSellerStore(self.table))
        self.invoices = InvoiceService(
            DynamoInvoiceStore(self.table),
            self.settings,
            AccountCustomers(self.accounts),
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=self.clock,
        )
        self.mailer = RecordingMailer()
        ledger = EmailLedger(self.table.client, self.table.name, self.mailer, clock=self.clock)
        documents = DocumentStore(clients.on_first_use(clients.s3), "unused")
        notices = InvoiceNotices(documents, ledger, "https://app.example")
        self.store = DynamoDunningStore(self.table)
        self.job = DunningJob(self.store, self.settings, notices)

    def invoice(self, *, subscription: bool = True, amount: int = 19900) -> Invoice:
        body: dict[str, Any] = {
            "account_id": "acc1",
            "currency": "EUR",
            "lines": [{"description": "Starter", "unit_amount": amount}],
        }
        if subscription:
            body |= {"subscription_id": "sub1", "period_start": AT, "period_end": AT + timedelta(days=30)}
        draft = self.invoices.create_draft(DraftIn.model_validate(body), CONTEXT)
        return self.invoices.finalize(draft.id, CONTEXT)

    def run(self, day: date) -> list[Worked]:
        at = morning(day)
        self.clock.advance(at - self.clock.now())
        return [self.job.work(item, at) for item in list(self.job.plan(at))]

    def emails(self) -> list[tuple[str, str]]:
        """(template, subject) of every email sent, in order."""
        return [(email.template, email.subject) for email in self.mailer.sent]

    def steps(self, invoice_id: str) -> tuple[list[str], list[str]]:
        item = self.table.get(keys.dunning(invoice_id))
        values = from_item(item) if item else {}
        return list(values.get("done", [])), list(values.get("skipped", []))

    def account_status(self) -> str:
        account = self.accounts.get("acc1")
        assert account is not None
        return account.status

    def subscription_status(self) -> str:
        current = self.subscriptions.current("acc1")
        assert current is not None
        return current.status

    def pay(self, invoice: Invoice, reference: str = "VIR 1") -> Invoice:
        current = self.invoices.get(invoice.id)
        payment = Payment(
            amount=current.amount_due, method="bank_transfer", reference=reference, received_at=AT
        )
        return self.invoices.record_payment(invoice.id, payment, CONTEXT)


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


DEFAULT_STEPS = ["J-3", "J+1", "J+3", "J+7", "J+15", "J+30"]


def test_an_unpaid_invoice_walks_the_ladder_to_suspension_once_each_step(stack: Stack) -> None:
    world = World(stack)
    invoice = world.invoice()
    assert invoice.due_date == DUE
    assert invoice.dunning_on == DUE - timedelta(days=3)
    seen: dict[date, str] = {}
    for day in days(DUE - timedelta(days=5), DUE + timedelta(days=31)):
        worked = world.run(day)
        again = world.run(day)  # a second run the same day changes nothing
        assert all(result.outcome == "skipped" for result in again), (day, again)
        if any(result.outcome == "done" for result in worked):
            seen[day] = world.steps(invoice.id)[0][-1]
        if day == DUE:
            assert world.subscription_status() == "active"
        if day == DUE + timedelta(days=1):
            stored = world.invoices.get(invoice.id)
            assert stored.status == "open"
            assert stored.overdue_since == day
            assert world.subscription_status() == "past_due"
            assert world.account_status() == "active"
        if day == DUE + timedelta(days=29):
            assert world.account_status() == "active"
    assert seen == {DUE + timedelta(days=int(step[1:])): step for step in DEFAULT_STEPS}
    assert world.steps(invoice.id) == (DEFAULT_STEPS, [])
    templates = [template for template, _ in world.emails()]
    assert templates == ["dunning-reminder"] * 5 + ["account-suspended"]
    account = world.accounts.get("acc1")
    assert account is not None
    assert account.status == "suspended"
    assert account.status_reason == "unpaid_invoice"
    assert world.subscription_status() == "unpaid"
    # After its last step the invoice has left the index: the planner no longer reads it.
    assert world.invoices.get(invoice.id).dunning_on is None
    assert list(world.job.plan(morning(DUE + timedelta(days=60)))) == []


def test_concurrent_runs_send_each_email_once(stack: Stack) -> None:
    world = World(stack)
    invoice = world.invoice()
    for day in days(DUE - timedelta(days=5), DUE + timedelta(days=31)):
        at = morning(day)
        world.clock.advance(at - world.clock.now())
        items = list(world.job.plan(at)) * 4  # four overlapping runs, or SQS redeliveries
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = [worked.outcome for worked in pool.map(world.job.work, items, [at] * len(items))]
        assert outcomes.count("done") <= 1, (day, outcomes)
    assert world.steps(invoice.id) == (DEFAULT_STEPS, [])
    assert [template for template, _ in world.emails()] == ["dunning-reminder"] * 5 + ["account-suspended"]


def test_missed_days_run_only_the_latest_step(stack: Stack) -> None:
    world = World(stack)
    invoice = world.invoice()
    world.run(DUE - timedelta(days=3))
    world.run(DUE + timedelta(days=8))  # the job did not run for 11 days
    assert world.steps(invoice.id) == (["J-3", "J+7"], ["J+1", "J+3"])
    assert len(world.mailer.sent) == 2
    # The passed-over overdue step still has its effect: the invoice overdue, the subscription past due.
    assert world.invoices.get(invoice.id).overdue_since == DUE + timedelta(days=8)
    assert world.subscription_status() == "past_due"


@pytest.mark.parametrize("leave", ["pay", "void", "credit"])
def test_an_invoice_paid_voided_or_credited_leaves_the_ladder_at_once(stack: Stack, leave: str) -> None:
    world = World(stack)
    invoice = world.invoice()
    world.run(DUE - timedelta(days=3))
    items = list(world.job.plan(morning(DUE + timedelta(days=1))))
    assert len(items) == 1
    if leave == "pay":
        world.pay(invoice)
    elif leave == "void":
        world.invoices.void(invoice.id, "Issued by mistake", CONTEXT)
    else:
        note = CreditNoteIn.model_validate({"amount": invoice.amount_due, "reason": "Goodwill"})
        world.invoices.issue_credit_note(invoice.id, note, CONTEXT)
    # An item planned before the change is skipped by the worker.
    assert world.job.work(items[0], morning(DUE + timedelta(days=1))).outcome == "skipped"
    for day in days(DUE, DUE + timedelta(days=31)):
        assert world.run(day) == []
    assert world.steps(invoice.id) == (["J-3"], [])
    assert len(world.mailer.sent) == 1
    assert world.account_status() == "active"


def test_paying_after_suspension_reactivates_the_account_and_the_subscription(stack: Stack) -> None:
    world = World(stack)
    first = world.invoice()
    other = world.invoice(subscription=False, amount=5000)
    for day in days(DUE - timedelta(days=3), DUE + timedelta(days=30)):
        world.run(day)
    assert world.account_status() == "suspended"
    assert world.subscription_status() == "unpaid"
    world.pay(first)
    # Another overdue invoice remains: still suspended, still unpaid.
    assert world.account_status() == "suspended"
    assert world.subscription_status() == "unpaid"
    world.pay(other, "VIR 2")
    assert world.account_status() == "active"
    assert world.subscription_status() == "unpaid"
    # The subscription's invoice was paid before; a one-off paid last reactivates the account; the
    # subscription is restored when its own invoice is paid with nothing else overdue:
    world2_invoice = world.invoices.get(first.id)
    assert world2_invoice.status == "paid"


def test_paying_the_only_overdue_invoice_restores_both(stack: Stack) -> None:
    world = World(stack)
    invoice = world.invoice()
    for day in days(DUE - timedelta(days=3), DUE + timedelta(days=30)):
        world.run(day)
    assert world.account_status() == "suspended"
    world.pay(invoice)
    assert world.account_status() == "active"
    assert world.subscription_status() == "active"


@pytest.mark.parametrize("subscription", [True, False], ids=["subscription", "one-off"])
def test_voiding_the_only_overdue_invoice_restores_both(stack: Stack, subscription: bool) -> None:
    world = World(stack)
    invoice = world.invoice(subscription=subscription)
    for day in days(DUE - timedelta(days=3), DUE + timedelta(days=30)):
        world.run(day)
    assert world.account_status() == "suspended"
    assert world.subscription_status() == ("unpaid" if subscription else "active")
    world.invoices.void(invoice.id, "Issued by mistake", CONTEXT)
    # In the void's own transaction, as a payment does.
    account = world.accounts.get("acc1")
    assert account is not None
    assert account.status == "active"
    assert world.subscription_status() == "active"
    assert world.invoices.get(invoice.id).status == "void"


def test_voiding_one_of_two_overdue_invoices_keeps_the_account_suspended(stack: Stack) -> None:
    world = World(stack)
    first = world.invoice()
    other = world.invoice(subscription=False, amount=5000)
    for day in days(DUE - timedelta(days=3), DUE + timedelta(days=30)):
        world.run(day)
    world.invoices.void(first.id, None, CONTEXT)
    assert world.account_status() == "suspended"
    assert world.subscription_status() == "unpaid"
    world.invoices.void(other.id, None, CONTEXT)
    assert world.account_status() == "active"


def test_marking_the_overdue_invoice_uncollectible_leaves_the_account_suspended(stack: Stack) -> None:
    world = World(stack)
    invoice = world.invoice()
    for day in days(DUE - timedelta(days=3), DUE + timedelta(days=30)):
        world.run(day)
    world.invoices.mark_uncollectible(invoice.id, "Written off", CONTEXT)
    # Written off, not settled: the debt stands.
    assert world.account_status() == "suspended"
    assert world.subscription_status() == "unpaid"
    # Voiding it later cancels the debt: both are restored.
    world.invoices.void(invoice.id, None, CONTEXT)
    assert world.account_status() == "active"
    assert world.subscription_status() == "active"


def test_a_custom_ladder_from_the_settings(stack: Stack) -> None:
    world = World(stack)
    settings = world.settings.current().model_dump(mode="json")
    settings["dunning"] = {
        "steps": [
            {"days": 2, "action": "overdue", "template": "dunning-reminder"},
            {"days": 10, "action": "suspend", "template": "account-suspended"},
        ]
    }
    world.settings.replace(settings, CONTEXT)
    invoice = world.invoice()
    assert invoice.dunning_on == DUE + timedelta(days=2)
    for day in days(DUE - timedelta(days=5), DUE + timedelta(days=12)):
        world.run(day)
    assert world.steps(invoice.id) == (["J+2", "J+10"], [])
    assert [template for template, _ in world.emails()] == ["dunning-reminder", "account-suspended"]
    assert world.account_status() == "suspended"


def test_a_stripe_collected_subscription_gets_the_emails_but_stripe_decides_the_suspension(
    stack: Stack,
) -> None:
    world = World(stack, collection="stripe")
    invoice = world.invoice()
    for day in days(DUE - timedelta(days=3), DUE + timedelta(days=31)):
        world.run(day)
    assert world.steps(invoice.id) == (DEFAULT_STEPS[:-1], ["J+30"])
    assert [template for template, _ in world.emails()] == ["dunning-reminder"] * 5
    assert world.invoices.get(invoice.id).overdue_since == DUE + timedelta(days=1)
    assert world.account_status() == "active"
    assert world.subscription_status() == "active"


def test_a_stripe_collected_invoice_past_its_suspension_date_still_gets_the_latest_email(
    stack: Stack,
) -> None:
    world = World(stack, collection="stripe")
    invoice = world.invoice()
    world.run(DUE - timedelta(days=3))
    assert [worked.outcome for worked in world.run(DUE + timedelta(days=31))] == ["done"]
    assert world.steps(invoice.id) == (["J-3", "J+15"], ["J+1", "J+3", "J+7", "J+30"])
    assert [template for template, _ in world.emails()] == ["dunning-reminder"] * 2
    assert world.invoices.get(invoice.id).dunning_on is None
    assert world.account_status() == "active"
    assert world.subscription_status() == "active"


class CountingClient:
    """The DynamoDB client, counting the items each Query read (ScannedCount)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.read = 0

    def query(self, **params: Any) -> Any:
        answer = self._client.query(**params)
        self.read += int(answer.get("ScannedCount", 0))
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _seed(table: BillingTable, start: int, count: int, due: int, today: date) -> None:
    """`count` invoice items from number `start`: the first `due` with a step due by `today`, a
    third of the others waiting for a later step, the rest out of the ladder (paid, void)."""
    requests: list[Any] = []
    for n in range(start, start + count):
        invoice_id = f"inv_{n:06d}"
        item: dict[str, Any] = keys.invoice(invoice_id) | {"kind": {"S": "invoice"}}
        if n - start < due:
            item |= {"DUEPK": {"S": keys.INVOICES_DUE}, "DUESK": {"S": keys.due_sort(today, invoice_id)}}
        elif n % 3 == 0:
            later = today + timedelta(days=1 + n % 20)
            item |= {"DUEPK": {"S": keys.INVOICES_DUE}, "DUESK": {"S": keys.due_sort(later, invoice_id)}}
        requests.append({"PutRequest": {"Item": item}})
    for index in range(0, len(requests), 25):
        table.client.batch_write_item(RequestItems={table.name: requests[index : index + 25]})


def test_the_planner_reads_only_the_due_items(stack: Stack) -> None:
    table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"))
    counting = CountingClient(table.client)
    job = DunningJob(
        DynamoDunningStore(replace_client(table, counting)),
        SellerSettingsService(DynamoSellerStore(table)),
        InvoiceNotices(
            DocumentStore(clients.on_first_use(clients.s3), "unused"), RecordingLedger(), "https://a.example"
        ),
    )
    today = date(2026, 5, 1)
    _seed(table, 0, 10_000, 1_000, today)
    assert len(list(job.plan(morning(today)))) == 1_000
    among_ten_thousand = counting.read
    counting.read = 0
    _seed(table, 10_000, 40_000, 0, today)
    assert len(list(job.plan(morning(today)))) == 1_000
    assert counting.read == among_ten_thousand == 1_000


def replace_client(table: BillingTable, client: Any) -> BillingTable:
    return BillingTable(client, table.name, table.clock)


class RecordingLedger:
    def send_once(self, email: Any, key: Any) -> Any:
        raise AssertionError("the planner sends nothing")
