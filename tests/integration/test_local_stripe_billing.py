"""The local Stripe's billing, driven through the real SDK and the control endpoints, with its
events received (and their signatures verified) by a loopback webhook endpoint."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from local.stripe import StripeSandbox
from local.stripe.money import DAY
from tests.support.stripe_sandbox import KEY, SECRET, Receiver, catalogue, client, control, ok, receiver

START = int(datetime(2026, 1, 15, 12, tzinfo=UTC).timestamp())


@pytest.fixture
def endpoint() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture
def sandbox(endpoint: Receiver) -> Iterator[StripeSandbox]:
    with StripeSandbox(
        port=0, secret_key=KEY, webhook_secret=SECRET, webhook_url=endpoint.url, retry_delays=(0.05, 0.1)
    ) as running:
        yield running


@pytest.fixture
def api(sandbox: StripeSandbox) -> stripe.StripeClient:
    return client(sandbox)


def on_clock(api: stripe.StripeClient, at: int = START) -> tuple[str, stripe.Customer]:
    clock = api.v1.test_helpers.test_clocks.create(params={"frozen_time": at})
    customer = api.v1.customers.create(
        params={
            "email": "owner@example.com",
            "test_clock": clock.id,
            "metadata": {"tally_account_id": "acc_1"},
        }
    )
    return clock.id, customer


def checkout(api: stripe.StripeClient, customer: str, price: str, **extra: object) -> stripe.checkout.Session:
    params: dict[str, object] = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": "acc_1",
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": "http://localhost:3000/ok?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:3000/cancel",
        "metadata": {"tally_account_id": "acc_1", "tally_kind": "subscription"},
        "subscription_data": {"metadata": {"tally_account_id": "acc_1", "tally_plan": "pro"}},
        **extra,
    }
    return api.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]


def test_a_checkout_with_a_coupon_makes_an_active_subscription_and_a_paid_discounted_invoice(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api, amount=2000)
    coupon = api.v1.coupons.create(
        params={"percent_off": 25, "duration": "repeating", "duration_in_months": 3}
    )
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    assert session.status == "open"
    assert session.amount_subtotal == 2000
    assert session.amount_total == 1500
    assert session.url is not None
    assert session.url.startswith(sandbox.base_url)

    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})

    done = api.v1.checkout.sessions.retrieve(session.id, params={"expand": ["subscription", "invoice"]})
    assert done.status == "complete"
    assert done.payment_status == "paid"
    sub = done.subscription
    assert isinstance(sub, stripe.Subscription)
    assert sub.status == "active"
    assert sub.metadata["tally_plan"] == "pro"
    item = sub["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (
        START,
        int(datetime(2026, 2, 15, 12, tzinfo=UTC).timestamp()),
    )
    invoice = done.invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.subtotal, invoice.total, invoice.amount_paid) == (
        "paid",
        2000,
        1500,
        1500,
    )
    assert invoice.total_discount_amounts is not None
    assert invoice.total_discount_amounts[0].amount == 500
    assert invoice.number is not None
    assert invoice.number.endswith("-0001")
    assert invoice.hosted_invoice_url
    assert invoice.invoice_pdf
    assert invoice.billing_reason == "subscription_create"
    assert invoice["parent"]["subscription_details"]["subscription"] == sub.id
    with urllib.request.urlopen(invoice.invoice_pdf) as pdf:  # noqa: S310 - the sandbox, on loopback
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.read().startswith(b"%PDF")

    completed = endpoint.wait_for("checkout.session.completed")[0]
    assert completed.data.object["client_reference_id"] == "acc_1"
    assert completed.data.object["subscription"] == sub.id
    for kind in (
        "customer.subscription.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ):
        endpoint.wait_for(kind)
    created = endpoint.wait_for("customer.subscription.created")[0].data.object
    assert created["latest_invoice"] == invoice.id
    assert created["metadata"]["tally_plan"] == "pro"
    assert endpoint.bad_signatures == 0
    assert all(event.livemode is False and event.api_version for event in endpoint.events)


def test_the_discount_follows_the_coupons_duration_and_zero_decimal_currencies_stay_whole(
    sandbox: StripeSandbox, api: stripe.StripeClient
) -> None:
    price = catalogue(api, amount=10_000, currency="xof")
    coupon = api.v1.coupons.create(params={"amount_off": 2_500, "currency": "xof", "duration": "once"})
    promo = api.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "HELLO"}
    )
    assert api.v1.promotion_codes.list(params={"code": "HELLO"}).data[0].id == promo.id
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id, discounts=[{"promotion_code": promo.id}])
    assert session.amount_total == 7_500
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub_id = api.v1.checkout.sessions.retrieve(session.id).subscription
    assert isinstance(sub_id, str)
    ok(sandbox, f"subscriptions/{sub_id}/advance", {"frozen_time": "period_end"})
    first, renewal = sorted(
        api.v1.invoices.list(params={"subscription": sub_id}).data, key=lambda i: i.created
    )
    assert (first.total, first.currency) == (7_500, "xof")
    assert (renewal.total, renewal.status, renewal.billing_reason) == (10_000, "paid", "subscription_cycle")
    assert api.v1.coupons.retrieve(coupon.id).times_redeemed == 1
    # As Stripe's: a renewal invoice's own period is the one that ended, its line the one billed.
    sub = api.v1.subscriptions.retrieve(sub_id)
    assert (renewal.period_start, renewal.period_end) == (START, renewal.lines.data[0].period.start)
    assert renewal.lines.data[0].period.end == sub["items"]["data"][0]["current_period_end"]


def test_a_trial_starts_trialing_with_nothing_to_pay_and_renews_into_active(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    clock, customer = on_clock(api)
    session = checkout(
        api,
        customer.id,
        price.id,
        subscription_data={"trial_period_days": 14, "metadata": {"tally_plan": "pro"}},
        payment_method_collection="if_required",
    )
    assert session.amount_total == 0
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    done = api.v1.checkout.sessions.retrieve(session.id)
    assert done.payment_status == "no_payment_required"
    assert isinstance(done.subscription, str)
    sub = api.v1.subscriptions.retrieve(done.subscription)
    assert sub.status == "trialing"
    assert sub.trial_start == START
    assert sub.trial_end == START + 14 * DAY
    first = api.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.status, first.amount_due) == ("paid", 0)

    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 12 * DAY})
    endpoint.wait_for("customer.subscription.trial_will_end")
    assert api.v1.subscriptions.retrieve(sub.id).status == "trialing"

    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 15 * DAY})
    renewed = api.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert renewed.status == "active"
    assert isinstance(renewed.latest_invoice, stripe.Invoice)
    assert (renewed.latest_invoice.status, renewed.latest_invoice.amount_paid) == ("paid", 2000)


def test_a_renewal_on_a_card_that_fails_later_goes_past_due_until_paid(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    clock, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4000000000000341"})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    assert api.v1.subscriptions.retrieve(sub_id).status == "active"  # the first payment went through

    ok(sandbox, f"test_clocks/{clock}/advance", {"frozen_time": "2026-02-16T00:00:00Z"})

    sub = api.v1.subscriptions.retrieve(sub_id, params={"expand": ["latest_invoice"]})
    assert sub.status == "past_due"
    invoice = sub.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.attempt_count, invoice.attempted) == ("open", 1, True)
    assert invoice.next_payment_attempt is not None
    failed = endpoint.wait_for("invoice.payment_failed")[0]
    assert failed.data.object["id"] == invoice.id
    updated = [
        e
        for e in endpoint.wait_for("customer.subscription.updated", 2)
        if e.data.object["status"] == "past_due"
    ]
    assert updated
    assert updated[0].data.to_dict()["previous_attributes"]["status"] == "active"

    # Stripe retries: the next attempt (3 days on) fails again with the same card.
    api.v1.test_helpers.test_clocks.advance(
        clock, params={"frozen_time": int(invoice.next_payment_attempt) + 60}
    )
    assert api.v1.invoices.retrieve(str(invoice.id)).attempt_count == 2

    status, declined = control(sandbox, f"invoices/{invoice.id}/pay", {})
    assert status == 402
    assert declined["error"]["code"] == "card_declined"
    paid = ok(sandbox, f"invoices/{invoice.id}/pay", {"card": "4242424242424242"})
    assert paid["status"] == "paid"
    assert api.v1.subscriptions.retrieve(sub_id).status == "active"
    endpoint.wait_for("invoice.paid", 2)


def test_an_open_invoice_fails_on_demand_is_paid_through_the_api_or_voided(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    session = checkout(
        api,
        customer.id,
        price.id,
        subscription_data={"trial_period_days": 7},
        payment_method_collection="if_required",
    )
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {})  # a trial without a card
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    ok(sandbox, f"subscriptions/{sub_id}/advance", {"frozen_time": "period_end"})
    sub = api.v1.subscriptions.retrieve(sub_id, params={"expand": ["latest_invoice"]})
    invoice = sub.latest_invoice
    assert isinstance(invoice, stripe.Invoice)
    assert (sub.status, invoice.status, invoice.attempt_count) == ("past_due", "open", 1)  # no card to charge

    assert ok(sandbox, f"invoices/{invoice.id}/fail")["attempt_count"] == 2
    paid = api.v1.invoices.pay(str(invoice.id), params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid) == ("paid", 2000)
    assert api.v1.subscriptions.retrieve(sub_id).status == "active"
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.invoices.pay(str(invoice.id))

    ok(sandbox, f"subscriptions/{sub_id}/advance", {"frozen_time": "period_end"})
    renewal = api.v1.invoices.list(params={"subscription": sub_id, "limit": 1}).data[0]
    assert renewal.status == "open"  # paying one invoice with a card does not keep the card
    assert renewal.next_payment_attempt is None  # and Stripe does not retry without one
    api.v1.subscriptions.update(sub_id, params={"default_payment_method": "pm_card_visa"})
    assert api.v1.invoices.pay(str(renewal.id)).status == "paid"  # with the subscription's new card
    assert api.v1.subscriptions.retrieve(sub_id).status == "active"
    assert control(sandbox, f"invoices/{renewal.id}/fail")[0] == 400  # only an open invoice can fail


def test_an_open_invoice_can_be_voided(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4000000000000341"})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    ok(sandbox, f"subscriptions/{sub_id}/advance", {"frozen_time": "period_end"})
    invoice = api.v1.invoices.list(params={"subscription": sub_id, "status": "open"}).data[0]
    voided = api.v1.invoices.void_invoice(str(invoice.id))
    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None
    endpoint.wait_for("invoice.voided")
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.invoices.void_invoice(str(invoice.id))


def test_cancel_at_period_end_deletes_the_subscription_when_the_period_ends(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    clock, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 5 * DAY})

    ending = api.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    end = ending["items"]["data"][0]["current_period_end"]
    assert ending.cancel_at_period_end is True
    assert ending.cancel_at == end
    assert ending.canceled_at == START + 5 * DAY
    assert ending.status == "active"
    update = endpoint.wait_for("customer.subscription.updated")[-1]
    assert update.data.to_dict()["previous_attributes"]["cancel_at_period_end"] is False

    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": end + DAY})
    gone = api.v1.subscriptions.retrieve(sub_id)
    assert (gone.status, gone.ended_at) == ("canceled", end)
    deleted = endpoint.wait_for("customer.subscription.deleted")[0]
    assert deleted.data.object["status"] == "canceled"
    assert len(api.v1.invoices.list(params={"subscription": sub_id}).data) == 1  # no renewal invoice
    assert api.v1.subscriptions.list(params={"customer": customer.id}).data == []
    assert len(api.v1.subscriptions.list(params={"customer": customer.id, "status": "all"}).data) == 1


def test_resume_before_the_end_and_cancel_now(sandbox: StripeSandbox, api: stripe.StripeClient) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    api.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
    resumed = api.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    assert (resumed.cancel_at, resumed.canceled_at, resumed.cancel_at_period_end) == (None, None, False)
    canceled = api.v1.subscriptions.cancel(sub_id)
    assert canceled.status == "canceled"
    assert canceled.ended_at == START
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.subscriptions.update(sub_id, params={"items": [{"price": price.id}]})


def test_a_plan_change_previews_and_invoices_the_proration(
    sandbox: StripeSandbox, api: stripe.StripeClient
) -> None:
    basic = catalogue(api, amount=3000)
    product = api.v1.products.create(params={"name": "Business"})
    business = api.v1.prices.create(
        params={
            "product": product.id,
            "currency": "eur",
            "unit_amount": 6000,
            "recurring": {"interval": "month"},
        }
    )
    clock, customer = on_clock(api, int(datetime(2026, 4, 1, tzinfo=UTC).timestamp()))
    session = checkout(api, customer.id, basic.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub = api.v1.subscriptions.retrieve(str(api.v1.checkout.sessions.retrieve(session.id).subscription))
    item = sub["items"]["data"][0]
    halfway = int(datetime(2026, 4, 16, tzinfo=UTC).timestamp())  # 15 of April's 30 days left
    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": halfway})

    preview = api.v1.invoices.create_preview(
        params={
            "customer": customer.id,
            "subscription": sub.id,
            "subscription_details": {
                "items": [{"id": item["id"], "price": business.id}],
                "proration_behavior": "always_invoice",
                "proration_date": halfway,
            },
        }
    )
    amounts = sorted(line.amount for line in preview.lines.data)
    assert amounts == [-1500, 3000]
    assert preview.amount_due == 1500
    assert api.v1.invoices.list(params={"subscription": sub.id}).data[0].id != preview.id  # nothing stored

    next_preview = api.v1.invoices.create_preview(
        params={
            "subscription": sub.id,
            "subscription_details": {"items": [{"id": item["id"], "price": business.id}]},
        }
    )
    assert next_preview.amount_due == 1500 + 6000  # prorations, then May at the new price

    changed = api.v1.subscriptions.update(
        sub.id,
        params={"items": [{"id": item["id"], "price": business.id}], "proration_behavior": "always_invoice"},
    )
    assert changed["items"]["data"][0]["price"]["id"] == business.id
    invoice = api.v1.invoices.retrieve(str(changed.latest_invoice))
    assert (invoice.billing_reason, invoice.amount_paid, invoice.status) == (
        "subscription_update",
        1500,
        "paid",
    )


def test_payment_mode_a_payment_intent_and_refunds(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    product = api.v1.products.create(params={"name": "Placement"})
    one_off = api.v1.prices.create(params={"product": product.id, "currency": "eur", "unit_amount": 5000})
    session = api.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": one_off.id, "quantity": 2}],
            "customer_email": "buyer@example.com",
            "success_url": "http://localhost/ok",
            "metadata": {"tally_kind": "order"},
        }
    )
    status, declined = control(
        sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4000000000000002"}
    )
    assert status == 402
    assert declined["error"]["type"] == "card_error"
    assert api.v1.checkout.sessions.retrieve(session.id).status == "open"
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    done = api.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent", "customer"]})
    assert isinstance(done.payment_intent, stripe.PaymentIntent)
    assert done.payment_intent.status == "succeeded"
    assert isinstance(done.customer, stripe.Customer)
    assert done.customer.email == "buyer@example.com"
    charge = str(done.payment_intent.latest_charge)

    refund = api.v1.refunds.create(params={"payment_intent": done.payment_intent.id, "amount": 4000})
    assert refund.status == "succeeded"
    assert refund.charge == charge
    partly = api.v1.charges.retrieve(charge)
    assert (partly.amount_refunded, partly.refunded) == (4000, False)
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.refunds.create(params={"charge": charge, "amount": 7000})
    api.v1.refunds.create(params={"charge": charge})
    assert api.v1.charges.retrieve(charge).refunded is True
    assert (
        endpoint.wait_for("charge.refunded", 2)[-1].data.to_dict()["previous_attributes"]["amount_refunded"]
        == 4000
    )

    dispute = ok(sandbox, f"charges/{charge}/dispute", {"reason": "fraudulent"})
    endpoint.wait_for("charge.dispute.created")
    closed = ok(sandbox, f"disputes/{dispute['id']}/close", {"status": "lost"})
    assert closed["status"] == "lost"
    endpoint.wait_for("charge.dispute.closed")

    # Off-session charges: a card that fails later fails them; an ordinary one succeeds.
    customer = api.v1.customers.create(
        params={"email": "c@example.com", "payment_method": "pm_card_chargeCustomerFail"}
    )
    with pytest.raises(stripe.CardError) as failure:
        api.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": "pm_card_chargeCustomerFail",
                "confirm": True,
                "off_session": True,
            }
        )
    assert failure.value.code == "card_declined"
    intent = api.v1.payment_intents.create(
        params={"amount": 1000, "currency": "eur", "payment_method": "pm_card_visa"}
    )
    assert intent.status == "requires_confirmation"
    assert api.v1.payment_intents.confirm(intent.id).status == "succeeded"


def test_sessions_expire_by_request_and_by_time(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    clock, customer = on_clock(api)
    first = checkout(api, customer.id, price.id)
    assert api.v1.checkout.sessions.expire(first.id).status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.checkout.sessions.expire(first.id)
    assert control(sandbox, f"checkout/sessions/{first.id}/complete", {"card": "4242424242424242"})[0] == 400

    second = checkout(api, customer.id, price.id, expires_at=START + 1800)
    ok(sandbox, f"checkout/sessions/{second.id}/expire")
    third = checkout(api, customer.id, price.id, expires_at=START + 1800)
    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 3600})
    assert api.v1.checkout.sessions.retrieve(third.id).status == "expired"
    assert len(endpoint.wait_for("checkout.session.expired", 3)) == 3
    with pytest.raises(stripe.InvalidRequestError):
        checkout(api, customer.id, price.id, expires_at=START + 60)  # under 30 minutes
    clock_now = api.v1.test_helpers.test_clocks.retrieve(clock).frozen_time
    late = checkout(api, customer.id, price.id, expires_at=clock_now + 1800 - 30)  # asked a moment ago
    assert late.expires_at == clock_now + 1770


def test_errors_come_in_stripes_shape(sandbox: StripeSandbox, api: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        api.v1.customers.retrieve("cus_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert missing.value.error is not None
    assert missing.value.error.param == "id"
    with pytest.raises(stripe.InvalidRequestError) as bad:
        api.v1.checkout.sessions.create(params={"mode": "subscription", "success_url": "http://localhost"})
    assert bad.value.http_status == 400
    assert bad.value.param == "line_items"
    with pytest.raises(stripe.AuthenticationError):
        client(sandbox, "sk_test_wrong").v1.customers.list()
    with pytest.raises(stripe.AuthenticationError):
        client(sandbox, "pk_test_public").v1.customers.list()


def test_an_idempotency_key_replays_the_same_answer_and_refuses_other_parameters(
    sandbox: StripeSandbox, api: stripe.StripeClient
) -> None:
    first = api.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "k-1"})
    again = api.v1.customers.create(params={"email": "a@example.com"}, options={"idempotency_key": "k-1"})
    assert again.id == first.id
    assert len(api.v1.customers.list(params={"email": "a@example.com"}).data) == 1
    with pytest.raises(stripe.IdempotencyError) as other:
        api.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "k-1"})
    assert other.value.http_status == 400
    assert (
        api.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "k-2"}).id
        != first.id
    )


def test_the_sandbox_clock_can_be_injected(endpoint: Receiver) -> None:
    moments = [datetime(2030, 5, 1, tzinfo=UTC)]
    with StripeSandbox(port=0, webhook_secret=SECRET, now=lambda: moments[0]) as sandbox:
        api = client(sandbox)
        price = catalogue(api)
        customer = api.v1.customers.create(params={"email": "x@example.com"})
        assert customer.created == int(moments[0].timestamp())
        session = checkout(api, customer.id, price.id)
        ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
        sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
        moments[0] = datetime(2030, 6, 2, tzinfo=UTC)
        ok(sandbox, "tick")
        assert len(api.v1.invoices.list(params={"subscription": sub_id}).data) == 2
        time.sleep(0)


def test_a_trial_without_a_card_set_to_pause_pauses_then_resumes(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    clock, customer = on_clock(api)
    session = checkout(
        api,
        customer.id,
        price.id,
        payment_method_collection="if_required",
        subscription_data={
            "trial_period_days": 7,
            "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
        },
    )
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    api.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 8 * DAY})
    assert api.v1.subscriptions.retrieve(sub_id).status == "paused"
    endpoint.wait_for("customer.subscription.paused")

    api.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    resumed = api.v1.subscriptions.resume(sub_id)
    assert resumed.status == "active"
    assert resumed.billing_cycle_anchor == START + 8 * DAY
    assert api.v1.invoices.retrieve(str(resumed.latest_invoice)).status == "paid"
    endpoint.wait_for("customer.subscription.resumed")


def test_customers_are_found_by_metadata_and_deleted_as_stripe_does(
    sandbox: StripeSandbox, api: stripe.StripeClient, endpoint: Receiver
) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    api.v1.customers.create(params={"email": "other@example.com", "metadata": {"tally_account_id": "acc_2"}})
    found = api.v1.customers.search(params={"query": "metadata['tally_account_id']:'acc_1'"})
    assert [c.id for c in found.data] == [customer.id]
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)

    gone = api.v1.customers.delete(customer.id)
    assert gone.deleted is True
    assert api.v1.customers.retrieve(customer.id).to_dict().get("deleted") is True
    assert api.v1.subscriptions.retrieve(sub_id).status == "canceled"
    endpoint.wait_for("customer.deleted")
    assert customer.id not in {c.id for c in api.v1.customers.list().data}


def test_a_refused_update_changes_nothing(sandbox: StripeSandbox, api: stripe.StripeClient) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub = api.v1.subscriptions.retrieve(str(api.v1.checkout.sessions.retrieve(session.id).subscription))
    item = sub["items"]["data"][0]["id"]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        api.v1.subscriptions.update(
            sub.id,
            params={"metadata": {"changed": "yes"}, "items": [{"id": item, "price": "price_missing"}]},
        )
    assert refused.value.param == "items[0][price]"
    after = api.v1.subscriptions.retrieve(sub.id)
    assert after.to_dict() == sub.to_dict()


def test_the_hosted_checkout_page_takes_a_card_and_redirects(
    sandbox: StripeSandbox, api: stripe.StripeClient
) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    assert session.url is not None
    with urllib.request.urlopen(session.url) as page:  # noqa: S310 - the sandbox, on loopback
        assert b"4242424242424242" in page.read()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as declined:
        opener.open(session.url, data=b"card=4000000000000002")
    assert declined.value.code == 402
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(session.url, data=b"card=4242424242424242")
    assert redirected.value.code == 303
    assert redirected.value.headers["Location"] == f"http://localhost:3000/ok?session={session.id}"
    assert api.v1.checkout.sessions.retrieve(session.id).status == "complete"


def test_an_invoice_includes_its_payments_on_request(
    sandbox: StripeSandbox, api: stripe.StripeClient
) -> None:
    price = catalogue(api)
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    invoice_id = str(api.v1.checkout.sessions.retrieve(session.id).invoice)
    invoice = api.v1.invoices.retrieve(invoice_id, params={"expand": ["payments.payment.payment_intent"]})
    payment = invoice.to_dict()["payments"]["data"][0]
    assert payment["status"] == "paid"
    assert payment["payment"]["payment_intent"]["status"] == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.invoices.retrieve(invoice_id, params={"expand": ["latest_charge"]})


def test_an_order_with_an_invoice_and_a_coupon(sandbox: StripeSandbox, api: stripe.StripeClient) -> None:
    product = api.v1.products.create(params={"name": "Placement"})
    one_off = api.v1.prices.create(params={"product": product.id, "currency": "jpy", "unit_amount": 12_000})
    coupon = api.v1.coupons.create(params={"percent_off": 10, "duration": "once"})
    _, customer = on_clock(api)
    session = api.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [{"price": one_off.id, "quantity": 1}],
            "discounts": [{"coupon": coupon.id}],
            "invoice_creation": {"enabled": True},
            "success_url": "http://localhost/ok",
        }
    )
    assert session.amount_total == 10_800
    assert control(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242 4242 oops"})[0] == 402
    assert api.v1.customers.list(params={"email": "owner@example.com"}).data[0].id == customer.id
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242 4242 4242 4242"})
    done = api.v1.checkout.sessions.retrieve(session.id, params={"expand": ["invoice", "payment_intent"]})
    assert isinstance(done.invoice, stripe.Invoice)
    assert isinstance(done.payment_intent, stripe.PaymentIntent)
    assert (done.invoice.status, done.invoice.total, done.invoice.currency) == ("paid", 10_800, "jpy")
    assert done.payment_intent.amount == 10_800
    payment = api.v1.invoice_payments.list(params={"invoice": str(done.invoice.id)}).data[0]
    assert payment.to_dict()["payment"]["payment_intent"] == done.payment_intent.id


def test_search_and_a_deleted_coupons_discount_runs_on(
    sandbox: StripeSandbox, api: stripe.StripeClient
) -> None:
    price = catalogue(api)
    assert (
        api.v1.products.search(params={"query": "metadata['tally_plan']:'pro'"}).data[0].id == price.product
    )
    assert api.v1.prices.search(
        params={"query": "lookup_key:'tally:pro:1:monthly:eur' AND active:'true'"}
    ).data
    assert api.v1.prices.search(params={"query": "active:'false'"}).data == []
    coupon = api.v1.coupons.create(params={"id": "tally_HALF", "percent_off": 50, "duration": "forever"})
    updated = api.v1.coupons.update(coupon.id, params={"metadata": {"tally_coupon": "HALF"}})
    assert updated.to_dict()["metadata"] == {"tally_coupon": "HALF"}
    _, customer = on_clock(api)
    session = checkout(api, customer.id, price.id, discounts=[{"coupon": coupon.id}])
    assert api.v1.coupons.delete(coupon.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        api.v1.coupons.retrieve(coupon.id)
    ok(sandbox, f"checkout/sessions/{session.id}/complete", {"card": "4242424242424242"})
    sub_id = str(api.v1.checkout.sessions.retrieve(session.id).subscription)
    found = api.v1.subscriptions.search(params={"query": "metadata['tally_account_id']:'acc_1'"})
    assert [s.id for s in found.data] == [sub_id]
    ok(sandbox, f"subscriptions/{sub_id}/advance", {"frozen_time": "period_end"})
    totals = [i.total for i in api.v1.invoices.search(params={"query": f"subscription:'{sub_id}'"}).data]
    assert totals == [1000, 1000]
