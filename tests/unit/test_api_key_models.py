"""The API-key routes' input: a name and at least one scope, each once."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tally.apikeys.models import ApiKeyIn


def test_a_name_and_known_scopes() -> None:
    key = ApiKeyIn.model_validate({"name": " billing server ", "scopes": ["stats:read", "usage:write"]})
    assert (key.name, key.scopes) == ("billing server", ["stats:read", "usage:write"])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "x", "scopes": []}, "scopes", "at least 1"),
        ({"name": "x", "scopes": ["stats:read", "stats:read"]}, "scopes", "each scope once"),
        ({"name": "x", "scopes": ["admin"]}, "scopes", "stats:read"),
        ({"name": "", "scopes": ["stats:read"]}, "name", ""),
        ({"name": "x" * 101, "scopes": ["stats:read"]}, "name", "100"),
        ({"scopes": ["stats:read"]}, "name", "required"),
    ],
    ids=["no-scope", "twice", "unknown", "empty-name", "long-name", "no-name"],
)
def test_what_is_refused(body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ApiKeyIn.model_validate(body)
    [error] = refused.value.errors()
    assert error["loc"][0] == field
    assert words.lower() in str(error["msg"]).lower()


def test_the_schema_says_scopes_are_unique_and_known() -> None:
    schema = ApiKeyIn.model_json_schema()
    scopes = schema["properties"]["scopes"]
    assert scopes["uniqueItems"] is True
    assert (scopes["minItems"], scopes["maxItems"]) == (1, 4)
    assert set(scopes["items"]["enum"]) == {"usage:write", "usage:read", "stats:read", "billing:read"}
