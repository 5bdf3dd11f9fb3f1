"""TOTP codes as an authenticator app computes them (RFC 6238: SHA-1, 6 digits, 30 s steps)."""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP_S = 30
MARGIN_S = 2  # a code drawn this close to the end of its step may reach the server in the next one


def current_code(secret: str) -> str:
    """The code of `secret` for now, waiting for the next step if this one is about to end."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    totp = TOTP(key, 6, SHA1(), STEP_S, enforce_key_length=False)  # noqa: S303 - what TOTP uses
    left = STEP_S - time.time() % STEP_S
    if left < MARGIN_S:
        time.sleep(left + 0.05)
    return totp.generate(time.time()).decode()
