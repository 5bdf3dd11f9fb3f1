"""tally.storage.items converts values exactly as boto3.dynamodb.types does (which it replaces
on the functions' path, so that they never import boto3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from tally.storage import items

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20),
    st.text(max_size=20),
    st.binary(max_size=10),
)
VALUES = st.recursive(
    SCALARS
    | st.frozensets(st.text(max_size=5), min_size=1, max_size=4)
    | st.sets(st.integers(min_value=-1000, max_value=1000), min_size=1, max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _plain(value: Any) -> Any:
    """boto3's Binary wrappers as the bytes they hold (Tally's deserializer gives bytes)."""
    if isinstance(value, Binary):
        return cast(Any, value).value
    if isinstance(value, dict):
        return {key: _plain(element) for key, element in value.items()}
    if isinstance(value, list):
        return [_plain(element) for element in value]
    if isinstance(value, set):
        return {_plain(element) for element in value}
    return value


def _sorted_sets(attribute: Any) -> Any:
    """Sets serialise in iteration order: compare their members, not their order."""
    if isinstance(attribute, dict):
        return {
            kind: sorted(data, key=repr) if kind in {"SS", "NS", "BS"} else _sorted_sets(data)
            for kind, data in attribute.items()
        }
    if isinstance(attribute, list):
        return [_sorted_sets(element) for element in attribute]
    return attribute


@given(VALUES)
def test_serialize_matches_boto3(value: Any) -> None:
    try:
        expected = TypeSerializer().serialize(value)
    except (TypeError, ArithmeticError) as exc:
        with pytest.raises(type(exc)):
            items.serialize(value)
        return
    assert _sorted_sets(items.serialize(value)) == _sorted_sets(expected)


@given(VALUES)
def test_deserialize_matches_boto3(value: Any) -> None:
    try:
        attribute = TypeSerializer().serialize(value)
    except (TypeError, ArithmeticError):
        return
    assert items.deserialize(attribute) == _plain(TypeDeserializer().deserialize(attribute))


@pytest.mark.parametrize(
    "value",
    [1.5, float("nan"), Decimal("NaN"), Decimal("Infinity"), Decimal("1" * 39), {1.5}, object(), {"a", 1}],
)
def test_what_boto3_refuses_is_refused_alike(value: Any) -> None:
    with pytest.raises(Exception) as expected:  # noqa: PT011 - whatever boto3 raises
        TypeSerializer().serialize(value)
    with pytest.raises(type(expected.value)):
        items.serialize(value)


def test_items_leave_out_none_and_read_whole_numbers_as_int() -> None:
    item = items.to_item({"a": "x", "n": 3, "d": Decimal("2.50"), "gone": None, "yes": True})
    assert item == {"a": {"S": "x"}, "n": {"N": "3"}, "d": {"N": "2.50"}, "yes": {"BOOL": True}}
    assert items.from_item(item) == {"a": "x", "n": 3, "d": Decimal("2.50"), "yes": True}
    with pytest.raises(TypeError, match="nonempty"):
        items.deserialize({})
