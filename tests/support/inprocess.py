"""The accounts function called in-process against moto, as API Gateway would call it."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from local.mailbox import MAILBOX
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack
from tests.support.tenancy import User

TOKEN = re.compile(r"token=([A-Za-z0-9_-]{43})")


class InProcessApi:
    """Calls the accounts function's handler with each user's claims (a `TenancyApi`)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def new_user(self, label: str) -> User:
        return User(f"sub-{label}-{uuid.uuid4().hex[:8]}", f"{label}-{uuid.uuid4().hex[:6]}@example.com")

    def email_of(self, who: User) -> str:
        return who.email

    def call(
        self,
        who: User | dict[str, Any] | None,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        query: dict[str, str] | None = None,
        source_ip: str = "203.0.113.7",
    ) -> tuple[int, Any]:
        from accounts.app import lambda_handler

        claims = who.claims() if isinstance(who, User) else who
        event = http_event(
            method, path, body=body, claims=claims, headers=headers, query=query, source_ip=source_ip
        )
        event["requestContext"]["requestId"] = f"req-{uuid.uuid4().hex[:12]}"
        with self.stack.environment("AccountsFunction"):
            answer = lambda_handler(event, FakeContext())  # type: ignore[arg-type]
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None

    def invitation_token(self, email: str) -> str:
        for message in MAILBOX.messages(email):
            found = TOKEN.search(message.text)
            if found:
                return found.group(1)
        raise AssertionError(f"no invitation was emailed to {email}")
