"""JSON request bodies parsed so that nothing in them can fail later as a 500.

The standard parser accepts what Tally can neither use nor store: NaN and Infinity, integer
literals long enough to make `int()` raise (Python refuses over 4,300 digits) and numbers too
large for DynamoDB, nesting deep enough to exhaust the stack, lone surrogates (`"\\ud800"`
parses, but boto3 cannot encode it) and NUL characters. Each is refused as InvalidInput, in
words, naming the field where it can. Numbers with a fraction or exponent become Decimal, so
money and rates never pass through float.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, NoReturn

from tally.errors import InvalidInput

# Tally's bodies nest three levels deep (a batch, its events, their fields).
MAX_DEPTH = 32
# Numbers are refused from 10**38 up (in magnitude): an integer that large has more digits than
# DynamoDB keeps (38), and the bound is one a JSON Schema can state (tally.http.fields).
MAX_INTEGER_DIGITS = 38
TOO_LARGE = f"A number in the body is 10^{MAX_INTEGER_DIGITS} or more in magnitude"

_SURROGATE = re.compile("[\ud800-\udfff]")
_UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")


class _Refused(ValueError):
    """Raised from inside the parser's hooks; becomes InvalidInput on the body."""


def _parse_int(literal: str) -> int:
    if len(literal) - literal.startswith("-") > MAX_INTEGER_DIGITS:
        raise _Refused(TOO_LARGE)
    return int(literal)


def _parse_float(literal: str) -> Decimal:
    number = Decimal(literal)
    if number and number.adjusted() >= MAX_INTEGER_DIGITS:
        raise _Refused(TOO_LARGE)
    return number


def _parse_constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not a JSON number; send a finite number or null")


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant)


def parse_object(text: str) -> dict[str, Any]:
    """The JSON object in `text`, or InvalidInput saying what is wrong with it."""
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        message = f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise InvalidInput(message, field="body", location="body") from None
    except _Refused as exc:
        raise InvalidInput(str(exc), field="body", location="body") from None
    except RecursionError:
        raise InvalidInput(_too_deep(), field="body", location="body") from None
    if not isinstance(value, dict):
        raise InvalidInput("The body must be a JSON object", field="body", location="body")
    _check(value, (), 1)
    return value


def _check(value: Any, path: tuple[str, ...], depth: int) -> None:
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise InvalidInput(_too_deep(), field=_field(path), location="body")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            inner = (*path, str(key))
            if isinstance(key, str):
                _check_text(key, inner, what="This field's name")
            _check(item, inner, depth + 1)


def _check_text(text: str, path: tuple[str, ...], what: str = "Text") -> None:
    if "\x00" in text:
        raise InvalidInput(
            f"{what} may not contain NUL characters (\\u0000)", field=_field(path), location="body"
        )
    if not text.isascii() and _SURROGATE.search(text):
        raise InvalidInput(
            f"{what} holds an unpaired surrogate escape (\\ud800-\\udfff), which is not a character; "
            "send the character itself or a complete surrogate pair",
            field=_field(path),
            location="body",
        )


def _field(path: tuple[str, ...]) -> str:
    """The dotted path of a field, with characters that cannot be shown written as escapes."""
    if not path:
        return "body"
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", ".".join(path))


def _too_deep() -> str:
    return f"The body nests objects and arrays more than {MAX_DEPTH} levels deep"
