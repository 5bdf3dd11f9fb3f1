"""The HTTP API payload v2.0 event in, the v2 response out.

`build_http_event` makes the exact shape API Gateway sends to a Lambda integration;
`HttpResult.from_lambda` turns whatever the handler returned into status, headers and body the
way API Gateway does (including its "inferred" format for handlers that return plain data).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.authorizer import Authorization
from local.intrinsics import ACCOUNT_ID


@dataclass(frozen=True)
class HttpRequest:
    """What arrived on the socket, before API Gateway shapes it."""

    method: str
    target: str  # path and query as sent, e.g. /v1/track/stats?from=2026-01-01
    headers: Sequence[tuple[str, str]]  # in arrival order, repeats kept
    body: bytes
    source_ip: str  # the socket peer; never a header
    protocol: str = "HTTP/1.1"
    server_port: int = 3000

    @property
    def raw_path(self) -> str:
        """The path exactly as sent."""
        return self.target.split("?", 1)[0] or "/"

    @property
    def path(self) -> str:
        """The path as API Gateway's HTTP API passes it on: percent-decoded once, before routing.

        Routes match it (so `%2F` is a separator, as in AWS), and it is the event's `rawPath`,
        `requestContext.http.path` and the source of `pathParameters`: handlers that route on
        rawPath (Powertools does) see the same values as pathParameters. The query string stays raw.
        """
        return unquote(self.raw_path)

    @property
    def raw_query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


def new_request_id() -> str:
    """API Gateway's request ids look like `JKJaXmPLvHcESHA=`."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def trace_id(now: datetime) -> str:
    return f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"


def gateway_headers(request: HttpRequest, now: datetime) -> dict[str, str]:
    """Lower-cased, repeats comma-joined, Cookie removed (it goes to `cookies`), API GW's own added."""
    headers: dict[str, str] = {}
    for key, value in request.headers:
        name = key.lower()
        if name == "cookie":
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers["x-forwarded-port"] = str(request.server_port)
    headers["x-forwarded-proto"] = "http"
    headers.setdefault("x-amzn-trace-id", trace_id(now))
    if request.body and "content-length" not in headers:
        headers["content-length"] = str(len(request.body))
    return headers


def cookies_of(request: HttpRequest) -> list[str]:
    cookies: list[str] = []
    for key, value in request.headers:
        if key.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
    return cookies


def query_parameters(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def body_of(raw: bytes) -> tuple[str | None, bool]:
    """(body, isBase64Encoded): UTF-8 text as is, anything else base64."""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def gateway_time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def build_http_event(
    request: HttpRequest,
    *,
    route_key: str,
    api_id: str,
    path_parameters: Mapping[str, str] | None = None,
    authorization: Authorization | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
    account_id: str = ACCOUNT_ID,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    headers = gateway_headers(request, now)
    host = headers.get("host", f"127.0.0.1:{request.server_port}")
    domain_name = host
    body, is_base64 = body_of(request.body)
    request_context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id or new_request_id(),
        "routeKey": route_key,
        "stage": "$default",
        "time": gateway_time(now),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if authorization is not None:
        request_context["authorizer"] = {
            "jwt": {"claims": dict(authorization.claims), "scopes": authorization.scopes}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
    }
    cookies = cookies_of(request)
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    params = query_parameters(request.raw_query)
    if params:
        event["queryStringParameters"] = params
    event["requestContext"] = request_context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_base64
    return event


@dataclass
class HttpResult:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> HttpResult:
        return cls(status, [("content-type", "application/json"), *headers], json.dumps(payload).encode())

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @classmethod
    def from_lambda(cls, result: Any) -> HttpResult:
        """Map a v2 integration response; plain data is API Gateway's inferred 200 JSON."""
        if not (isinstance(result, dict) and "statusCode" in result):
            text = result if isinstance(result, str) else json.dumps(result)
            return cls(200, [("content-type", "application/json")], text.encode())
        status = int(result["statusCode"])
        headers: list[tuple[str, str]] = []
        for key, value in (result.get("headers") or {}).items():
            headers.append((str(key), _header_text(value)))
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((str(key), _header_text(value)) for value in values or [])
        headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
        body = result.get("body")
        if body is None:
            raw = b""
        elif result.get("isBase64Encoded"):
            raw = base64.b64decode(str(body))
        else:
            raw = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        return cls(status, headers, raw)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
