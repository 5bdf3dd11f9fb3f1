"""Field types shared by the wire models, written so that the schema says exactly what is accepted.

Schemathesis (and any client generator) trusts the OpenAPI document: a value the schema allows
must be accepted and one it forbids must be refused. So strings are checked as sent (no silent
whitespace stripping before the length check), their patterns avoid `\\s` (ECMA, Rust and Python
disagree on what it matches) and name the refused characters explicitly, and an integer written
`254.0` is the integer 254, as JSON Schema says.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, GetJsonSchemaHandler, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# C0 and C1 control characters and DEL; NUL is also refused for every string by the body gate.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
# Text: no control characters.
TEXT = rf"^[^{_CONTROL}]*$"
# Text with at least one character that is neither a control nor a space.
VISIBLE_TEXT = rf"^[^{_CONTROL}]*[^ {_CONTROL}][^{_CONTROL}]*$"
# Passwords are taken as typed, except for NUL.
NO_NUL = r"^[^\x00]*$"
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
_EMAIL_PART = rf"[^@ {_CONTROL}]+"
EMAIL = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
# French company and establishment numbers; spaces anywhere (people copy "732 829 320").
SIREN = r"^ *(?:[0-9] *){9}$"
SIRET = r"^ *(?:[0-9] *){14}$"

# What a pattern mismatch means, in words (tally.validation uses it for 422 messages).
PATTERN_WORDS = {
    TEXT: "Control characters (such as tabs and line breaks) are not allowed",
    VISIBLE_TEXT: "Must contain a visible character and no control characters (tabs, line breaks)",
    NO_NUL: "NUL characters are not allowed",
    IDENTIFIER: "Use letters, digits and _ . : - only, starting with a letter or a digit",
    EMAIL: "Expected an email address such as name@example.com",
    SIREN: "A SIREN has exactly 9 digits",
    SIRET: "A SIRET has exactly 14 digits",
}


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
