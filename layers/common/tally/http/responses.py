"""What each route documents it can answer: its success and Tally's Error for every error status.

Powertools documents only a success and its own validation error shape; routes declare their
full set through `responses()` so the OpenAPI document says what the API really does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

ErrorDetail = TypedDict(
    "ErrorDetail",
    {
        "field": str,
        "in": Literal["body", "query", "path", "header"],
        "message": str,
    },
)


class Error(TypedDict):
    """An error answer. Tally's own answers always carry `code` and `errors` (empty when no one
    field is to blame). Answers API Gateway produces itself (the JWT authorizer's 401, an unknown
    route's 404, a malformed request's 400, throttling's 429, a body over 10 MB's 413, a timeout's
    504) carry only `message`:
    HTTP APIs cannot customise them."""

    message: str
    code: NotRequired[str]
    errors: NotRequired[list[ErrorDetail]]


DESCRIPTIONS: dict[int, str] = {
    400: "A malformed HTTP request (e.g. a Content-Length that is not a number), refused by API "
    "Gateway before any route runs (`message` only)",
    401: "No valid bearer token (API Gateway's authorizer answers with `message` only)",
    403: "The caller may not do this",
    404: "Unknown account",
    409: "Conflicts with what exists",
    413: "The body is larger than 64 KiB",
    415: "The body is not `application/json` in UTF-8",
    422: "Invalid input: one entry in `errors` per problem, naming the field and where it is",
    429: "Throttled by API Gateway (`message` only): retry with backoff",
    503: "A dependency is throttled or unavailable: retry after `Retry-After` seconds",
}
RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}},
}

# Every route may get a malformed request refused by API Gateway, be throttled by it (the stack's
# default route settings) or see a throttled table; a route with a body may have it refused
# before validation.
ALWAYS = (400, 429, 503)
BODY = (413, 415, 422)
PRIVATE = (401, 403)


def responses(
    status: int, description: str, errors: tuple[int, ...], notes: Mapping[int, str] | None = None
) -> dict[int, OpenAPIResponse]:
    """The route's success (its return model's schema) and Tally's Error for each error status;
    `notes` replaces the default description of a status for this route."""
    documented: dict[int, OpenAPIResponse] = {status: {"description": description}}
    for error in sorted({*errors, *ALWAYS}):
        answer: OpenAPIResponse = {
            "description": (notes or {}).get(error, DESCRIPTIONS[error]),
            "content": {"application/json": {"model": Error}},
        }
        if error == 503:
            answer["headers"] = RETRY_AFTER
        documented[error] = answer
    return documented
