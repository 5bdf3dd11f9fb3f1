# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see below)
"""Authorizer function: API Gateway's Lambda authorizer for the routes that accept API keys.

HTTP API, payload format 2.0, simple responses, identity source `$request.header.Authorization`
(API Gateway caches the answer per header for 30 s). authorizer.decision says what it answers.
"""

from __future__ import annotations

import gc

# No cyclic garbage collection during init (decision 0009); frozen and back on at the end.
gc.disable()

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from authorizer.config import AuthorizerConfig
from authorizer.decision import Authorizer
from authorizer.tokens import IdTokens, SigningKeys
from tally.observability import quiet_sdk_loggers

if TYPE_CHECKING:
    from tally.apikeys.verifier import KeyVerifier

# Before anything logs: the AWS SDK's debug lines carry secrets (decision 10).
quiet_sdk_loggers()
logger = Logger()


@lru_cache(maxsize=1)
def config() -> AuthorizerConfig:
    return AuthorizerConfig.from_environ(os.environ)


@lru_cache(maxsize=1)
def key_verifier() -> KeyVerifier:
    # Imported on the first API key: botocore, Powertools Parameters and the pepper's read are
    # the key path's, which a token never takes.
    from tally.apikeys.lookup import DynamoKeyLookup
    from tally.apikeys.verifier import KeyVerifier
    from tally.parameters import SecretString
    from tally.storage import clients

    settings = config()
    pepper = SecretString(settings.pepper_secret_arn, "API_KEY_PEPPER_SECRET_ARN")
    return KeyVerifier(DynamoKeyLookup(clients.dynamodb(), settings.billing_table), pepper)


@lru_cache(maxsize=1)
def id_tokens() -> IdTokens:
    settings = config()
    return IdTokens(settings.issuer, settings.client_id, SigningKeys(settings.jwks_url))


authorizer = Authorizer(key_verifier, id_tokens)


def authorization_header(event: dict[str, Any]) -> str | None:
    """The identity source's value (headers arrive lower-cased in payload 2.0)."""
    sources = event.get("identitySource") or []
    if sources and isinstance(sources[0], str):
        return sources[0]
    header = (event.get("headers") or {}).get("authorization")
    return str(header) if header is not None else None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorizer.decide(authorization_header(event))


gc.freeze()
gc.enable()
