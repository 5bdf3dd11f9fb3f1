"""Stripe's form encoding: `metadata[plan]=pro`, `line_items[0][price]=…`, `expand[]=…` into nested data.

The SDK indexes every array (`expand[0]=…`); curl users write `expand[]=…`; both become lists.
Values stay strings, as on the wire: each endpoint coerces what it reads (see `integer`, `flag`).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from local.stripe.errors import invalid

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _path(key: str) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    segments = _SEGMENT.findall("[" + rest)
    return [head, *segments]


def _listify(node: Any) -> Any:
    """A dict whose keys are all indices is an array (ordered by index)."""
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def parse_form(text: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        path = _path(key)
        node = root
        for depth, segment in enumerate(path):
            last = depth == len(path) - 1
            if segment == "":  # `name[]`: append
                segment = str(len(node))
            if last:
                node[segment] = value
                break
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                raise invalid(f"Invalid parameter nesting at {key}.", param=path[0])
            node = child
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def integer(value: Any, param: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", param=param) from None


def flag(value: Any, param: str) -> bool:
    text = str(value).lower()
    if text in {"true", "1"}:
        return True
    if text in {"false", "0", ""}:
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]
