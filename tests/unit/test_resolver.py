"""The resolver factory on a small app: error shape, where a field is, and the gate as an opt-in."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from pydantic import BaseModel

from tally.errors import Conflict, NotFound
from tally.http.resolver import TallyResolver, create_resolver, resolve
from tests.support.events import FakeContext, http_event


class Thing(BaseModel):
    name: str


def json_app() -> TallyResolver:
    app = create_resolver()

    @app.get("/things/<thing_id>")
    def read(thing_id: Annotated[str, Path()], owner: Annotated[str, Query()] = "me") -> dict[str, str]:
        if owner != "me":
            raise NotFound("No such owner", field="owner")
        raise NotFound("No such thing", field="thing_id")

    @app.post("/things")
    def create(body: Thing, key: Annotated[str | None, Header(alias="x-key")] = None) -> dict[str, str]:
        raise Conflict("Taken", field="x-key" if key else "name")

    return app


def raw_app() -> TallyResolver:
    app = create_resolver(json_bodies=False)

    @app.post("/hooks")
    def hook() -> dict[str, Any]:
        return {"raw": app.current_event.body}

    @app.post("/things")
    def create(body: Thing) -> dict[str, str]:
        return {"name": body.name}

    return app


def call(app: TallyResolver, event: dict[str, Any]) -> tuple[int, Any]:
    answer = resolve(app, event, FakeContext())  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"])


def problems(answer: Any) -> list[tuple[str, str]]:
    assert set(answer) == {"message", "code", "errors"}
    return [(error["field"], error["in"]) for error in answer["errors"]]


def test_a_domain_error_names_where_the_route_reads_its_field() -> None:
    app = json_app()
    path = {"thing_id": "t1"}

    in_path = call(app, http_event("GET", "/things/t1", route="GET /things/{thing_id}", path_parameters=path))
    in_query = call(
        app,
        http_event(
            "GET", "/things/t1", query={"owner": "you"}, route="GET /things/{thing_id}", path_parameters=path
        ),
    )
    in_header = call(app, http_event("POST", "/things", body={"name": "x"}, headers={"x-key": "k"}))
    in_body = call(app, http_event("POST", "/things", body={"name": "x"}))

    assert [status for status, _ in (in_path, in_query, in_header, in_body)] == [404, 404, 409, 409]
    assert problems(in_path[1]) == [("thing_id", "path")]
    assert problems(in_query[1]) == [("owner", "query")]
    assert problems(in_header[1]) == [("x-key", "header")]
    assert problems(in_body[1]) == [("name", "body")]


def test_validation_errors_say_where_they_are() -> None:
    status, answer = call(json_app(), http_event("POST", "/things", body={"name": 3}, headers={"x-key": ""}))

    assert status == 422
    assert problems(answer) == [("name", "body")]


def test_a_path_the_function_does_not_serve_is_a_404_in_tallys_shape() -> None:
    status, answer = call(json_app(), http_event("GET", "/elsewhere"))

    assert (status, answer["code"], answer["errors"]) == (404, "not_found", [])


def test_a_function_that_opts_out_reads_its_raw_body() -> None:
    status, answer = call(
        raw_app(), http_event("POST", "/hooks", raw_body="t=1,v1=abc", content_type="text/plain")
    )

    assert (status, answer) == (200, {"raw": "t=1,v1=abc"})


def test_without_the_gate_powertools_415_still_has_tallys_shape() -> None:
    status, answer = call(
        raw_app(), http_event("POST", "/things", body={"name": "x"}, content_type="text/plain")
    )

    assert status == 415
    assert problems(answer) == [("content-type", "header")]


def test_the_size_limit_holds_with_or_without_the_gate() -> None:
    huge = "x" * (64 * 1024 + 1)

    for app in (json_app(), raw_app()):
        status, answer = call(app, http_event("POST", "/things", raw_body=huge))
        assert (status, answer["code"]) == (413, "payload_too_large")


def test_bodies_of_get_requests_are_never_looked_at() -> None:
    event = http_event(
        "GET",
        "/things/t1",
        raw_body="\x00[",
        route="GET /things/{thing_id}",
        path_parameters={"thing_id": "t1"},
    )

    assert call(json_app(), event)[0] == 404
