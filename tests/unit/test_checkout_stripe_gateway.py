"""tally.payments.stripe_gateway through the real `stripe` SDK over a stub of Stripe's HTTP API:
the requests checkout makes (fields, idempotency keys) and Stripe's failures in the domain's words."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import stripe

from tally.errors import Conflict, InvalidInput, ServiceUnavailable
from tally.payments.stripe_checkout import CouponSpec, OneOffLine, PriceSpec, ProductSpec, SessionSpec
from tally.payments.stripe_gateway import StripeGateway, translate
from tests.support.stripe_http import StubStripeHttp, stub_client

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def http() -> StubStripeHttp:
    return StubStripeHttp()


@pytest.fixture
def gateway(http: StubStripeHttp) -> StripeGateway:
    return StripeGateway(lambda: stub_client(http))


def _session(**changes: object) -> SessionSpec:
    values: dict[str, object] = {
        "mode": "subscription",
        "customer_id": "cus_1",
        "client_reference_id": "acc_1",
        "success_url": "https://app.example.com/ok",
        "cancel_url": "https://app.example.com/ko",
        "expires_at": AT,
        "metadata": {"tally_account_id": "acc_1", "tally_plan": "bronze"},
        "idempotency_key": "tally-checkout-chk_1",
        "price_id": "price_1",
        "trial_days": 14,
        "card_required": False,
        "coupon_id": "tally_WELCOME_abc",
    }
    return SessionSpec(**{**values, **changes})  # type: ignore[arg-type]


def test_a_subscription_session_carries_the_trial_the_discount_and_the_metadata(
    gateway: StripeGateway, http: StubStripeHttp
) -> None:
    made = gateway.create_checkout_session(_session())
    assert made.expires_at == AT
    [sent] = http.requests
    assert (sent.method, sent.path, sent.idempotency_key) == (
        "POST",
        "/v1/checkout/sessions",
        "tally-checkout-chk_1",
    )
    form = sent.form
    assert form["mode"] == "subscription"
    assert form["line_items[0][price]"] == "price_1"
    assert form["subscription_data[trial_period_days]"] == "14"
    assert form["payment_method_collection"] == "if_required"
    assert form["discounts[0][coupon]"] == "tally_WELCOME_abc"
    assert form["client_reference_id"] == "acc_1"
    assert form["expires_at"] == str(int(AT.timestamp()))
    assert form["metadata[tally_plan]"] == "bronze"
    assert form["subscription_data[metadata][tally_account_id]"] == "acc_1"


def test_a_card_required_trial_collects_a_card_and_an_order_is_paid_once(
    gateway: StripeGateway, http: StubStripeHttp
) -> None:
    gateway.create_checkout_session(_session(card_required=True, coupon_id=None))
    assert "payment_method_collection" not in http.requests[0].form
    assert "discounts[0][coupon]" not in http.requests[0].form
    line = OneOffLine(product_id="tally_bronze", amount=2900, currency="EUR", description="Bronze (monthly)")
    gateway.create_checkout_session(_session(mode="payment", price_id=None, one_off=line, trial_days=None))
    form = http.requests[1].form
    assert form["mode"] == "payment"
    assert form["line_items[0][price_data][unit_amount]"] == "2900"
    assert form["line_items[0][price_data][currency]"] == "eur"
    assert form["payment_intent_data[metadata][tally_plan]"] == "bronze"
    assert not any(name.startswith("subscription_data") for name in form)


def test_products_prices_and_coupons_are_made_once(gateway: StripeGateway, http: StubStripeHttp) -> None:
    product = ProductSpec(id="tally_bronze", name="Bronze", metadata={"tally_plan": "bronze"})
    assert gateway.ensure_product(product) == "tally_bronze"
    assert gateway.ensure_product(product) == "tally_bronze"  # already there: found, not an error
    price = PriceSpec(
        lookup_key="tally:bronze:1:quarterly:EUR",
        product_id="tally_bronze",
        amount=8000,
        currency="EUR",
        interval="month",
        interval_count=3,
        nickname="Bronze",
        metadata={"tally_plan": "bronze", "tally_plan_version": "1", "tally_cycle": "quarterly"},
    )
    first = gateway.ensure_price(price)
    assert gateway.ensure_price(price) == first
    created = [r for r in http.requests if (r.method, r.path) == ("POST", "/v1/prices")]
    assert len(created) == 1
    assert created[0].idempotency_key == "tally-price-tally:bronze:1:quarterly:EUR"
    assert created[0].form["recurring[interval_count]"] == "3"
    assert created[0].form["currency"] == "eur"
    coupon = CouponSpec(
        id="tally_WELCOME_1",
        name="Welcome",
        percent_off=Decimal("12.5"),
        amount_off=None,
        currency=None,
        duration="repeating",
        duration_in_months=3,
        metadata={"tally_coupon": "WELCOME"},
    )
    assert gateway.ensure_coupon(coupon) == gateway.ensure_coupon(coupon) == "tally_WELCOME_1"
    sent = next(r for r in http.requests if r.path == "/v1/coupons")
    assert (sent.form["percent_off"], sent.form["duration_in_months"]) == ("12.5", "3")


def test_a_customer_names_its_account(gateway: StripeGateway, http: StubStripeHttp) -> None:
    gateway.create_customer("acc_1", "Dupont SAS", "a@b.fr", idempotency_key="tally-customer-acc_1")
    [sent] = http.requests
    assert sent.idempotency_key == "tally-customer-acc_1"
    assert sent.form["metadata[tally_account_id]"] == "acc_1"


def test_plan_changes_and_their_preview(gateway: StripeGateway, http: StubStripeHttp) -> None:
    preview = gateway.preview_change("cus_1", "sub_1", "si_1", "price_new", proration_date=AT)
    assert preview.currency == "EUR"
    assert [(line.amount, line.proration) for line in preview.lines] == [(-1000, True), (7900, False)]
    sent = http.requests[0].form
    assert sent["subscription_details[items][0][price]"] == "price_new"
    assert sent["subscription_details[proration_date]"] == str(int(AT.timestamp()))
    changed = gateway.change_price(
        "sub_1", "si_1", "price_new", {"tally_plan": "silver"}, proration_date=AT, idempotency_key="k"
    )
    assert changed.price_id == "price_new"
    assert changed.current_period_end == datetime.fromtimestamp(1_782_592_000, UTC)
    assert http.requests[1].form["proration_behavior"] == "create_prorations"
    cancelled = gateway.set_cancel_at_period_end("sub_1", True, idempotency_key="k2")
    assert cancelled.cancel_at_period_end is True


@pytest.mark.parametrize("status", [0, 500, 503, 429])
def test_stripe_unreachable_failing_or_throttling_is_a_503(
    gateway: StripeGateway, http: StubStripeHttp, status: int
) -> None:
    http.fail_with(status)
    with pytest.raises(ServiceUnavailable) as raised:
        gateway.create_customer("acc_1", "Dupont", None, idempotency_key="k")
    assert raised.value.retry_after == 2


def test_refusals_are_said_in_words() -> None:
    invalid = stripe.InvalidRequestError("No such price: 'price_x'", "price", http_status=400)  # type: ignore[no-untyped-call]
    refused = translate(invalid)
    assert isinstance(refused, InvalidInput)
    assert "No such price" in refused.message
    conflict = translate(stripe.IdempotencyError("Keys for idempotent requests...", http_status=400))
    assert isinstance(conflict, Conflict)
    assert translate(stripe.AuthenticationError("bad key", http_status=401)) is None
    assert translate(ValueError("not Stripe's")) is None
