"""Field types shared by the wire models, written so that the schema says exactly what is accepted.

Schemathesis (and any client generator) trusts the OpenAPI document: a value the schema allows
must be accepted and one it forbids must be refused. So strings are checked as sent (no silent
whitespace stripping before the length check), their patterns avoid `\\s` (ECMA, Rust and Python
disagree on what it matches) and name the refused characters explicitly, and an integer written
`254.0` is the integer 254, as JSON Schema says.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from tally.http.patterns import EMAIL, IDENTIFIER, NO_NUL, PATTERN_WORDS, SIREN, SIRET, TEXT, VISIBLE_TEXT

# The patterns are defined with their words in tally.http.patterns; the models import them here.
__all__ = [
    "EMAIL",
    "IDENTIFIER",
    "ISO_INSTANT",
    "NO_NUL",
    "PATTERN_WORDS",
    "SIREN",
    "SIRET",
    "TEXT",
    "VISIBLE_TEXT",
    "WHOLE",
    "Email",
    "Identifier",
    "JsonValue",
    "Name",
    "WireModel",
    "iso_instant",
]


class WireModel(BaseModel):
    """The base of every wire model. pydantic builds a model's validator and serializer when it
    is first used (defer_build), not when its module is imported: a cold start pays for the
    models its request needs (a click: ClickIn and TrackOut), not for every model of the API."""

    model_config = ConfigDict(defer_build=True)


def checked(pattern: str, words: str) -> Callable[[str], str]:
    """An AfterValidator for a pattern the schema states: a mismatch is refused in `words`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(words)
        return value

    return check


def _trim_spaces(value: str) -> str:
    return value.strip(" ")


def _whole(value: Any) -> Any:
    """JSON's `254.0` is the integer 254; `254.5`, `"254"` and `true` stay what they are (refused)."""
    if isinstance(value, Decimal):
        # adjusted() first: comparing a huge exponent would be slow or overflow the context.
        if value.is_finite() and value.adjusted() < 19 and value == value.to_integral_value():
            return int(value)
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def iso_instant(value: Any) -> Any:
    """An instant on the wire is an ISO-8601 string: pydantic would also read a number (or a
    numeric string, as a query parameter is) as seconds since 1970, which nobody means."""
    if isinstance(value, (bool, int, float, Decimal)) or (
        isinstance(value, str) and _NUMBER.fullmatch(value)
    ):
        raise ValueError("An instant is an ISO-8601 date-time such as 2026-11-20T09:30:00Z, not a number")
    return value


# Instants (`Annotated[datetime, ISO_INSTANT, ...]`): numbers refused, in words.
ISO_INSTANT = BeforeValidator(iso_instant)


Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER)]
# A name people read: surrounding spaces are dropped after the checks.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=VISIBLE_TEXT), AfterValidator(_trim_spaces)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL)]
# Integers: `Annotated[StrictInt, Field(ge=…, le=…), WHOLE]`. The range goes before WHOLE, or
# pydantic writes it into the schema as unknown keywords instead of minimum/maximum.
WHOLE = BeforeValidator(_whole)


# --- any JSON value the body gate admits (tally.http.safe_json), for free-form parts of a body ---

# Every number is refused from 10**38 up in magnitude, however it is written.
_LIMIT = 10**38
_Integer = Annotated[int, Field(gt=-_LIMIT, lt=_LIMIT)]
_Number = Annotated[
    Decimal,
    Field(gt=-_LIMIT, lt=_LIMIT),
    WithJsonSchema({"type": "number", "exclusiveMinimum": -_LIMIT, "exclusiveMaximum": _LIMIT}),
]
_Text = Annotated[str, Field(pattern=NO_NUL)]


class _NulFreeKeys:
    """A JSON object's property names may not hold NUL either (pydantic would say nothing)."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        generated = handler(schema)
        # pydantic writes key patterns as patternProperties, which lets other keys through.
        [values] = generated.pop("patternProperties").values()
        return {**generated, "propertyNames": {"pattern": NO_NUL}, "additionalProperties": values}


type JsonValue = (
    bool
    | _Integer
    | _Number
    | _Text
    | list[JsonValue]
    | Annotated[dict[_Text, JsonValue], _NulFreeKeys()]
    | None
)
