"""The API resolver every HTTP function builds, with errors mapped in one place.

Validation errors become 422 with one human-readable message per field; domain errors carry
their own status; AWS throttling and outages become 503 with Retry-After; nothing else that a
request can trigger reaches a bare 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from tally.errors import DomainError, PayloadTooLarge, ServiceUnavailable
from tally.storage.errors import is_transient
from tally.validation import describe_errors

MAX_BODY_BYTES = 64 * 1024

logger = Logger()


def error_body(message: str, code: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return body


def json_response(
    status: int, body: Mapping[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers=headers,
    )


def validation_response(errors: Iterable[Mapping[str, Any]]) -> Response[str]:
    described = describe_errors(errors)
    summary = "; ".join(f"{item['field']}: {item['message']}" for item in described)
    return json_response(422, error_body(f"Invalid request: {summary}", "invalid_input", described))


def domain_error_response(exc: DomainError) -> Response[str]:
    errors = None
    if exc.field:
        errors = [{"field": exc.field, "in": "body", "message": exc.message}]
    headers = None
    if isinstance(exc, ServiceUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return json_response(exc.status_code, error_body(exc.message, exc.code, errors), headers)


def create_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        return validation_response(exc.errors())

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response[str]:
        return domain_error_response(exc)

    @app.exception_handler(ClientError)
    def _aws(exc: ClientError) -> Response[str]:
        return _aws_failure(exc)

    @app.exception_handler(BotoCoreError)
    def _aws_transport(exc: BotoCoreError) -> Response[str]:
        return _aws_failure(exc)

    return app


def _aws_failure(exc: Exception) -> Response[str]:
    if is_transient(exc):
        logger.warning("AWS dependency throttled or unavailable", exc_info=exc)
        return domain_error_response(ServiceUnavailable())
    logger.exception("AWS call failed")
    return json_response(500, error_body("Internal error", "internal_error"))


def _body_size(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=False))
        except ValueError:
            return len(body)
    return len(body.encode())


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for every HTTP function: refuse oversized bodies before parsing anything."""
    if _body_size(event) > MAX_BODY_BYTES:
        message = f"The body is larger than {MAX_BODY_BYTES // 1024} KiB"
        body = error_body(
            message, PayloadTooLarge.code, [{"field": "body", "in": "body", "message": message}]
        )
        return {
            "statusCode": PayloadTooLarge.status_code,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
