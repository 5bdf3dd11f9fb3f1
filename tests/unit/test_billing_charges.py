from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from tally.billing.charges import (
    GraduatedCharge,
    PackageCharge,
    StandardCharge,
    UsageCharge,
    VolumeCharge,
    charge_amount,
    exact_amount,
    preview,
    total,
)

CHARGE: TypeAdapter[UsageCharge] = TypeAdapter(UsageCharge)

TIERS = [
    {"up_to": 1000, "unit_price": "0.10"},
    {"up_to": 5000, "unit_price": "0.08"},
    {"up_to": None, "unit_price": "0.05"},
]


def charge(**fields: Any) -> UsageCharge:
    return CHARGE.validate_python({"metric": "sms", "currency": "EUR", **fields})


def amount(usage: str, **fields: Any) -> int:
    return charge_amount(charge(**fields), Decimal(usage))


# --- standard ---


def test_standard_bills_each_unit_past_the_included_ones() -> None:
    # 1234 SMS, 100 included, 0.05 EUR each: 1134 x 0.05 = 56.70 EUR
    assert amount("1234", model="standard", unit_price="0.05", included_units=100) == 5670


def test_a_unit_price_below_a_cent_is_rounded_half_up_per_line() -> None:
    # 0.0125 EUR each: 2 units = 2.5 cents -> 3 (half-up, not to even); 3 units = 3.75 -> 4
    assert amount("2", model="standard", unit_price="0.0125") == 3
    assert amount("3", model="standard", unit_price="0.0125") == 4
    assert exact_amount(charge(model="standard", unit_price="0.0125"), Decimal(2)) == Decimal("2.5")


def test_standard_in_xof() -> None:
    # 250 SMS, 200 included, 25 XOF each: 1,250 XOF; at 12.5 XOF, 3 SMS = 37.5 -> 38 XOF
    assert amount("250", model="standard", currency="XOF", unit_price="25", included_units=200) == 1250
    assert amount("3", model="standard", currency="XOF", unit_price="12.5") == 38


@pytest.mark.parametrize("usage", ["0", "40", "100"])
def test_no_charge_while_usage_stays_within_the_included_units(usage: str) -> None:
    assert amount(usage, model="standard", unit_price="0.05", included_units=100) == 0


# --- graduated ---


@pytest.mark.parametrize(
    ("usage", "cents"),
    [
        ("0", 0),
        ("1", 10),
        ("1000", 10000),  # the boundary is inclusive: all 1000 at 0.10
        ("1001", 10008),  # 1000 x 0.10 + 1 x 0.08
        ("5000", 42000),  # 100 + 4000 x 0.08 = 420.00
        ("6000", 47000),  # 420 + 1000 x 0.05
    ],
)
def test_graduated_prices_each_tier_its_own_units(usage: str, cents: int) -> None:
    assert amount(usage, model="graduated", tiers=TIERS) == cents


def test_graduated_after_included_units() -> None:
    # 1500 used, 500 included: 1000 billable, all in the first tier
    assert amount("1500", model="graduated", tiers=TIERS, included_units=500) == 10000


def test_graduated_flat_amounts_count_for_each_tier_reached() -> None:
    tiers = [
        {"up_to": 10, "unit_price": "0", "flat_amount": 500},
        {"up_to": None, "unit_price": "1", "flat_amount": 200},
    ]
    assert amount("0", model="graduated", tiers=tiers) == 0
    assert amount("1", model="graduated", tiers=tiers) == 500
    assert amount("10", model="graduated", tiers=tiers) == 500
    assert amount("12", model="graduated", tiers=tiers) == 500 + 200 + 200


def test_graduated_in_xof() -> None:
    # Professional's SMS: 7000 sent, 1000 included: 5000 x 20 + 1000 x 15 = 115,000 XOF
    tiers = [{"up_to": 5000, "unit_price": "20"}, {"up_to": None, "unit_price": "15"}]
    assert amount("7000", model="graduated", currency="XOF", tiers=tiers, included_units=1000) == 115000


# --- volume ---


@pytest.mark.parametrize(
    ("usage", "cents"),
    [
        ("0", 0),
        ("1000", 10000),  # 1000 x 0.10
        ("1001", 8008),  # every unit at the second tier: 1001 x 0.08 = 80.08
        ("5000", 40000),
        ("6000", 30000),  # 6000 x 0.05
    ],
)
def test_volume_prices_every_unit_at_the_tier_reached(usage: str, cents: int) -> None:
    assert amount(usage, model="volume", tiers=TIERS) == cents


def test_volume_with_a_flat_amount_and_included_units() -> None:
    tiers = [{"up_to": 100, "unit_price": "0.5", "flat_amount": 1000}, {"up_to": None, "unit_price": "0.25"}]
    # 150 used, 20 included: 130 billable, second tier: 130 x 0.25 = 32.50
    assert amount("150", model="volume", tiers=tiers, included_units=20) == 3250
    # 80 billable: first tier: 10.00 flat + 80 x 0.5
    assert amount("100", model="volume", tiers=tiers, included_units=20) == 1000 + 4000


# --- package ---


@pytest.mark.parametrize(
    ("usage", "cents"), [("0", 0), ("1", 2500), ("1000", 2500), ("1001", 5000), ("2000.5", 7500)]
)
def test_package_bills_every_started_package(usage: str, cents: int) -> None:
    assert amount(usage, model="package", package_size=1000, package_amount=2500) == cents


def test_package_after_included_units_and_in_xof() -> None:
    assert (
        amount("10500", model="package", package_size=1000, package_amount=2500, included_units=10000) == 2500
    )
    assert amount("10000", model="package", package_size=1000, package_amount=2500, included_units=10000) == 0
    assert amount("250", model="package", currency="XOF", package_size=100, package_amount=5000) == 15000


# --- validation ---


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"model": "standard", "unit_price": 0.05}, "not a binary float"),
        ({"model": "standard", "unit_price": "-1"}, "cannot be negative"),
        ({"model": "standard", "unit_price": "five"}, "not a decimal number"),
        ({"model": "graduated", "tiers": []}, "at least one tier"),
        (
            {"model": "graduated", "tiers": [{"up_to": 10, "unit_price": "1"}]},
            "the last tier has no upper bound",
        ),
        (
            {
                "model": "volume",
                "tiers": [
                    {"up_to": 10, "unit_price": "1"},
                    {"up_to": 5, "unit_price": "1"},
                    {"up_to": None, "unit_price": "1"},
                ],
            },
            "tiers.1.up_to: tiers go up",
        ),
        (
            {
                "model": "graduated",
                "tiers": [{"up_to": None, "unit_price": "1"}, {"up_to": None, "unit_price": "1"}],
            },
            "only the last tier is unbounded",
        ),
        (
            {"model": "package", "currency": "XOF", "package_size": 100, "package_amount": "150.00"},
            "XOF has no minor unit",
        ),
        ({"model": "package", "package_size": 0, "package_amount": 100}, "greater than or equal to 1"),
        ({"model": "metered", "unit_price": "1"}, "standard"),
    ],
)
def test_bad_charges_are_refused_in_words(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        charge(**fields)


def test_models_are_told_apart_by_their_model_field() -> None:
    assert isinstance(charge(model="standard", unit_price="1"), StandardCharge)
    assert isinstance(charge(model="graduated", tiers=TIERS), GraduatedCharge)
    assert isinstance(charge(model="volume", tiers=TIERS), VolumeCharge)
    assert isinstance(charge(model="package", package_size=10, package_amount=100), PackageCharge)


# --- preview ---


def test_preview_gives_a_line_per_charge_in_the_currency() -> None:
    charges = [
        charge(model="standard", unit_price="0.05", included_units=100),
        charge(
            metric="storage_gb", model="package", package_size=1000, package_amount=2500, included_units=10000
        ),
        charge(model="standard", currency="XOF", unit_price="25"),
    ]
    lines = preview(charges, {"sms": Decimal(1234)}, "EUR", metric_names={"sms": "SMS"})

    assert [(line.metric, line.billable, line.amount) for line in lines] == [
        ("sms", Decimal(1134), 5670),
        ("storage_gb", Decimal(0), 0),  # no usage: zero, still shown
    ]
    assert lines[0].description == "SMS: 1234, 100 included; 1134 x 0.05 EUR"
    assert total(lines) == 5670


def test_preview_in_xof_ignores_the_eur_charges() -> None:
    charges = [
        charge(model="standard", unit_price="0.05"),
        charge(model="standard", currency="XOF", unit_price="25"),
    ]
    [line] = preview(charges, {"sms": Decimal(3)}, "XOF")
    assert (line.currency, line.amount) == ("XOF", 75)
