"""Domain errors. Handlers map them to HTTP answers in one place (tally.http.resolver)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

# Where a field named by an error came from, in the words of the error body's `in`.
Location = Literal["body", "query", "path", "header"]


class DomainError(Exception):
    status_code = 400
    code = "bad_request"
    # Fields the error body carries besides message, code and errors (a full placement's
    # `next_free_at`): what a client acts on without parsing the message.
    details: Mapping[str, Any] | None = None

    def __init__(self, message: str, *, field: str | None = None, location: Location | None = None) -> None:
        """`location` None: the resolver finds it from the route's parameters (body if none matches)."""
        super().__init__(message)
        self.message = message
        self.field = field
        self.location = location


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(DomainError):
    """A dependency is throttled or failing; the client should retry after a pause."""

    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str = "The service is busy, retry shortly", *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SettingsError(RuntimeError):
    """The deployment is misconfigured: a required variable is missing or invalid (not a
    request's error: never mapped to an answer). Also importable from tally.settings."""
