"""At LogLevel=DEBUG no password, token or email reaches the logs (decision 10).

The auth and accounts functions run in a fresh process configured as Lambda configures them at
LogLevel=DEBUG (JSON log format: the root logger at DEBUG, Powertools at DEBUG), against the
moto-backed stack. Everything it writes is captured: stdout, stderr and every `logging` record
of any logger. A control run re-enables the AWS SDK's debug loggers after the app is imported,
and must find the password: that proves the capture sees what the SDK would write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.mailbox import MAILBOX
from tests.support.events import http_event, tenant_claims
from tests.support.stack import ROOT, Stack

EMAIL = "owner@example.com"
PASSWORD = "Correct-Horse-9!"
ACCOUNT_EMAIL = "contact@dupont.fr"
NEW_EMAIL = "newcomer@example.com"
NEW_PASSWORD = "Battery-Staple-7?"

# Runs in the child: Lambda's Python runtime with JSON logs sets the root logger to
# AWS_LAMBDA_LOG_LEVEL and writes every record; here they go to stdout and to a list.
CHILD = """
import json, logging, os, sys

records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append(f"{record.name} {record.levelname} {record.getMessage()} {record.args!r}")

root = logging.getLogger()
root.setLevel(os.environ["AWS_LAMBDA_LOG_LEVEL"])
root.addHandler(logging.StreamHandler(sys.stdout))
root.addHandler(Keep())

from accounts.app import lambda_handler as accounts
from auth.app import lambda_handler as auth

logging.getLogger("child").debug("application DEBUG lines are written")

if os.environ.get("UNQUIET_SDK") == "1":
    for name in ("boto3", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:accounts"
    aws_request_id = "req-debug"
    def get_remaining_time_in_millis(self):
        return 10_000

events, out = json.loads(sys.argv[1]), sys.argv[2]
def handle(event):
    handler = auth if event["rawPath"].startswith("/v1/auth/") else accounts
    return handler(event, Context())

answers = [handle(event) for event in events]
with open(out, "w") as handle:
    json.dump({"answers": answers, "records": records}, handle)
"""


@pytest.fixture
def user(stack: Stack) -> str:
    pool = stack.ref("UserPool")
    cognito = stack.client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=pool,
        Username=EMAIL,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": EMAIL}, {"Name": "email_verified", "Value": "true"}],
    )
    cognito.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password=PASSWORD, Permanent=True)
    return EMAIL


def _run_at_debug(stack: Stack, tmp_path: Path, *, unquiet: bool) -> tuple[list[dict[str, Any]], str]:
    """Login (right and wrong password), registrations (a new address, a confirmed one: SES sends
    its owner a notice) and an account create (its owner's email goes into the member item and
    the audit record), in a fresh process at DEBUG."""
    events = [
        http_event("POST", "/v1/auth/login", body={"email": EMAIL, "password": PASSWORD}),
        http_event("POST", "/v1/auth/login", body={"email": EMAIL, "password": PASSWORD + "x"}),
        http_event(
            "POST", "/v1/auth/register", body={"email": NEW_EMAIL, "password": NEW_PASSWORD, "name": "N"}
        ),
        http_event("POST", "/v1/auth/register", body={"email": EMAIL, "password": NEW_PASSWORD, "name": "N"}),
        http_event("POST", "/v1/auth/password-reset", body={"email": EMAIL}),
        http_event(
            "POST",
            "/v1/accounts",
            body={"name": "Dupont", "email": ACCOUNT_EMAIL, "country": "FR", "currency": "EUR"},
            claims=tenant_claims("debug-user", EMAIL),  # their own account: they own it
            headers={"idempotency-key": "debug-1", "x-audit-reason": "Opening for " + EMAIL},
        ),
    ]
    environment = {
        **{key: value for key, value in os.environ.items() if key.startswith(("AWS_", "PATH", "HOME"))},
        **stack.functions["AccountsFunction"].environment,
        **stack.functions["AuthFunction"].environment,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_FUNCTION_NAME": "tally-accounts",
        "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions", ".")),
        "UNQUIET_SDK": "1" if unquiet else "0",
    }
    out = tmp_path / f"answers-{unquiet}.json"
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", CHILD, json.dumps(events), str(out)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(out.read_text())
    written = "\n".join([child.stdout, child.stderr, *result["records"]])
    return result["answers"], written


def _secrets_in(answers: list[dict[str, Any]]) -> dict[str, str]:
    login = json.loads(answers[0]["body"])
    return {
        "password": PASSWORD,
        "id token": login["id_token"],
        "access token": login["access_token"],
        "refresh token": login["refresh_token"],
        "user email": EMAIL,
        "new user email": NEW_EMAIL,
        "new user password": NEW_PASSWORD,
        "account email": ACCOUNT_EMAIL,
    }


def test_debug_logs_hold_no_password_token_or_email(stack: Stack, user: str, tmp_path: Path) -> None:
    answers, written = _run_at_debug(stack, tmp_path, unquiet=False)
    assert [answer["statusCode"] for answer in answers] == [200, 401, 202, 202, 202, 201]
    assert "application DEBUG lines are written" in written  # the process does log at DEBUG
    assert [m.source for m in MAILBOX.messages(EMAIL)] == ["cognito", "ses"]  # reset code, notice
    leaked = [name for name, value in _secrets_in(answers).items() if value.lower() in written.lower()]
    assert leaked == []


def test_capture_sees_what_the_sdk_would_write(stack: Stack, user: str, tmp_path: Path) -> None:
    """Control: with the SDK's loggers back at DEBUG, the password and tokens do show up."""
    answers, written = _run_at_debug(stack, tmp_path, unquiet=True)
    secrets = _secrets_in(answers)
    assert secrets["password"] in written
    assert secrets["id token"] in written
