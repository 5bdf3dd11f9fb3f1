"""Invoices over real HTTP against the local stack, as the README walks through them: a coupon, a
customer in Dakar on Essential, usage, a month later the subscription's invoice (plan, usage lines,
the coupon), finalised and numbered, its PDF opened from the presigned link (French, XOF without
decimals), a partial then a full bank transfer, a credit note, and each email in the mailbox."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
import requests
from pypdf import PdfReader

from tally.billing.formatting import format_amount
from tests.e2e.tenancy import HttpApi, HttpUser
from tests.support.world import expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def clock(stack_url: str) -> Iterator[None]:
    yield
    requests.post(f"{stack_url}/_local/clock", json={"now": None}, timeout=10).raise_for_status()


def _mail(stack_url: str, to: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack_url}/_local/mailbox", params={"to": to}, timeout=10).json()
    messages: list[dict[str, Any]] = answer["messages"]
    return messages


def _pdf_text(url: str) -> str:
    fetched = requests.get(url, timeout=10)  # what a browser does with the link: no credentials
    assert fetched.status_code == 200, fetched.text[:300]
    assert fetched.content.startswith(b"%PDF")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(fetched.content)).pages)


def test_a_subscription_invoice_from_coupon_to_receipt(stack_url: str, admin_token: str, clock: None) -> None:
    api = HttpApi(stack_url)
    admin = HttpUser("admin", admin_token)
    shipped = json.loads(resources.files("tally.billing.seller_data").joinpath("defaults.json").read_text())
    expect(api.call(admin, "PUT", "/v1/settings/billing", shipped), 200)  # whatever the fuzzer left

    code = f"dakar-{secrets.token_hex(3)}"
    coupon = {
        "code": code,
        "name": "20 % off three months",
        "percent_off": "20",
        "duration": "repeating",
        "duration_months": 3,
        "max_redemptions": 10,
    }
    expect(api.call(admin, "POST", "/v1/coupons", coupon), 201)
    email = f"compta-{secrets.token_hex(3)}@thies.example.sn"
    company = {"name": "Queue Thiès", "email": email, "country": "SN", "currency": "XOF"}
    account = expect(api.call(admin, "POST", "/v1/accounts", company), 201)["id"]
    on_account = {"X-Account-Id": account}
    ask = {"code": code, "plan": "essential", "cycle": "monthly", "currency": "XOF"}
    shown = expect(api.call(admin, "POST", "/v1/coupons/validate", ask, on_account), 200)
    assert (shown["original"], shown["discount"], shown["final"]) == (15000, 3000, 12000)
    start = {"plan": "essential", "cycle": "monthly", "currency": "XOF", "coupon": code}
    start |= {"status": "active", "reason": "Signed offline"}
    expect(api.call(admin, "POST", f"/v1/accounts/{account}/subscription", start), 201)
    usage = {"events": [{"id": "sms-1", "metric": "sms", "quantity": 1200}]}
    assert api.call(admin, "POST", "/v1/usage", usage, on_account)[0] == 202

    subscription = expect(api.call(admin, "GET", f"/v1/accounts/{account}/subscription"), 200)
    period_end = datetime.fromisoformat(subscription["current_period_end"])
    later = (period_end + timedelta(days=1)).astimezone(UTC).isoformat()
    requests.post(f"{stack_url}/_local/clock", json={"now": later}, timeout=10).raise_for_status()

    path = f"/v1/accounts/{account}/subscription/invoice"
    built = expect(api.call(admin, "POST", path), 201)
    assert built["created"] is True
    draft = built["invoice"]
    assert (draft["status"], draft["currency"], draft["coupon"]["code"]) == ("draft", "XOF", code.upper())
    descriptions = [line["description"] for line in draft["lines"]]
    assert any("Essential" in text for text in descriptions), descriptions
    assert any("1000" in text and "1200" in text for text in descriptions), descriptions  # 200 included
    assert draft["subtotal"] == 15000 + 1000 * 25
    assert draft["discount_total"] == (15000 + 25000) // 5
    again = expect(api.call(admin, "POST", path), 200)
    assert (again["created"], again["invoice"]["id"]) == (False, draft["id"])

    one = f"/v1/invoices/{draft['id']}"
    opened = expect(api.call(admin, "POST", f"{one}/finalize"), 200)
    number = opened["number"]
    assert number.startswith("INV-")
    assert opened["status"] == "open"
    issued = _mail(stack_url, email)
    assert len(issued) == 1
    assert issued[0]["subject"].startswith(f"Facture {number} : ")  # French: a Senegalese customer
    assert "FCFA" in issued[0]["subject"]

    link = expect(api.call(admin, "GET", f"{one}/pdf"), 200)
    assert link["expires_in"] == 300
    text = _pdf_text(link["url"])
    assert number in text
    assert "FACTURE" in text.upper()
    # "37 760 FCFA": no decimals (the spaces are no-break ones; a PDF's text may read them as spaces)
    assert format_amount(opened["total"], "XOF", "fr").replace("\xa0", " ") in text.replace("\xa0", " "), text
    redirected = requests.get(
        f"{stack_url}{one}/pdf",
        params={"redirect": "1"},
        headers={"Authorization": f"Bearer {admin_token}"},
        allow_redirects=False,
        timeout=10,
    )
    assert redirected.status_code == 302
    assert redirected.headers["Location"].startswith("http")

    transfer = {"method": "bank_transfer", "received_at": later}
    part = expect(
        api.call(admin, "POST", f"{one}/payments", {**transfer, "amount": 10000, "reference": "VIR-1"}), 201
    )
    assert (part["status"], part["amount_due"]) == ("open", opened["amount_due"] - 10000)
    paid = expect(
        api.call(
            admin, "POST", f"{one}/payments", {**transfer, "amount": part["amount_due"], "reference": "VIR-2"}
        ),
        201,
    )
    assert (paid["status"], paid["amount_due"]) == ("paid", 0)
    credited = expect(
        api.call(
            admin, "POST", f"{one}/credit-notes", {"amount": 5000, "reason": "SMS en double", "refund": True}
        ),
        201,
    )
    assert credited["credit_note"]["number"].startswith("CN-")
    assert credited["invoice"]["refund_due"] == 5000

    subjects = [message["subject"] for message in _mail(stack_url, email)]  # newest first
    assert len(subjects) == 4, subjects  # issued, two receipts, the credit note
    assert subjects[0].startswith(f"Avoir {credited['credit_note']['number']} : ")
    assert [subject.startswith("Paiement reçu") for subject in subjects[1:3]] == [True, True]
    assert all(number in subject for subject in subjects)
