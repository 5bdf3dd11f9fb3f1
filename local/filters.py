"""Lambda event filtering (FilterCriteria) for stream records.

A pattern mirrors the record's structure; each leaf is a list of allowed values or matchers,
and a record passes a pattern when every leaf matches. A mapping passes when any of its
patterns matches (no patterns: everything passes). Supported: exact values (strings, numbers,
booleans, null), `prefix`, `suffix`, `equals-ignore-case`, `anything-but`, `exists`,
`numeric` ranges, `wildcard` and `$or`.
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_MISSING: Any = object()

_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def matches_any(patterns: Iterable[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    patterns = list(patterns)
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in expected):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if value is _MISSING or not isinstance(value, Mapping):
                if not _only_absence(expected):
                    return False
                continue
            if not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not any(_leaf(rule, value) for rule in expected):
                return False
        else:
            raise ValueError(f"filter pattern leaf {key!r} must be a list of values or matchers")
    return True


def _only_absence(pattern: Mapping[str, Any]) -> bool:
    """A nested pattern on a missing object passes only if it asks for absence throughout."""
    for expected in pattern.values():
        if isinstance(expected, Mapping):
            if not _only_absence(expected):
                return False
        elif not any(isinstance(rule, Mapping) and rule.get("exists") is False for rule in expected):
            return False
    return True


def _leaf(rule: Any, value: Any) -> bool:
    if isinstance(rule, Mapping):
        if "exists" in rule:
            return (value is not _MISSING) == bool(rule["exists"])
        if value is _MISSING:
            return False
        if isinstance(value, list):
            return any(_matcher(rule, item) for item in value)
        return _matcher(rule, value)
    if value is _MISSING:
        return False
    if isinstance(value, list):
        return any(_equal(rule, item) for item in value)
    return _equal(rule, value)


def _equal(expected: Any, value: Any) -> bool:
    if expected is None or value is None:
        return expected is None and value is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return Decimal(str(expected)) == Decimal(str(value))
    return type(expected) is type(value) and bool(expected == value)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _matcher(rule: Mapping[str, Any], value: Any) -> bool:
    (kind, argument), *_ = rule.items()
    if kind == "prefix":
        if isinstance(argument, Mapping):
            needle = str(argument.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().startswith(needle.lower())
        return isinstance(value, str) and value.startswith(str(argument))
    if kind == "suffix":
        if isinstance(argument, Mapping):
            needle = str(argument.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().endswith(needle.lower())
        return isinstance(value, str) and value.endswith(str(argument))
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if kind == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(argument))
    if kind == "anything-but":
        if isinstance(argument, Mapping):
            return not _matcher(argument, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_equal(item, value) for item in excluded)
    if kind == "numeric":
        number = _number(value)
        if number is None:
            return False
        terms = list(argument)
        for index in range(0, len(terms) - 1, 2):
            compare = _COMPARE.get(str(terms[index]))
            bound = _number(terms[index + 1])
            if compare is None or bound is None or not compare(number, bound):
                return False
        return True
    raise ValueError(f"filter matcher {kind!r} is not supported by the local stack")
