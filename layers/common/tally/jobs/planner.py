"""A planner run: the job's due items, sent to the jobs queue in batches of ten, recorded.

Sending an item twice (a rerun the same day, a planner retried by the scheduler) is safe: the
job's `work` is idempotent per (job, entity, period or step). The framework adds no effect of
its own beyond the run's record.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from tally import clock as clocks
from tally.jobs.base import Job
from tally.jobs.messages import JobMessage
from tally.jobs.queue import BATCH, JobQueue
from tally.jobs.runs import JobRun, RunRecord, RunStore
from tally.storage import keys


def new_run_id(started_at: datetime) -> str:
    return keys.job_run_id(started_at, secrets.token_hex(4))


def run_planner(
    job: Job,
    as_of: datetime,
    queue: JobQueue,
    runs: RunStore,
    *,
    now: Callable[[], datetime] | None = None,
) -> RunRecord:
    """Plan `job` as of `as_of` and fan its items out; the run as recorded at its end."""
    now = now or clocks.now
    started = now()
    run = JobRun(job=job.name, run_id=new_run_id(started), as_of=as_of, started_at=started)
    runs.started(run)
    planned = 0
    batch: list[str] = []
    for item in job.plan(as_of):
        batch.append(JobMessage(item, as_of, run.run_id).body())
        if len(batch) == BATCH:
            queue.send(batch)
            planned += len(batch)
            batch = []
    if batch:
        queue.send(batch)
        planned += len(batch)
    ended = run.model_copy(update={"ended_at": now(), "planned": planned})
    runs.ended(ended)
    return ended
