# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see below)
"""Docs function: the whole API's OpenAPI document and a Swagger UI.

The document is generated from every function's routers by `python -m docs.generate` into
openapi.json, next to this module; a test fails when the committed file differs from what the
code generates. Serving the file instead of generating it keeps the routers, their models and
the AWS SDK out of this function's cold start (docs/decisions/0009-cold-start.md).
API Gateway sends it only the docs paths.
"""

from __future__ import annotations

import gc

# No cyclic garbage collection during init: it would walk, again and again, the tens of thousands
# of objects the imports create, all kept for the process's life (15-25 ms of a cold start;
# decision 0009). The end of this module freezes them out of later collections and turns it on.
gc.disable()

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally.http.resolver import create_resolver, resolve
from tally.observability import quiet_sdk_loggers

# Before anything logs: the AWS SDK's debug lines carry passwords and tokens (decision 10).
quiet_sdk_loggers()

DOCUMENT = Path(__file__).with_name("openapi.json")
HTML = "text/html"

# No route here takes a parameter or a body: nothing for Powertools to validate.
app = create_resolver(validation=False)


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The OpenAPI document as a dict (for tests and tooling)."""
    with DOCUMENT.open(encoding="utf-8") as source:
        return dict(json.load(source))


@lru_cache(maxsize=1)
def _document_text() -> str:
    # As generated: compact, as json.dumps writes it (the committed file is indented for diffs).
    return json.dumps(document())


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_document_text())


@app.get("/v1/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    """Swagger UI over the same document, as Powertools' enable_swagger() serves it (with the
    same `format=json` and `format=oauth2-redirect` variants)."""
    query = app.current_event.query_string_parameters or {}
    if query.get("format") == "oauth2-redirect":
        # Imported here: Powertools' Swagger UI helpers load its OpenAPI models (~60 ms), which
        # only this page needs.
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_oauth2_redirect_html

        return Response(status_code=200, content_type=HTML, body=generate_oauth2_redirect_html())
    if query.get("format") == "json":
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_escaped_spec())
    return Response(status_code=200, content_type=HTML, body=_swagger_html())


def _escaped_spec() -> str:
    # Indented as Powertools embeds it; `</` escaped so the JSON cannot close the page's <script>.
    return json.dumps(document(), indent=2, ensure_ascii=False).replace("</", "<\\/")


@lru_cache(maxsize=1)
def _swagger_html() -> str:
    # Imported here, like the redirect page's helper: only this page needs them.
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger.__file__).parent
    script = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    return generate_swagger_html(_escaped_spec(), script, style, "", None, False)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)


# Init's objects stay for the process's life: keep them out of every later collection (without
# this, the first one would walk them all during the first request), then collect as usual.
gc.freeze()
gc.enable()
