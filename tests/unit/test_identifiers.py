from __future__ import annotations

import pytest
from pydantic import ValidationError

from tally.accounts.identifiers import luhn_valid, siren_problem, siret_problem
from tally.accounts.models import AccountIn

VALID = {"name": "Boulangerie Dupont", "email": "contact@dupont.fr", "country": "FR", "currency": "EUR"}


def test_luhn() -> None:
    assert luhn_valid("732829320")
    assert not luhn_valid("732829321")


@pytest.mark.parametrize(("value", "problem"), [("732829320", None), ("552100554", None)])
def test_valid_sirens(value: str, problem: None) -> None:
    assert siren_problem(value) is problem


@pytest.mark.parametrize(
    ("value", "words"), [("73282932", "9 digits"), ("73282932A", "9 digits"), ("732829321", "check digit")]
)
def test_invalid_sirens_say_why(value: str, words: str) -> None:
    assert words in (siren_problem(value) or "")


def test_sirets() -> None:
    assert siret_problem("73282932000074") is None
    assert "check digit" in (siret_problem("73282932000075") or "")
    assert "14 digits" in (siret_problem("7328293200007") or "")
    assert siret_problem("35600000049837") is None  # La Poste: digit sum multiple of 5
    assert siret_problem("35600000049838") is not None


def test_account_drops_spaces_from_numbers_and_around_the_name() -> None:
    account = AccountIn.model_validate(
        {**VALID, "name": "  Boulangerie Dupont ", "siren": "732 829 320", "siret": "732 829 320 00074"}
    )

    assert account.name == "Boulangerie Dupont"
    assert (account.siren, account.siret) == ("732829320", "73282932000074")


def test_sirens_in_other_scripts_digits_are_refused() -> None:
    assert "9 digits" in (siren_problem("٧٣٢٨٢٩٣٢٠") or "")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"siren": "123456789"}, "siren", "check digit"),
        ({"siret": "1234"}, "siret", "pattern"),
        ({"siren": "732829320", "siret": "55210055400013"}, "siret", "starts with"),
        ({"country": "XX"}, "country", "ISO 3166"),
        ({"currency": "ABC"}, "currency", "ISO 4217"),
        ({"email": "not-an-email"}, "email", "pattern"),
        ({"country": "fr"}, "country", "codes are upper case: 'FR'"),
        ({"currency": "eur"}, "currency", "codes are upper case: 'EUR'"),
        ({"name": "   "}, "name", "pattern"),
        ({"name": "Dupont\tet fils"}, "name", "pattern"),
    ],
)
def test_bad_accounts_name_the_field(changes: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as error:
        AccountIn.model_validate({**VALID, **changes})

    problems = {".".join(map(str, e["loc"])): e["msg"] for e in error.value.errors()}
    assert field in problems
    assert words in problems[field]
