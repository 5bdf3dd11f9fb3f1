"""The pure invoice domain: lines priced half-up, taxes included or not, the status machine."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.billing import invoices as machine
from tally.billing.charges import ChargeLine
from tally.billing.invoice_lines import allocate, percent_off, spread_amount_off
from tally.billing.invoices import InvoiceRefused, Payment
from tally.billing.periods import Period
from tally.billing.proration import ProrationLine
from tally.billing.subscription_invoice import subscription_lines
from tally.errors import Conflict, InvalidInput
from tests.support.invoices import AT, CUSTOMER, INCLUSIVE, SELLER, draft, line


def _open(*lines: object, **extra: object) -> machine.Invoice:
    invoice = draft(*lines, **extra)  # type: ignore[arg-type]
    return machine.finalize(invoice, number="INV-202604-00001", at=AT, seller=SELLER, customer=CUSTOMER)


def _pay(amount: int, reference: str = "VIR-1") -> Payment:
    return Payment(amount=amount, method="bank_transfer", reference=reference, received_at=AT)


def test_a_line_is_quantity_times_unit_rounded_half_up() -> None:
    invoice = draft(line(5, "0.5"), line(1999, 3))
    assert [item.amount for item in invoice.lines] == [3, 5997]  # 2.5 -> 3, not banker's 2


def test_tax_excluded_rounds_each_line_half_up_and_sums_per_rate() -> None:
    invoice = draft(line(25, tax_rate="sn_vat_18"), currency="XOF")
    assert invoice.lines[0].tax == 5  # 25 x 0.18 = 4.5 -> 5
    two = draft(line(13, tax_rate="sn_vat_18"), line(13, tax_rate="sn_vat_18"), currency="XOF")
    # DESIGN "Money": a rate's tax is the sum of its lines' taxes (2 + 2), not 26 x 0.18 rounded.
    assert [(tax.tax_rate, tax.taxable, tax.tax) for tax in two.taxes] == [("sn_vat_18", 26, 4)]
    assert (two.subtotal, two.tax_total, two.total, two.amount_due) == (26, 4, 30, 30)


def test_taxes_are_grouped_per_rate() -> None:
    invoice = draft(line(10000), line(5000, tax_rate="exempt"), line(2000))
    assert [(t.tax_rate, t.taxable, t.tax) for t in invoice.taxes] == [
        ("fr_vat_20", 12000, 2400),
        ("exempt", 5000, 0),
    ]
    assert invoice.total == 19400
    assert invoice.total_excluding_tax == 17000


def test_prices_including_tax_extract_the_tax() -> None:
    invoice = draft(line(1200), settings=INCLUSIVE)
    assert (invoice.lines[0].net, invoice.lines[0].tax, invoice.total) == (1000, 200, 1200)
    xof = draft(line(15000, tax_rate="sn_vat_18"), currency="XOF", settings=INCLUSIVE)
    assert (xof.lines[0].net, xof.lines[0].tax, xof.total) == (12712, 2288, 15000)  # 2288.135...
    assert xof.prices_include_tax


def test_an_amount_off_never_takes_a_line_below_zero() -> None:
    invoice = draft(line(1000, discount=1500), line(4000, discount=500))
    assert [item.discount for item in invoice.lines] == [1000, 500]
    assert [item.total for item in invoice.lines] == [0, 4200]
    assert (invoice.subtotal, invoice.discount_total, invoice.total) == (5000, 1500, 4200)


def test_a_line_in_another_currency_is_refused_in_words() -> None:
    with pytest.raises(InvalidInput, match="This line is in EUR but the invoice is in XOF") as refused:
        draft(line(15000), line(100, currency="EUR"), currency="XOF")
    assert refused.value.field == "lines.1.currency"


def test_a_negative_total_and_an_unknown_rate_are_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot be negative"):
        draft(line(-1965))
    with pytest.raises(InvalidInput, match="not a tax rate") as refused:
        draft(line(100, tax_rate="de_vat_19"))
    assert refused.value.field == "lines.0.tax_rate"


def test_a_proration_credit_line_is_allowed_when_the_total_stays_positive() -> None:
    invoice = draft(line(-1965), line(5352), line(7900))
    assert invoice.total_excluding_tax == 11287  # DESIGN's worked example: 112.87 €


def test_finalising_numbers_freezes_details_and_sets_the_due_date() -> None:
    invoice = _open(line(10000))
    assert invoice.status == "open"
    assert invoice.number == "INV-202604-00001"
    assert invoice.seller == SELLER
    assert invoice.customer == CUSTOMER
    assert invoice.due_date == date(2026, 4, 26)  # 15 days of payment terms
    custom = _open(line(10000), due_days=30)
    assert custom.due_date == AT.date() + timedelta(days=30)


def test_the_due_date_counts_from_the_sellers_local_day() -> None:
    late = AT.replace(hour=23)  # 1 a.m. on the 12th in Paris
    invoice = machine.finalize(draft(), number="N-1", at=late, seller=SELLER, customer=CUSTOMER)
    assert invoice.due_date == date(2026, 4, 27)


def test_a_zero_invoice_is_paid_at_finalisation_like_stripe() -> None:
    invoice = _open(line(1000, discount=1000))
    assert invoice.status == "paid"
    assert invoice.paid_at == AT


def test_partial_then_full_payment_pays_the_invoice() -> None:
    invoice = _open(line(10000))  # 12 000 with VAT
    invoice = machine.record_payment(invoice, _pay(5000), at=AT)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("open", 5000, 7000)
    invoice = machine.record_payment(invoice, _pay(7000, "VIR-2"), at=AT)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("paid", 12000, 0)
    assert invoice.paid_at == AT
    assert [p.reference for p in invoice.payments] == ["VIR-1", "VIR-2"]


def test_a_payment_above_the_amount_due_is_refused_in_words() -> None:
    invoice = machine.record_payment(_open(line(10000)), _pay(5000), at=AT)
    with pytest.raises(InvalidInput, match="A payment of 7001 is more than the 7000 due") as refused:
        machine.record_payment(invoice, _pay(7001, "VIR-2"), at=AT)
    assert refused.value.field == "amount"


def test_the_same_payment_twice_is_refused() -> None:
    invoice = machine.record_payment(_open(line(10000)), _pay(5000), at=AT)
    with pytest.raises(Conflict, match="reference 'VIR-1' is recorded on this invoice already"):
        machine.record_payment(invoice, _pay(10), at=AT)


def test_void_keeps_the_number() -> None:
    invoice = machine.void(_open(line(10000)), at=AT, reason="Duplicate")
    assert (invoice.status, invoice.number, invoice.amount_due) == ("void", "INV-202604-00001", 0)


def test_an_uncollectible_invoice_can_still_be_paid() -> None:
    invoice = machine.mark_uncollectible(_open(line(10000)), at=AT)
    assert invoice.status == "uncollectible"
    assert machine.record_payment(invoice, _pay(12000), at=AT).status == "paid"


@pytest.mark.parametrize(
    ("status", "act", "words"),
    [
        ("draft", "pay", "A draft invoice cannot take a payment: finalise it first"),
        ("draft", "void", "A draft invoice cannot be voided: it has no number yet"),
        ("draft", "uncollectible", "A draft invoice cannot be marked uncollectible: finalise it first"),
        ("open", "finalize", "An open invoice cannot be finalised: it is finalised already"),
        ("open", "update", "An open invoice cannot be changed: it is finalised already; only drafts can"),
        ("paid", "pay", "A paid invoice cannot take a payment: it is paid in full already"),
        ("paid", "void", "A paid invoice cannot be voided: it is paid; issue a credit note instead"),
        ("paid", "uncollectible", "A paid invoice cannot be marked uncollectible: only open invoices can"),
        ("void", "pay", "A void invoice cannot take a payment: only open or uncollectible invoices can"),
        ("void", "void", "A void invoice cannot be voided: only open or uncollectible invoices can"),
        ("void", "update", "A void invoice cannot be changed"),
        ("uncollectible", "uncollectible", "An uncollectible invoice cannot be marked uncollectible"),
        ("partly_paid", "void", "An open invoice cannot be voided: payments are recorded on it"),
    ],
)
def test_every_refused_transition_says_why(status: str, act: str, words: str) -> None:
    invoices = {
        "draft": draft(),
        "open": _open(),
        "paid": machine.record_payment(_open(), _pay(12000), at=AT),
        "void": machine.void(_open(), at=AT),
        "uncollectible": machine.mark_uncollectible(_open(), at=AT),
        "partly_paid": machine.record_payment(_open(), _pay(1), at=AT),
    }
    invoice = invoices[status]
    actions = {
        "pay": lambda: machine.record_payment(invoice, _pay(1, "X"), at=AT),
        "void": lambda: machine.void(invoice, at=AT),
        "uncollectible": lambda: machine.mark_uncollectible(invoice, at=AT),
        "finalize": lambda: machine.finalize(invoice, number="N", at=AT, seller=SELLER, customer=CUSTOMER),
        "update": lambda: machine.update_draft(invoice, SELLER, memo="x"),
    }
    with pytest.raises(InvoiceRefused, match=words) as refused:
        actions[act]()
    assert refused.value.status_code == 409


def test_updating_a_draft_reprices_its_lines() -> None:
    invoice = machine.update_draft(draft(line(100)), SELLER, lines=[line(200)], memo="Thanks")
    assert (invoice.total, invoice.memo) == (240, "Thanks")
    assert machine.update_draft(invoice, SELLER, due_days=None).memo == "Thanks"


def test_allocate_splits_exactly() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(7, [0, 5, 5]) == [0, 4, 3]
    assert sum(allocate(999, [3, 7, 11])) == 999


def test_finalising_prices_the_lines_again_with_the_frozen_rates() -> None:
    invoice = draft(line(1200))  # 1 200 + 240 of VAT, priced excluding tax
    frozen = machine.finalize(invoice, number="N-1", at=AT, seller=INCLUSIVE, customer=CUSTOMER)
    assert (frozen.total, frozen.tax_total, frozen.amount_due) == (1200, 200, 1200)
    assert frozen.prices_include_tax


def test_an_amount_off_is_spread_over_the_lines_without_taking_one_below_zero() -> None:
    lines = [line(1000), line(3000), line(-500), line(1000, discount=1000)]
    spread = spread_amount_off(lines, 2000)
    assert [item.discount for item in spread] == [500, 1500, 0, 1000]
    capped = spread_amount_off(lines, 10_000)
    assert [item.discount for item in capped] == [1000, 3000, 0, 1000]
    assert draft(*capped[:2]).total == 0


def test_a_percentage_off_rounds_half_up_per_line() -> None:
    lines = percent_off([line(25), line(15000), line(-100)], Decimal("10"))
    assert [item.discount for item in lines] == [3, 1500, 0]  # 2.5 -> 3


def test_a_subscription_periods_lines() -> None:
    period = Period(0, AT, AT + timedelta(days=30))
    usage = ChargeLine(
        metric="sms",
        model="standard",
        currency="XOF",
        usage=Decimal(1200),
        included_units=1000,
        billable=Decimal(200),
        amount=5000,
        description="SMS",
    )
    proration = ProrationLine("Credit Essential", -10000, AT, AT + timedelta(days=10))
    lines = subscription_lines(
        description="Professional (monthly)",
        price=45000,
        period=period,
        currency="XOF",
        proration=[proration],
        usage=[usage],
        tax_rate="sn_vat_18",
    )
    invoice = draft(*lines, currency="XOF")
    assert [item.total for item in invoice.lines] == [53100, -11800, 5900]
    assert invoice.lines[2].description == "SMS (200 billable of 1200)"
    free = subscription_lines(description="P", price=45000, period=period, currency="XOF", free=True)
    assert draft(*free, currency="XOF").total == 0


@given(
    units=st.lists(st.integers(min_value=-5000, max_value=50000), min_size=1, max_size=8),
    amount=st.integers(min_value=0, max_value=500000),
)
def test_a_spread_amount_off_adds_up_and_keeps_every_line_at_or_above_zero(
    units: list[int], amount: int
) -> None:
    lines = [line(unit) for unit in units]
    spread = spread_amount_off(lines, amount)
    room = sum(max(unit, 0) for unit in units)
    assert sum(item.discount for item in spread) == min(amount, room)
    for item in spread:
        assert item.unit_amount - item.discount >= min(item.unit_amount, 0)
