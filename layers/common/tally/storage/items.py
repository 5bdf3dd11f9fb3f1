"""Plain Python values to DynamoDB attribute values and back (numbers as int/Decimal, never float).

The same conversions as boto3.dynamodb.types' TypeSerializer and TypeDeserializer, written here
because importing that module imports boto3 itself (its session, s3transfer: ~20 ms of every cold
start) while the functions talk to DynamoDB through botocore clients. tests/unit/test_items.py
holds them to boto3's answers. Binary values come back as bytes (boto3 wraps them in its Binary);
Tally stores none.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's numbers: 38 significant digits, exponents -128..126, nothing rounded silently.
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Serialize, leaving out None so optional fields are absent rather than NULL."""
    return {name: serialize(value) for name, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _normalise(deserialize(value)) for name, value in item.items()}


def _normalise(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def string(value: str) -> dict[str, str]:
    return {"S": value}


def serialize(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (boto3's TypeSerializer.serialize)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number_text(value)}
    if isinstance(value, str):
        return {"S": value}
    if _is_binary(value):
        return {"B": value}
    if isinstance(value, Set):
        if all(_is_number(element) for element in value):
            return {"NS": [_number_text(element) for element in value]}
        for kind, test in (("SS", _is_string), ("BS", _is_binary)):
            if all(test(element) for element in value):
                return {kind: list(value)}
    if isinstance(value, Mapping):
        return {"M": {key: serialize(element) for key, element in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(element) for element in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as a Python value (boto3's TypeDeserializer.deserialize)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, data = next(iter(value.items()))
    if kind in ("S", "BOOL", "B"):
        return data
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: deserialize(element) for key, element in data.items()}
    if kind == "L":
        return [deserialize(element) for element in data]
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(element) for element in data}
    if kind in ("SS", "BS"):
        return set(data)
    raise TypeError(f"Dynamodb type {kind} is not supported")


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_binary(value: Any) -> bool:
    return isinstance(value, bytes | bytearray)


def _number_text(value: int | Decimal) -> str:
    text = str(DYNAMODB_CONTEXT.create_decimal(value))
    if text in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return text
