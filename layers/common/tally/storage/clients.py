"""AWS clients, created once per process and reused across invocations.

Endpoints come from the environment (AWS_ENDPOINT_URL in the local stack), so the same code
talks to AWS or to the local moto server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient

    from tally.notifications.mailer import SesV2Client

# Fail fast inside an API request: a slow dependency becomes a 503 the client can retry.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def cognito() -> CognitoIdentityProviderClient:
    return boto3.client("cognito-idp", config=_CONFIG)


@lru_cache(maxsize=1)
def sesv2() -> SesV2Client:
    # No sesv2 type stubs in the dev group: typed by the part tally.notifications uses.
    return cast("SesV2Client", boto3.client("sesv2", config=_CONFIG))


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between cases)."""
    dynamodb.cache_clear()
    cognito.cache_clear()
    sesv2.cache_clear()
