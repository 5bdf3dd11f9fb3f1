"""How an invocation can fail, as the gateway, the stream pollers and /_local/invoke tell apart."""

from __future__ import annotations


class InvocationError(Exception):
    """The function did not return a result: its init failed, it raised, or its runtime died."""

    def __init__(
        self, function: str, message: str, *, during_import: bool = False, error_type: str = "Unhandled"
    ) -> None:
        super().__init__(message)
        self.function = function
        self.message = message
        self.during_import = during_import
        self.error_type = error_type


class InvocationTimeout(InvocationError):
    """The function ran past its Timeout; its instance was stopped, as Lambda stops it."""

    def __init__(self, function: str, timeout_s: float) -> None:
        super().__init__(
            function, f"Task timed out after {timeout_s:.2f} seconds", error_type="Sandbox.Timedout"
        )
        self.timeout_s = timeout_s


class InvocationThrottled(InvocationError):
    """ReservedConcurrentExecutions is 0: Lambda throttles every invocation."""

    def __init__(self, function: str) -> None:
        super().__init__(
            function,
            "Rate Exceeded: ReservedConcurrentExecutions is 0",
            error_type="TooManyRequestsException",
        )
