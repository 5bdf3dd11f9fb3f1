"""The payment retries job over moto, charging through the real StripeClient adapter against the
local Stripe sandbox: a 0341 card (it fails every off-session charge) fails attempt 0 and the
three retries, then hands over to dunning; a customer who saves a 4242 card after the first
failure is charged on the first retry, and the invoice is paid (its past-due subscription
restored). Every day is run twice: each attempt is made once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe

from local.stripe import StripeSandbox
from tally.accounts.domain import Account
from tally.accounts.dynamo.accounts import DynamoAccountStore
from tally.accounts.dynamo.table import BillingTable
from tally.billing.invoices import Invoice
from tally.billing.subscription_state import Subscription
from tally.checkout.dynamo import DynamoCheckoutStore
from tally.clock import Clock, FixedClock
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.service import AccountCustomers, DraftIn, InvoiceService, SellerSettingsService
from tally.jobs.base import Worked
from tally.retries.dynamo import DynamoRetryStore
from tally.retries.job import PaymentRetries
from tally.retries.schedule import idempotency_key
from tally.retries.stripe_charger import StripeCardCharger
from tally.storage import clients, keys
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tests.support.billing import CONTEXT
from tests.support.stack import Stack
from tests.support.stripe_sandbox import KEY, client

DAY0 = datetime(2026, 4, 1, 6, tzinfo=UTC)  # 08:00 in Paris: finalised, attempt 0 due
DAY = timedelta(days=1)


@pytest.fixture
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(port=0, secret_key=KEY, now=lambda: DAY0) as running:
        yield running


@pytest.fixture
def api(sandbox: StripeSandbox) -> stripe.StripeClient:
    return client(sandbox)


class World:
    def __init__(self, stack: Stack, api: stripe.StripeClient, *, status: str = "active") -> None:
        self.api = api
        self.clock = FixedClock(DAY0)
        self.table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"), self.clock)
        self.accounts = DynamoAccountStore(self.table)
        self.accounts.create(
            Account("acc1", "Acme SARL", "billing@acme.example", "FR", "EUR", DAY0, status="active"),
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
                "status": status,
                "collection": "invoice",
                "billing_anchor": DAY0,
                "time_zone": "Europe/Paris",
                "current_period_start": DAY0,
                "current_period_end": DAY0 + timedelta(days=30),
                "created_at": DAY0,
            }
        )
        self.subscriptions.create(self.subscription, None, None, CONTEXT)
        self.settings = SellerSettingsService(DynamoSellerStore(self.table))
        self.checkout = DynamoCheckoutStore(self.table)
        self.store = DynamoRetryStore(self.table)
        self.job = PaymentRetries(
            self.store, StripeCardCharger(api, self.checkout.customer), self.invoices, self.settings
        )

    def invoices(self, clock: Clock) -> InvoiceService:
        return InvoiceService(
            DynamoInvoiceStore(self.table),
            self.settings,
            AccountCustomers(self.accounts),
            subscriptions=self.subscriptions,
            accounts=self.accounts,
            clock=clock,
        )

    def customer(self, **params: Any) -> str:
        wanted: Any = {"email": "billing@acme.example", "metadata": {"tally_account_id": "acc1"}, **params}
        customer = self.api.v1.customers.create(params=wanted)
        self.checkout.link_customer("acc1", customer.id, CONTEXT)
        return str(customer.id)

    def invoice(self) -> Invoice:
        service = self.invoices(self.clock)
        body: dict[str, Any] = {
            "account_id": "acc1",
            "currency": "EUR",
            "lines": [{"description": "Starter", "unit_amount": 19900}],
            "subscription_id": "sub1",
            "period_start": DAY0,
            "period_end": DAY0 + timedelta(days=30),
        }
        draft = service.create_draft(DraftIn.model_validate(body), CONTEXT)
        invoice = service.finalize(draft.id, CONTEXT)
        # What recurring invoicing does once it finalised it; once.
        assert self.store.schedule(invoice, DAY0)
        assert not self.store.schedule(invoice, DAY0)
        return invoice

    def run(self, day: int) -> list[Worked]:
        """The planner's items worked as of the day's morning; twice (a second run the same day)."""
        at = DAY0 + day * DAY
        self.clock.at = at
        worked = [self.job.work(item, at) for item in list(self.job.plan(at))]
        return worked + [self.job.work(item, at) for item in list(self.job.plan(at))]

    def record(self, invoice_id: str) -> dict[str, Any]:
        item = self.table.get(keys.payment_retry(invoice_id))
        assert item is not None
        return item


def test_a_card_failing_off_session_is_tried_four_times_then_dunning_chases_it(
    stack: Stack, api: stripe.StripeClient
) -> None:
    world = World(stack, api)
    customer = world.customer(payment_method="pm_card_chargeCustomerFail")  # attached, not default
    invoice = world.invoice()
    done = {day: [w.outcome for w in world.run(day)] for day in range(12)}
    assert {day: outcomes for day, outcomes in done.items() if outcomes} == {
        0: ["done"],
        1: ["done"],
        3: ["done"],
        7: ["done"],
    }
    retry = world.store.record(invoice.id)
    assert retry is not None
    assert [(a.n, a.at, a.outcome, a.decline_code) for a in retry.attempts] == [
        (n, DAY0 + days * DAY, "failed", "generic_decline") for n, days in enumerate((0, 1, 3, 7))
    ]
    assert retry.due_at is None
    assert "DUEPK" not in world.record(invoice.id)  # out of the DueIndex
    intents = api.v1.payment_intents.list({"customer": customer, "limit": 100}).data
    assert sorted(str(pi.id) for pi in intents) == sorted(str(a.payment_intent) for a in retry.attempts)
    assert {pi.status for pi in intents} == {"requires_payment_method"}
    assert {(pi.amount, pi.currency) for pi in intents} == {(invoice.amount_due, "eur")}
    stored = world.invoices(world.clock).get(invoice.id)
    assert stored.status == "open"
    assert stored.payments == ()
    assert stored.dunning_on is not None  # the ladder chases it from here


def test_a_card_saved_after_the_first_failure_pays_the_invoice_on_the_first_retry(
    stack: Stack, api: stripe.StripeClient
) -> None:
    world = World(stack, api, status="past_due")
    customer = world.customer(payment_method="pm_card_chargeCustomerFail")
    invoice = world.invoice()
    assert [w.outcome for w in world.run(0)] == ["done"]
    api.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    assert [w.outcome for w in world.run(1)] == ["done"]
    for day in range(2, 9):
        assert world.run(day) == []
    retry = world.store.record(invoice.id)
    assert retry is not None
    assert [(a.n, a.outcome) for a in retry.attempts] == [(0, "failed"), (1, "succeeded")]
    reference = retry.attempts[1].payment_intent
    assert reference is not None
    paid = world.invoices(world.clock).get(invoice.id)
    assert paid.status == "paid"
    due = invoice.amount_due  # 19900 and 20 % VAT
    assert [(p.method, p.reference, p.amount) for p in paid.payments] == [("card", reference, due)]
    intent = api.v1.payment_intents.retrieve(reference)
    assert (intent.status, intent.amount, intent.customer) == ("succeeded", due, customer)
    # The same attempt asked again (a retried request): Stripe answers the same PaymentIntent.
    again = api.v1.payment_intents.create(
        {
            "amount": due,
            "currency": "eur",
            "customer": customer,
            "payment_method": str(intent.payment_method),
            "off_session": True,
            "confirm": True,
            "description": f"Invoice {invoice.number}",
            "metadata": {"tally_account_id": "acc1", "tally_invoice_id": invoice.id, "tally_attempt": "1"},
        },
        {"idempotency_key": idempotency_key(invoice.id, 1)},
    )
    assert again.id == reference
    current = world.subscriptions.current("acc1")
    assert current is not None
    assert current.status == "active"  # restored by the payment


def test_an_account_without_a_saved_card_gets_no_charge(stack: Stack, api: stripe.StripeClient) -> None:
    world = World(stack, api)
    customer = world.customer()
    invoice = world.invoice()
    assert [w.outcome for w in world.run(0)] == ["done"]
    retry = world.store.record(invoice.id)
    assert retry is not None
    assert [(a.outcome, a.payment_intent) for a in retry.attempts] == [("no_card", None)]
    assert api.v1.payment_intents.list({"customer": customer}).data == []
    assert all(world.run(day) == [] for day in range(1, 9))
