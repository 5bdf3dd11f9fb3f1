"""The invoice service over in-memory stores: drafts, numbering, retries, payments, credit notes,
one invoice per subscription period, and the seller settings service."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tally.accounts.domain import Account
from tally.billing import subscription_state
from tally.billing.credit_notes import CreditNoteIn
from tally.billing.invoices import InvoiceRefused, Payment
from tally.billing.periods import Period
from tally.clock import FixedClock
from tally.errors import InvalidInput, NotFound, ServiceUnavailable
from tally.invoices.ports import Listing
from tally.invoices.service import DraftChanges, DraftIn, InvoiceService, SellerSettingsService
from tests.support.billing import CONTEXT, InMemoryAccounts, InMemorySubscriptionStore
from tests.support.invoices import (
    AT,
    SELLER,
    InMemoryCustomers,
    InMemoryInvoiceStore,
    InMemorySellerStore,
)


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(AT)
        self.store = InMemoryInvoiceStore()
        self.seller_store = InMemorySellerStore()
        self.settings = SellerSettingsService(self.seller_store)
        self.pauses: list[int] = []
        self.service = InvoiceService(
            self.store, self.settings, InMemoryCustomers(), clock=self.clock, pause=self.pauses.append
        )

    def draft(self, **extra: Any) -> str:
        body = {
            "account_id": "acc1",
            "currency": "EUR",
            "lines": [{"description": "Silver, April", "unit_amount": 7900}],
        }
        return self.service.create_draft(DraftIn.model_validate(body | extra), CONTEXT).id


def test_finalising_draws_the_next_numbers_and_twice_gives_the_same() -> None:
    world = World()
    first, second = world.draft(), world.draft()
    assert world.store.invoices[first].number is None
    one = world.service.finalize(first, CONTEXT)
    two = world.service.finalize(second, CONTEXT)
    assert (one.number, two.number) == ("INV-202604-00001", "INV-202604-00002")
    assert world.service.finalize(first, CONTEXT).number == "INV-202604-00001"
    assert world.store.sequences == {"INV#2026-04": 2}
    assert one.seller == SELLER
    assert one.customer is not None
    assert one.customer.name == "Acme SARL"


def test_a_lost_draw_is_retried_with_the_next_number() -> None:
    world = World()
    invoice_id = world.draft()

    def another_finalisation() -> None:
        world.store.sequences["INV#2026-04"] = 7

    world.store.interfere = another_finalisation
    assert world.service.finalize(invoice_id, CONTEXT).number == "INV-202604-00008"
    assert world.pauses == [0]


def test_draws_are_bounded() -> None:
    world = World()
    world.service = InvoiceService(
        world.store,
        world.settings,
        InMemoryCustomers(),
        clock=world.clock,
        pause=lambda _: None,
        max_attempts=3,
    )
    invoice_id = world.draft()
    original = world.store._draw

    def always_moved(key: str, drawn: int) -> None:
        world.store.sequences[key] = drawn
        original(key, drawn)

    world.store._draw = always_moved  # type: ignore[method-assign,assignment]
    with pytest.raises(ServiceUnavailable, match="numbering is busy"):
        world.service.finalize(invoice_id, CONTEXT)


def test_the_sequence_resets_each_month_in_the_sellers_zone() -> None:
    world = World()
    world.service.finalize(world.draft(), CONTEXT)
    world.clock.at = AT.replace(day=30, hour=22, minute=30)  # 1 May, 00:30 in Paris
    assert world.service.finalize(world.draft(), CONTEXT).number == "INV-202605-00001"


def test_the_number_format_and_terms_come_from_the_stored_settings() -> None:
    world = World()
    data = SELLER.model_dump(mode="json")
    data["invoice_numbering"] = {"format": "F{YY}-{NNN}", "reset": "yearly"}
    data["payment_terms_days"] = 30
    world.settings.replace(data, CONTEXT)
    invoice = world.service.finalize(world.draft(), CONTEXT)
    assert invoice.number == "F26-001"
    assert invoice.due_date == AT.date() + timedelta(days=30)


def test_bad_settings_are_refused_naming_the_field_and_store_nothing() -> None:
    world = World()
    data = SELLER.model_dump(mode="json") | {"payment_terms_days": -1}
    with pytest.raises(InvalidInput) as refused:
        world.settings.replace(data, CONTEXT)
    assert refused.value.field == "payment_terms_days"
    assert world.seller_store.writes == 0
    assert world.settings.current() == SELLER


def test_one_invoice_per_subscription_period() -> None:
    world = World()
    period = {
        "subscription_id": "sub_1",
        "period_start": AT.isoformat(),
        "period_end": (AT + timedelta(days=30)).isoformat(),
    }
    first = world.draft(**period)
    again = world.draft(**period | {"lines": [{"description": "Other", "unit_amount": 1}]})
    assert again == first
    assert len(world.store.invoices) == 1


def test_drafts_change_until_finalised() -> None:
    world = World()
    invoice_id = world.draft()
    changes = DraftChanges.model_validate(
        {"memo": "Merci", "lines": [{"description": "x", "unit_amount": 100}]}
    )
    changed = world.service.update_draft(invoice_id, changes, CONTEXT)
    assert (changed.memo, changed.total) == ("Merci", 120)
    world.service.finalize(invoice_id, CONTEXT)
    with pytest.raises(InvoiceRefused, match="An open invoice cannot be changed"):
        world.service.update_draft(invoice_id, changes, CONTEXT)


def test_unknown_accounts_and_invoices_are_not_found() -> None:
    world = World()
    with pytest.raises(NotFound, match="No account 'nobody'"):
        world.draft(account_id="nobody")
    with pytest.raises(NotFound, match="No invoice 'inv_x'"):
        world.service.finalize("inv_x", CONTEXT)


def test_payments_void_and_uncollectible_through_the_service() -> None:
    world = World()
    invoice_id = world.draft()
    world.service.finalize(invoice_id, CONTEXT)
    pay = Payment(amount=4000, method="bank_transfer", reference="VIR-1", received_at=AT)
    assert world.service.record_payment(invoice_id, pay, CONTEXT).amount_due == 5480
    with pytest.raises(InvalidInput, match="more than the 5480 due"):
        world.service.record_payment(
            invoice_id, pay.model_copy(update={"amount": 6000, "reference": "2"}), CONTEXT
        )
    paid = world.service.record_payment(
        invoice_id, pay.model_copy(update={"amount": 5480, "reference": "2"}), CONTEXT
    )
    assert paid.status == "paid"
    other = world.draft()
    world.service.finalize(other, CONTEXT)
    assert world.service.mark_uncollectible(other, "Gone", CONTEXT).status == "uncollectible"
    voided = world.service.void(other, "Duplicate", CONTEXT)
    assert (voided.status, voided.number) == ("void", "INV-202604-00002")
    assert world.store.actions.count("invoice.finalized") == 2


def test_credit_notes_have_their_own_gapless_sequence() -> None:
    world = World()
    invoice_id = world.draft()
    world.service.finalize(invoice_id, CONTEXT)
    request = CreditNoteIn(reason="Outage", amount=1000)
    note, invoice = world.service.issue_credit_note(invoice_id, request, CONTEXT)
    assert note.number == "CN-202604-00001"
    assert invoice.amount_due == 9480 - 1000
    second, _ = world.service.issue_credit_note(invoice_id, request, CONTEXT)
    assert second.number == "CN-202604-00002"
    assert [n.number for n in world.service.credit_notes(world.service.get(invoice_id))] == [
        "CN-202604-00001",
        "CN-202604-00002",
    ]
    with pytest.raises(InvalidInput, match="more than what is left"):
        world.service.issue_credit_note(invoice_id, CreditNoteIn(reason="x", amount=7481), CONTEXT)
    assert world.store.sequences["CN#2026-04"] == 2


def test_listing_newest_first_by_account_and_status() -> None:
    world = World()
    ids = []
    for minutes in range(3):
        world.clock.at = AT + timedelta(minutes=minutes)
        ids.append(world.draft())
    world.service.finalize(ids[0], CONTEXT)
    page = world.service.page(Listing(account_id="acc1", limit=2))
    assert [invoice.id for invoice in page.invoices] == [ids[2], ids[1]]
    assert page.cursor is not None
    rest = world.service.page(Listing(account_id="acc1", limit=2, cursor=page.cursor))
    assert [invoice.id for invoice in rest.invoices] == [ids[0]]
    opened = world.service.page(Listing(status="open"))
    assert [invoice.id for invoice in opened.invoices] == [ids[0]]
    with pytest.raises(InvalidInput, match="'to' must be after 'from'"):
        world.service.page(Listing(start=AT, end=AT))


def _subscribed(status: str) -> tuple[World, InMemorySubscriptionStore, InMemoryAccounts]:
    world = World()
    account = Account("acc1", "Acme", "a@example.com", "SN", "XOF", AT, status="pending")
    accounts = InMemoryAccounts(account)
    subscriptions = InMemorySubscriptionStore(accounts)
    period = Period(0, AT, AT + timedelta(days=30))
    subscription = subscription_state.start_incomplete(
        id="sub_1",
        account_id="acc1",
        plan_code="silver",
        plan_version=1,
        cycle="monthly",
        currency="EUR",
        time_zone="Europe/Paris",
        period=period,
        at=AT,
    )
    if status == "past_due":
        subscription = subscription_state.payment_failed(subscription_state.activate(subscription))
        accounts.accounts["acc1"] = replace(account, status="active")
    subscriptions.subscriptions["sub_1"] = subscription
    subscriptions.pointers["acc1"] = "sub_1"
    world.store.subscriptions = subscriptions
    world.service = InvoiceService(
        world.store,
        world.settings,
        InMemoryCustomers(),
        subscriptions=subscriptions,
        accounts=accounts,
        clock=world.clock,
        pause=world.pauses.append,
    )
    return world, subscriptions, accounts


def _status(subscriptions: InMemorySubscriptionStore) -> str:
    return subscriptions.subscriptions["sub_1"].status


def _subscription_invoice(world: World) -> str:
    invoice_id = world.draft(
        subscription_id="sub_1", period_start=AT.isoformat(), period_end=(AT + timedelta(days=30)).isoformat()
    )
    world.service.finalize(invoice_id, CONTEXT)
    return invoice_id


def test_paying_the_first_invoice_activates_an_incomplete_subscription() -> None:
    world, subscriptions, accounts = _subscribed("incomplete")
    invoice_id = _subscription_invoice(world)  # 9 480
    part = Payment(amount=4000, method="bank_transfer", reference="VIR-1", received_at=AT)
    world.service.record_payment(invoice_id, part, CONTEXT)
    assert _status(subscriptions) == "incomplete"
    rest = part.model_copy(update={"amount": 5480, "reference": "VIR-2"})
    world.service.record_payment(invoice_id, rest, CONTEXT)
    assert _status(subscriptions) == "active"
    assert subscriptions.actions == ["subscription.activated"]
    assert accounts.accounts["acc1"].status == "active"


def test_paying_a_past_due_invoice_restores_the_subscription() -> None:
    world, subscriptions, _accounts = _subscribed("past_due")
    invoice_id = _subscription_invoice(world)
    payment = Payment(amount=9480, method="cash", reference="R1", received_at=AT)
    world.service.record_payment(invoice_id, payment, CONTEXT)
    assert _status(subscriptions) == "active"
    assert subscriptions.actions == ["subscription.payment_recovered"]


def test_a_credit_note_that_pays_the_invoice_activates_too() -> None:
    world, subscriptions, _accounts = _subscribed("incomplete")
    invoice_id = _subscription_invoice(world)
    world.service.issue_credit_note(invoice_id, CreditNoteIn(reason="Goodwill", amount=9480), CONTEXT)
    assert _status(subscriptions) == "active"


def test_an_invoice_without_a_subscription_moves_none() -> None:
    world, subscriptions, _accounts = _subscribed("incomplete")
    invoice_id = world.draft()
    world.service.finalize(invoice_id, CONTEXT)
    world.service.record_payment(
        invoice_id, Payment(amount=9480, method="cash", reference="R1", received_at=AT), CONTEXT
    )
    assert _status(subscriptions) == "incomplete"


def test_voiding_a_past_due_invoice_restores_the_subscription_but_never_activates() -> None:
    world, subscriptions, _accounts = _subscribed("past_due")
    world.service.void(_subscription_invoice(world), "Issued by mistake", CONTEXT)
    assert _status(subscriptions) == "active"
    assert subscriptions.actions == ["subscription.payment_recovered"]
    # Voiding the first invoice of an incomplete subscription pays nothing: it stays incomplete.
    world, subscriptions, _accounts = _subscribed("incomplete")
    world.service.void(_subscription_invoice(world), None, CONTEXT)
    assert _status(subscriptions) == "incomplete"


def test_marking_uncollectible_restores_nothing() -> None:
    world, subscriptions, _accounts = _subscribed("past_due")
    world.service.mark_uncollectible(_subscription_invoice(world), "Written off", CONTEXT)
    assert _status(subscriptions) == "past_due"
    assert subscriptions.actions == []
