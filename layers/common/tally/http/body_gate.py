"""The body gate: what reaches Powertools is a UTF-8 JSON object it can parse without failing.

Left to itself, Powertools answers a bare 500 to a body that is not UTF-8, to multipart without a
boundary, to deep nesting and to huge integer literals; it compares media types case-sensitively
and unwraps a top-level JSON array to its first element. The gate runs before Powertools sees the
event, and Powertools is handed the gate's parser (memoised, so a body is parsed once). HTTP
functions that take JSON opt in through `create_resolver()`; one that needs the raw body (webhook
signatures) does not.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from tally.errors import InvalidInput, UnsupportedMediaType
from tally.http.safe_json import parse_object

JSON_MEDIA_TYPE = "application/json"
CONTENT_TYPE = "content-type"


def media_type(header: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` in lower case and the parameters (names lower-cased) of a Content-Type."""
    kind, _, rest = header.partition(";")
    parameters: dict[str, str] = {}
    for part in rest.split(";"):
        name, equals, value = part.partition("=")
        if equals:
            parameters[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), parameters


def body_text(event: Mapping[str, Any]) -> str | None:
    """The body as text (base64 undone, strict UTF-8), None when there is none."""
    body = event.get("body")
    if not body:
        return None
    if not event.get("isBase64Encoded"):
        return str(body)
    try:
        raw = base64.b64decode(str(body), validate=True)
    except binascii.Error:
        raise InvalidInput("The body is not valid base64", field="body", location="body") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"The body is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        raise InvalidInput(message, field="body", location="body") from None


class JsonBodyGate:
    """Admits events whose body (if any) is a JSON object, as `application/json` in UTF-8."""

    def __init__(self) -> None:
        # The last body admitted and its parse. Keyed by the text itself, so a stale or shared
        # entry can only ever answer for an identical body.
        self._memo: tuple[str, dict[str, Any]] | None = None

    def admit(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event Powertools may resolve; raises DomainError for a body it must not see."""
        if not event.get("body"):
            return event
        headers: dict[str, Any] = event.get("headers") or {}
        # A body without a Content-Type (or with an empty one) is taken as JSON.
        declared = next((str(v) for k, v in headers.items() if k.lower() == CONTENT_TYPE), "").strip()
        if declared:
            _require_json(declared)
        text = body_text(event)
        if text is None:
            return event
        self._memo = (text, parse_object(text))
        if declared in ("", JSON_MEDIA_TYPE):
            return event
        # Powertools matches the header case-sensitively; give it the canonical spelling.
        canonical = {k: v for k, v in headers.items() if k.lower() != CONTENT_TYPE}
        return {**event, "headers": {**canonical, CONTENT_TYPE: JSON_MEDIA_TYPE}}

    def deserialize(self, text: str) -> dict[str, Any]:
        """Powertools' `json_body_deserializer`: the admitted parse, or the same parser."""
        memo = self._memo
        if memo is not None and (memo[0] is text or memo[0] == text):
            return memo[1]
        return parse_object(text)

    def forget(self) -> None:
        self._memo = None


def _require_json(declared: str) -> None:
    kind, parameters = media_type(declared)
    charset = parameters.get("charset", "utf-8").lower()
    if kind == JSON_MEDIA_TYPE and charset == "utf-8":
        return
    shown = declared[:100]
    raise UnsupportedMediaType(
        f"Send the body as {JSON_MEDIA_TYPE} in UTF-8, not {shown}",
        field=CONTENT_TYPE,
        location="header",
    )
