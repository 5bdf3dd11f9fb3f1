"""The billing function called in-process against moto, as API Gateway would call it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.tenancy import User


class BillingApi:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def call(
        self,
        who: User | None,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        from billing.app import lambda_handler

        event = http_event(
            method, path, body=body, claims=who.claims() if who else None, query=query, headers=headers
        )
        event["requestContext"]["requestId"] = f"req-{uuid.uuid4().hex[:12]}"
        with self.stack.environment("BillingFunction"):
            answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None
