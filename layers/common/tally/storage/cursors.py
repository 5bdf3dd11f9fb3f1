"""Opaque page cursors over one DynamoDB partition (of the table or of an index).

A cursor is the Query's `LastEvaluatedKey`, its string key attributes only, in URL-safe base64.
Decoding checks it belongs to the partition the query reads (and that its table key has the
expected prefix), so an edited or borrowed cursor can never widen what a caller reads: it is
refused with 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tally.errors import InvalidInput

BAD_CURSOR = "This cursor is not one this API gave: start again without it"
KEY_NAMES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")


def encode(last_key: dict[str, Any]) -> str:
    plain = {name: value["S"] for name, value in last_key.items() if name in KEY_NAMES}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(
    cursor: str, *, partition_name: str, partition: str, sort_name: str, pk_prefix: str
) -> dict[str, Any]:
    """The start key `cursor` stands for, when it is one of this partition's."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput(BAD_CURSOR, field="cursor") from None
    if (
        not isinstance(plain, dict)
        or not all(isinstance(name, str) and isinstance(value, str) for name, value in plain.items())
        # Exactly the query's key attributes: the table's, and the index's when it reads one.
        or set(plain) != {"PK", "SK", partition_name, sort_name}
        or plain[partition_name] != partition
        or not plain["PK"].startswith(pk_prefix)
    ):
        raise InvalidInput(BAD_CURSOR, field="cursor")
    return {name: {"S": value} for name, value in plain.items()}
