"""The password policy: the words, the documented pattern, and the pool's PasswordPolicy agree."""

from __future__ import annotations

from pathlib import Path

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.template import load_template
from tally.auth import password

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = jsonschema_rs.validator_for(
    {
        "type": "string",
        "minLength": password.MIN_LENGTH,
        "maxLength": password.MAX_LENGTH,
        "pattern": password.PATTERN,
    }
)


@pytest.mark.parametrize(
    ("candidate", "words"),
    [
        ("Short-1a", "use at least 12 characters"),
        ("correct-horse-9", "add an upper case letter (A-Z)"),
        ("CORRECT-HORSE-9", "add a lower case letter (a-z)"),
        ("Correct-Horse-x", "add a digit (0-9)"),
        ("CorrectHorse99", "add a symbol"),
        ("correcthorse", "add an upper case letter (A-Z), a digit (0-9) and a symbol"),
        (" Correct-Horse-9", "remove the space at the start or the end"),
        ("Correct-Horse-9\t!", "remove control characters"),
        ("Aa1!" + "x" * 253, "use at most 256 characters"),
    ],
)
def test_each_missing_rule_is_named_in_words(candidate: str, words: str) -> None:
    described = password.describe(candidate)

    assert described is not None
    assert described.startswith("This password is too weak: ")
    assert words in described


@pytest.mark.parametrize(
    "candidate", ["Correct-Horse-9!", "Correct Horse 9x", "Aa1!" + "x" * 252, "Mot-de-passe-été-2026"]
)
def test_passwords_that_meet_the_policy_pass(candidate: str) -> None:
    assert password.describe(candidate) is None
    assert DOCUMENTED.is_valid(candidate)


# Characters the rules turn on, plus anything else (controls, spaces, letters beyond ASCII).
_CHARACTERS = st.one_of(st.sampled_from("aZ9!- \t\n\x7f\x85é"), st.characters(exclude_categories=["Cs"]))


# Mostly near the rules: each required kind of character, in any order, among anything else.
_CANDIDATES = st.one_of(
    st.text(_CHARACTERS, max_size=300),
    st.lists(st.sampled_from(["a", "Z", "9", "!", " "]) | _CHARACTERS, min_size=8, max_size=20).map("".join),
    st.permutations(["a", "Z", "9", "!", "x" * 8, "é "]).map("".join),
)


@settings(max_examples=500, deadline=None)
@given(_CANDIDATES)
def test_the_documented_pattern_accepts_exactly_what_the_code_accepts(candidate: str) -> None:
    # An ECMA-262 reading of the document (as schemathesis and client generators read it).
    assert DOCUMENTED.is_valid(candidate) == (password.describe(candidate) is None)


def test_the_policy_is_the_user_pools() -> None:
    policy = (
        load_template(ROOT / "template.yaml").resources["UserPool"].properties["Policies"]["PasswordPolicy"]
    )

    assert policy["MinimumLength"] == password.MIN_LENGTH
    assert all(policy[rule] is True for rule in ("RequireUppercase", "RequireLowercase", "RequireNumbers"))
    assert policy["RequireSymbols"] is True
