"""Validation errors name the field as the client sent it, never pydantic's inner names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tally.accounts.me_models import MePatchIn
from tally.accounts.models import JoinIn
from tally.validation import describe_errors


def _described(model: type[JoinIn] | type[MePatchIn], body: dict[str, object]) -> list[dict[str, object]]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return describe_errors(raised.value.errors())


def test_an_optional_field_that_fails_its_check_is_named_once_without_the_union_members() -> None:
    assert _described(JoinIn, {"siren": "732829321"}) == [
        {
            "field": "siren",
            "in": "body",
            "message": "This SIREN fails its check digit (Luhn): check for a typo",
        }
    ]


def test_a_nullable_field_with_a_wrong_value_says_what_is_wrong_with_the_value() -> None:
    [problem] = _described(MePatchIn, {"phone": "0612345678"})

    assert problem["field"] == "phone"
    assert "international format" in str(problem["message"])
