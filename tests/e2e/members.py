"""Users of an account, over real HTTP: a user signs up through the API (the code from the local
mailbox), signs in, and is given a role in the account.

The role is written where the access policy reads it (the user's membership mirror in the billing
table, in the local stack's moto, found at /_local/resources): the membership routes belong to the
accounts work, not to these tests.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import boto3
import requests

from tally.auth.claims import unverified_claims
from tally.storage import keys
from tally.storage.items import to_item

PASSWORD = "Correct-Horse-9!"


def _post(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(url, json=body, timeout=30)


def signed_up(stack_url: str, email: str | None = None) -> str:
    """A new user's id token: registered, confirmed with the emailed code, signed in."""
    email = email or f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    registered = _post(f"{stack_url}/v1/auth/register", {"email": email, "password": PASSWORD, "name": "E2E"})
    assert registered.status_code == 202, registered.text
    messages = requests.get(f"{stack_url}/_local/mailbox", params={"to": email}, timeout=10).json()[
        "messages"
    ]
    code = re.search(r"\b(\d{6})\b", messages[0]["text"])
    assert code, messages[0]
    confirmed = _post(f"{stack_url}/v1/auth/confirm", {"email": email, "code": code.group(1)})
    assert confirmed.status_code == 200, confirmed.text
    login = _post(f"{stack_url}/v1/auth/login", {"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["id_token"])


def give_role(stack_url: str, token: str, account_id: str, role: str) -> None:
    resources = requests.get(f"{stack_url}/_local/resources", timeout=10).json()
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=resources["endpoint"],
        region_name=resources["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    subject = str(unverified_claims(token)["sub"])
    mirror = keys.membership(subject, account_id) | to_item({"account_id": account_id, "role": role})
    dynamodb.put_item(TableName=resources["resources"]["BillingTable"]["ref"], Item=mirror)


def member_token(stack_url: str, account_id: str, role: str = "owner") -> str:
    """The id token of a new user who holds `role` in the account."""
    token = signed_up(stack_url)
    give_role(stack_url, token, account_id, role)
    return token
