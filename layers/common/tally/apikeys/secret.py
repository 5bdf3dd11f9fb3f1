"""What an API key is on the wire, and what Tally keeps of it.

A key is `tally_sk_` followed by 32 random bytes in URL-safe base64 (43 characters, no padding).
It is shown once, when created; Tally stores only its keyed hash (HMAC-SHA256 with the pepper,
a secret of its own in Secrets Manager) and a visible prefix that lets a person tell keys apart.
Without the pepper, a leaked table does not let anyone test guesses against the hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SECRET_PREFIX = "tally_sk_"  # noqa: S105 - the scheme every key starts with, not a secret
SECRET_BYTES = 32
# 32 bytes in base64 without padding.
_BODY_LENGTH = 43
_WELL_FORMED = re.compile(rf"{SECRET_PREFIX}[A-Za-z0-9_-]{{{_BODY_LENGTH}}}")
# `tally_sk_` and three random characters: enough to tell an account's keys apart, far too
# little to help guess the rest.
VISIBLE_PREFIX_LENGTH = 12
KEY_ID_PREFIX = "key_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def looks_like_key(text: str) -> bool:
    """Whether the caller meant an API key (rather than a token), well formed or not."""
    return text.startswith(SECRET_PREFIX)


def is_well_formed(text: str) -> bool:
    return _WELL_FORMED.fullmatch(text) is not None


def visible_prefix(secret: str) -> str:
    return secret[:VISIBLE_PREFIX_LENGTH]


def key_hash(secret: str, pepper: str) -> str:
    """The keyed hash a key is stored and looked up by (hex)."""
    return hmac.new(pepper.encode("utf-8"), secret.encode("utf-8"), hashlib.sha256).hexdigest()


def new_key_id() -> str:
    return KEY_ID_PREFIX + secrets.token_hex(10)
