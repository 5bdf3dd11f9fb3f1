"""Invoices against moto: gapless numbers under 50 concurrent finalisations, idempotent
finalisation, void keeping its number, one invoice per subscription period, credit notes,
listings, and the seller settings, with their audit records."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from tally.accounts.dynamo.table import BillingTable
from tally.billing import subscription_state
from tally.billing.credit_notes import CreditNoteIn
from tally.billing.invoices import Payment
from tally.billing.periods import Period
from tally.clock import FixedClock
from tally.errors import InvalidInput
from tally.invoices.dynamo import DynamoInvoiceStore, DynamoSellerStore
from tally.invoices.ports import Listing
from tally.invoices.service import DraftIn, InvoiceService, SellerSettingsService
from tally.storage import clients, keys
from tally.storage.items import from_item
from tally.subscriptions.dynamo import DynamoSubscriptionStore
from tests.support.billing import CONTEXT
from tests.support.invoices import AT, SELLER, InMemoryCustomers
from tests.support.stack import Stack


class World:
    def __init__(self, stack: Stack) -> None:
        self.clock = FixedClock(AT)
        self.table = BillingTable(clients.dynamodb(), stack.ref("BillingTable"), self.clock)
        self.store = DynamoInvoiceStore(self.table)
        self.settings = SellerSettingsService(DynamoSellerStore(self.table))
        self.service = InvoiceService(self.store, self.settings, InMemoryCustomers(), clock=self.clock)

    def draft(self, **extra: Any) -> str:
        body = {
            "account_id": "acc1",
            "currency": "EUR",
            "lines": [{"description": "Gold", "unit_amount": 19900}],
        }
        return self.service.create_draft(DraftIn.model_validate(body | extra), CONTEXT).id

    def audit_actions(self, entity_id: str) -> list[str]:
        answer = self.table.client.query(
            TableName=self.table.name,
            IndexName="GSI2",
            KeyConditionExpression="GSI2PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.audit_entity_pk("invoice", entity_id)}},
        )
        return [str(from_item(item)["action"]) for item in answer["Items"]]


def test_fifty_concurrent_finalisations_take_the_next_fifty_numbers_once_each(stack: Stack) -> None:
    world = World(stack)
    world.service.finalize(world.draft(), CONTEXT)  # the sequence is at 1 already
    drafts = [world.draft() for _ in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        numbers = list(
            pool.map(lambda invoice_id: world.service.finalize(invoice_id, CONTEXT).number, drafts)
        )
    assert sorted(numbers) == [f"INV-202604-{n:05d}" for n in range(2, 52)]  # type: ignore[type-var]
    stored = {invoice_id: world.store.get(invoice_id) for invoice_id in drafts}
    assert sorted(str(invoice.number) for invoice in stored.values() if invoice) == sorted(map(str, numbers))
    assert world.store.sequence_value("INV#2026-04") == 51
    # Each invoice was finalised once, with its audit record.
    assert world.audit_actions(drafts[0]).count("invoice.finalized") == 1


def test_finalising_twice_gives_the_same_number_and_void_keeps_it(stack: Stack) -> None:
    world = World(stack)
    invoice_id = world.draft()
    first = world.service.finalize(invoice_id, CONTEXT)
    again = world.service.finalize(invoice_id, CONTEXT)
    assert first.number == again.number == "INV-202604-00001"
    voided = world.service.void(invoice_id, "Issued by mistake", CONTEXT)
    assert voided.number == "INV-202604-00001"
    stored = world.store.get(invoice_id)
    assert stored is not None
    assert (stored.status, stored.number) == ("void", "INV-202604-00001")
    assert world.service.finalize(world.draft(), CONTEXT).number == "INV-202604-00002"
    assert sorted(world.audit_actions(invoice_id)) == [
        "invoice.created",
        "invoice.finalized",
        "invoice.voided",
    ]


def test_one_invoice_per_subscription_period(stack: Stack) -> None:
    world = World(stack)
    period = {"subscription_id": "sub_1", "period_start": AT, "period_end": AT + timedelta(days=30)}
    first = world.draft(**period)
    assert world.draft(**period) == first
    next_period = {"period_start": AT + timedelta(days=30), "period_end": AT + timedelta(days=60)}
    assert world.draft(**period | next_period) != first


def test_payments_and_credit_notes_are_stored_with_the_invoice(stack: Stack) -> None:
    world = World(stack)
    invoice_id = world.draft()
    world.service.finalize(invoice_id, CONTEXT)  # 23 880
    payment = Payment(amount=10000, method="bank_transfer", reference="VIR-1", received_at=AT)
    assert world.service.record_payment(invoice_id, payment, CONTEXT).amount_due == 13880
    note, invoice = world.service.issue_credit_note(
        invoice_id, CreditNoteIn(reason="Outage", amount=880), CONTEXT
    )
    assert (note.number, invoice.amount_due) == ("CN-202604-00001", 13000)
    with pytest.raises(InvalidInput, match="more than the 13000 due"):
        world.service.record_payment(
            invoice_id, payment.model_copy(update={"amount": 13001, "reference": "VIR-2"}), CONTEXT
        )
    paid = world.service.record_payment(
        invoice_id, payment.model_copy(update={"amount": 13000, "reference": "VIR-2"}), CONTEXT
    )
    assert paid.status == "paid"
    assert world.store.get(invoice_id) == paid
    assert [n.number for n in world.service.credit_notes(world.service.get(invoice_id))] == [
        "CN-202604-00001"
    ]
    # A paid invoice leaves the due index (dunning reads only open ones).
    item = world.table.get(keys.invoice(invoice_id))
    assert item is not None
    assert "DUEPK" not in item


def test_listings_newest_first_with_cursors(stack: Stack) -> None:
    world = World(stack)
    ids = []
    for minutes in range(5):
        world.clock.at = AT + timedelta(minutes=minutes)
        ids.append(world.draft(account_id="acc1"))
    world.service.finalize(ids[1], CONTEXT)
    world.service.finalize(ids[3], CONTEXT)
    seen: list[str] = []
    cursor = None
    while True:
        page = world.service.page(Listing(account_id="acc1", limit=2, cursor=cursor))
        seen += [invoice.id for invoice in page.invoices]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert seen == ids[::-1]
    opened = world.service.page(Listing(account_id="acc1", status="open"))
    assert [invoice.id for invoice in opened.invoices] == [ids[3], ids[1]]
    # The platform's view merges the statuses newest first, page by page.
    seen, cursor = [], None
    for _ in range(5):
        page = world.service.page(Listing(limit=2, cursor=cursor))
        seen += [invoice.id for invoice in page.invoices]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == ids[::-1]
    window = world.service.page(Listing(start=AT + timedelta(minutes=1), end=AT + timedelta(minutes=3)))
    assert [invoice.id for invoice in window.invoices] == [ids[2], ids[1]]
    drafts = world.service.page(Listing(status="draft"))
    assert [invoice.id for invoice in drafts.invoices] == [ids[4], ids[2], ids[0]]


def test_seller_settings_default_until_saved_then_audited(stack: Stack) -> None:
    world = World(stack)
    assert world.settings.current() == SELLER
    data = SELLER.model_dump(mode="json") | {"payment_terms_days": 30}
    saved = world.settings.replace(data, CONTEXT)
    assert world.settings.current() == saved
    assert saved.payment_terms_days == 30
    assert world.settings.current().tax_rate("sn_vat_18").rate == SELLER.tax_rate("sn_vat_18").rate
    world.settings.replace(data | {"payment_terms_days": 45}, CONTEXT)
    assert world.settings.current().payment_terms_days == 45


def test_paying_the_first_invoice_activates_the_subscription_in_the_same_transaction(stack: Stack) -> None:
    world = World(stack)
    subscriptions = DynamoSubscriptionStore(world.table)
    subscription = subscription_state.start_incomplete(
        id="sub_1",
        account_id="acc1",
        plan_code="gold",
        plan_version=1,
        cycle="monthly",
        currency="EUR",
        time_zone="Europe/Paris",
        period=Period(0, AT, AT + timedelta(days=30)),
        at=AT,
    )
    subscriptions.create(subscription, None, None, CONTEXT)
    world.service = InvoiceService(
        world.store, world.settings, InMemoryCustomers(), subscriptions=subscriptions, clock=world.clock
    )
    invoice_id = world.draft(subscription_id="sub_1", period_start=AT, period_end=AT + timedelta(days=30))
    invoice = world.service.finalize(invoice_id, CONTEXT)
    payment = Payment(amount=invoice.amount_due, method="bank_transfer", reference="VIR-9", received_at=AT)
    assert world.service.record_payment(invoice_id, payment, CONTEXT).status == "paid"
    current = subscriptions.current("acc1")
    assert current is not None
    assert current.status == "active"


def test_a_filtered_account_listing_pages_to_its_end_and_bad_cursors_are_refused(stack: Stack) -> None:
    world = World(stack)
    ids = []
    for minutes in range(6):
        world.clock.at = AT + timedelta(minutes=minutes)
        ids.append(world.draft())
    world.service.finalize(ids[0], CONTEXT)
    seen: list[str] = []
    cursor = None
    for _ in range(10):  # pages of two, mostly drafts filtered out: short or empty pages go on
        page = world.service.page(Listing(account_id="acc1", status="open", limit=2, cursor=cursor))
        seen += [invoice.id for invoice in page.invoices]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [ids[0]]
    assert cursor is None
    other = world.service.page(Listing(account_id="acc1", limit=2)).cursor
    assert other is not None
    with pytest.raises(InvalidInput) as refused:
        world.service.page(Listing(account_id="acc2", cursor=other))  # another account's cursor
    assert refused.value.field == "cursor"
    with pytest.raises(InvalidInput):
        world.service.page(Listing(cursor="bm90IGEgY3Vyc29y"))
