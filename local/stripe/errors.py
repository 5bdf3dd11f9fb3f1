"""Stripe's error answers: `{"error": {"type", "code", "message", "param"}}` with the status Stripe uses."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "code": self.code, "message": self.message}
        error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=code or "parameter_invalid", param=param)


def missing_param(param: str) -> StripeError:
    return StripeError(
        400,
        "invalid_request_error",
        f"Missing required param: {param}.",
        code="parameter_missing",
        param=param,
    )


def no_such(kind: str, ident: str, *, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(
        status, "invalid_request_error", f"No such {kind}: '{ident}'", code="resource_missing", param=param
    )


def card_declined(decline_code: str, message: str, extra: dict[str, Any] | None = None) -> StripeError:
    return StripeError(
        402,
        "card_error",
        message,
        code="card_declined",
        param=None,
        extra={"decline_code": decline_code, **(extra or {})},
    )
