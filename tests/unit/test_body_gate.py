"""The body gate on HTTP API v2 events: media types, decoding, and one parse per request."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tally.errors import InvalidInput, UnsupportedMediaType
from tally.http.body_gate import JsonBodyGate, body_text, media_type


def event(body: str | None, content_type: str | None = "application/json", **extra: Any) -> dict[str, Any]:
    headers = {"user-agent": "test"} | ({"content-type": content_type} if content_type is not None else {})
    return {
        "headers": headers,
        "isBase64Encoded": False,
        **({"body": body} if body is not None else {}),
        **extra,
    }


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("application/json", ("application/json", {})),
        (" APPLICATION/JSON ; Charset=UTF-8", ("application/json", {"charset": "UTF-8"})),
        ('multipart/form-data; boundary="x y"', ("multipart/form-data", {"boundary": "x y"})),
        ("multipart/form-data", ("multipart/form-data", {})),
        ("text/plain;;junk", ("text/plain", {})),
    ],
)
def test_media_types_are_parsed_case_insensitively(header: str, parsed: tuple[str, dict[str, str]]) -> None:
    assert media_type(header) == parsed


def test_json_in_any_case_is_admitted_and_given_to_powertools_canonically() -> None:
    admitted = JsonBodyGate().admit(event('{"a": 1}', "Application/JSON; charset=utf-8"))

    assert admitted["headers"] == {"user-agent": "test", "content-type": "application/json"}


@pytest.mark.parametrize("content_type", [None, "", "application/json"])
def test_a_body_without_a_media_type_is_json_and_the_event_is_left_alone(content_type: str | None) -> None:
    original = event('{"a": 1}', content_type)

    assert JsonBodyGate().admit(original) is original


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "text/plain", "application/json-seq", "application/json; charset=latin-1"],
)
def test_other_media_types_are_refused_naming_the_header(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        JsonBodyGate().admit(event("{}", content_type))

    assert (refused.value.field, refused.value.location, refused.value.status_code) == (
        "content-type",
        "header",
        415,
    )
    assert content_type in refused.value.message


def test_a_media_type_is_not_checked_when_there_is_no_body() -> None:
    quiet = event(None, "text/plain")

    assert JsonBodyGate().admit(quiet) is quiet


def test_base64_bodies_are_decoded_as_strict_utf8() -> None:
    encoded = base64.b64encode('{"name": "Crème"}'.encode()).decode()
    assert body_text(event(encoded, isBase64Encoded=True)) == '{"name": "Crème"}'

    with pytest.raises(InvalidInput, match="not UTF-8 text \\(byte 0xe8 at offset 1\\)"):
        body_text(event(base64.b64encode(b'"\xe8"').decode(), isBase64Encoded=True))
    with pytest.raises(InvalidInput, match="not valid base64"):
        body_text(event("not base64!", isBase64Encoded=True))


def test_powertools_gets_the_admitted_parse_without_parsing_again() -> None:
    gate = JsonBodyGate()
    text = '{"a": [1, 2]}'
    gate.admit(event(text))

    first = gate.deserialize(text)
    assert gate.deserialize(text) is first
    assert gate.deserialize(str(text.encode().decode())) is first  # an equal copy (base64 bodies)

    gate.forget()
    assert gate.deserialize(text) == first
    assert gate.deserialize(text) is not first


def test_the_deserializer_refuses_what_the_gate_refuses() -> None:
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        JsonBodyGate().deserialize("[1]")
