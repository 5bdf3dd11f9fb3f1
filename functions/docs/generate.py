"""The whole API's OpenAPI document, generated from the code that serves each route.

`python -m docs.generate` (with the layer and functions/ on PYTHONPATH, as `make dev` has them)
writes it to functions/docs/openapi.json, which the docs function serves. The file is committed
and tests/unit/test_openapi_document.py fails when it differs from what the routers generate now,
so the served document is always the code's while the docs function never imports the routers
(its cold start stays a file read). Not shipped: the docs function's artifact holds only the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from billing import coupons as billing_coupons
from billing import plans as billing_plans
from billing import subscriptions as billing_subscriptions
from checkout import placements as checkout_placements
from checkout import routes as checkout_routes
from checkout import self_service as checkout_self_service
from invoices import documents as invoices_documents
from invoices import invoices as invoices_routes
from invoices import settings as invoices_settings
from invoices import subscription_invoice as invoices_subscription
from jobs import routes as jobs_routes
from usage.routes import router as usage_router
from webhooks.routes import router as webhooks_router

from accounts import accounts, api_keys, audit, invitations, join_requests, me, members
from auth.routes import router as auth_router
from tally.http.resolver import create_resolver
from tracking.routes import router as tracking_router

DOCUMENT = Path(__file__).with_name("openapi.json")

TITLE = "Tally API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Billing and usage tracking for SaaS businesses. Private routes take a Cognito id token as "
    "`Authorization: Bearer <id_token>` (from `POST /v1/auth/login`); the routes servers call "
    "(stats now) also take an API key as `Authorization: Bearer tally_sk_…` "
    "(`POST /v1/accounts/{account_id}/api-keys`)."
)
SECURITY_SCHEMES = {
    "bearerAuth": HTTPBearer(bearerFormat="JWT", description="A Cognito id token"),
    "apiKeyAuth": HTTPBearer(
        bearerFormat="tally_sk_…",
        description=(
            "An API key of the account (`tally_sk_…`), on the routes that list it: each route "
            "names the scope it needs, and a key reads only its own account"
        ),
    ),
}
# Powertools adds its FastAPI-shaped validation errors to every document; Tally answers its own
# Error instead (each route documents it), so nothing refers to these.
POWERTOOLS_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """What Powertools cannot be told: drop its unused error schemas (refusing if a route still
    uses one) and list each operation's responses in status order (it puts its 422 first).
    Powertools documents a validation error even for a route that takes no input at all (GET
    /v1/me): there it is dropped, as nothing can be invalid; and it documents a 204's `None` as a
    JSON body: a 204 has none."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            operation["responses"].get("204", {}).pop("content", None)
            if "parameters" not in operation and "requestBody" not in operation:
                answer = operation["responses"].get("422") or {}
                if "#/components/schemas/HTTPValidationError" in json.dumps(answer):
                    del operation["responses"]["422"]
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


def document() -> dict[str, Any]:
    """Every function's routes in one document, as Powertools generates it, finished."""
    app = create_resolver()
    app.include_router(tracking_router)
    for module in (accounts, members, invitations, join_requests, me, audit, api_keys):
        app.include_router(module.router)
    app.include_router(auth_router)
    app.include_router(usage_router)
    for billing_module in (billing_plans, billing_subscriptions):  # issue 7, catalogue half
        app.include_router(billing_module.router)
    app.include_router(billing_coupons.router)  # issue 8, coupons
    for invoices_module in (
        invoices_settings,
        invoices_routes,
        invoices_documents,
        invoices_subscription,
    ):  # issue 8, invoices
        app.include_router(invoices_module.router)
    for checkout_module in (checkout_routes, checkout_self_service, checkout_placements):  # issue 9
        app.include_router(checkout_module.router)
    app.include_router(jobs_routes.router)  # issue 10, scheduled jobs
    app.include_router(webhooks_router)  # issue 9
    generated = app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
    )
    return finish(json.loads(generated))


def file_text(finished: dict[str, Any]) -> str:
    """The committed file: indented, so a change to the API reads as a small diff."""
    return json.dumps(finished, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the document (or, with --check, say whether the committed one is current)."""
    text = file_text(document())
    if "--check" in argv:
        current = DOCUMENT.is_file() and DOCUMENT.read_text(encoding="utf-8") == text
        print(f"{DOCUMENT}: {'current' if current else 'out of date: run python -m docs.generate'}")
        return 0 if current else 1
    DOCUMENT.write_text(text, encoding="utf-8")
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
