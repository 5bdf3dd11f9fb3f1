"""The API resolver every HTTP function builds, with errors mapped in one place.

Every error Tally answers has the body `{"message", "code", "errors": [{"field", "in", "message"}]}`
(`errors` empty when no one field is to blame): validation errors are 422 with one message per
field; domain errors carry their own status; AWS throttling and outages become 503 with
Retry-After; bodies are refused before parsing when too large (413), not JSON (415) or unsafe to
parse (422); nothing else that a request can trigger reaches a bare 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from tally.errors import DomainError, Location, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType
from tally.http.body_gate import CONTENT_TYPE, JsonBodyGate
from tally.storage.errors import is_transient
from tally.validation import describe_errors

MAX_BODY_BYTES = 64 * 1024
# Methods whose body a route may read; any other method's body is never looked at.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Codes for the errors Powertools answers itself (e.g. a path the function has no route for).
_SERVICE_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}

logger = Logger()


def error_body(message: str, code: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"message": message, "code": code, "errors": errors or []}


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


def domain_error_response(exc: DomainError, location: Location = "body") -> Response[str]:
    errors = None
    if exc.field:
        errors = [{"field": exc.field, "in": exc.location or location, "message": exc.message}]
    headers = None
    if isinstance(exc, ServiceUnavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    body = error_body(exc.message, exc.code, errors)
    if exc.details:
        body |= dict(exc.details)
    return json_response(exc.status_code, body, headers)


class TallyResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver (validation on, unless no route takes input) and, if the
    function opted in, its body gate."""

    def __init__(self, body_gate: JsonBodyGate | None, *, validation: bool = True) -> None:
        deserializer = body_gate.deserialize if body_gate is not None else None
        super().__init__(enable_validation=validation, json_body_deserializer=deserializer)
        self.body_gate = body_gate

    def location_of(self, field: str) -> Location:
        """Where the current route reads a field a domain error names: a parameter, else the body."""
        route = self.context.get("_route")
        if route is not None:
            dependant = route.dependant
            declared: tuple[tuple[Location, Any], ...] = (
                ("path", dependant.path_params),
                ("query", dependant.query_params),
                ("header", dependant.header_params),
            )
            for location, params in declared:
                if any(field in (param.alias, param.name) for param in params):
                    return location
        return "body"


def create_resolver(*, json_bodies: bool = True, validation: bool = True) -> TallyResolver:
    """The resolver of an HTTP function. `json_bodies=False` leaves the raw body to the routes
    (webhooks verify signatures on it); the size limit applies either way. `validation=False`
    is for a function whose routes take no parameter and no body (the docs function): it spares
    the cold start Powertools' validation machinery and pydantic."""
    app = TallyResolver(JsonBodyGate() if json_bodies else None, validation=validation)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        return validation_response(exc.errors())

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(exc: RequestUnsupportedContentType) -> Response[str]:
        message = "Send the body as application/json"
        return domain_error_response(UnsupportedMediaType(message, field=CONTENT_TYPE, location="header"))

    @app.exception_handler(ServiceError)
    def _powertools(exc: ServiceError) -> Response[str]:
        code = _SERVICE_ERROR_CODES.get(exc.status_code, "bad_request")
        return json_response(exc.status_code, error_body(str(exc.msg), code))

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response[str]:
        return domain_error_response(exc, app.location_of(exc.field) if exc.field else "body")

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
        except (binascii.Error, ValueError):
            return len(body)
    return len(body.encode("utf-8", "surrogatepass"))


def _refuse_unreadable(event: dict[str, Any], gate: JsonBodyGate | None) -> dict[str, Any]:
    """The event to resolve; raises DomainError for a body no route should read."""
    if _body_size(event) > MAX_BODY_BYTES:
        message = f"The body is larger than {MAX_BODY_BYTES // 1024} KiB"
        raise PayloadTooLarge(message, field="body", location="body")
    return gate.admit(event) if gate is not None else event


def _as_lambda_result(response: Response[str]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {key: str(value) for key, value in response.headers.items()},
        "body": response.body,
        "isBase64Encoded": False,
    }


def resolve(app: TallyResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for every HTTP function: refuse unreadable bodies before Powertools parses them."""
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", "")).upper()
    if method in BODY_METHODS:
        try:
            event = _refuse_unreadable(event, app.body_gate)
        except DomainError as exc:
            return _as_lambda_result(domain_error_response(exc))
    try:
        return app.resolve(event, context)
    finally:
        if app.body_gate is not None:
            app.body_gate.forget()
