"""Checkout's pure rules: return URLs (no open redirect), coupons mapped to Stripe coupons with the
same effect, a placement's availability and its capacity from the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tally.billing.catalogue import PlanVersion, PublishedVersion
from tally.billing.coupons import Coupon
from tally.checkout.service import capacity_of, checkout_id
from tally.checkout.stripe_objects import coupon_spec, lookup_key
from tally.checkout.urls import allowed_origins, check_return_url, origin_of
from tally.errors import InvalidInput
from tally.placements.models import PlacementFull, Seat, availability

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ALLOWED = allowed_origins([], "https://app.example.com")


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/billing/done?session={CHECKOUT_SESSION_ID}",
        "https://APP.example.com:443/x",
        "https://app.example.com",
    ],
)
def test_urls_on_the_front_ends_origin_are_allowed(url: str) -> None:
    assert check_return_url(url, "success_url", ALLOWED) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://app.example.com/x", "https"),
        ("https://app.example.com.evil.net/x", "not an allowed"),
        ("https://evil.net/?next=https://app.example.com", "not an allowed"),
        ("https://app.example.com@evil.net/x", "user name"),
        ("https://app.example.com:8443/x", "not an allowed"),
        ("javascript:alert(1)", "absolute https URL"),
        ("//app.example.com/x", "absolute https URL"),
        ("https://app.example.com:99999/x", "absolute https URL"),
    ],
)
def test_other_urls_are_refused_naming_the_field(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_return_url(url, "cancel_url", ALLOWED)
    assert refused.value.field == "cancel_url"
    assert words in refused.value.message


def test_localhost_may_be_http_when_listed() -> None:
    listed = allowed_origins(
        ["http://localhost:3000", "https://shop.example.org/"], "https://app.example.com"
    )
    assert listed == {"http://localhost:3000", "https://shop.example.org"}
    assert check_return_url("http://localhost:3000/done", "success_url", listed)
    with pytest.raises(InvalidInput):
        check_return_url("http://127.0.0.1:3000/done", "success_url", listed)
    assert origin_of("not a url") is None


def _coupon(**terms: Any) -> Coupon:
    return Coupon.model_validate({"code": "welcome", "name": "Welcome", **terms})


def test_coupons_map_to_stripe_coupons_with_the_same_effect() -> None:
    once = coupon_spec(_coupon(percent_off="10"), "monthly", "EUR")
    assert (once.percent_off, once.duration, once.duration_in_months) == (Decimal(10), "once", None)
    repeating = coupon_spec(
        _coupon(percent_off="12.5", duration="repeating", duration_months=3), "monthly", "EUR"
    )
    assert (repeating.duration, repeating.duration_in_months) == ("repeating", 3)
    # Three months on an annual plan: its first annual invoice, once.
    assert (
        coupon_spec(
            _coupon(percent_off="5", duration="repeating", duration_months=3), "annual", "EUR"
        ).duration
        == "once"
    )
    forever = coupon_spec(_coupon(amount_off=500, currency="EUR", duration="forever"), "monthly", "EUR")
    assert (forever.amount_off, forever.currency, forever.duration) == (500, "EUR", "forever")
    free = coupon_spec(_coupon(free_months=2), "monthly", "EUR")
    assert (free.percent_off, free.duration, free.duration_in_months) == (Decimal(100), "repeating", 2)
    quarterly = coupon_spec(_coupon(free_months=2), "quarterly", "EUR")
    assert quarterly.duration_in_months == 6
    assert quarterly.id != free.id  # other terms, another Stripe coupon
    first = coupon_spec(
        _coupon(percent_off="10", duration="forever", first_payment_only=True), "monthly", "EUR"
    )
    assert first.duration == "once"
    assert once.id.startswith("tally_WELCOME_")
    assert coupon_spec(_coupon(percent_off="10"), "monthly", "EUR").id == once.id
    with pytest.raises(InvalidInput):
        coupon_spec(_coupon(amount_off=500, currency="EUR"), "monthly", "XOF")


def test_lookup_keys_and_checkout_ids() -> None:
    assert lookup_key("bronze", 2, "annual", "EUR") == "tally:bronze:2:annual:EUR"
    body = {"plan": "bronze"}
    assert checkout_id("acc_1", "k", body) == checkout_id("acc_1", "k", dict(body))
    assert checkout_id("acc_1", "k", body) != checkout_id("acc_1", "k", {"plan": "silver"})
    assert checkout_id("acc_1", "k", body) != checkout_id("acc_2", "k", body)


def test_a_placements_availability() -> None:
    seats = [
        Seat("rsv_1", "acc_1", "active", None),
        Seat("rsv_2", "acc_2", "reserved", AT + timedelta(minutes=10)),
        Seat("rsv_3", "acc_3", "reserved", AT - timedelta(minutes=1)),  # expired: frees its seat
    ]
    seen = availability("dakar", "plumbers", 2, seats, AT)
    assert (seen.taken, seen.reserved, seen.free, seen.next_free_at) == (2, 1, 0, AT + timedelta(minutes=10))
    roomy = availability("dakar", "plumbers", 5, seats, AT)
    assert (roomy.free, roomy.next_free_at) == (3, None)
    sponsors = availability("dakar", "plumbers", 1, seats[:1], AT)
    assert (sponsors.free, sponsors.next_free_at) == (0, None)
    full = PlacementFull(None)
    assert "none frees up by itself" in full.message
    assert full.details == {"next_free_at": None}
    assert PlacementFull(AT).details == {"next_free_at": AT.isoformat()}


def _version(features: dict[str, Any]) -> PublishedVersion:
    terms = PlanVersion.model_validate(
        {
            "prices": [{"cycle": "monthly", "currency": "EUR", "amount": 9900}],
            "data_retention_days": 30,
            "features": features,
        }
    )
    return PublishedVersion(plan_code="p", number=1, content_hash="0" * 64, published_at=AT, version=terms)


def test_a_plan_may_set_its_placements_capacity() -> None:
    assert capacity_of(_version({})) == 5
    assert capacity_of(_version({"placement_capacity": 3})) == 3
    assert capacity_of(_version({"placement_capacity": True})) == 5
    assert capacity_of(_version({"placement_capacity": 0})) == 5
