"""The invoice service over in-memory stores: drafts, numbering, retries, payments, credit notes,
one invoice per subscription period, and the seller settings service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tally.billing.credit_notes import CreditNoteIn
from tally.billing.invoices import InvoiceRefused, Payment
from tally.clock import FixedClock
from tally.errors import InvalidInput, NotFound, ServiceUnavailable
from tally.invoices.ports import Listing
from tally.invoices.service import DraftChanges, DraftIn, InvoiceService, SellerSettingsService
from tests.support.billing import CONTEXT
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
    assert [n.number for n in world.service.credit_notes(invoice_id)] == [
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
