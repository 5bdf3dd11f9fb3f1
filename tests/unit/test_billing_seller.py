"""Seller settings: the shipped defaults, and validation naming the field."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tally.billing.seller import default_seller_settings, parse_seller_settings
from tally.errors import InvalidInput


def test_the_shipped_defaults_hold_the_french_and_senegalese_rates() -> None:
    settings = default_seller_settings()
    assert settings.payment_terms_days == 15
    assert settings.tax_rate(None).rate == Decimal("0.20")
    assert settings.tax_rate("sn_vat_18").rate == Decimal("0.18")
    exempt = settings.tax_rate("exempt")
    assert exempt.rate == 0
    assert exempt.legal_mention
    assert settings.invoice_numbering.format == "INV-{YYYY}{MM}-{NNNNN}"
    assert settings.credit_note_numbering.format == "CN-{YYYY}{MM}-{NNNNN}"
    assert settings.late_payment is not None
    assert settings.late_payment.recovery_indemnity == 4000
    assert "40 €" in settings.late_payment.mention_fr


def test_settings_round_trip_through_json() -> None:
    settings = default_seller_settings()
    assert parse_seller_settings(settings.model_dump(mode="json")) == settings


def _edit(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = default_seller_settings().model_dump(mode="json")
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d.update(siret="99999999900012"), "siret", "starts with its SIREN"),
        (lambda d: d.update(siren="12345"), "siren", "9 digits"),
        (lambda d: d["bank"].pop("bic"), "bank.bic", "BIC"),
        (lambda d: d["tax_rates"][0].update(rate=0.2), "tax_rates.0.rate", "not a binary float"),
        (lambda d: d["tax_rates"][0].update(rate="1.5"), "tax_rates.0.rate", "between 0 and 1"),
        (lambda d: d["tax_rates"][2].pop("legal_mention"), "tax_rates.2.legal_mention", "legal mention"),
        (lambda d: d["tax_rates"][1].update(code="fr_vat_20"), "tax_rates.1.code", "used twice"),
        (lambda d: d.update(default_tax_rate="nope"), "default_tax_rate", "not one of"),
        (lambda d: d.update(time_zone="Mars/Base"), "time_zone", "IANA"),
        (lambda d: d.update(payment_terms_days=400), "payment_terms_days", ""),
        (lambda d: d.update(default_currency="eur"), "default_currency", "upper case"),
        (
            lambda d: d["invoice_numbering"].update(format="INV-{NNNNN}"),
            "invoice_numbering.format",
            "needs the year",
        ),
        (
            lambda d: d["credit_note_numbering"].update(format="INV-{YYYY}{MM}-{NNNNN}"),
            "credit_note_numbering.format",
            "of their own",
        ),
    ],
)
def test_bad_settings_name_the_field(
    change: Callable[[dict[str, Any]], object], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_seller_settings(_edit(change))
    assert refused.value.field == field
    assert words in refused.value.message


def test_an_unknown_tax_rate_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="use one of fr_vat_20, sn_vat_18, exempt"):
        default_seller_settings().tax_rate("de_vat_19")


def test_a_line_without_a_rate_gets_the_customers_countrys() -> None:
    settings = default_seller_settings()
    assert settings.rate_for_country("SN") == "sn_vat_18"
    assert settings.rate_for_country("fr") == "fr_vat_20"
    assert settings.rate_for_country("DE") == settings.default_tax_rate  # none of its own
    assert settings.rate_for_country(None) == settings.default_tax_rate


# --- the dunning ladder (issue 10) ----------------------------------------------------------------


REMIND: dict[str, object] = {"days": 3, "action": "remind"}


def _with_ladder(steps: list[dict[str, object]]) -> dict[str, object]:
    from tally.billing.seller import default_seller_settings

    return {**default_seller_settings().model_dump(mode="json"), "dunning": {"steps": steps}}


def test_the_shipped_ladder_is_the_issues() -> None:
    from tally.billing.seller import default_seller_settings

    steps = default_seller_settings().dunning.steps
    assert [(step.days, step.action, step.template) for step in steps] == [
        (-3, "remind", "dunning-reminder"),
        (1, "overdue", "dunning-reminder"),
        (3, "remind", "dunning-reminder"),
        (7, "urgent", "dunning-reminder"),
        (15, "warn", "dunning-reminder"),
        (30, "suspend", "account-suspended"),
    ]
    assert [step.name for step in steps] == ["J-3", "J+1", "J+3", "J+7", "J+15", "J+30"]


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        (
            [{"days": 3, "action": "remind"}, {"days": 3, "action": "warn"}],
            "dunning.steps.1.days",
            "strictly up",
        ),
        (
            [{"days": 3, "action": "remind", "template": "welcome"}],
            "dunning.steps.0.template",
            "not a dunning",
        ),
        ([{"days": 3, "action": "suspend"}], "dunning.steps.0.template", "cannot send"),
        ([{"days": 0, "action": "overdue"}], "dunning.steps.0.days", "after its due date"),
        (
            [
                {"days": 3, "action": "suspend", "template": "account-suspended"},
                {"days": 5, "action": "remind"},
            ],
            "dunning.steps.0.action",
            "last step",
        ),
    ],
)
def test_a_wrong_ladder_is_refused_in_words(steps: list[dict[str, object]], field: str, words: str) -> None:
    from tally.billing.seller import parse_seller_settings
    from tally.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        parse_seller_settings(_with_ladder(steps))
    assert refused.value.field == field
    assert words in str(refused.value)


def test_settings_stored_without_a_ladder_keep_their_fingerprint() -> None:
    from tally.billing.seller import default_seller_settings, stable_json

    settings = default_seller_settings()
    assert "dunning" not in stable_json(settings)
    custom = settings.model_copy(update={"dunning": settings.dunning.model_copy(update={"steps": []})})
    assert "dunning" in stable_json(custom)


def test_settings_stored_before_the_jobs_keep_their_fingerprint() -> None:
    from tally.billing.seller import default_seller_settings, stable_json

    settings = default_seller_settings()
    assert "renewal_anchor" not in stable_json(settings)
    assert "trial_grace_days" not in stable_json(settings)
    anchored = settings.model_copy(update={"renewal_anchor": "first_of_month", "trial_grace_days": 7})
    assert '"renewal_anchor":"first_of_month"' in stable_json(anchored)
    assert '"trial_grace_days":7' in stable_json(anchored)
