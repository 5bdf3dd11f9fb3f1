"""At LogLevel=DEBUG no API key, pepper or id token reaches the logs (decision 10).

The accounts function (create, list, revoke a key) and the authorizer (the key, the revoked key,
an id token, garbage) run in a fresh process configured as Lambda configures them at DEBUG, as
tests/integration/test_logging_debug.py runs the sign-in routes; everything written is captured.
The control run turns the AWS SDK's debug loggers back on and must find the pepper.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tally.storage import clients, keys
from tally.storage.items import to_item
from tests.support.events import http_event
from tests.support.stack import ROOT, Stack

ACCOUNT = "acc_logs"
OWNER_EMAIL = "keys-owner@example.com"
PASSWORD = "Correct-Horse-9!"

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
from authorizer.app import lambda_handler as authorizer

logging.getLogger("child").debug("application DEBUG lines are written")
if os.environ.get("UNQUIET_SDK") == "1":
    for name in ("boto3", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)

class Context:
    function_name = "tally-keys"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:keys"
    aws_request_id = "req-debug"
    def get_remaining_time_in_millis(self):
        return 10_000

def check(header):
    return authorizer({"version": "2.0", "type": "REQUEST", "identitySource": [header],
                       "headers": {"authorization": header}, "requestContext": {"requestId": "r"}}, Context())

create, listing, revoke_template = (json.loads(argument) for argument in sys.argv[1:4])
token, out = sys.argv[4], sys.argv[5]
created = accounts(create, Context())
secret = json.loads(created["body"])["secret"]
answers = [created, accounts(listing, Context()), check("Bearer " + secret), check("Bearer " + token),
           check("Bearer tally_sk_garbage")]
key_id = json.loads(created["body"])["id"]
revoke = json.loads(json.dumps(revoke_template).replace("KEY_ID", key_id))
unknown = "tally_sk_" + "A" * 43
answers += [accounts(revoke, Context()), check("Bearer " + secret + "x"), check("Bearer " + unknown)]
with open(out, "w") as handle:
    json.dump({"answers": answers, "secret": secret, "records": records}, handle)
"""


def _events(owner: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    claims = {"sub": owner, "email": OWNER_EMAIL, "token_use": "id", "iat": "1790000000"}
    path = f"/v1/accounts/{ACCOUNT}/api-keys"
    route = "/v1/accounts/{account_id}/api-keys"
    create = http_event(
        "POST",
        path,
        body={"name": "server", "scopes": ["stats:read"]},
        claims=claims,
        route=f"POST {route}",
        path_parameters={"account_id": ACCOUNT},
    )
    listing = http_event(
        "GET", path, claims=claims, route=f"GET {route}", path_parameters={"account_id": ACCOUNT}
    )
    revoke = http_event(
        "DELETE",
        f"{path}/KEY_ID",
        claims=claims,
        route=f"DELETE {route}/{{key_id}}",
        path_parameters={"account_id": ACCOUNT, "key_id": "KEY_ID"},
    )
    return create, listing, revoke


@pytest.fixture
def owner(stack: Stack) -> tuple[str, str]:
    """A user of the pool who owns the account: (their sub, an id token of theirs)."""
    pool = stack.ref("UserPool")
    cognito = stack.client("cognito-idp")
    cognito.admin_create_user(UserPoolId=pool, Username=OWNER_EMAIL, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username=OWNER_EMAIL, Password=PASSWORD, Permanent=True)
    token = cognito.initiate_auth(
        ClientId=stack.ref("UserPoolClient"),
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": OWNER_EMAIL, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    subject = str(cognito.admin_get_user(UserPoolId=pool, Username=OWNER_EMAIL)["Username"])
    table = stack.ref("BillingTable")
    account = keys.account(ACCOUNT) | to_item({"kind": "account", "id": ACCOUNT, "status": "active"})
    clients.dynamodb().put_item(TableName=table, Item=account)
    mirror = keys.membership(subject, ACCOUNT) | to_item({"account_id": ACCOUNT, "role": "owner"})
    clients.dynamodb().put_item(TableName=table, Item=mirror)
    return subject, token


def _run_at_debug(
    stack: Stack, owner: tuple[str, str], tmp_path: Path, *, unquiet: bool
) -> tuple[dict[str, Any], str]:
    subject, token = owner
    create, listing, revoke = _events(subject)
    environment = {
        **{key: value for key, value in os.environ.items() if key.startswith(("AWS_", "PATH", "HOME"))},
        **stack.functions["AuthorizerFunction"].environment,
        **stack.functions["AccountsFunction"].environment,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_FUNCTION_NAME": "tally-keys",
        "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("layers/common", "functions", ".")),
        "UNQUIET_SDK": "1" if unquiet else "0",
    }
    out = tmp_path / f"answers-{unquiet}.json"
    arguments = [json.dumps(create), json.dumps(listing), json.dumps(revoke), token, str(out)]
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", CHILD, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert child.returncode == 0, child.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    written = "\n".join([child.stdout, child.stderr, *result["records"]])
    return result, written


def _pepper(stack: Stack) -> str:
    answer = stack.client("secretsmanager").get_secret_value(SecretId=stack.ref("ApiKeyPepperSecret"))
    return str(answer["SecretString"])


def test_debug_logs_hold_no_key_pepper_token_or_email(
    stack: Stack, owner: tuple[str, str], tmp_path: Path
) -> None:
    result, written = _run_at_debug(stack, owner, tmp_path, unquiet=False)
    answers = result["answers"]
    assert [answer.get("statusCode", answer.get("isAuthorized")) for answer in answers] == [
        201,
        200,
        True,
        True,
        False,
        200,
        False,
        True,
    ]
    assert answers[7]["context"]["kind"] == "invalid_key"  # a well-formed key nobody issued
    assert "application DEBUG lines are written" in written
    secrets = {"key": result["secret"], "pepper": _pepper(stack), "id token": owner[1], "email": OWNER_EMAIL}
    leaked = [name for name, value in secrets.items() if value.lower() in written.lower()]
    assert leaked == []
    assert result["secret"][12:] not in written  # nor the key's body after its visible prefix


def test_capture_sees_the_pepper_when_the_sdk_logs_at_debug(
    stack: Stack, owner: tuple[str, str], tmp_path: Path
) -> None:
    _, written = _run_at_debug(stack, owner, tmp_path, unquiet=True)
    assert _pepper(stack) in written
