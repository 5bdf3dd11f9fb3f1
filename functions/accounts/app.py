"""Accounts function: accounts (HTTP API)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from accounts.routes import router
from tally.http import idempotency
from tally.http.resolver import create_resolver, resolve
from tally.observability import quiet_sdk_loggers

# Before anything logs: the AWS SDK's debug lines carry passwords and tokens (decision 10).
quiet_sdk_loggers()
logger = Logger()
app = create_resolver()
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.config.register_lambda_context(context)
    return resolve(app, event, context)
