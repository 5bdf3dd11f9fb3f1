"""Builders for the events Lambda receives: HTTP API v2 requests and DynamoDB stream batches."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    binary_body: bytes | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = "application/json",
    claims: Mapping[str, Any] | None = None,
    source_ip: str = "203.0.113.7",
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    route: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if binary_body is not None:  # what API Gateway sends for a body that is not UTF-8 text
        text = base64.b64encode(binary_body).decode("ascii")
    all_headers = {"user-agent": user_agent, **(headers or {})}
    if content_type is not None:
        all_headers["content-type"] = content_type
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.com",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": "req-1",
        "routeKey": route or f"{method} {path}",
        "stage": "$default",
        "time": "20/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1795168800000,
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        "requestContext": request_context,
        "isBase64Encoded": binary_body is not None,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if text is not None:
        event["body"] = text
    return event


def admin_claims(subject: str = "admin-1") -> dict[str, Any]:
    """A platform admin's claims. Staff powers also need TOTP on in Cognito (the policy asks it):
    tests that use them make a real staff user (tests.support.tenancy.staff)."""
    return {"sub": subject, "email": "admin@tally.local", "cognito:groups": "[platform-admin]"}


def tenant_claims(subject: str = "user-1", email: str = "owner@example.com") -> dict[str, Any]:
    """A signed-in user's claims; what they may do comes from their memberships in the table."""
    return {"sub": subject, "email": email}


@dataclass
class FakeContext:
    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
