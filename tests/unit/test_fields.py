"""Wire field types: what the schema states is what pydantic enforces."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import jsonschema_rs
import pytest
from pydantic import Field, TypeAdapter, ValidationError

from tally.http.fields import EMAIL, IDENTIFIER, NO_NUL, SIREN, SIRET, TEXT, VISIBLE_TEXT, JsonValue
from tally.tracking.models import ClickIn

# Characters on which regex dialects disagree (`\s`, `$`, C0/C1 controls, BOM, NBSP).
TRICKY = [
    "",
    " ",
    "a",
    " a ",
    "a\n",
    "\na",
    "\t",
    "\x1c",
    "\x85",
    "\x9f",
    "\xa0",
    "\ufeff",
    "\u2003",
    "\x00",
    "é",
]
SAMPLES = [
    *TRICKY,
    *(f"x{c}y" for c in TRICKY),
    "a@b.c",
    "a @b.c",
    "a@b.c\n",
    "732 829 320",
    "732829320",
    "٧٣٢٨٢٩٣٢٠",
]


@pytest.mark.parametrize("pattern", [TEXT, VISIBLE_TEXT, NO_NUL, IDENTIFIER, EMAIL, SIREN, SIRET])
def test_pydantic_and_json_schema_validators_agree_on_each_pattern(pattern: str) -> None:
    """Schemathesis decides validity with jsonschema_rs (ECMA regex); pydantic uses Rust's regex."""
    documented = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    enforced: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(pattern=pattern)])
    for sample in SAMPLES:
        try:
            enforced.validate_python(sample)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == documented.is_valid(sample), (pattern, sample)


def click(**fields: Any) -> ClickIn:
    return ClickIn.model_validate({"account_id": "acc_1", "source": "seo", **fields})


@pytest.mark.parametrize("written", [254, Decimal("254.0"), Decimal("2.54E+2"), 254.0])
def test_whole_numbers_are_integers_however_written(written: Any) -> None:
    position = click(position=written).position

    assert position == 254
    assert type(position) is int


@pytest.mark.parametrize("written", [Decimal("254.5"), "254", True, Decimal("1E+50"), Decimal("1E-500"), 2.5])
def test_other_values_are_not_integers(written: Any) -> None:
    with pytest.raises(ValidationError):
        click(position=written)


def test_page_details_lose_surrounding_spaces_and_blank_means_absent() -> None:
    parsed = click(page_url="  /p/1 ", referrer="   ")

    assert (parsed.page_url, parsed.referrer) == ("/p/1", None)


def test_any_json_keeps_its_values_and_the_schema_names_every_limit() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(JsonValue)
    value = {"a": [1, True, None, Decimal("2.5"), "s", {"b": 10**37}]}

    assert adapter.validate_python(value) == value
    schema = adapter.json_schema()["$defs"]["JsonValue"]["anyOf"]
    assert {"type": "string", "pattern": NO_NUL} in schema
    [objects] = [branch for branch in schema if branch.get("type") == "object"]
    assert objects["propertyNames"] == {"pattern": NO_NUL}
    assert objects["additionalProperties"] == {"$ref": "#/$defs/JsonValue"}
    numbers = [branch for branch in schema if branch.get("type") in {"integer", "number"}]
    assert all(branch["exclusiveMaximum"] == 10**38 == -branch["exclusiveMinimum"] for branch in numbers)
