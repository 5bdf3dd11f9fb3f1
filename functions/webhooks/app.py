# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see below)
"""Webhooks function: the providers' signed notifications in (verify, record, enqueue, answer)."""

from __future__ import annotations

import gc

# No cyclic garbage collection during init: it would walk, again and again, the tens of thousands
# of objects the imports create, all kept for the process's life (15-25 ms of a cold start;
# decision 0009). The end of this module freezes them out of later collections and turns it on.
gc.disable()

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally.http.resolver import create_resolver, resolve
from tally.observability import quiet_sdk_loggers
from webhooks.routes import router

# Before anything logs: the AWS SDK's debug lines carry passwords and tokens (decision 10).
quiet_sdk_loggers()
logger = Logger()
# The raw body is the route's to read (signatures are over its bytes), and its one route takes
# no parameter: no JSON body gate, no validation (and no pydantic in the cold start).
app = create_resolver(json_bodies=False, validation=False)
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)


# Init's objects stay for the process's life: keep them out of every later collection (without
# this, the first one would walk them all during the first request), then collect as usual.
gc.freeze()
gc.enable()
