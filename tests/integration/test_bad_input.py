"""Bad input on every route with a body: a 4xx in words, in Tally's error shape, and nothing written.

These are issue 5's reproductions, run through the real handlers against moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tally.storage import clients, keys
from tests.support.events import FakeContext, http_event, tenant_claims
from tests.support.stack import Stack, moto_stack
from tests.support.tenancy import reset_function_caches

ACCOUNT = "acc_demo"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CLICK = {"account_id": ACCOUNT, "source": "seo", "page_url": "/pros/1"}
NEW_ACCOUNT = {"name": "Boulangerie Dupont", "email": "contact@dupont.fr", "country": "FR", "currency": "EUR"}

# route -> (function, a valid body, the claims it needs)
ROUTES: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None]] = {
    "/v1/track/click": ("tracking", CLICK, None),
    "/v1/track/view": ("tracking", CLICK, None),
    "/v1/track/events": ("tracking", {"events": [{**CLICK, "type": "click"}]}, None),
    "/v1/auth/login": ("auth", {"email": "nobody@example.com", "password": "x"}, None),
    "/v1/auth/register": (
        "auth",
        {"email": "jo@example.com", "password": "Correct-Horse-9!", "name": "Jo"},
        None,
    ),
    # Any signed-in user creates their own account.
    "/v1/accounts": ("accounts", NEW_ACCOUNT, tenant_claims()),
}
DEEP_ARRAYS = "[" * 10_000 + "]" * 10_000
DEEP_OBJECTS = '{"a":' * 10_000 + "1" + "}" * 10_000
LONG_INTEGER = '{"unknown": ' + "9" * 4_301 + "}"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One stack for the module: each request is checked for what it alone wrote."""
    with moto_stack() as created:
        clients.dynamodb().put_item(
            TableName=created.ref("BillingTable"), Item=keys.account(ACCOUNT) | {"kind": {"S": "account"}}
        )
        yield created


@dataclass
class Api:
    stack: Stack
    written: list[dict[str, Any]] = field(default_factory=list)  # what the last request stored

    def post(self, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        from accounts.app import lambda_handler as accounts_handler
        from auth.app import lambda_handler as auth_handler
        from tracking.app import lambda_handler as tracking_handler

        function, _, claims = ROUTES[path]
        handler = {"tracking": tracking_handler, "auth": auth_handler}.get(function, accounts_handler)
        kwargs.setdefault("claims", claims)
        before = self._stored()
        # Each handler runs with its own function's environment (tracking's names its salt secret).
        with self.stack.environment(f"{function.capitalize()}Function"):
            answer = handler(http_event("POST", path, user_agent=FIREFOX, **kwargs), FakeContext())  # type: ignore[arg-type]
        self.written = [item for item in self._stored() if item not in before]
        return answer["statusCode"], json.loads(answer["body"])

    def _stored(self) -> list[dict[str, Any]]:
        items = []
        for table in ("EventsTable", "BillingTable"):
            items += clients.dynamodb().scan(TableName=self.stack.ref(table))["Items"]
        return items


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    with stack.environment("AccountsFunction"):
        reset_function_caches()
        yield Api(stack)
        reset_function_caches()


def assert_error(answer: dict[str, Any], code: str, field: str, where: str, words: str) -> None:
    assert set(answer) == {"message", "code", "errors"}, answer
    assert answer["code"] == code
    [error] = answer["errors"]
    assert (error["field"], error["in"]) == (field, where), answer
    assert words in error["message"], answer


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"binary_body": b"\xff"}, "body", "not UTF-8 text (byte 0xff at offset 0)"),
        ({"raw_body": DEEP_ARRAYS}, "body", "more than 32 levels deep"),
        ({"raw_body": DEEP_OBJECTS}, "body", "more than 32 levels deep"),
        ({"raw_body": LONG_INTEGER}, "body", "10^38 or more in magnitude"),
        ({"raw_body": '{"x": -1e38}'}, "body", "10^38 or more in magnitude"),
        ({"raw_body": '{"x": NaN}'}, "body", "NaN is not a JSON number"),
        ({"raw_body": '{"x": -Infinity}'}, "body", "-Infinity is not a JSON number"),
        ({"raw_body": "[{}, {}]"}, "body", "must be a JSON object"),
        ({"raw_body": '"text"'}, "body", "must be a JSON object"),
        ({"raw_body": '{"x": '}, "body", "not valid JSON: Expecting value (line 1, column 7)"),
        ({"raw_body": '{"x": "\\ud800"}'}, "x", "unpaired surrogate"),
        ({"raw_body": '{"a\\u0000b": 1}'}, "a\\u0000b", "name may not contain NUL"),
    ],
)
def test_bodies_that_cannot_be_parsed_safely_are_422_in_words_and_write_nothing(
    api: Api, path: str, kwargs: dict[str, Any], field: str, words: str
) -> None:
    status, answer = api.post(path, **kwargs)

    assert status == 422, answer
    assert_error(answer, "invalid_input", field, "body", words)
    assert api.written == []


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/json; charset=latin-1",
    ],
)
def test_bodies_that_are_not_json_are_415_naming_the_header(api: Api, path: str, content_type: str) -> None:
    status, answer = api.post(path, body=ROUTES[path][1], content_type=content_type)

    assert status == 415, answer
    assert_error(answer, "unsupported_media_type", "content-type", "header", content_type)
    assert api.written == []


@pytest.mark.parametrize("path", ["/v1/track/click", "/v1/accounts"])
@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", None])
def test_json_media_types_are_compared_case_insensitively(
    api: Api, path: str, content_type: str | None
) -> None:
    status, answer = api.post(path, body=ROUTES[path][1], content_type=content_type)

    assert status in {201, 202}, answer


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/track/click", {**CLICK, "page_url": "/a\x00b"}, "page_url"),
        ("/v1/track/view", {**CLICK, "referrer": "https://x.example/\x00"}, "referrer"),
        (
            "/v1/track/events",
            {"events": [{**CLICK, "type": "click", "page_type": "\x00"}]},
            "events.0.page_type",
        ),
        ("/v1/accounts", {**NEW_ACCOUNT, "name": "Dupont\x00"}, "name"),
        ("/v1/auth/login", {"email": "a@b.fr", "password": "\x00"}, "password"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    status, answer = api.post(path, body=body)

    assert status == 422
    assert_error(answer, "invalid_input", field, "body", "NUL")
    assert api.written == []


@pytest.mark.parametrize("path", ["/v1/track/click", "/v1/accounts"])
def test_a_json_array_is_not_unwrapped_to_its_first_element(api: Api, path: str) -> None:
    first, second = ROUTES[path][1], {**ROUTES[path][1], "name": "Second"}

    status, answer = api.post(path, raw_body=json.dumps([first, second]))

    assert status == 422
    assert_error(answer, "invalid_input", "body", "body", "must be a JSON object")
    assert api.written == []


def click_at(position: str) -> str:
    """A click at a page of its own (so no case is another's duplicate) with `position` as written."""
    page = f"/p/{position.replace('"', '')}"
    return f'{{"account_id": "{ACCOUNT}", "source": "seo", "page_url": "{page}", "position": {position}}}'


@pytest.mark.parametrize("position", ["254.0", "2.54e2", "254"])
def test_whole_numbers_are_integers_however_they_are_written(api: Api, position: str) -> None:
    status, answer = api.post("/v1/track/click", raw_body=click_at(position))

    assert status == 202, answer
    [event] = [item for item in api.written if item.get("kind") == {"S": "event"}]
    assert event["position"] == {"N": "254"}


@pytest.mark.parametrize("position", ["254.5", '"254"', "true", "1e37", "-0.5"])
def test_positions_that_are_not_whole_numbers_are_refused(api: Api, position: str) -> None:
    status, answer = api.post("/v1/track/click", raw_body=click_at(position))

    assert status == 422, answer
    assert [(e["field"], e["in"]) for e in answer["errors"]] == [("position", "body")]
    assert api.written == []


def test_bodies_over_64_kib_are_413_before_anything_is_parsed(api: Api) -> None:
    status, answer = api.post("/v1/track/click", raw_body="[" * (64 * 1024 + 1))

    assert status == 413
    assert_error(answer, "payload_too_large", "body", "body", "64 KiB")
