"""The local stack's parts, in process: template loading and intrinsics, the route table read
from template.yaml, the v2 event builder, the JWT authorizer and claim flattening, the filter
matcher; then a whole `LocalStack` over a small fixture template (gateway, auth, streams).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import jwt
import psutil
import pytest
import requests
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from local import worker
from local.authorizer import (
    ForbiddenError,
    JwksCache,
    JwtAuthorizer,
    UnauthorizedError,
    bearer_token,
    flatten_claim,
    flatten_claims,
)
from local.errors import InvocationThrottled
from local.events import HttpRequest, HttpResult, build_http_event, query_parameters
from local.filters import matches, matches_any
from local.functions import FunctionSpec, build_functions
from local.instances import InstancePool
from local.intrinsics import NO_VALUE, Pseudo, Resolver, TemplateError, UnresolvedError, parameter_values
from local.invoker import capacity, runtime_environment
from local.lambda_authorizer import route_arn
from local.resources import CREATORS, PhysicalResource, ResourceRegistry
from local.routes import ApiSpec, JwtAuthorizerSpec, LambdaAuthorizerSpec, Route, RouteTable, build_routes
from local.stack import LocalStack
from local.template import Template, load_template, load_yaml, merge_globals, parse_template

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "local_stack" / "template.yaml"
REGION = "eu-west-1"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool"


# -- template loading -------------------------------------------------------------------------


def test_short_form_tags_become_the_long_form() -> None:
    document = load_yaml(
        """
        a: !Ref Thing
        b: !GetAtt Table.StreamArn
        c: !GetAtt [Table, Arn]
        d: !Sub "x-${AWS::Region}"
        e: !Sub ["${a}-y", {a: !Ref Thing}]
        f: !If [IsProd, !Ref Thing, !Ref AWS::NoValue]
        g: !Select [1, !Split [",", "a,b,c"]]
        h: !Not [!Equals [a, b]]
        i: !Join ["", [a, !Ref Thing]]
        j: !FindInMap [M, k1, k2]
        """
    )
    assert document == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "c": {"Fn::GetAtt": ["Table", "Arn"]},
        "d": {"Fn::Sub": "x-${AWS::Region}"},
        "e": {"Fn::Sub": ["${a}-y", {"a": {"Ref": "Thing"}}]},
        "f": {"Fn::If": ["IsProd", {"Ref": "Thing"}, {"Ref": "AWS::NoValue"}]},
        "g": {"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]},
        "h": {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]},
        "i": {"Fn::Join": ["", ["a", {"Ref": "Thing"}]]},
        "j": {"Fn::FindInMap": ["M", "k1", "k2"]},
    }


def test_an_unknown_tag_is_an_error() -> None:
    with pytest.raises(yaml.YAMLError, match="Bogus"):
        load_yaml("a: !Bogus x\n")


def test_globals_merge_like_sam() -> None:
    merged = merge_globals(
        {"Timeout": 10, "Layers": ["L1"], "Environment": {"Variables": {"A": "1", "B": "2"}}},
        {"Timeout": 30, "Layers": ["L2"], "Environment": {"Variables": {"B": "3"}}},
    )
    assert merged == {
        "Timeout": 30,
        "Layers": ["L1", "L2"],
        "Environment": {"Variables": {"A": "1", "B": "3"}},
    }


# -- intrinsics -------------------------------------------------------------------------------

_DOC: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Days": {"Type": "Number", "Default": 90},
        "Origins": {"Type": "CommaDelimitedList", "Default": "a.example,b.example"},
        "Required": {"Type": "String"},
    },
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": ["x", "x"]}]},
    },
    "Mappings": {"Sizes": {"dev": {"Memory": 256}}},
    "Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}}},
}


def _resolver(overrides: dict[str, str] | None = None) -> Resolver:
    template = parse_template(json.loads(json.dumps(_DOC)), Path("template.yaml"))
    physical = {("Table", None): "tally-local-Table", ("Table", "Arn"): "arn:aws:dynamodb:::table/t"}

    def lookup(logical_id: str, attribute: str | None) -> Any:
        if (logical_id, attribute) not in physical:
            raise UnresolvedError(logical_id, attribute)
        return physical[(logical_id, attribute)]

    values = parameter_values(template, {"Required": "r", **(overrides or {})})
    return Resolver(template, Pseudo(region=REGION), values, lookup)


def test_refs_to_parameters_pseudo_parameters_and_resources() -> None:
    resolver = _resolver()
    assert resolver.resolve({"Ref": "Stage"}) == "dev"
    assert resolver.resolve({"Ref": "Days"}) == "90"  # CloudFormation hands numbers over as strings
    assert resolver.resolve({"Ref": "Origins"}) == ["a.example", "b.example"]
    assert resolver.resolve({"Ref": "AWS::Region"}) == REGION
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == "123456789012"
    assert resolver.resolve({"Ref": "AWS::Partition"}) == "aws"
    assert resolver.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert resolver.resolve({"Ref": "AWS::StackName"}) == "tally-local"
    assert str(resolver.resolve({"Ref": "AWS::StackId"})).startswith("arn:aws:cloudformation:eu-west-1:")
    assert resolver.resolve({"Ref": "Table"}) == "tally-local-Table"
    assert resolver.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == "arn:aws:dynamodb:::table/t"
    assert _resolver({"Stage": "prod"}).resolve({"Ref": "Stage"}) == "prod"


def test_parameter_errors() -> None:
    with pytest.raises(TemplateError, match="not one of"):
        _resolver({"Stage": "staging"})
    with pytest.raises(TemplateError, match="unknown parameter"):
        _resolver({"Nope": "1"})
    template = parse_template(json.loads(json.dumps(_DOC)), Path("template.yaml"))
    with pytest.raises(TemplateError, match="Required"):
        parameter_values(template)


def test_sub_join_select_split_and_find_in_map() -> None:
    resolver = _resolver()
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Table.Arn}"}) == (
        "tally-local-dev-arn:aws:dynamodb:::table/t"
    )
    assert resolver.resolve({"Fn::Sub": ["${x}/${Table}", {"x": {"Ref": "Days"}}]}) == "90/tally-local-Table"
    assert resolver.resolve({"Fn::Sub": "${!Literal}-${AWS::Region}"}) == "${Literal}-eu-west-1"
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}) == "a-dev-3"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 256


def test_conditions_if_and_no_value() -> None:
    resolver = _resolver()
    assert resolver.condition("IsDev") is True
    assert resolver.condition("IsProd") is False
    assert resolver.condition("Both") is True
    value = resolver.resolve(
        {
            "Keep": {"Fn::If": ["IsDev", "yes", "no"]},
            "Drop": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]},
            "List": ["a", {"Fn::If": ["IsProd", "b", {"Ref": "AWS::NoValue"}]}],
            "Data": {"Condition": {"StringEquals": {"k": "v"}}},
        }
    )
    assert value == {"Keep": "yes", "List": ["a"], "Data": {"Condition": {"StringEquals": {"k": "v"}}}}
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    # A property read on its own: AWS::NoValue means the property is absent.
    assert resolver.resolve_property({"Fn::If": ["IsProd", 5, {"Ref": "AWS::NoValue"}]}) is None
    assert resolver.resolve_property({"Fn::If": ["IsDev", 5, {"Ref": "AWS::NoValue"}]}) == 5


def test_a_reference_to_a_resource_not_created_yet_is_unresolved() -> None:
    with pytest.raises(UnresolvedError):
        _resolver().resolve({"Fn::GetAtt": ["Table", "StreamArn"]})


# -- the route table from the real template.yaml (no moto needed) ----------------------------

_FAKE_ATTRIBUTES = ("Arn", "QueueName", "QueueUrl", "ClientId", "ProviderURL", "ProviderName", "UserPoolId")


def _offline(template_path: Path) -> tuple[Template, Resolver, ResourceRegistry]:
    """Registry pre-filled with made-up physical ids, so Ref/GetAtt resolve without moto."""
    template = load_template(template_path)
    pseudo = Pseudo(region=REGION)
    registry = ResourceRegistry(template, pseudo)
    for resource in template.resources.values():
        if resource.type in CREATORS:
            attributes = {name: f"{name.lower()}-{resource.logical_id}" for name in _FAKE_ATTRIBUTES}
            attributes["StreamArn"] = (
                f"arn:aws:dynamodb:{REGION}:123456789012:table/local-{resource.logical_id}/stream/2026-01-01"
            )
            if resource.type == "AWS::SQS::Queue":  # an SQS event source needs a queue's Arn
                attributes["Arn"] = f"arn:aws:sqs:{REGION}:123456789012:local-{resource.logical_id}"
            registry.physical[resource.logical_id] = PhysicalResource(
                resource.logical_id, resource.type, f"local-{resource.logical_id}", attributes
            )
    resolver = Resolver(template, pseudo, parameter_values(template), registry.lookup)
    return template, resolver, registry


@pytest.fixture(scope="module")
def real_stack() -> tuple[dict[str, FunctionSpec], RouteTable]:
    template, resolver, registry = _offline(ROOT / "template.yaml")
    specs = build_functions(template, resolver, registry)
    return {spec.logical_id: spec for spec in specs}, build_routes(specs, template, resolver, registry)


def test_real_template_functions_follow_the_contract(
    real_stack: tuple[dict[str, FunctionSpec], RouteTable],
) -> None:
    functions, _ = real_stack
    handlers = {
        "TrackingFunction": "tracking.app.lambda_handler",
        "TrackingCounterFunction": "tracking.counter.lambda_handler",
        "AccountsFunction": "accounts.app.lambda_handler",
        "AuthFunction": "auth.app.lambda_handler",
        "DocsFunction": "docs.app.lambda_handler",
    }
    for logical_id, handler in handlers.items():
        spec = functions[logical_id]
        assert spec.handler == handler
        assert spec.code_dir == ROOT / "functions"
        assert ROOT / "layers" / "common" in spec.layer_dirs
        assert spec.environment["BILLING_TABLE_NAME"] == "local-BillingTable"
        assert spec.environment["EVENTS_TABLE_NAME"] == "local-EventsTable"
        assert spec.environment["USER_POOL_ID"] == "local-UserPool"
        assert spec.environment["USER_POOL_CLIENT_ID"] == "local-UserPoolClient"
        assert all(isinstance(value, str) for value in spec.environment.values())


def test_real_template_routes_and_their_auth(real_stack: tuple[dict[str, FunctionSpec], RouteTable]) -> None:
    _, routes = real_stack
    by_key = {route.route_key: route for route in routes.routes}
    public = [
        "POST /v1/track/click",
        "POST /v1/track/view",
        "POST /v1/track/events",
        "POST /v1/auth/login",
        "POST /v1/auth/register",
        "POST /v1/auth/refresh",
    ]
    private = [
        "POST /v1/accounts",
        "GET /v1/accounts/{account_id}",
        "POST /v1/me/mfa/setup",
        "POST /v1/me/mfa/verify",
    ]
    for key in public:
        assert by_key[key].authorizer is None, key
    for key in private:
        authorizer = by_key[key].authorizer
        assert isinstance(authorizer, JwtAuthorizerSpec), key
        assert authorizer.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/local-UserPool"
        assert authorizer.audience == ("local-UserPoolClient",)
        assert authorizer.identity_header == "authorization"
    assert by_key["POST /v1/track/click"].function == "TrackingFunction"
    assert by_key["POST /v1/auth/login"].function == "AuthFunction"
    # The routes that accept API keys: the Lambda authorizer, as the template configures it.
    assert by_key["GET /v1/track/stats"].authorizer == LambdaAuthorizerSpec(
        name="KeyOrTokenAuthorizer",
        function="AuthorizerFunction",
        identity_sources=("$request.header.Authorization",),
        payload_format="2.0",
        simple_responses=True,
        ttl_seconds=30,
    )

    found = routes.match("GET", "/v1/accounts/acc_123")
    assert found is not None
    assert found[0].function == "AccountsFunction"
    assert found[1] == {"account_id": "acc_123"}
    assert routes.match("DELETE", "/v1/auth/login") is None
    assert routes.match("GET", "/v1/nothing") is None
    assert routes.cors_for("/v1/track/click") is not None  # the HttpApi's CorsConfiguration


def test_lambda_authorizers_in_cloudformation_spelling_and_ones_naming_no_function(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Raw
        Authorizers:
          Raw:
            FunctionArn: !GetAtt Check.Arn
            AuthorizerPayloadFormatVersion: 1.0
            IdentitySource: [$request.header.X-Key, $request.querystring.k]
            AuthorizerResultTtlInSeconds: 5
          Elsewhere:
            FunctionArn: arn:aws:lambda:eu-west-1:123456789012:function:not-here
            AuthorizerPayloadFormatVersion: 2.0
  Check:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ., Handler: check.handler}
  Target:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: target.handler
      Events:
        Raw: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /raw}}
        Lost:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /lost, Auth: {Authorizer: Elsewhere}}
"""
    )
    template, resolver, registry = _offline(tmp_path / "template.yaml")
    routes = build_routes(build_functions(template, resolver, registry), template, resolver, registry)
    by_key = {route.route_key: route.authorizer for route in routes.routes}
    assert by_key["GET /raw"] == LambdaAuthorizerSpec(
        name="Raw",
        function="Check",
        identity_sources=("$request.header.X-Key", "$request.querystring.k"),
        payload_format="1.0",
        simple_responses=False,
        ttl_seconds=5,
    )
    lost = by_key["GET /lost"]
    assert isinstance(lost, LambdaAuthorizerSpec)
    assert lost.function is None  # its requests are answered 500, as a broken authorizer's


def test_real_template_stream_filter_passes_counted_inserts_only(
    real_stack: tuple[dict[str, FunctionSpec], RouteTable],
) -> None:
    functions, _ = real_stack
    (source,) = functions["TrackingCounterFunction"].stream_sources
    assert source.stream_arn.endswith("/stream/2026-01-01")
    assert source.report_batch_item_failures

    def record(event_name: str, image: dict[str, Any]) -> dict[str, Any]:
        return {"eventName": event_name, "dynamodb": {"Keys": {}, "NewImage": image}}

    counted = {"kind": {"S": "event"}, "counted": {"BOOL": True}}
    assert matches_any(source.filter_patterns, record("INSERT", counted))
    assert not matches_any(source.filter_patterns, record("MODIFY", counted))
    assert not matches_any(source.filter_patterns, record("INSERT", {**counted, "counted": {"BOOL": False}}))
    assert not matches_any(source.filter_patterns, record("INSERT", {"kind": {"S": "counter"}}))


# -- route matching -----------------------------------------------------------------------------


def _route(method: str, path: str, function: str = "F") -> Route:
    return Route(api=ApiSpec("Api", "apiid"), method=method, path=path, function=function, authorizer=None)


def test_most_specific_route_wins() -> None:
    table = RouteTable(
        [
            _route("ANY", "/{proxy+}", "Greedy"),
            _route("GET", "/items/{id}", "Param"),
            _route("GET", "/items/special", "Literal"),
            _route("ANY", "/items/{id}", "AnyParam"),
            _route("ANY", "$default", "Default"),
        ]
    )

    def target(method: str, path: str) -> tuple[str, dict[str, str]]:
        found = table.match(method, path)
        assert found is not None
        return found[0].function, found[1]

    assert target("GET", "/items/special") == ("Literal", {})
    assert target("GET", "/items/42") == ("Param", {"id": "42"})
    assert target("POST", "/items/42") == ("AnyParam", {"id": "42"})
    assert target("GET", "/a/b/c") == ("Greedy", {"proxy": "a/b/c"})
    assert target("GET", "/items/a b") == ("Param", {"id": "a b"})  # the gateway decodes the path first
    assert target("GET", "/") == ("Default", {})


def test_no_default_route_means_404() -> None:
    table = RouteTable([_route("GET", "/items/{id}")])
    assert table.match("GET", "/items") is None
    assert table.match("GET", "/items/1/2") is None
    assert table.match("GET", "/items/1/") is None
    assert table.match("POST", "/items/1") is None


# -- the v2 event -------------------------------------------------------------------------------


def _request(**overrides: Any) -> HttpRequest:
    fields: dict[str, Any] = {
        "method": "POST",
        "target": "/v1/things/42?a=1&b=two%20words&a=3&empty=",
        "headers": [
            ("Host", "127.0.0.1:3000"),
            ("User-Agent", "pytest"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Custom", "one"),
            ("x-custom", "two"),
            ("Cookie", "session=abc; theme=dark"),
            ("Content-Type", "application/json"),
        ],
        "body": b'{"ok": true}',
        "source_ip": "10.1.2.3",
    }
    fields.update(overrides)
    return HttpRequest(**fields)


def test_event_has_the_http_api_v2_shape() -> None:
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    event = build_http_event(
        _request(),
        route_key="POST /v1/things/{id}",
        api_id="apiid",
        path_parameters={"id": "42"},
        request_id="req-1",
        now=now,
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/things/{id}"
    assert event["rawPath"] == "/v1/things/42"
    assert event["rawQueryString"] == "a=1&b=two%20words&a=3&empty="
    assert event["queryStringParameters"] == {"a": "1,3", "b": "two words", "empty": ""}
    assert event["pathParameters"] == {"id": "42"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    headers = event["headers"]
    assert all(key == key.lower() for key in headers)
    assert headers["x-custom"] == "one,two"
    assert headers["user-agent"] == "pytest"
    assert "cookie" not in headers
    assert headers["x-forwarded-for"] == "203.0.113.9, 10.1.2.3"
    assert event["body"] == '{"ok": true}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/v1/things/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",  # the socket peer, never X-Forwarded-For
        "userAgent": "pytest",
    }
    assert context["routeKey"] == "POST /v1/things/{id}"
    assert context["stage"] == "$default"
    assert context["requestId"] == "req-1"
    assert context["apiId"] == "apiid"
    assert context["accountId"] == "123456789012"
    assert context["domainName"] == "127.0.0.1:3000"
    assert context["time"] == "01/Mar/2026:12:30:00 +0000"
    assert context["timeEpoch"] == int(now.timestamp() * 1000)
    assert "authorizer" not in context


def test_event_without_query_cookies_or_body_omits_them() -> None:
    event = build_http_event(
        _request(method="GET", target="/x", headers=[("Host", "h")], body=b""),
        route_key="GET /x",
        api_id="apiid",
    )
    for absent in ("queryStringParameters", "pathParameters", "cookies", "body"):
        assert absent not in event
    assert event["rawQueryString"] == ""
    assert event["headers"]["x-forwarded-for"] == "10.1.2.3"


def test_binary_body_is_base64() -> None:
    event = build_http_event(_request(body=b"\xff\x00\xfe"), route_key="POST /x", api_id="apiid")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"


def test_query_parameters_join_repeats() -> None:
    assert query_parameters("tag=a&tag=b&q=x+y") == {"tag": "a,b", "q": "x y"}


def test_lambda_responses_map_like_api_gateway() -> None:
    result = HttpResult.from_lambda(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Flag": True},
            "multiValueHeaders": {"X-Many": ["1", "2"]},
            "cookies": ["a=1", "b=2"],
            "body": base64.b64encode(b"\x00bin").decode(),
            "isBase64Encoded": True,
        }
    )
    assert result.status == 201
    assert result.body == b"\x00bin"
    assert ("X-Flag", "true") in result.headers
    assert [value for key, value in result.headers if key == "set-cookie"] == ["a=1", "b=2"]
    assert [value for key, value in result.headers if key == "X-Many"] == ["1", "2"]

    inferred = HttpResult.from_lambda({"hello": "world"})
    assert (inferred.status, json.loads(inferred.body)) == (200, {"hello": "world"})
    assert inferred.header("content-type") == "application/json"


# -- authorizer and claims ----------------------------------------------------------------------


def test_claims_are_flattened_to_strings() -> None:
    claims = flatten_claims(
        {
            "sub": "u-1",
            "cognito:groups": ["platform-admin"],
            "two": ["a", "b"],
            "exp": 1700000000,
            "email_verified": True,
            "nested": {"k": 1},
        }
    )
    assert claims == {
        "sub": "u-1",
        "cognito:groups": "[platform-admin]",
        "two": "[a b]",
        "exp": "1700000000",
        "email_verified": "true",
        "nested": '{"k":1}',
    }
    assert flatten_claim([]) == "[]"


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("abc") == "abc"
    assert bearer_token("") is None
    assert bearer_token(None) is None


class _StaticJwks(JwksCache):
    def __init__(self, keys: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:1")
        self.static = keys
        self.fetches = 0

    def _fetch(self, issuer: str) -> dict[str, Any]:
        self.fetches += 1
        return dict(self.static)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "sub": "u-1",
        "aud": "client-1",
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "k1"})


def _authorize(key: rsa.RSAPrivateKey, token: str, scopes: tuple[str, ...] = ()) -> dict[str, str]:
    authorizer = JwtAuthorizer(_StaticJwks({"k1": key.public_key()}))
    spec = JwtAuthorizerSpec(name="Cognito", issuer=ISSUER, audience=("client-1",))
    return authorizer.authorize(spec, {"authorization": f"Bearer {token}"}, scopes).claims


def test_a_valid_id_token_passes_with_flattened_claims(signing_key: rsa.RSAPrivateKey) -> None:
    claims = _authorize(signing_key, _token(signing_key, **{"cognito:groups": ["platform-admin"]}))
    assert claims["sub"] == "u-1"
    assert claims["cognito:groups"] == "[platform-admin]"
    assert all(isinstance(value, str) for value in claims.values())


def test_an_access_token_passes_on_client_id(signing_key: rsa.RSAPrivateKey) -> None:
    token = _token(signing_key, aud=None, client_id="client-1", token_use="access")
    assert _authorize(signing_key, token)["client_id"] == "client-1"


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://cognito-idp.eu-west-1.amazonaws.com/other"},
        {"aud": "someone-else"},
        {"aud": None},
        {"exp": int(time.time()) - 10},
        {"exp": None},
    ],
    ids=["issuer", "audience", "no-audience", "expired", "no-exp"],
)
def test_invalid_tokens_are_unauthorized(signing_key: rsa.RSAPrivateKey, claims: dict[str, Any]) -> None:
    with pytest.raises(UnauthorizedError):
        _authorize(signing_key, _token(signing_key, **claims))


def test_other_keys_missing_tokens_and_unsupported_authorizers_are_unauthorized(
    signing_key: rsa.RSAPrivateKey,
) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(UnauthorizedError):
        _authorize(signing_key, _token(forger))
    with pytest.raises(UnauthorizedError):
        _authorize(signing_key, "garbage")
    authorizer = JwtAuthorizer(_StaticJwks({"k1": signing_key.public_key()}))
    with pytest.raises(UnauthorizedError):
        authorizer.authorize(JwtAuthorizerSpec("C", ISSUER, ("client-1",)), {}, ())
    with pytest.raises(UnauthorizedError):
        authorizer.authorize(
            JwtAuthorizerSpec("L", "", (), supported=False), {"authorization": _token(signing_key)}, ()
        )


def test_route_scopes_are_enforced(signing_key: rsa.RSAPrivateKey) -> None:
    token = _token(signing_key, scope="read write")
    assert _authorize(signing_key, token, ("write",))["scope"] == "read write"
    with pytest.raises(ForbiddenError):
        _authorize(signing_key, token, ("admin",))


def test_jwks_is_cached(signing_key: rsa.RSAPrivateKey) -> None:
    jwks = _StaticJwks({"k1": signing_key.public_key()})
    authorizer = JwtAuthorizer(jwks)
    spec = JwtAuthorizerSpec(name="Cognito", issuer=ISSUER, audience=("client-1",))
    for _ in range(3):
        authorizer.authorize(spec, {"authorization": f"Bearer {_token(signing_key)}"}, ())
    assert jwks.fetches == 1
    assert jwks.url_for(ISSUER) == "http://127.0.0.1:1/eu-west-1_pool/.well-known/jwks.json"


# -- filter criteria ----------------------------------------------------------------------------

_RECORD: dict[str, Any] = {
    "eventName": "INSERT",
    "dynamodb": {
        "Keys": {"PK": {"S": "acct#1"}},
        "NewImage": {
            "kind": {"S": "event"},
            "counted": {"BOOL": True},
            "amount": {"N": "42"},
            "tags": {"SS": ["a", "b"]},
            "note": {"NULL": True},
        },
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["INSERT", "MODIFY"]}, True),
        ({"eventName": ["REMOVE"]}, False),
        ({"dynamodb": {"NewImage": {"kind": {"S": ["event"]}, "counted": {"BOOL": [True]}}}}, True),
        ({"dynamodb": {"NewImage": {"counted": {"BOOL": [False]}}}}, False),
        ({"dynamodb": {"NewImage": {"missing": {"S": ["x"]}}}}, False),
        ({"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "acct#"}]}}}}, True),
        ({"dynamodb": {"Keys": {"PK": {"S": [{"suffix": "#1"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"kind": {"S": [{"anything-but": ["counter", "claim"]}]}}}}, True),
        ({"dynamodb": {"NewImage": {"kind": {"S": [{"anything-but": "event"}]}}}}, False),
        ({"dynamodb": {"NewImage": {"kind": {"S": [{"equals-ignore-case": "EVENT"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"amount": {"N": [{"numeric": [">", 10, "<=", 42]}]}}}}, True),
        ({"dynamodb": {"NewImage": {"amount": {"N": [{"numeric": [">", 42]}]}}}}, False),
        ({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}, True),
        ({"dynamodb": {"NewImage": {"expires": [{"exists": False}]}}}, True),
        ({"dynamodb": {"NewImage": {"kind": [{"exists": True}]}}}, True),
        ({"dynamodb": {"OldImage": {"kind": [{"exists": False}]}}}, True),
        ({"dynamodb": {"NewImage": {"note": {"NULL": [True]}}}}, True),
        ({"$or": [{"eventName": ["REMOVE"]}, {"dynamodb": {"NewImage": {"kind": {"S": ["event"]}}}}]}, True),
        ({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["counter"]}}}}, False),
    ],
)
def test_filter_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, _RECORD) is expected


def test_no_filters_pass_everything_and_any_filter_may_pass() -> None:
    assert matches_any([], _RECORD)
    assert matches_any([{"eventName": ["REMOVE"]}, {"eventName": ["INSERT"]}], _RECORD)
    assert not matches_any([{"eventName": ["REMOVE"]}], _RECORD)


# -- function instances ---------------------------------------------------------------------------


def _spec(**overrides: Any) -> FunctionSpec:
    fields: dict[str, Any] = {
        "logical_id": "F",
        "name": "f",
        "arn": "arn:aws:lambda:eu-west-1:123456789012:function:f",
        "handler": "m.handler",
        "code_dir": ROOT,
        "layer_dirs": (),
        "environment": {"A": "from-template"},
    }
    fields.update(overrides)
    return FunctionSpec(**fields)


def test_instances_per_function_never_exceed_reserved_concurrency() -> None:
    assert capacity(_spec(), 4) == 4
    assert capacity(_spec(reserved_concurrency=2), 4) == 2
    assert capacity(_spec(reserved_concurrency=10), 4) == 4
    with pytest.raises(InvocationThrottled):
        InstancePool(_spec(reserved_concurrency=0), {}, capacity(_spec(reserved_concurrency=0), 4)).acquire()


def test_the_runtime_environment_layers_lambda_and_template_variables_over_the_base() -> None:
    environment = runtime_environment(
        _spec(environment={"A": "from-template", "AWS_REGION": "template-wins"}),
        {"AWS_DEFAULT_REGION": "eu-west-3", "A": "base", "PATH": "/bin"},
    )
    assert environment["A"] == "from-template"
    assert environment["PATH"] == "/bin"
    assert environment["AWS_REGION"] == "template-wins"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "f"
    assert environment["_HANDLER"] == "m.handler"
    assert environment["LAMBDA_TASK_ROOT"] == str(ROOT)


def test_results_are_marshalled_as_the_python_runtime_does() -> None:
    def decoded(message: Any) -> Any:
        return json.loads(worker.encode(message)[4:])

    assert decoded({"result": {"n": Decimal("3"), "x": Decimal("1.5")}}) == {"result": {"n": 3, "x": 1.5}}
    error = decoded({"result": {"when": object()}})["error"]
    assert error["errorType"] == "Runtime.MarshalError"


# -- a whole LocalStack over the fixture template -----------------------------------------------

ADMIN_EMAIL = "admin@fixture.local"
ADMIN_PASSWORD = "Fixture-pass-2026!"
CONCURRENCY = 3


class Output:
    """The functions' stdout/stderr lines, as the stack's output sink receives them."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, label: str, line: str) -> None:
        with self._lock:
            self.lines.append((label, line))

    def of(self, function: str) -> list[str]:
        with self._lock:
            return [line for label, line in self.lines if label.startswith(f"{function}#")]

    def batches(self) -> list[list[str]]:
        """What the fixture consumer printed: one JSON line per batch it was given."""
        return [json.loads(line)["batch"] for line in self.of("ConsumerFunction") if line.startswith("{")]


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Output lines travel through a relay thread: wait (bounded) for them to arrive."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the functions' output"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def output() -> Output:
    return Output()


@pytest.fixture(scope="module")
def stack(output: Output) -> Iterator[LocalStack]:
    with LocalStack(
        port=0,
        template=FIXTURE,
        region=REGION,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        stream_interval=0.05,
        concurrency=CONCURRENCY,
        output=output,
    ) as running:
        yield running


def _tokens(stack: LocalStack) -> dict[str, Any]:
    assert stack.registry is not None
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=stack.moto_endpoint)
    answer = cognito.initiate_auth(
        ClientId=str(stack.registry.lookup("UserPoolClient", None)),
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": ADMIN_EMAIL, "PASSWORD": ADMIN_PASSWORD},
    )
    return dict(answer["AuthenticationResult"])


def _echo(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_stack_creates_what_the_template_declares(stack: LocalStack) -> None:
    assert stack.registry is not None
    physical = stack.registry.physical
    assert physical["ItemsTable"].ref == "tally-local-ItemsTable"
    assert physical["FilesBucket"].ref == "tally-local-files-eu-west-1"
    assert "ProdOnlyBucket" not in physical  # its condition is false
    assert physical["AdminGroup"].ref == "platform-admin"
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=stack.moto_endpoint)
    table = ddb.describe_table(TableName="tally-local-ItemsTable")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    ttl = ddb.describe_time_to_live(TableName="tally-local-ItemsTable")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"
    assert set(stack.functions) == {
        "EchoFunction",
        "KeyedEchoFunction",
        "AuthorizerFunction",
        "BrokenFunction",
        "WriterFunction",
        "ConsumerFunction",
        "ClockFunction",
        "SlowFunction",
        "ThrottledFunction",
    }
    resources = requests.get(f"{stack.base_url}/_local/resources", timeout=10).json()
    assert (resources["endpoint"], resources["region"]) == (stack.moto_endpoint, REGION)
    items = resources["resources"]["ItemsTable"]
    assert (items["type"], items["ref"]) == ("AWS::DynamoDB::Table", "tally-local-ItemsTable")
    assert items["StreamArn"] == table["LatestStreamArn"]
    assert "EchoFunction" not in resources["resources"]  # only what exists in moto
    routes = requests.get(f"{stack.base_url}/_local/routes", timeout=10).json()["routes"]
    assert {
        "routeKey": "ANY /private/{proxy+}",
        "function": "EchoFunction",
        "authorizer": "Cognito",
    } in routes


def test_public_route_event_and_environment(stack: LocalStack) -> None:
    url = urlsplit(stack.base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    connection.putrequest("GET", "/public/alice?x=1&x=2")
    connection.putheader("X-Forwarded-For", "6.6.6.6")
    connection.putheader("X-Multi", "1")
    connection.putheader("X-Multi", "2")
    connection.putheader("Cookie", "a=1; b=2")
    connection.putheader("Origin", "https://app.example.com")
    connection.endheaders()
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()

    assert response.status == 200
    assert response.msg.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.getheader("access-control-allow-origin") == "https://app.example.com"
    assert response.getheader("access-control-expose-headers") == "x-request-id"
    event = payload["event"]
    assert event["routeKey"] == "GET /public/{name}"
    assert event["pathParameters"] == {"name": "alice"}
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["headers"]["x-multi"] == "1,2"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-for"] == "6.6.6.6, 127.0.0.1"
    assert "authorizer" not in event["requestContext"]
    assert payload["environment"] == {
        "TABLE_NAME": "tally-local-ItemsTable",
        "STAGE": "local",
        "POOL_ID": str(stack.registry.lookup("UserPool", None)) if stack.registry else None,
        "IS_PROD": "no",
        "FUNCTION_ROLE": "echo",
        "AWS_ENDPOINT_URL": stack.moto_endpoint,
    }
    context = payload["context"]
    assert context["function_name"] == "tally-local-EchoFunction"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:tally-local-EchoFunction")
    assert 0 < context["remaining_ms"] <= 5000


def test_binary_request_body_reaches_the_handler_base64(stack: LocalStack) -> None:
    event = _echo(requests.post(f"{stack.base_url}/public/bob", data=b"\xff\x00", timeout=10))["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"


def test_private_route_needs_a_valid_token(stack: LocalStack) -> None:
    url = f"{stack.base_url}/private/a/b"
    assert requests.get(url, timeout=10).status_code == 401
    garbage = requests.get(url, headers={"Authorization": "Bearer x.y.z"}, timeout=10)
    assert (garbage.status_code, garbage.json()) == (401, {"message": "Unauthorized"})

    tokens = _tokens(stack)
    event = _echo(
        requests.post(url, headers={"Authorization": f"Bearer {tokens['IdToken']}"}, json={}, timeout=10)
    )["event"]
    assert event["routeKey"] == "ANY /private/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b"}
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["email"] == ADMIN_EMAIL
    assert claims["cognito:groups"] == "[platform-admin]"
    assert claims["token_use"] == "id"
    assert all(isinstance(value, str) for value in claims.values())

    access = requests.get(url, headers={"Authorization": f"Bearer {tokens['AccessToken']}"}, timeout=10)
    assert access.status_code == 200


# -- Lambda authorizers ---------------------------------------------------------------------------


def _authorizer_calls(output: Output) -> list[dict[str, Any]]:
    """What the fixture authorizer printed: one line per invocation, with the event it got."""
    prefix = "authorizer "
    return [
        json.loads(line.removeprefix(prefix))
        for line in output.of("AuthorizerFunction")
        if line.startswith(prefix)
    ]


def _calls_after(output: Output, count: int, expected: int) -> list[dict[str, Any]]:
    """The invocations after the first `count`, once `expected` of them have been printed."""
    eventually(lambda: len(_authorizer_calls(output)) >= count + expected)
    time.sleep(0.1)  # an unexpected extra line would arrive by now
    return _authorizer_calls(output)[count:]


def test_a_lambda_authorizer_gets_the_payload_2_request_and_its_context_reaches_the_function(
    stack: LocalStack, output: Output
) -> None:
    before = len(_authorizer_calls(output))
    headers = {"Authorization": "Bearer alice", "X-Extra": "1"}
    answer = requests.get(f"{stack.base_url}/keyed/bob?q=1&q=2", headers=headers, timeout=30)
    event = _echo(answer)["event"]
    [call] = _calls_after(output, before, 1)

    assert event["requestContext"]["authorizer"] == {"lambda": {"who": "alice", "call": call["call"]}}
    sent = call["event"]
    api_id = str(stack.registry.lookup("Api", None)) if stack.registry else ""
    assert sent["version"] == "2.0"
    assert sent["type"] == "REQUEST"
    assert sent["routeArn"] == route_arn(REGION, "123456789012", api_id, "GET", "/keyed/bob")
    assert sent["routeArn"].endswith("/$default/GET/keyed/bob")
    assert sent["identitySource"] == ["Bearer alice"]
    assert sent["routeKey"] == "GET /keyed/{name}"
    assert (sent["rawPath"], sent["rawQueryString"]) == ("/keyed/bob", "q=1&q=2")
    assert sent["headers"]["authorization"] == "Bearer alice"
    assert sent["headers"]["x-extra"] == "1"
    assert sent["queryStringParameters"] == {"q": "1,2"}
    assert sent["pathParameters"] == {"name": "bob"}
    assert sent["requestContext"]["http"]["method"] == "GET"
    assert sent["requestContext"]["routeKey"] == "GET /keyed/{name}"
    assert sent["requestContext"]["requestId"] == answer.headers["apigw-requestid"]
    assert "authorizer" not in sent["requestContext"]


def test_lambda_authorizer_answers_are_cached_per_identity_for_the_ttl_by_the_stack_clock(
    stack: LocalStack, output: Output
) -> None:
    before = len(_authorizer_calls(output))
    carol = {"Authorization": "Bearer carol"}
    first = _echo(requests.get(f"{stack.base_url}/keyed/a", headers=carol, timeout=30))["event"]
    second = _echo(requests.get(f"{stack.base_url}/keyed/b", headers=carol, timeout=30))["event"]
    assert second["requestContext"]["authorizer"] == first["requestContext"]["authorizer"]
    dave = _echo(
        requests.get(f"{stack.base_url}/keyed/a", headers={"Authorization": "Bearer dave"}, timeout=30)
    )
    assert dave["event"]["requestContext"]["authorizer"]["lambda"]["who"] == "dave"
    assert len(_calls_after(output, before, 2)) == 2  # carol once, dave once

    try:
        later = datetime.now(UTC) + timedelta(seconds=31)
        requests.post(f"{stack.base_url}/_local/clock", json={"now": later.isoformat()}, timeout=10)
        _echo(requests.get(f"{stack.base_url}/keyed/a", headers=carol, timeout=30))
        assert len(_calls_after(output, before, 3)) == 3  # past the TTL: asked again
    finally:
        requests.post(f"{stack.base_url}/_local/clock", json={"now": None}, timeout=10)


def test_a_missing_identity_source_is_401_without_calling_the_authorizer(
    stack: LocalStack, output: Output
) -> None:
    before = len(_authorizer_calls(output))
    for answer in (
        requests.get(f"{stack.base_url}/keyed/a", timeout=30),
        requests.get(f"{stack.base_url}/keyed/a", headers={"Authorization": ""}, timeout=30),
        requests.get(f"{stack.base_url}/uncached", timeout=30),
    ):
        assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    time.sleep(0.2)
    assert len(_authorizer_calls(output)) == before


def test_denied_is_403_and_a_failing_or_shapeless_authorizer_500_never_cached(
    stack: LocalStack, output: Output
) -> None:
    before = len(_authorizer_calls(output))
    for _ in range(2):
        denied = requests.get(
            f"{stack.base_url}/keyed/a", headers={"Authorization": "Bearer deny"}, timeout=30
        )
        assert (denied.status_code, denied.json()) == (403, {"message": "Forbidden"})
    assert len(_calls_after(output, before, 1)) == 1  # a denial is cached like an allow

    before = len(_authorizer_calls(output))
    for credential in ("boom", "boom", "shapeless"):
        failed = requests.get(
            f"{stack.base_url}/keyed/a", headers={"Authorization": f"Bearer {credential}"}, timeout=30
        )
        assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
    assert len(_calls_after(output, before, 3)) == 3


def test_a_ttl_of_zero_asks_the_authorizer_every_time_and_query_strings_are_identity_sources(
    stack: LocalStack, output: Output
) -> None:
    before = len(_authorizer_calls(output))
    for _ in range(2):
        event = _echo(requests.get(f"{stack.base_url}/uncached?token=erin", timeout=30))["event"]
        assert event["requestContext"]["authorizer"]["lambda"]["who"] == "erin"
    calls = _calls_after(output, before, 2)
    assert [call["event"]["identitySource"] for call in calls] == [["erin"], ["erin"]]


def test_payload_1_authorizers_answer_an_iam_policy_evaluated_per_route(
    stack: LocalStack, output: Output
) -> None:
    before = len(_authorizer_calls(output))
    headers = {"Authorization": "Bearer frank"}
    allowed = _echo(requests.get(f"{stack.base_url}/policy/yes", headers=headers, timeout=30))["event"]
    assert allowed["requestContext"]["authorizer"] == {"lambda": {"who": "frank"}}
    refused = requests.get(f"{stack.base_url}/policy/no", headers=headers, timeout=30)
    assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
    [call] = _calls_after(output, before, 1)  # the cached policy answered for the second route
    sent = call["event"]
    assert (sent["version"], sent["type"]) == ("1.0", "REQUEST")
    assert sent["methodArn"].endswith("/$default/GET/policy/yes")
    assert sent["identitySource"] == "Bearer frank"
    assert (sent["resource"], sent["path"], sent["httpMethod"]) == ("/policy/{choice}", "/policy/yes", "GET")
    assert sent["pathParameters"] == {"choice": "yes"}
    assert sent["requestContext"]["resourcePath"] == "/policy/{choice}"


def test_unknown_routes_and_methods_are_404(stack: LocalStack) -> None:
    for method, path in [("GET", "/nope"), ("DELETE", "/public/x"), ("GET", "/public")]:
        response = requests.request(method, f"{stack.base_url}{path}", timeout=10)
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"}), (method, path)


def test_handler_errors_are_500_and_the_stack_keeps_serving(stack: LocalStack) -> None:
    boom = requests.get(f"{stack.base_url}/boom", timeout=10)
    assert (boom.status_code, boom.json()) == (500, {"message": "Internal Server Error"})
    broken = requests.get(f"{stack.base_url}/broken", timeout=10)
    assert broken.status_code == 500
    assert broken.json()["message"] == "Internal Server Error"
    assert "broken on purpose" in broken.json()["localStackError"]
    assert requests.get(f"{stack.base_url}/public/still-here", timeout=10).status_code == 200


def test_cors_preflight(stack: LocalStack) -> None:
    def preflight(origin: str) -> requests.Response:
        return requests.options(
            f"{stack.base_url}/public/x",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
            timeout=10,
        )

    allowed = preflight("https://admin.example.com")
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert allowed.headers["access-control-allow-methods"] == "GET,POST"
    assert allowed.headers["access-control-allow-headers"] == "authorization,content-type"
    assert allowed.headers["access-control-max-age"] == "300"
    denied = preflight("https://evil.example")
    assert denied.status_code == 204
    assert "access-control-allow-origin" not in denied.headers


def test_the_handler_runs_in_a_worker_whose_stdout_is_the_stack_output(
    stack: LocalStack, output: Output
) -> None:
    payload = _echo(requests.get(f"{stack.base_url}/public/printing", timeout=10))
    assert payload["pid"] != os.getpid()  # not in the stack's process
    eventually(lambda: "echo /public/printing" in output.of("EchoFunction"))


def _get_as_sent(stack: LocalStack, target: str) -> tuple[int, bytes]:
    """GET with the target byte for byte (requests would normalise %41 to A itself)."""
    url = urlsplit(stack.base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_path_parameters_are_decoded_once_and_a_decoded_slash_separates(stack: LocalStack) -> None:
    status, body = _get_as_sent(stack, "/public/%41%42%2541?q=%41")
    assert status == 200, body
    event = json.loads(body)["event"]
    assert event["pathParameters"] == {"name": "AB%41"}
    assert event["rawPath"] == "/public/AB%41"
    assert event["requestContext"]["http"]["path"] == "/public/AB%41"
    assert event["rawQueryString"] == "q=%41"  # the query string stays as sent
    assert event["queryStringParameters"] == {"q": "A"}
    assert _get_as_sent(stack, "/public/a%2Fb")[0] == 404


# -- framing, over raw sockets ------------------------------------------------------------------


def _raw(stack: LocalStack, request: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send bytes as they are; (status, headers, body, whether the server closed the connection)."""
    url = urlsplit(stack.base_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        body = response.read()
        headers = {key.lower(): value for key, value in response.getheaders()}
        connection.settimeout(1)
        try:
            closed = connection.recv(1) == b""
        except TimeoutError:  # still open: the server waits for the next request
            closed = False
        return response.status, headers, body, closed


def _post(path: str, headers: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: local\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    "request_bytes",
    [
        _post("/public/x", "Content-Length: -1\r\n", b"{}"),
        _post("/public/x", "Content-Length: abc\r\n", b"{}"),
        _post("/public/x", "Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"),
        _post("/public/x", "Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
        _post("/public/x", "Transfer-Encoding: chunked\r\n", b"-2\r\n{}\r\n0\r\n\r\n"),
        _post("/public/x", "Transfer-Encoding: chunked\r\n", b"5\r\n{}\r\n0\r\n\r\n"),
        _post("/public/x", "Transfer-Encoding: gzip\r\n", b""),
        _post("/public/x", "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"2\r\n{}\r\n0\r\n\r\n"),
    ],
    ids=[
        "negative-length",
        "text-length",
        "conflicting-lengths",
        "bad-chunk-size",
        "negative-chunk-size",
        "short-chunk",
        "unknown-encoding",
        "chunked-and-length",
    ],
)
def test_broken_framing_is_400_and_closes_the_connection(stack: LocalStack, request_bytes: bytes) -> None:
    status, headers, body, closed = _raw(stack, request_bytes)
    assert (status, json.loads(body)) == (400, {"message": "Bad Request"})
    assert headers["connection"] == "close"
    assert closed


def test_a_chunked_body_reaches_the_handler_whole(stack: LocalStack) -> None:
    chunked = b"4\r\nhell\r\n7;ext=1\r\no, chun\r\n3\r\nked\r\n0\r\nX-Trailer: t\r\n\r\n"
    status, _, body, closed = _raw(stack, _post("/public/x", "Transfer-Encoding: chunked\r\n", chunked))
    assert status == 200
    assert json.loads(body)["event"]["body"] == "hello, chunked"
    assert not closed  # good framing keeps the connection open


# -- the clock, concurrency and timeouts ----------------------------------------------------------


def _clock_seen_by_handler(stack: LocalStack) -> datetime:
    answer = requests.get(f"{stack.base_url}/clock", timeout=30)
    assert answer.status_code == 200, answer.text
    return datetime.fromisoformat(answer.json()["now"])


def test_every_worker_follows_the_local_clock(stack: LocalStack) -> None:
    assert abs(_clock_seen_by_handler(stack) - datetime.now(UTC)) < timedelta(seconds=30)  # warm
    try:
        answer = requests.post(
            f"{stack.base_url}/_local/clock", json={"now": "2026-11-01T12:00:00Z"}, timeout=10
        )
        assert answer.status_code == 200
        set_at = datetime(2026, 11, 1, 12, tzinfo=UTC)
        assert abs(datetime.fromisoformat(answer.json()["now"]) - set_at) < timedelta(seconds=5)
        assert abs(_clock_seen_by_handler(stack) - set_at) < timedelta(seconds=30)  # the warm instance too
    finally:
        requests.post(f"{stack.base_url}/_local/clock", json={"now": None}, timeout=10)
    assert abs(_clock_seen_by_handler(stack) - datetime.now(UTC)) < timedelta(seconds=30)


def test_concurrent_requests_get_no_5xx_and_instances_stay_within_the_caps(stack: LocalStack) -> None:
    def call(index: int) -> tuple[int, int]:
        path = f"/sleep/{200}" if index % 2 else f"/public/n{index}"
        answer = requests.get(f"{stack.base_url}{path}", timeout=60)
        return answer.status_code, int(answer.json()["pid"]) * (1 if index % 2 else -1)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(call, range(36)))

    assert {status for status, _ in results} == {200}
    slow = {pid for _, pid in results if pid > 0}
    echo = {pid for _, pid in results if pid < 0}
    assert 2 <= len(slow) <= 2  # ReservedConcurrentExecutions: 2 caps SlowFunction below the stack's 3
    assert 1 <= len(echo) <= CONCURRENCY


def test_reserved_concurrency_of_zero_throttles_every_request(stack: LocalStack) -> None:
    answer = requests.get(f"{stack.base_url}/throttled", timeout=10)
    assert (answer.status_code, answer.json()) == (503, {"message": "Service Unavailable"})


def test_a_handler_past_its_timeout_answers_504_and_the_stack_keeps_serving(stack: LocalStack) -> None:
    answer = requests.get(f"{stack.base_url}/sleep/20000", timeout=60)  # Timeout: 2
    assert answer.status_code == 504
    assert answer.json()["message"] == "Endpoint request timed out"
    assert "timed out after 2.00 seconds" in answer.json()["localStackError"]
    again = requests.get(f"{stack.base_url}/sleep/0", timeout=60)
    assert again.status_code == 200  # a fresh instance replaced the one stopped at the Timeout


def test_local_invoke_runs_any_function_and_reports_errors_as_lambda(stack: LocalStack) -> None:
    answer = requests.post(f"{stack.base_url}/_local/invoke/EchoFunction", json={"rawPath": "/x"}, timeout=30)
    assert answer.status_code == 200
    assert json.loads(answer.json()["body"])["event"] == {"rawPath": "/x"}
    failed = requests.post(
        f"{stack.base_url}/_local/invoke/EchoFunction", json={"rawPath": "/boom"}, timeout=30
    )
    assert failed.headers["x-amz-function-error"] == "Unhandled"
    assert failed.json() == {"errorMessage": "RuntimeError: boom on purpose", "errorType": "RuntimeError"}
    late = requests.post(
        f"{stack.base_url}/_local/invoke/SlowFunction", json={"pathParameters": {"ms": "5000"}}, timeout=30
    )
    assert late.json()["errorType"] == "Sandbox.Timedout"
    assert requests.post(f"{stack.base_url}/_local/invoke/Nope", json={}, timeout=10).status_code == 404


# -- streams ------------------------------------------------------------------------------------


def _drain(stack: LocalStack) -> None:
    answer = requests.get(f"{stack.base_url}/_local/streams/drain", timeout=30)
    assert (answer.status_code, answer.json()) == (200, {"drained": True})


def _write(stack: LocalStack, *items: dict[str, Any]) -> None:
    answer = requests.post(f"{stack.base_url}/items", json={"items": list(items)}, timeout=30)
    assert answer.status_code == 204, answer.text


def test_stream_filter_batching_and_partial_failure_retry(stack: LocalStack, output: Output) -> None:
    _drain(stack)
    seen = len(output.batches())
    _write(
        stack,
        {"id": "i1"},
        {"id": "i2", "kind": "other"},  # filtered out
        {"id": "i3", "fail": 1},  # fails once, then re-delivered from its sequence number
        {"id": "i4"},
    )
    _drain(stack)
    eventually(lambda: len(output.batches()) >= seen + 2)
    assert output.batches()[seen:] == [["item#i1", "item#i3"], ["item#i3", "item#i4"]]
    roles = {json.loads(line)["role"] for line in output.of("ConsumerFunction") if line.startswith("{")}
    assert roles == {"consumer"}


def _failures(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.registry is not None
    sqs: Any = boto3.client("sqs", region_name=REGION, endpoint_url=stack.moto_endpoint)
    queue_url = stack.registry.lookup("FailuresQueue", "QueueUrl")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


def test_stream_gives_up_after_maximum_retries_and_records_the_failure(
    stack: LocalStack, output: Output
) -> None:
    _drain(stack)
    seen = len(output.batches())
    _write(stack, {"id": "poison", "fail": 99})
    _drain(stack)
    _write(stack, {"id": "after"})
    _drain(stack)
    eventually(lambda: len(output.batches()) >= seen + 4)
    # The first delivery and MaximumRetryAttempts: 2, then the stream moves on.
    assert output.batches()[seen:] == [["item#poison"]] * 3 + [["item#after"]]
    (failure,) = _failures(stack)
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["responseContext"]["functionError"] == ""  # it answered, reporting the failure
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_stream_batch_past_the_timeout_is_a_function_error(stack: LocalStack, output: Output) -> None:
    _drain(stack)
    seen = len(output.batches())
    _write(stack, {"id": "sleepy", "sleep": 4})  # ConsumerFunction's Timeout is 2 s
    _drain(stack)
    eventually(lambda: len(output.batches()) >= seen + 3)
    assert output.batches()[seen:] == [["item#sleepy"]] * 3  # each attempt was stopped at the Timeout
    (failure,) = _failures(stack)
    assert failure["responseContext"]["functionError"] == "Unhandled"


# -- stopping -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_no_worker_outlives_the_stack(signal_name: str) -> None:
    """`python -m local` stopped (SIGTERM: it stops its workers) or killed (they notice and exit)."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - this interpreter running the local stack
        [
            sys.executable,
            "-m",
            "local",
            "--template",
            str(FIXTURE),
            "--port",
            str(port),
            "--stripe-port",
            "0",
        ],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the ready line comes once it serves
            if line.startswith("Tally local stack ready at"):
                break
        base = f"http://127.0.0.1:{port}"
        for path in ("/public/a", "/sleep/0"):
            assert requests.get(f"{base}{path}", timeout=60).status_code == 200
        workers = psutil.Process(process.pid).children(recursive=True)
        assert len(workers) >= 2

        def in_flight() -> None:  # an invocation under way when the stack goes; its answer is lost
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{base}/sleep/900", timeout=30)

        threading.Thread(target=in_flight, daemon=True).start()
        time.sleep(0.3)
        process.send_signal(getattr(signal, signal_name))
        process.wait(30)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert alive == []
        if signal_name == "SIGTERM":
            assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
