# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see below)
"""Checkout function: Stripe checkout, the account's self-service billing, placements (HTTP API)."""

from __future__ import annotations

import gc

# No cyclic garbage collection during init (decision 0009); the end of this module freezes
# init's objects out of later collections and turns it back on.
gc.disable()

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from checkout import placements, routes, self_service
from tally.http.resolver import create_resolver, resolve
from tally.observability import quiet_sdk_loggers

quiet_sdk_loggers()
logger = Logger()
app = create_resolver()
for module in (routes, self_service, placements):
    app.include_router(module.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)


gc.freeze()
gc.enable()
