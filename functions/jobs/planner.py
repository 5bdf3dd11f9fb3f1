# ruff: noqa: E402 - the imports follow gc.disable(), on purpose (see functions/invoices/app.py)
"""Jobs planner: the target of the jobs' schedules (EventBridge Scheduler, ScheduleV2).

The schedule's Input is `{"job": "<name>"}`; the local stack (and a person replaying a day) adds
`"as_of": "<ISO-8601 instant>"`, else the clock's instant is used. Answers the run's record.
"""

from __future__ import annotations

import gc

gc.disable()

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tally import clock
from tally.jobs import wiring
from tally.jobs.messages import parse_as_of
from tally.jobs.planner import run_planner
from tally.jobs.registry import job_for
from tally.observability import quiet_sdk_loggers

quiet_sdk_loggers()
logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = job_for(str(event.get("job", "")), wiring.deps())
    as_of = parse_as_of(event, clock.now())
    run = run_planner(job, as_of, wiring.queue(), wiring.runs())
    logger.info("Job planned", extra={"job": run.job, "run_id": run.run_id, "planned": run.planned})
    return run.model_dump(mode="json")


gc.freeze()
gc.enable()
