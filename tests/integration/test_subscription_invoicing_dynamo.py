"""A subscription's period invoice against moto: a round trip through the subscription, invoice
and usage stores (pending proration stored with the change, usage read where the usage half
keys it), and ten concurrent calls at the period's end making exactly one invoice and one
rollover, all answering it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tally.accounts.domain import Account
from tally.accounts.dynamo.table import BillingTable
from tally.billing.catalogue_files import load_catalogue
from tally.billing.invoices import Invoice
from tally.billing.metrics import MeteredEvent, contribution
from tally.clock import FixedClock
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.service import SellerSettingsService
from tally.invoices.subscription import SubscriptionInvoicing
from tally.plans.dynamo import DynamoPlanStore
from tally.plans.service import CatalogueService
from tally.storage import clients, keys
from tally.storage.items import from_item
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tally.subscriptions.service import SubscriptionService
from tally.usage.dynamo import DynamoUsageStore
from tests.support.billing import CONTEXT, InMemoryAccounts
from tests.support.stack import Stack

AT = datetime(2026, 4, 11, 10, tzinfo=UTC)
MAY = datetime(2026, 5, 11, 10, tzinfo=UTC)
JUNE = datetime(2026, 6, 11, 10, tzinfo=UTC)


class World:
    def __init__(self, stack: Stack) -> None:
        self.clock = FixedClock(AT)
        self.table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"), self.clock)
        catalogue = CatalogueService(DynamoPlanStore(self.table), self.clock)
        smartqueue = load_catalogue("smartqueue")
        catalogue.import_catalogue(smartqueue, CONTEXT)
        self.usage = DynamoUsageStore(self.table.client, self.table.name)
        for metric in smartqueue.metrics:
            self.usage.seed_metric(metric)
        self.metrics = {metric.code: metric for metric in smartqueue.metrics}
        account = Account("acc1", "Acme", "a@example.com", "SN", "XOF", AT, status="active")
        accounts = InMemoryAccounts(account)
        self.subscriptions = DynamoSubscriptionStore(self.table)
        self.service = SubscriptionService(
            self.subscriptions, catalogue, accounts, time_zone="Africa/Dakar", clock=self.clock
        )
        self.invoices = DynamoInvoiceStore(self.table)
        self.invoicing = SubscriptionInvoicing(
            self.subscriptions,
            self.invoices,
            SellerSettingsService(DynamoSellerStore(self.table)),
            catalogue,
            self.usage,
            accounts,
            clock=self.clock,
        )

    def send(self, event_id: str, quantity: int, at: datetime) -> None:
        """One usage event, stored as the usage service stores it (its period's key)."""
        metric = self.metrics["sms"]
        step = contribution(metric, MeteredEvent(at, Decimal(quantity)))
        self.usage.record("acc1", event_id, "2026-04", step, "sms", None, {"status": 202}, at)

    def audit_actions(self, entity_type: str, entity_id: str) -> list[str]:
        answer = self.table.client.query(
            TableName=self.table.name,
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.audit_entity_pk(entity_type, entity_id)}},
        )
        return sorted(str(from_item(item)["action"]) for item in answer["Items"])


def test_a_period_invoice_round_trip_and_ten_concurrent_calls_make_one(stack: Stack) -> None:
    world = World(stack)
    subscription = world.service.start("acc1", "essential", "monthly", "XOF", CONTEXT, active_reason="Deal")
    april, created = world.invoicing.invoice("acc1", CONTEXT)
    assert created
    assert [line.amount for line in april.lines] == [15000]
    assert world.invoices.get(april.id) == april

    # Usage of April, then an upgrade 10 days in: its proration is stored with the change.
    for n in range(3):
        world.send(f"e{n}", 1000, AT + timedelta(days=n))
    world.clock.at = AT + timedelta(days=10)
    world.service.change("acc1", "professional", None, None, CONTEXT)
    stored = world.subscriptions.current("acc1")
    assert stored is not None
    assert [line.amount for line in stored.pending_lines] == [-10000, 30000]

    # The period ends: ten calls at once make one invoice, roll over once, and all answer it.
    world.clock.at = MAY + timedelta(minutes=5)
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers: list[tuple[Invoice, bool]] = list(
            pool.map(lambda _: world.invoicing.invoice("acc1", CONTEXT), range(10))
        )
    invoices = {invoice.id for invoice, _ in answers}
    assert len(invoices) == 1
    assert sum(created for _, created in answers) == 1
    may = answers[0][0]
    assert world.invoices.get(may.id) == may
    assert (may.period_start, may.period_end) == (MAY, JUNE)
    assert [line.amount for line in may.lines] == [45000, -10000, 30000, 40000]  # 3000 - 1000 included, x 20
    assert may.lines[3].description.startswith("SMS notifications sent: 3000, 1000 included")
    assert (may.lines[3].period_start, may.lines[3].period_end) == (AT, MAY)

    rolled = world.subscriptions.current("acc1")
    assert rolled is not None
    assert (rolled.current_period_start, rolled.current_period_end, rolled.pending_lines) == (MAY, JUNE, ())
    pointer = world.table.get(keys.current_subscription("acc1"))
    assert pointer is not None
    # The pointer the usage half reads has the new period.
    assert datetime.fromisoformat(from_item(pointer)["current_period_start"]) == MAY
    claim = world.table.get(keys.subscription_invoice_claim(subscription.id, MAY))
    assert claim is not None
    assert from_item(claim)["invoice_id"] == may.id
    assert world.audit_actions("subscription", subscription.id).count("subscription.renewed") == 1
    assert world.audit_actions("invoice", may.id) == ["invoice.created"]

    # Asked again later in the period: the same invoice, nothing written.
    world.clock.at = MAY + timedelta(days=3)
    assert world.invoicing.invoice("acc1", CONTEXT) == (may, False)
