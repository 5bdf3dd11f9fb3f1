"""SdkStripeReader through the real `stripe` SDK, over a canned HTTP client: which requests it
makes (GETs, refunds expanded, the invoice of a charge through invoice payments) and that it
answers plain dicts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import stripe

from tally.payments.stripe_events.reader import SdkStripeReader
from tests.support.stripe_events import charge_object, invoice_object, subscription_object


class CannedHttp(stripe.HTTPClient):
    name = "canned"

    def __init__(self, answers: Mapping[str, dict[str, Any]]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        self.requests.append((method, parts.path, parse_qs(parts.query)))
        body = self.answers.get(parts.path)
        if body is None:
            error = {"error": {"type": "invalid_request_error", "message": "No such object"}}
            return json.dumps(error), 404, {}
        return json.dumps(body), 200, {"request-id": "req_1"}

    def close(self) -> None:
        pass


def _reader(answers: Mapping[str, dict[str, Any]]) -> tuple[SdkStripeReader, CannedHttp]:
    http = CannedHttp(answers)
    client = stripe.StripeClient("sk_test_local", http_client=http, max_network_retries=0)
    return SdkStripeReader(client), http


def test_it_reads_the_current_objects_as_plain_dicts() -> None:
    charge = {k: v for k, v in charge_object(refunds=[("re_1", 500)]).items() if not k.startswith("_")}
    reader, http = _reader(
        {
            "/v1/subscriptions/sub_1": subscription_object(),
            "/v1/invoices/in_1": invoice_object(),
            "/v1/charges/ch_1": charge,
            "/v1/customers/cus_1": {
                "id": "cus_1",
                "object": "customer",
                "metadata": {"tally_account_id": "acc_1"},
            },
            "/v1/invoice_payments": {
                "object": "list",
                "url": "/v1/invoice_payments",
                "has_more": False,
                "data": [{"id": "inpay_1", "object": "invoice_payment", "invoice": "in_1"}],
            },
        }
    )
    subscription = reader.subscription("sub_1")
    assert type(subscription) is dict
    assert (
        subscription["items"]["data"][0]["current_period_end"]
        == subscription_object()["items"]["data"][0]["current_period_end"]
    )
    assert reader.invoice("in_1")["status"] == "paid"
    read = reader.charge("ch_1")
    assert read["refunds"]["data"][0]["id"] == "re_1"
    assert reader.customer_account("cus_1") == "acc_1"
    assert reader.invoice_of_charge(read) == "in_1"
    assert [(method, path) for method, path, _ in http.requests] == [
        ("get", "/v1/subscriptions/sub_1"),
        ("get", "/v1/invoices/in_1"),
        ("get", "/v1/charges/ch_1"),
        ("get", "/v1/customers/cus_1"),
        ("get", "/v1/invoice_payments"),
    ]
    assert http.requests[2][2] == {"expand[0]": ["refunds"]}
    assert http.requests[4][2]["payment[payment_intent]"] == ["pi_ch_1"]


def test_an_older_charge_names_its_invoice_itself() -> None:
    reader, http = _reader({})
    assert reader.invoice_of_charge({"id": "ch_1", "invoice": "in_9"}) == "in_9"
    assert reader.invoice_of_charge({"id": "ch_2", "payment_intent": None}) is None
    assert http.requests == []
