"""The committed OpenAPI document is the one the code generates, and it is what the API serves.

The docs function serves functions/docs/openapi.json instead of importing every router at cold
start; this is the test that keeps the file true, as test_layer_requirements.py keeps the layer's
requirements true to uv.lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.events import FakeContext, http_event

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "PYTHONPATH=layers/common:functions .venv/bin/python -m docs.generate"


@pytest.fixture
def generate(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """docs.generate, imported in a test and not at collection: it imports every router, and the
    tracking router's Metrics reads its namespace once, when first imported (as the template sets
    it, so that integration tests running later in the same session flush their metrics)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Tally")
    from docs import generate

    return generate


def test_the_committed_document_is_what_the_routers_generate(generate: ModuleType) -> None:
    committed = generate.DOCUMENT.read_text(encoding="utf-8")
    assert committed == generate.file_text(generate.document()), (
        f"functions/docs/openapi.json is out of date with the routes: run `{REGENERATE}`"
    )


def test_the_docs_function_serves_it_byte_for_byte_as_generated(generate: ModuleType) -> None:
    from docs.app import lambda_handler

    answer = lambda_handler(http_event("GET", "/v1/openapi.json"), FakeContext())  # type: ignore[arg-type]

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["body"] == json.dumps(generate.document())


def test_swagger_ui_embeds_the_same_document(generate: ModuleType) -> None:
    from docs.app import lambda_handler

    page = lambda_handler(http_event("GET", "/v1/docs"), FakeContext())  # type: ignore[arg-type]
    spec = lambda_handler(http_event("GET", "/v1/docs", query={"format": "json"}), FakeContext())  # type: ignore[arg-type]

    assert json.loads(spec["body"]) == generate.document()
    assert spec["body"] in page["body"]
    assert page["headers"]["Content-Type"] == "text/html"


def test_finishing_drops_powertools_errors_and_orders_responses(generate: ModuleType) -> None:
    finish = generate.finish

    unused: dict[str, Any] = {
        "paths": {"/x": {"get": {"responses": {"422": {}, "200": {}, "503": {}, "401": {}}}}},
        "components": {"schemas": {"HTTPValidationError": {}, "ValidationError": {}, "Error": {}}},
    }
    finished = finish(unused)
    assert finished["components"] == {"schemas": {"Error": {}}}
    assert list(finished["paths"]["/x"]["get"]["responses"]) == ["200", "401", "422", "503"]

    used = {
        "paths": {
            "/x": {
                "get": {
                    "parameters": [{"name": "q", "in": "query"}],
                    "responses": {"422": {"$ref": "#/components/schemas/HTTPValidationError"}},
                }
            }
        },
        "components": {"schemas": {"HTTPValidationError": {}}},
    }
    with pytest.raises(RuntimeError, match="HTTPValidationError"):
        finish(used)

    # A route that takes no input cannot answer 422: Powertools' phantom entry goes.
    no_input = {
        "paths": {
            "/me": {
                "get": {
                    "responses": {
                        "200": {},
                        "422": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                                }
                            }
                        },
                    }
                }
            }
        },
        "components": {"schemas": {"HTTPValidationError": {}}},
    }
    assert list(finish(no_input)["paths"]["/me"]["get"]["responses"]) == ["200"]


def test_the_docs_function_loads_no_router_model_or_aws_sdk() -> None:
    """Cold start: serving the document is a file read, not the whole API's import."""
    probe = (
        "import sys, docs.app\n"
        "heavy = ('tracking', 'accounts', 'tally.tracking', 'tally.accounts', 'pydantic', 'boto3')\n"
        "under = tuple(name + '.' for name in heavy)\n"
        "print(','.join(sorted(m for m in sys.modules if m in heavy or m.startswith(under))))\n"
    )
    path = os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions"))
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.strip() == ""
