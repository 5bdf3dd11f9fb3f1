"""Errors of signing up and in: answered to clients (TooManyAttempts) or handled inside the
service (UserExists, AlreadyConfirmed), never shown as such, so a caller cannot learn whether an
address is registered."""

from __future__ import annotations

from tally.errors import ServiceUnavailable

# Cognito does not say how long its attempt limits last; a guess long enough that a client
# retrying at once does not just meet the limit again.
RETRY_AFTER_S = 300


class TooManyAttempts(ServiceUnavailable):
    """Cognito's per-user limit on codes or attempts: 429 with Retry-After.

    429 and not 503: the limit is on this user's own attempts (wrong codes, codes asked for
    again and again); the service is up for everyone else, and trying again at once fails again.
    A ServiceUnavailable so that the resolver adds Retry-After (it does so for that class only).
    """

    status_code = 429
    code = "too_many_attempts"

    def __init__(
        self,
        message: str = "Too many attempts for this address: wait a few minutes before trying again",
    ) -> None:
        super().__init__(message, retry_after=RETRY_AFTER_S)


class UserExists(Exception):
    """SignUp found the address already registered (confirmed or not)."""


class AlreadyConfirmed(Exception):
    """A confirmation code was asked for an address that is already confirmed."""
