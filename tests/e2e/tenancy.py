"""The tenancy world over real HTTP against the local stack (a tests.support.world.TenancyApi):
users sign up through the API with the code from the local mailbox, and platform staff are put in
their Cognito group and turn TOTP on through the API, as a person would."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import requests

from tests.e2e.members import PASSWORD, signed_up
from tests.support.totp import current_code

TOKEN = re.compile(r"token=([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class HttpUser:
    email: str
    token: str  # the id token, sent as `Authorization: Bearer …`


class HttpApi:
    def __init__(self, stack_url: str) -> None:
        self.url = stack_url

    def new_user(self, label: str) -> HttpUser:
        email = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
        return HttpUser(email, signed_up(self.url, email))

    def email_of(self, who: HttpUser) -> str:
        return who.email

    def call(
        self,
        who: HttpUser | None,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        query: dict[str, str] | None = None,
        bearer: str | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        credential = bearer or (who.token if who else None)
        if credential:
            sent["Authorization"] = f"Bearer {credential}"
        answer = requests.request(
            method,
            f"{self.url}{path}",
            json=body,
            params=query,
            headers=sent,
            timeout=30,
        )
        return answer.status_code, answer.json() if answer.content else None

    def invitation_token(self, email: str) -> str:
        messages = requests.get(f"{self.url}/_local/mailbox", params={"to": email}, timeout=10).json()
        for message in messages["messages"]:  # newest first
            found = TOKEN.search(message["text"])
            if found:
                return found.group(1)
        raise AssertionError(f"no invitation was emailed to {email}")

    def staff(self, group: str) -> HttpUser:
        """A new user in a platform staff group with TOTP on, signed in with a real code."""
        user = self.new_user(group)
        resources = requests.get(f"{self.url}/_local/resources", timeout=10).json()
        cognito = boto3.client(
            "cognito-idp",
            endpoint_url=resources["endpoint"],
            region_name=resources["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        pool = resources["resources"]["UserPool"]["ref"]
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=user.email, GroupName=group)
        tokens = self._post("/v1/auth/login", {"email": user.email, "password": PASSWORD})
        assert tokens["mfa_setup_required"] is True, tokens
        secret = self._post("/v1/me/mfa/setup", {"access_token": tokens["access_token"]}, tokens["id_token"])[
            "secret"
        ]
        code = current_code(secret)
        self._post(
            "/v1/me/mfa/verify", {"access_token": tokens["access_token"], "code": code}, tokens["id_token"]
        )
        challenge = self._post("/v1/auth/login", {"email": user.email, "password": PASSWORD})
        signed_in = self._post(
            "/v1/auth/login/mfa", {"email": user.email, "session": challenge["session"], "code": code}
        )
        return HttpUser(user.email, str(signed_in["id_token"]))

    def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = requests.post(f"{self.url}{path}", json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return dict(answer.json())
