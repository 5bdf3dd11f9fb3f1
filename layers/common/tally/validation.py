"""Validation errors in words a person can act on: {field, in, message} per problem."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tally.http.patterns import PATTERN_WORDS

_MESSAGES = {
    "missing": "This field is required",
    "extra_forbidden": "This field is not allowed",
    "json_invalid": "The body is not valid JSON",
    "model_attributes_type": "Expected a JSON object",
    "dict_type": "Expected a JSON object",
    "int_type": "Expected an integer",
    "string_type": "Expected a string",
    "list_type": "Expected a list",
    "union_tag_not_found": "This field is required (click or view)",
}

_LOCATIONS = {"body", "query", "path", "header"}
# pydantic names the member of a union an error came from in its path (`siren.none`,
# `siren.function-after[_siren(), constrained-str]`): core schema type names, not fields.
_UNION_MEMBERS = {"none", "str", "int", "float", "bool", "list", "dict", "decimal", "constrained-str"}


def _union_member(part: str) -> bool:
    return part in _UNION_MEMBERS or "[" in part


def describe_errors(errors: Iterable[Mapping[str, Any]], *, prefix: str = "") -> list[dict[str, Any]]:
    described: list[dict[str, Any]] = []
    for error in errors:
        if error.get("type") == "none_required" and any(str(part) == "none" for part in error.get("loc", ())):
            continue  # the `null` branch of an optional field: the other branch says what is wrong
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc and loc[0] in _LOCATIONS else "body"
        parts = loc[1:] if loc and loc[0] == where else loc
        kind = str(error.get("type", ""))
        message = _MESSAGES.get(kind) or str(error.get("msg", "Invalid value"))
        if where in {"query", "header"} and isinstance(error.get("input"), list):
            message = "Send this parameter once"
        elif kind == "string_pattern_mismatch":
            message = PATTERN_WORDS.get(str((error.get("ctx") or {}).get("pattern")), message)
        if kind == "json_invalid":
            detail = (error.get("ctx") or {}).get("error")
            parts = []
            message = f"{message}: {detail}" if detail else message
        elif kind == "union_tag_invalid":
            parts = [*parts, "type"] if parts[-1:] != ["type"] else parts
            message = "Expected 'click' or 'view'"
        elif kind == "union_tag_not_found":
            parts = [*parts, "type"]
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        # Discriminated unions add the tag to the path (events.0.click.source): drop it.
        parts = [part for part in parts if part not in {"click", "view"} or part == parts[-1]]
        parts = [part for part in parts if not _union_member(part)]
        field = ".".join(([prefix] if prefix else []) + parts) or where
        problem = {"field": field, "in": where, "message": message}
        if problem not in described:
            described.append(problem)
    return described
