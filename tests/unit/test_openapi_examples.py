"""Every request body the API documents comes with an example that its own schema accepts.

The examples are what a reader copies first, and what the tenant-isolation test sends
(tests/e2e/test_tenant_isolation.py): a route added with a body but no example fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

DOCUMENT: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "functions" / "docs" / "openapi.json").read_text()
)
BODIES = [
    (f"{method.upper()} {path}", operation["requestBody"]["content"]["application/json"]["schema"])
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if "requestBody" in operation
]


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_there_are_bodies_to_check() -> None:
    assert len(BODIES) >= 20


@pytest.mark.parametrize(("route", "schema"), BODIES, ids=[route for route, _ in BODIES])
def test_each_request_body_has_an_example_its_schema_accepts(route: str, schema: dict[str, Any]) -> None:
    examples = _resolved(schema).get("examples")
    assert examples, f"{route}: give its body model an example (json_schema_extra={{'examples': [...]}})"
    # The whole document as the registry, so that $refs inside the schema resolve.
    validator = jsonschema_rs.validator_for({**DOCUMENT, **schema})
    for example in examples:
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, f"{route}: its example {example} breaks its schema: {errors}"
