"""Which job a name runs. Adding a job: one line in `JOBS` (its class takes the JobDeps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tally.jobs.base import Job, JobName
from tally.jobs.deps import JobDeps
from tally.jobs.expiry import Expiry
from tally.jobs.renewals import RecurringInvoicing
from tally.jobs.trials import Trials

JOBS: Mapping[JobName, Callable[[JobDeps], Job]] = {
    "recurring-invoicing": RecurringInvoicing,
    "trials": Trials,
    "expiry": Expiry,
    # "dunning": Dunning,                  (branch dunning)
    # "payment-retries": PaymentRetries,   (issue 9 / payments)
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
