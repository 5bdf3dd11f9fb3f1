"""The billing function called in-process against moto, as API Gateway would call it."""

from __future__ import annotations

import importlib
import json
import uuid
from typing import Any

from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.tenancy import User


class BillingApi:
    """BillingFunction; `function` names another function of the same shape (InvoicesFunction)."""

    def __init__(self, stack: Stack, function: str = "BillingFunction") -> None:
        self.stack = stack
        self.function = function

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
        module = {
            "BillingFunction": "billing.app",
            "InvoicesFunction": "invoices.app",
            "CheckoutFunction": "checkout.app",
        }[self.function]
        lambda_handler = importlib.import_module(module).lambda_handler

        event = http_event(
            method, path, body=body, claims=who.claims() if who else None, query=query, headers=headers
        )
        event["requestContext"]["requestId"] = f"req-{uuid.uuid4().hex[:12]}"
        with self.stack.environment(self.function):
            answer = lambda_handler(event, FakeContext())
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None
