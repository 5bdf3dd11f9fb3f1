# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see functions/invoices/app.py)
"""Jobs function: the jobs' runs and dead letters for platform admins (HTTP API)."""

from __future__ import annotations

import gc

gc.disable()

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from jobs import routes
from tally.http.resolver import create_resolver, resolve
from tally.observability import quiet_sdk_loggers

quiet_sdk_loggers()
logger = Logger()
app = create_resolver()
app.include_router(routes.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)


gc.freeze()
gc.enable()
