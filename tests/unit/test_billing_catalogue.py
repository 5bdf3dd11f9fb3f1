from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tally.billing.catalogue import (
    Plan,
    PlanVersion,
    annual_saving_percent,
    content_hash,
    monthly_equivalent,
    next_version,
)
from tally.billing.catalogue_files import (
    load_catalogue,
    load_shipped_catalogues,
    parse_catalogue,
    shipped_catalogue_names,
)
from tally.errors import InvalidInput

AT = datetime(2025, 1, 1, tzinfo=UTC)


def version(**changes: Any) -> dict[str, Any]:
    return {
        "prices": [
            {"cycle": "monthly", "currency": "XOF", "amount": 15000},
            {"cycle": "annual", "currency": "XOF", "amount": 144000},
        ],
        "trial": {"days": 14, "card_required": False},
        "quotas": {"tickets": {"limit": 3000, "enforcement": "soft"}},
        "features": {"api_access": False, "support_level": "email", "sites": 1},
        "data_retention_days": 90,
        "charges": [
            {
                "metric": "sms",
                "currency": "XOF",
                "model": "standard",
                "included_units": 200,
                "unit_price": "25",
            }
        ],
        **changes,
    }


def refusal(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as refused:
        PlanVersion.model_validate(data)
    [error] = refused.value.errors()
    return ".".join(str(part) for part in error["loc"]), str(error["msg"])


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (Decimal("15000.5"), "XOF has no minor unit: amounts are whole XOF, without decimals: 15000.5"),
        (15000.5, "XOF has no minor unit"),
        (
            "150.00",
            "XOF has no minor unit: amounts are whole XOF, written as a number, not the string '150.00'",
        ),
        (0, "positive whole number"),
        (-15000, "positive whole number"),
    ],
)
def test_an_xof_price_that_is_not_whole_francs_is_refused_in_words(amount: object, words: str) -> None:
    where, message = refusal(version(prices=[{"cycle": "monthly", "currency": "XOF", "amount": amount}]))
    assert where == "prices.0.amount"
    assert words in message


def test_a_eur_price_in_euros_is_refused_with_the_cents_it_means() -> None:
    where, message = refusal(version(prices=[{"cycle": "monthly", "currency": "EUR", "amount": "19.99"}]))
    assert where == "prices.0.amount"
    assert "EUR amounts are integers in cents" in message
    assert "e.g. 1999 for 19.99 EUR" in message


@pytest.mark.parametrize(
    ("currency", "words"),
    [("ABC", "'ABC' is not a supported ISO 4217"), ("eur", "codes are upper case: 'EUR'")],
)
def test_an_unknown_currency_is_refused(currency: str, words: str) -> None:
    where, message = refusal(version(prices=[{"cycle": "monthly", "currency": currency, "amount": 100}]))
    assert where == "prices.0.currency"
    assert words in message


@pytest.mark.parametrize(
    ("price", "words"),
    [
        ({"cycle": "monthly", "currency": "XOF"}, "needs an amount in minor units, or on_quote: true"),
        ({"cycle": "monthly", "currency": "XOF", "amount": 100, "on_quote": True}, "not both"),
    ],
)
def test_a_price_is_an_amount_or_on_quote(price: dict[str, Any], words: str) -> None:
    _, message = refusal(version(prices=[price]))
    assert words in message


def test_a_cycle_and_currency_is_priced_once() -> None:
    prices = [
        {"cycle": "monthly", "currency": "XOF", "amount": 15000},
        {"cycle": "monthly", "currency": "XOF", "amount": 16000},
    ]
    _, message = refusal(version(prices=prices))
    assert "prices.1: monthly XOF is already priced by prices.0" in message


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"cycle_count": 3}, "cycle_count"),
        ({"prices": [{"cycle": "weekly", "currency": "XOF", "amount": 1}]}, "prices.0.cycle"),
        ({"quotas": {"tickets": {"limit": 10, "enforcement": "strict"}}}, "quotas.tickets.enforcement"),
        ({"trial": {"days": 14}}, "trial.card_required"),
        ({"data_retention_days": "90"}, "data_retention_days"),
        ({"quotas": {"Tickets": {"limit": 10, "enforcement": "hard"}}}, "quotas.Tickets.[key]"),
    ],
)
def test_bad_versions_name_the_field(changes: dict[str, Any], where: str) -> None:
    assert refusal(version(**changes))[0] == where


def test_features_keep_their_types() -> None:
    features = PlanVersion.model_validate(version()).features
    assert features == {"api_access": False, "support_level": "email", "sites": 1}
    assert features["api_access"] is False


def test_plan_codes_are_slugs() -> None:
    assert Plan(code="sponsored-placement", name="Sponsored placement", tier_rank=1).status == "active"
    with pytest.raises(ValidationError, match="Use a slug"):
        Plan.model_validate({"code": "Gold Plan", "name": "Gold", "tier_rank": 3})


def test_versions_are_immutable() -> None:
    terms = PlanVersion.model_validate(version())
    with pytest.raises(ValidationError, match="frozen"):
        terms.data_retention_days = 1


# --- content hash ---


def test_the_hash_ignores_the_order_things_are_written_in() -> None:
    data = version()
    shuffled = json.loads(json.dumps(data), parse_float=Decimal)
    shuffled["prices"].reverse()
    shuffled["features"] = dict(reversed(list(shuffled["features"].items())))
    shuffled["charges"][0]["unit_price"] = "25.000"
    assert content_hash(PlanVersion.model_validate(data)) == content_hash(
        PlanVersion.model_validate(shuffled)
    )


def test_the_hash_changes_with_a_price() -> None:
    cheaper = version(prices=[{"cycle": "monthly", "currency": "XOF", "amount": 14000}])
    assert content_hash(PlanVersion.model_validate(version())) != content_hash(
        PlanVersion.model_validate(cheaper)
    )


def test_the_same_terms_twice_publish_nothing() -> None:
    terms = PlanVersion.model_validate(version())
    first = next_version("essential", None, terms, AT)
    assert first is not None
    assert (first.number, first.content_hash) == (1, content_hash(terms))
    assert next_version("essential", first, PlanVersion.model_validate(version()), AT) is None

    repriced = PlanVersion.model_validate(version(data_retention_days=120))
    second = next_version("essential", first, repriced, AT)
    assert second is not None
    assert second.number == 2


# --- annual saving ---


@pytest.mark.parametrize(
    ("monthly", "annual", "percent"),
    [
        (15000, 144000, Decimal("20.0")),  # -20 %
        (15000, 150000, Decimal("16.7")),  # "10 months instead of 12": 16.666… -> 16.7
        (2900, 29000, Decimal("16.7")),
        (1000, 11994, Decimal("0.1")),  # 0.05 exactly: half-up
        (1000, 12600, Decimal("-5.0")),  # the annual price costs more
    ],
)
def test_the_annual_saving_is_computed_from_the_prices(monthly: int, annual: int, percent: Decimal) -> None:
    prices = [
        {"cycle": "monthly", "currency": "XOF", "amount": monthly},
        {"cycle": "annual", "currency": "XOF", "amount": annual},
    ]
    assert annual_saving_percent(PlanVersion.model_validate(version(prices=prices)), "XOF") == percent


def test_no_saving_without_both_prices() -> None:
    on_quote = version(
        prices=[
            {"cycle": "monthly", "currency": "XOF", "on_quote": True},
            {"cycle": "annual", "currency": "XOF", "on_quote": True},
        ]
    )
    assert annual_saving_percent(PlanVersion.model_validate(on_quote), "XOF") is None
    assert annual_saving_percent(PlanVersion.model_validate(version()), "EUR") is None


def test_monthly_equivalent() -> None:
    assert monthly_equivalent(29000, "annual") == Decimal(29000) / 12
    assert monthly_equivalent(9000, "quarterly") == 3000


# --- shipped catalogues ---


def test_every_shipped_catalogue_loads() -> None:
    assert shipped_catalogue_names() == ["directory", "esxi-backup", "smartqueue"]
    assert len(load_shipped_catalogues()) == 3


def test_bronze_silver_gold() -> None:
    esxi = load_catalogue("esxi-backup")
    assert [p.code for p in esxi.plans] == ["bronze", "silver", "gold"]
    assert [p.tier_rank for p in esxi.plans] == [1, 2, 3]
    for plan in esxi.plans:
        assert {(p.cycle, p.currency) for p in plan.version.prices} == {("monthly", "EUR"), ("annual", "EUR")}
        assert set(plan.version.quotas) == {"servers", "vms", "backups", "storage_gb", "users"}
        assert set(plan.version.features) == {
            "replication",
            "surebackup",
            "monitoring",
            "api_access",
            "support_level",
        }
    storage = esxi.metric("storage_gb")
    assert storage is not None
    assert (storage.aggregation, storage.reset) == ("latest", "never")


def test_essential_professional_enterprise_in_xof() -> None:
    smartqueue = load_catalogue("smartqueue")
    plans = {p.code: p for p in smartqueue.plans}
    essential, professional, enterprise = plans["essential"], plans["professional"], plans["enterprise"]
    assert essential.version.price("monthly", "XOF") is not None
    assert [essential.version.price(c, "XOF").amount for c in ("monthly", "annual")] == [15000, 144000]  # type: ignore[union-attr]
    assert [professional.version.price(c, "XOF").amount for c in ("monthly", "annual")] == [45000, 432000]  # type: ignore[union-attr]
    assert all(p.on_quote for p in enterprise.version.prices)
    for plan in (essential, professional):
        assert annual_saving_percent(plan.version, "XOF") == Decimal("20.0")
        assert plan.version.trial is not None
        assert (plan.version.trial.days, plan.version.trial.card_required) == (14, False)
    api_calls = smartqueue.metric("api_calls")
    assert api_calls is not None
    assert (api_calls.aggregation, api_calls.reset) == ("sum", "per_period")


def test_sponsored_placement() -> None:
    [placement] = load_catalogue("directory").plans
    assert placement.name == "Sponsored placement"
    price = placement.version.price("monthly", "EUR")
    assert price is not None
    assert price.amount == 9900
    assert placement.plan() == Plan(
        code="sponsored-placement",
        name="Sponsored placement",
        description=placement.description,
        tier_rank=1,
    )


def test_loading_a_catalogue_twice_gives_the_same_hashes() -> None:
    first = {p.code: content_hash(p.version) for p in load_catalogue("smartqueue").plans}
    again = {p.code: content_hash(p.version) for p in load_catalogue("smartqueue").plans}
    assert first == again


# --- catalogue files ---


def catalogue_text(**changes: Any) -> str:
    data = {
        "catalogue": "test",
        "metrics": [
            {"code": "tickets", "name": "Tickets", "aggregation": "count"},
            {"code": "sms", "name": "SMS", "aggregation": "sum"},
        ],
        "plans": [{"code": "essential", "name": "Essential", "tier_rank": 1, "version": version()}],
        **changes,
    }
    return json.dumps(data, default=str)


def test_a_catalogue_file_reads_decimals_exactly() -> None:
    text = catalogue_text().replace('"unit_price": "25"', '"unit_price": 25.10')
    charge = parse_catalogue(text).plans[0].version.charges[0]
    assert charge.model == "standard"
    assert charge.unit_price == Decimal("25.10")


def test_a_catalogue_with_an_xof_price_in_decimals_says_where() -> None:
    text = catalogue_text().replace('"amount": 15000', '"amount": 15000.5')
    with pytest.raises(InvalidInput, match=r"plans\.0\.version\.prices\.\d\.amount: XOF has no minor unit"):
        parse_catalogue(text)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (
            {"metrics": [{"code": "tickets", "name": "Tickets", "aggregation": "count"}]},
            "names metric(s) sms",
        ),
        (
            {
                "plans": [
                    {"code": "essential", "name": "Essential", "tier_rank": 1, "version": version()},
                    {"code": "essential", "name": "Again", "tier_rank": 2, "version": version()},
                ]
            },
            "plans.1.code: plan 'essential' is already defined by plans.0",
        ),
    ],
)
def test_an_inconsistent_catalogue_is_refused(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_catalogue(catalogue_text(**changes))


def test_a_catalogue_that_is_not_json() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_catalogue("{plans: []")


def test_an_unknown_catalogue_name() -> None:
    with pytest.raises(InvalidInput, match="No catalogue named 'nope'"):
        load_catalogue("nope")
