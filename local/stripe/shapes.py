"""Blank Stripe objects shaped like Stripe's published examples (`fixtures.json`).

`fixtures.json` is a verbatim subset of Stripe's `openapi/fixtures3.json` (MIT, Stripe, Inc.: see
`fixtures.LICENSE`). Its values are placeholders, so `blank(name)` keeps the key structure only:
numbers and strings become null (except `object` and `type`, which name shapes), lists become
empty, booleans stay. Builders then fill in what the sandbox knows; every object it serves
therefore carries Stripe's fields.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).with_name("fixtures.json")
_KEPT_STRINGS = frozenset({"object", "type"})


@cache
def fixtures() -> dict[str, Any]:
    loaded = json.loads(FIXTURES.read_text())["resources"]
    assert isinstance(loaded, dict)
    return loaded


def _scrub(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {name: _scrub(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return []
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and key in _KEPT_STRINGS:
        return value
    return None


@cache
def _blank(name: str) -> dict[str, Any]:
    scrubbed = _scrub(fixtures()[name])
    assert isinstance(scrubbed, dict)
    return scrubbed


def blank(name: str, /, **values: Any) -> dict[str, Any]:
    """A fresh object of Stripe resource `name` with `values` set (every key must be Stripe's)."""
    shape = copy.deepcopy(_blank(name))
    unknown = set(values) - set(shape)
    if unknown:
        raise KeyError(f"{name} has no field(s) {sorted(unknown)}")
    shape.update(values)
    return shape


def fill(name: str, path: str, /, **values: Any) -> dict[str, Any]:
    """The blank sub-object at `path` (dotted) of resource `name`, with `values` set."""
    node: Any = _blank(name)
    for part in path.split("."):
        node = node[part]
    assert isinstance(node, dict)
    shape = copy.deepcopy(node)
    unknown = set(values) - set(shape)
    if unknown:
        raise KeyError(f"{name}.{path} has no field(s) {sorted(unknown)}")
    shape.update(values)
    return shape
