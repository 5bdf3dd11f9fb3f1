"""The body parser: what it admits, what it refuses, and how it names the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tally.errors import InvalidInput
from tally.http.safe_json import MAX_DEPTH, parse_object


def refusal(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        parse_object(text)
    assert refused.value.location == "body"
    return refused.value


def nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_an_object_parses_with_exact_numbers() -> None:
    parsed = parse_object(
        '{"n": 254, "x": 254.0, "rate": 0.1, "big": 12345678901234567890123456789012345678}'
    )

    assert parsed == {
        "n": 254,
        "x": Decimal("254.0"),
        "rate": Decimal("0.1"),
        "big": 12345678901234567890123456789012345678,
    }
    assert isinstance(parsed["rate"], Decimal)


def test_nesting_is_allowed_up_to_the_limit() -> None:
    assert parse_object(nested(MAX_DEPTH))

    assert refusal(nested(MAX_DEPTH + 1)).field == "a." * (MAX_DEPTH - 1) + "a"
    assert "32 levels" in refusal("[" * 100_000 + "]" * 100_000).message


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("[]", "body", "must be a JSON object"),
        ("null", "body", "must be a JSON object"),
        ("", "body", "not valid JSON: Expecting value (line 1, column 1)"),
        ('{"a": 1,}', "body", "not valid JSON"),
        ('{"a": NaN}', "body", "NaN is not a JSON number"),
        ('{"a": Infinity}', "body", "Infinity is not a JSON number"),
        ('{"a": ' + "1" * 39 + "}", "body", "10^38 or more"),
        ('{"a": -' + "1" * 5_000 + "}", "body", "10^38 or more"),
        ('{"a": 1e38}', "body", "10^38 or more"),
        ('{"a": -12.5e40}', "body", "10^38 or more"),
        ('{"events": [{"page_url": "/a\\u0000"}]}', "events.0.page_url", "NUL"),
        ('{"a\\u0000b": 1}', "a\\u0000b", "field's name may not contain NUL"),
        ('{"name": "\\ud800"}', "name", "unpaired surrogate"),
        ('{"name": "\\udfff x"}', "name", "unpaired surrogate"),
        ('{"\\ud800": 1}', "\\ud800", "unpaired surrogate"),
    ],
)
def test_refusals_say_what_and_where(text: str, field: str, words: str) -> None:
    refused = refusal(text)

    assert refused.field == field
    assert words in refused.message


def test_numbers_just_below_the_limit_and_surrogate_pairs_are_fine() -> None:
    parsed = parse_object('{"a": ' + "9" * 38 + ', "b": 9.99e37, "c": 1e-400, "d": "\\ud83d\\ude00"}')

    assert parsed["a"] == 10**38 - 1
    assert parsed["d"] == "\N{GRINNING FACE}"
