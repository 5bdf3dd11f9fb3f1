"""Stripe's form encoding, as the SDK and curl send it, parsed into nested data."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from stripe._encode import _api_encode

from local.stripe.errors import StripeError
from local.stripe.forms import parse_form
from local.stripe.money import add_interval, iso_or_unix, percent_of, prorated


def test_the_sdks_encoding_round_trips() -> None:
    params = {
        "mode": "subscription",
        "line_items": [{"price": "price_1", "quantity": 2}, {"price": "price_2", "quantity": 1}],
        "metadata": {"tally_account_id": "acc_1", "tally_plan": "pro"},
        "discounts": [{"coupon": "SAVE"}],
        "subscription_data": {"trial_period_days": 14, "metadata": {"k": "v"}},
        "expand": ["subscription", "invoice"],
        "confirm": True,
    }
    parsed = parse_form(urlencode(list(_api_encode(params))))
    assert parsed == {
        "mode": "subscription",
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2", "quantity": "1"}],
        "metadata": {"tally_account_id": "acc_1", "tally_plan": "pro"},
        "discounts": [{"coupon": "SAVE"}],
        "subscription_data": {"trial_period_days": "14", "metadata": {"k": "v"}},
        "expand": ["subscription", "invoice"],
        "confirm": "true",
    }


def test_curl_style_arrays_and_empty_values() -> None:
    assert parse_form("expand[]=a&expand[]=b&lookup_keys[]=x&metadata[gone]=") == {
        "expand": ["a", "b"],
        "lookup_keys": ["x"],
        "metadata": {"gone": ""},
    }


def test_a_key_used_both_as_value_and_object_is_refused() -> None:
    with pytest.raises(StripeError) as error:
        parse_form("metadata=x&metadata[a]=b")
    assert error.value.status == 400


def test_periods_keep_the_anchor_day_and_amounts_round_half_up() -> None:
    jan31 = int(iso_or_unix("2026-01-31T10:00:00Z"))
    feb = add_interval(jan31, "month", 1)
    assert feb == iso_or_unix("2026-02-28T10:00:00Z")
    assert add_interval(feb, "month", 1, anchor_day=31) == iso_or_unix("2026-03-31T10:00:00Z")
    assert add_interval(jan31, "year", 1) == iso_or_unix("2027-01-31T10:00:00Z")
    assert percent_of(1999, Decimal("25")) == 500
    assert prorated(3000, 15, 30) == 1500
    assert iso_or_unix(1700000000) == 1700000000
    assert iso_or_unix("1700000000") == 1700000000


def test_the_sandbox_speaks_the_sdks_api_version() -> None:
    from stripe._api_version import _ApiVersion

    from local.stripe.core import API_VERSION

    assert API_VERSION == _ApiVersion.CURRENT
