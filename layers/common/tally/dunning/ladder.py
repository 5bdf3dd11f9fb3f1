"""Which step of the ladder falls due for an invoice on a day: pure, no storage.

A step's date is the invoice's due date plus the step's days (the due date is a day of the
seller's time zone already; "today" is the job's instant in that zone). Each step runs once per
invoice. When the job did not run for days, only the latest step due runs; the earlier ones it
passed are recorded as skipped (a customer gets one email, not a burst of stale ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tally.billing.periods import time_zone
from tally.billing.seller import DunningSettings, DunningStep

UNPAID_INVOICE = "unpaid_invoice"  # an account's status reason when the ladder suspended it


@dataclass(frozen=True)
class DunningRecord:
    """DUNNING#{invoice id}: the steps run (`done`) and passed over (`skipped`), by name ("J+3")."""

    invoice_id: str
    account_id: str
    done: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def seen(self, step: DunningStep) -> bool:
        return step.name in self.done or step.name in self.skipped


@dataclass(frozen=True)
class DueStep:
    step: DunningStep
    passed_over: tuple[DunningStep, ...] = ()  # earlier steps not run: recorded as skipped
    next_on: date | None = None  # the date of the step after this one (None: the ladder ends)
    following: tuple[DunningStep, ...] = field(default=())  # the steps after this one


def local_day(at: datetime, zone: str) -> date:
    if at.tzinfo is None:
        raise ValueError("the dunning job runs as of an aware instant")
    return at.astimezone(time_zone(zone)).date()


def step_date(due: date, step: DunningStep) -> date:
    return due + timedelta(days=step.days)


def due_step(ladder: DunningSettings, due: date, record: DunningRecord, today: date) -> DueStep | None:
    """The latest step not yet run or skipped whose date is today or earlier, or None."""
    pending = [step for step in ladder.steps if not record.seen(step) and not _behind(ladder, record, step)]
    ripe = [step for step in pending if step_date(due, step) <= today]
    if not ripe:
        return None
    latest = ripe[-1]
    following = tuple(step for step in pending if step.days > latest.days)
    return DueStep(
        step=latest,
        passed_over=tuple(ripe[:-1]),
        next_on=step_date(due, following[0]) if following else None,
        following=following,
    )


def next_on(ladder: DunningSettings, due: date, record: DunningRecord) -> date | None:
    """The date of the first step not yet run or skipped (None: the ladder is over for it)."""
    for step in ladder.steps:
        if not record.seen(step) and not _behind(ladder, record, step):
            return step_date(due, step)
    return None


def _behind(ladder: DunningSettings, record: DunningRecord, step: DunningStep) -> bool:
    """A step earlier than one already run or skipped (a step added to the ladder since): it is
    not replayed."""
    latest_seen = max((s.days for s in ladder.steps if record.seen(s)), default=None)
    return latest_seen is not None and step.days < latest_seen


def suspension_date(ladder: DunningSettings, due: date) -> date | None:
    for step in ladder.steps:
        if step.action == "suspend":
            return step_date(due, step)
    return None
