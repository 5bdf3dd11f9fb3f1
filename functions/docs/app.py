"""Docs function: the whole API's OpenAPI document and a Swagger UI.

It includes every function's router so the document is generated from the code that serves
each route; it never handles those routes itself (API Gateway sends it only the docs paths).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from auth.routes import router as auth_router
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.utilities.typing import LambdaContext

from accounts.routes import router as accounts_router
from tally.http.resolver import create_resolver, resolve
from tally.observability import quiet_sdk_loggers
from tracking.routes import router as tracking_router

# Before anything logs: the AWS SDK's debug lines carry passwords and tokens (decision 10).
quiet_sdk_loggers()

TITLE = "Tally API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Billing and usage tracking for SaaS businesses. Private routes take a Cognito id token as "
    "`Authorization: Bearer <id_token>` (from `POST /v1/auth/login`)."
)
SECURITY_SCHEMES = {"bearerAuth": HTTPBearer(bearerFormat="JWT")}
# Powertools adds its FastAPI-shaped validation errors to every document; Tally answers its own
# Error instead (each route documents it), so nothing refers to these.
POWERTOOLS_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

app = create_resolver()
app.include_router(tracking_router)
app.include_router(accounts_router)
app.include_router(auth_router)
app.enable_swagger(
    path="/v1/docs",
    title=TITLE,
    version=VERSION,
    description=DESCRIPTION,
    security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
)


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """What Powertools cannot be told: drop its unused error schemas (refusing if a route still
    uses one) and list each operation's responses in status order (it puts its 422 first)."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in POWERTOOLS_ERROR_SCHEMAS:
        schemas.pop(name, None)
    text = json.dumps(document)
    leftover = [name for name in POWERTOOLS_ERROR_SCHEMAS if f'"#/components/schemas/{name}"' in text]
    if leftover:
        raise RuntimeError(f"routes still document Powertools' error schemas: {leftover}")
    for item in document.get("paths", {}).values():
        for operation in item.values():
            operation["responses"] = dict(sorted(operation["responses"].items()))
    return document


@lru_cache(maxsize=1)
def _document_text() -> str:
    # The routes cannot change while the function runs: generate the document once.
    generated = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
    )
    return json.dumps(finish(json.loads(generated)))


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_document_text())


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)


def document() -> dict[str, Any]:
    """The OpenAPI document as a dict (for tests and tooling)."""
    return dict(json.loads(openapi_document().body or "{}"))
