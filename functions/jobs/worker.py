# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see functions/invoices/app.py)
"""Jobs worker: the jobs queue's consumer (SQS, partial batch responses)."""

from __future__ import annotations

import gc

gc.disable()

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally.jobs import wiring
from tally.jobs.base import Job, JobName
from tally.jobs.registry import job_for
from tally.jobs.worker import JobWorker
from tally.observability import quiet_sdk_loggers

quiet_sdk_loggers()
logger = Logger()


def _job(name: JobName) -> Job:
    return job_for(name, wiring.deps())


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return JobWorker(_job, wiring.runs()).handle(event, context)


gc.freeze()
gc.enable()
