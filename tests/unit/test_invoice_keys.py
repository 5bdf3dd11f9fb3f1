"""The storage contract of invoices (docs/billing.md "Invoices"): keys spelled exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tally.storage import keys

AT = datetime(2026, 4, 11, 10, tzinfo=UTC)


def test_invoice_keys() -> None:
    assert keys.seller_settings() == {"PK": {"S": "SETTINGS#BILLING"}, "SK": {"S": "SETTINGS"}}
    assert keys.invoice("inv_1") == {"PK": {"S": "INVOICE#inv_1"}, "SK": {"S": "INVOICE"}}
    assert keys.credit_note("inv_1", "cn_1") == {"PK": {"S": "INVOICE#inv_1"}, "SK": {"S": "CREDITNOTE#cn_1"}}
    assert keys.sequence("INV#2026-04") == {"PK": {"S": "SEQUENCE#INV#2026-04"}, "SK": {"S": "SEQUENCE"}}
    assert keys.subscription_invoice_claim("sub_1", AT) == {
        "PK": {"S": "SUBSCRIPTION#sub_1"},
        "SK": {"S": "INVOICE#2026-04-11T10:00:00Z"},
    }


def test_invoice_index_attributes() -> None:
    sort = "2026-04-11T10:00:00.000000Z#inv_1"
    assert keys.invoice_index("acc1", "open", AT, "inv_1", date(2026, 4, 26)) == {
        "GSI1PK": {"S": "INVOICES#acc1"},
        "GSI1SK": {"S": sort},
        "GSI2PK": {"S": "INVOICES#open"},
        "GSI2SK": {"S": sort},
        "DUEPK": {"S": "INVOICES_DUE"},
        "DUESK": {"S": "2026-04-26#inv_1"},
    }
    # Only open invoices are due: a paid one leaves the sparse index.
    assert "DUEPK" not in keys.invoice_index("acc1", "paid", AT, "inv_1", date(2026, 4, 26))
