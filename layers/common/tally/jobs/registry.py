"""Which job a name runs. Adding a job: one line in `JOBS` (its class takes the JobDeps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tally.dunning.wiring import dunning_job_from_environment
from tally.jobs.base import Job, JobName
from tally.jobs.deps import JobDeps
from tally.jobs.expiry import Expiry
from tally.jobs.renewals import RecurringInvoicing
from tally.jobs.trials import Trials
from tally.retries.wiring import payment_retries_from_environment

JOBS: Mapping[JobName, Callable[[JobDeps], Job]] = {
    "recurring-invoicing": RecurringInvoicing,
    "trials": Trials,
    "expiry": Expiry,
    "dunning": lambda _deps: dunning_job_from_environment(),  # builds its own ports
    "payment-retries": payment_retries_from_environment,  # its store and Stripe from the environment
}


class UnknownJob(ValueError):
    pass


def job_for(name: str, deps: JobDeps) -> Job:
    factory = JOBS.get(name)  # type: ignore[call-overload]
    if factory is None:
        known = ", ".join(sorted(JOBS))
        raise UnknownJob(f"No job '{name}': the jobs are {known}")
    job: Job = factory(deps)
    return job
