"""Reading claims from a token Cognito itself just handed over (no signature check needed: it
never left Tally) or that Cognito checks when it receives it back."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

GROUPS_CLAIM = "cognito:groups"


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified; {} when the token is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def groups(token: str) -> frozenset[str]:
    raw = unverified_claims(token).get(GROUPS_CLAIM) or []
    return frozenset(str(group) for group in raw) if isinstance(raw, list) else frozenset()
