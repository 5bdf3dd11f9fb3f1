"""Credit notes: limits, taxes, and what they do to an open or a paid invoice (Stripe's rules)."""

from __future__ import annotations

from typing import Any

import pytest

from tally.billing import invoices as machine
from tally.billing.credit_notes import CreditNoteIn, apply_credit_note, credit_note
from tally.billing.invoices import Invoice, InvoiceRefused, Payment
from tally.errors import InvalidInput
from tests.support.invoices import AT, CUSTOMER, SELLER, draft, line


def _open(*lines: Any) -> Invoice:
    return machine.finalize(draft(*lines), number="INV-202604-00001", at=AT, seller=SELLER, customer=CUSTOMER)


def _paid(invoice: Invoice) -> Invoice:
    payment = Payment(amount=invoice.amount_due, method="cash", reference="R1", received_at=AT)
    return machine.record_payment(invoice, payment, at=AT)


def _credit(invoice: Invoice, number: str = "CN-202604-00001", **request: Any) -> tuple[Any, Invoice]:
    wanted = CreditNoteIn.model_validate({"reason": "Service outage", **request})
    note = credit_note(invoice, wanted, id=f"cn_{number}", number=number, at=AT)
    return note, apply_credit_note(invoice, note)


def test_an_amount_on_an_open_invoice_lowers_the_amount_due() -> None:
    note, invoice = _credit(_open(line(10000)), amount=3000)
    assert (note.total, note.tax_total, note.total_excluding_tax) == (3000, 500, 2500)
    assert (note.pre_payment_amount, note.post_payment_amount) == (3000, 0)
    assert (invoice.status, invoice.amount_due, invoice.credited_total) == ("open", 9000, 3000)
    assert [ref.number for ref in invoice.credit_notes] == ["CN-202604-00001"]


def test_crediting_the_whole_amount_due_marks_the_invoice_paid_as_stripe_does() -> None:
    _note, invoice = _credit(_open(line(10000)), amount=12000)
    assert (invoice.status, invoice.amount_due, invoice.paid_at) == ("paid", 0, AT)


def test_on_a_paid_invoice_it_records_money_owed_back() -> None:
    paid = _paid(_open(line(10000)))
    note, refunded = _credit(paid, amount=2000, refund=True)
    assert (note.pre_payment_amount, note.post_payment_amount) == (0, 2000)
    assert (refunded.status, refunded.amount_due, refunded.refund_due) == ("paid", 0, 2000)
    _note, kept = _credit(paid, amount=2000, refund=False)
    assert (kept.refund_due, kept.customer_credit) == (0, 2000)


def test_on_a_partly_paid_invoice_the_credit_lowers_the_due_first_then_is_owed_back() -> None:
    invoice = machine.record_payment(
        _open(line(10000)), Payment(amount=9000, method="cash", reference="R", received_at=AT), at=AT
    )
    note, after = _credit(invoice, amount=5000, refund=True)
    assert (note.pre_payment_amount, note.post_payment_amount) == (3000, 2000)
    assert (after.status, after.amount_due, after.refund_due) == ("paid", 0, 2000)


def test_never_more_than_the_total_minus_earlier_credit_notes() -> None:
    _first, invoice = _credit(_open(line(10000)), amount=10000)
    with pytest.raises(InvalidInput, match="A credit note of 2001 is more than what is left") as refused:
        _credit(invoice, "CN-2", amount=2001)
    assert "2000 (12000 total minus 10000 credited earlier" in refused.value.message
    assert refused.value.field == "amount"
    _second, full = _credit(invoice, "CN-2", amount=2000)
    assert full.credited_total == full.total


def test_lines_by_quantity_or_amount_credit_their_share_of_the_tax() -> None:
    invoice = _open(line(1000, 4), line(5000, tax_rate="exempt"))  # 4 800 (800 VAT) + 5 000
    note, after = _credit(invoice, lines=[{"line": 0, "quantity": "1"}, {"line": 1, "amount": 500}])
    assert [(item.total, item.tax, item.tax_rate) for item in note.lines] == [
        (1200, 200, "fr_vat_20"),
        (500, 0, "exempt"),
    ]
    assert [(tax.tax_rate, tax.taxable, tax.tax) for tax in note.taxes] == [
        ("fr_vat_20", 1000, 200),
        ("exempt", 500, 0),
    ]
    assert after.amount_due == 9800 - 1700
    whole, _ = _credit(invoice, lines=[{"line": 1}])
    assert whole.total == 5000


def test_an_amount_is_spread_over_the_rates_in_proportion() -> None:
    invoice = _open(line(10000), line(12000, tax_rate="exempt"))  # 12 000 + 12 000
    note, _ = _credit(invoice, amount=1001)
    assert [(item.tax_rate, item.total, item.tax) for item in note.lines] == [
        ("fr_vat_20", 501, 84),  # 501 / 6 = 83.5 -> 84
        ("exempt", 500, 0),
    ]


@pytest.mark.parametrize(
    ("request_body", "field", "words"),
    [
        ({"lines": [{"line": 5}]}, "lines.0.line", "there is no line 5"),
        ({"lines": [{"line": 0, "quantity": "5"}]}, "lines.0.quantity", "bills a quantity of 4"),
        ({"lines": [{"line": 0, "amount": 4801}]}, "lines.0.amount", "totals 4800"),
    ],
)
def test_lines_that_do_not_add_up_are_refused(request_body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as refused:
        _credit(_open(line(1000, 4)), **request_body)
    assert refused.value.field == field


def test_lines_or_an_amount_but_not_both() -> None:
    with pytest.raises(ValueError, match="one of the two"):
        CreditNoteIn.model_validate({"reason": "x", "amount": 1, "lines": [{"line": 0}]})


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: draft(), "A draft invoice cannot take a credit note: change the draft instead"),
        (lambda: machine.void(_open(line(100)), at=AT), "A void invoice cannot take a credit note"),
        (
            lambda: machine.mark_uncollectible(_open(line(100)), at=AT),
            "An uncollectible invoice cannot take a credit note: it is uncollectible; void it instead",
        ),
    ],
)
def test_only_open_or_paid_invoices_take_credit_notes(build: Any, words: str) -> None:
    with pytest.raises(InvoiceRefused, match=words):
        _credit(build(), amount=1)
