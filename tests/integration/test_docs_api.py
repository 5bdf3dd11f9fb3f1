"""The whole API's OpenAPI document and Swagger UI, served by the docs function."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack


@pytest.fixture
def docs(stack: Stack) -> Iterator[Stack]:
    with stack.environment("DocsFunction"):
        yield stack


def test_openapi_document_lists_every_route_the_template_serves(docs: Stack) -> None:
    from docs.app import lambda_handler

    answer = lambda_handler(http_event("GET", "/v1/openapi.json"), FakeContext())  # type: ignore[arg-type]

    assert answer["statusCode"] == 200
    document = json.loads(answer["body"])
    served = {
        (event.method.lower(), event.path)
        for spec in docs.functions.values()
        for event in spec.http_events
        if spec.logical_id != "DocsFunction"
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["paths"]["/v1/track/stats"]["get"]["security"] == [{"bearerAuth": []}]


def test_swagger_ui_is_served(docs: Stack) -> None:
    from docs.app import lambda_handler

    answer = lambda_handler(http_event("GET", "/v1/docs"), FakeContext())  # type: ignore[arg-type]

    assert answer["statusCode"] == 200
    assert "swagger" in answer["body"].lower()
